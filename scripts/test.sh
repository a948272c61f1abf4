#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh), builds the library and its
# native shim, runs the xunit tests, then executes every notebook headless in the smoke profile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
echo "[test] building (Release)"
dotnet build tests/PDiff.Tests/PDiff.Tests.csproj -c Release -nologo -v quiet
echo "[test] unit and integration tests"
dotnet test tests/PDiff.Tests/PDiff.Tests.csproj -c Release --no-build -nologo --logger "console;verbosity=normal" ${PDIFF_TEST_FILTER:+--filter "$PDIFF_TEST_FILTER"}
if [ -f tools/pdiff/pdiff.csproj ] && ls notebooks/*.ipynb >/dev/null 2>&1; then
  echo "[test] notebooks, smoke profile"
  dotnet build tools/pdiff/pdiff.csproj -c Release -nologo -v quiet
  for nb in notebooks/*.ipynb; do
    dotnet tools/pdiff/bin/Release/net10.0/pdiff.dll notebook run "$nb" --param profile=smoke --output "runs/smoke/$(basename "$nb")"
  done
fi
echo "[test] all passed"
