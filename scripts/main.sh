#!/usr/bin/env bash
# The main job: installs what is missing (scripts/setup.sh), builds, and runs the p-diff reproduction
# in the `quick` profile (see README). Extra arguments go to the pdiff CLI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
echo "[main] building (Release)"
dotnet build tools/pdiff/pdiff.csproj -c Release -nologo -v quiet
dotnet tools/pdiff/bin/Release/net10.0/pdiff.dll demo "$@"
