#!/usr/bin/env bash
# Equal work: the PyTorch reference pipeline (bench/python/pdiff_v2_pipeline.py, Debian's python3-torch 1.13) and our
# notebook 11 on the same task, budgets, samplers and precision, back to back, then the per-stage table and ratios
# computed from the two JSONs they just wrote (bench/python/equal_work_table.py): equal-work.md, .tsv and .json, with
# the date, CPU, load average before, between and after, thread counts and library versions.
#
#   bench/equal-work.sh --budget full|small --precision float32|bf16 [--threads N] [--out DIR] [--order pytorch-first|pdiff-first]
#
# full  = notebook 11's full-v2 profile (Fashion-MNIST × ConvNet-3 32/64/128, K = 200, AE 500 and denoiser 1,000 steps,
#         200 models by DDPM-1000 and by DDIM-50): 1 to 1.5 hours for both sides on 2 quiet cores.
# small = its smoke profile (2,000 / 500 / 1,000 images, ConvNet-3 width 8, K = 10, 20 + 20 steps, 8 models by DDPM-100
#         and DDIM-50): a few minutes; it proves the command, its times are dominated by fixed costs.
# Our side builds its zoo afresh (a temporary PDIFF_ZOO_CACHE), so every stage is measured in this run.
# Exit status: 0 written; 1 a side failed or the two are not the same work; 2 usage; 3 something to install or build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
usage() { echo "bench/equal-work.sh: $1 (usage: bench/equal-work.sh --budget full|small --precision float32|bf16 [--threads N] [--out DIR] [--order pytorch-first|pdiff-first])" >&2; exit 2; }

budget="" precision="" threads=2 out="" order=pytorch-first
while [ $# -gt 0 ]; do
  case "$1" in
    --budget|--precision|--threads|--out|--order) [ $# -ge 2 ] || usage "$1 needs a value";;&
    --budget) budget=$2; shift 2;;
    --precision) precision=$2; shift 2;;
    --threads) threads=$2; shift 2;;
    --out) out=$2; shift 2;;
    --order) order=$2; shift 2;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) usage "unknown argument '$1'";;
  esac
done
case "$budget" in full) profile=full-v2;; small) profile=smoke;; "") usage "give --budget full or small";; *) usage "--budget is full or small, not '$budget'";; esac
case "$precision" in float32) autocast=None;; bf16) autocast=BFloat16;; "") usage "give --precision float32 or bf16";; *) usage "--precision is float32 or bf16, not '$precision'";; esac
case "$order" in pytorch-first|pdiff-first) ;; *) usage "--order is pytorch-first or pdiff-first, not '$order'";; esac
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || usage "--threads is a whole number ≥ 1, not '$threads'"
stamp=$(date -u +%Y-%m-%d-%H%M)
out=${out:-bench/results/$stamp-$budget-$precision}
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then usage "$out is not empty; give another --out"; fi

PY=/usr/bin/python3
PDIFF=tools/pdiff/bin/Release/net10.0/pdiff.dll
if ! torch_version=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
  echo "bench/equal-work.sh: PyTorch is missing: install Debian's python3-torch (sudo apt-get install python3-torch); the reference runs on /usr/bin/python3" >&2; exit 3
fi
for f in "$PDIFF" notebooks/Studies/bin/Release/net10.0/PDiff.Studies.dll; do
  [ -f "$f" ] || { echo "bench/equal-work.sh: $f is missing: dotnet build tests/PDiff.Tests/PDiff.Tests.csproj -c Release first" >&2; exit 3; }
done

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/pdiff-equal-work.XXXXXX")
trap 'rm -rf "$work"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
say() { printf '[equal-work] %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
command="bench/equal-work.sh --budget $budget --precision $precision --threads $threads --order $order"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with uncommitted changes')"
printf '%s\n# commit %s, started %s UTC\n' "$command" "$commit" "$(date -u '+%Y-%m-%d %H:%M')" > "$out/command.txt"

run_pytorch() {
  say "PyTorch $torch_version: $profile, $precision, $threads threads (log: $out/pytorch.log)"
  OMP_NUM_THREADS=$threads "$PY" bench/python/pdiff_v2_pipeline.py --profile "$profile" --precision "$precision" --threads "$threads" \
    --out "$out/pytorch.json" 2> "$out/pytorch.log" || { echo "bench/equal-work.sh: the PyTorch side failed; see $out/pytorch.log" >&2; exit 1; }
}
run_pdiff() {
  say "PDiff.NET notebook 11: $profile, autocast $autocast, $threads threads, fresh zoo (log: $out/pdiff.log)"
  if ! PDIFF_ZOO_CACHE="$work/zoos" OMP_NUM_THREADS=$threads dotnet "$PDIFF" notebook run notebooks/11-full-v2.ipynb \
      --param profile="$profile" --param autocast="$autocast" --param results="$work/results" --param equalWork=none \
      --output "$work/11-full-v2.ipynb" > "$out/pdiff.log" 2>&1; then
    tail -20 "$out/pdiff.log" >&2; echo "bench/equal-work.sh: the PDiff.NET side failed (log above)" >&2; exit 1
  fi
  local found; found=$(find "$work/results" -name stage_times.json)
  [ "$(printf '%s\n' "$found" | grep -c .)" = 1 ] || { echo "bench/equal-work.sh: expected one stage_times.json under $work/results, found: ${found:-none}" >&2; exit 1; }
  cp "$found" "$out/pdiff.json"
  cp "$(dirname "$found")/environment.json" "$out/pdiff-environment.json"
}

load_before=$(load)
if [ "$order" = pytorch-first ]; then run_pytorch; load_between=$(load); run_pdiff; else run_pdiff; load_between=$(load); run_pytorch; fi
load_after=$(load)
say "done; load average before $load_before, between $load_between, after $load_after"

env_value() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "?"))' "$out/pdiff-environment.json" "$1"; }
python3 bench/python/equal_work_table.py "$out/pdiff.json" "$out/pytorch.json" --out "$out" \
  --set date="$(date -u '+%Y-%m-%d %H:%M UTC')" --set budget="$budget" --set profile="$profile" --set precision="$precision" \
  --set cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores" \
  --set threads="$threads (OMP_NUM_THREADS both sides; OMP_WAIT_POLICY ${OMP_WAIT_POLICY:-unset})" --set order="$order" \
  --set load_before="$load_before" --set load_between="$load_between" --set load_after="$load_after" \
  --set pytorch="$torch_version" --set numpy="$("$PY" -c 'import numpy; print(numpy.__version__)')" \
  --set torchsharp="$(env_value torch_sharp) (libtorch $(env_value libtorch))" --set dotnet="$(env_value dotnet)" \
  --set command="$command" --set commit="$commit"
say "wrote $out/equal-work.md, .tsv and .json"
