#!/usr/bin/env bash
# The main job: installs what is missing (scripts/setup.sh), builds, and runs notebooks/01-main-results in
# the `quick` profile (p-diff on Fashion-MNIST × ResNet-18, last two BN layers, K = 200) over 3 pipeline seeds
# (each its own base model, zoo and p-diff). It leaves the executed notebook in runs/quick/01-main-results.ipynb
# and the results (CSV/JSON) under runs/quick/01-main-results/<task>/seed<s>/, then says whether your numbers
# fall inside the committed interval (scripts/main-result.sh --compare) and, if not, by how much.
# Extra arguments go to the notebook runner (e.g. --param seeds=1 for one seed, --param profile=smoke).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
echo "[main] building (Release)"
dotnet build tools/pdiff/pdiff.csproj -c Release -nologo -v quiet
mkdir -p runs/quick
dotnet tools/pdiff/bin/Release/net10.0/pdiff.dll notebook run notebooks/01-main-results.ipynb \
  --param profile=quick --output runs/quick/01-main-results.ipynb "$@"
echo "[main] executed notebook: runs/quick/01-main-results.ipynb; results: runs/quick/01-main-results/"
# A profile given on the command line (--param profile=smoke) writes under runs/<profile>/ instead.
profile=quick
for a in "$@"; do case "$a" in profile=*) profile="${a#profile=}" ;; esac; done
echo "[main] your numbers against the committed ones (results/$profile/01-main-results/)"
./scripts/main-result.sh --compare "runs/$profile/01-main-results/fashion-mnist_resnet18_last-two-norms" \
  || echo "[main] the comparison with the committed results could not run (see above); your results are in runs/$profile/"
