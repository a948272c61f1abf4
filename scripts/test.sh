#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh), builds the library and its
# native shim, runs the xunit tests, then executes every notebook headless in the smoke profile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
# libgomp's threads spin while they wait by default; with several libtorch thread pools in one test host (and other jobs
# on the machine) the spinning took most of the CPU: a filtered test run took 20 min with it and 2 min without.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
echo "[test] building (Release)"
dotnet build tests/PDiff.Tests/PDiff.Tests.csproj -c Release -nologo -v quiet
echo "[test] unit and integration tests"
mkdir -p runs
# The console log is long; a failure is repeated at the end (CI shows only the tail of the output).
if ! dotnet test tests/PDiff.Tests/PDiff.Tests.csproj -c Release --no-build -nologo --logger "console;verbosity=normal" \
    ${PDIFF_TEST_FILTER:+--filter "$PDIFF_TEST_FILTER"} 2>&1 | tee runs/xunit.log | grep -v "NNPACK.cpp"; then
  echo "[test] FAILED tests (full log: runs/xunit.log):"
  grep -A 30 -E "^\s+Failed [A-Za-z]|\[FAIL\]" runs/xunit.log | head -200
  exit 1
fi
if [ -f tools/pdiff/pdiff.csproj ] && ls notebooks/*.ipynb >/dev/null 2>&1; then
  echo "[test] notebooks, smoke profile"
  dotnet build tools/pdiff/pdiff.csproj -c Release -nologo -v quiet
  mkdir -p runs/smoke
  : > runs/smoke/timings.tsv
  for nb in notebooks/*.ipynb; do
    start=$SECONDS
    dotnet tools/pdiff/bin/Release/net10.0/pdiff.dll notebook run "$nb" --param profile=smoke --output "runs/smoke/$(basename "$nb")"
    printf '%s\t%d\n' "$(basename "$nb")" $((SECONDS - start)) >> runs/smoke/timings.tsv
  done
  # Wall seconds per notebook (the smoke budget is 15 minutes for all of them on 2 cores; reported, not enforced).
  echo "[test] notebook wall times (s):"; sed 's/^/  /' runs/smoke/timings.tsv
  awk -F'\t' '{ t += $2 } END { printf "[test] all notebooks: %d s\n", t }' runs/smoke/timings.tsv
fi
echo "[test] all passed"
