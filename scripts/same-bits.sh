#!/usr/bin/env bash
# Same seeds, same bits: runs the smoke pipeline of the tree at $1 (already built: tools/pdiff/bin/Release) into $2 with
# fresh caches — `pdiff run --profile smoke` (zoo, p-diff, generation, evaluation) and notebook 01 in smoke (two pipeline
# seeds) — and lists the SHA-256 of every zoo checkpoint, trained model, generated zoo and result CSV in $2/hashes.txt.
# A refactor keeps behaviour when the first column of two trees' hashes.txt is the same multiset:
#   diff <(cut -d' ' -f1 A/hashes.txt | sort) <(cut -d' ' -f1 B/hashes.txt | sort)
# (paths differ by the model cache's key, which holds the zoo's creation time, and by results revisions).
set -euo pipefail
tree=$(cd "$1" && pwd); out=$2
rm -rf "$out"; mkdir -p "$out"; out=$(cd "$out" && pwd)
export PDIFF_ZOO_CACHE="$out/zoos" OMP_WAIT_POLICY=PASSIVE
cd "$tree"
pdiff="dotnet tools/pdiff/bin/Release/net10.0/pdiff.dll"
$pdiff run --profile smoke --out "$out/run" --model-cache "$out/models" > "$out/run.log" 2>&1
$pdiff notebook run notebooks/01-main-results.ipynb --param profile=smoke --output "$out/01.ipynb" > "$out/nb01.log" 2>&1
cp -r runs/smoke/01-main-results "$out/nb01-results"
cd "$out"
find zoos run nb01-results -type f \( -name '*.safetensors' -o -name '*.csv' -o -name '*.pth' -o -name 'main_row.json' \) -print0 \
  | sort -z | xargs -0 sha256sum > hashes.txt
echo "[same-bits] $(wc -l < hashes.txt) files hashed in $out/hashes.txt"
