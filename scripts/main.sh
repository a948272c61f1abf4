#!/usr/bin/env bash
# The main job: installs what is missing (scripts/setup.sh), builds, and runs notebooks/01-main-results in
# the `quick` profile (p-diff on Fashion-MNIST × ResNet-18, last two BN layers, K = 200). It leaves the
# executed notebook in runs/quick/01-main-results.ipynb and the results (CSV/JSON) under runs/quick/.
# Extra arguments go to the notebook runner (e.g. --param profile=smoke).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
echo "[main] building (Release)"
dotnet build tools/pdiff/pdiff.csproj -c Release -nologo -v quiet
mkdir -p runs/quick
dotnet tools/pdiff/bin/Release/net10.0/pdiff.dll notebook run notebooks/01-main-results.ipynb \
  --param profile=quick --output runs/quick/01-main-results.ipynb "$@"
echo "[main] executed notebook: runs/quick/01-main-results.ipynb; results: runs/quick/01-main-results/"
