#!/usr/bin/env bash
# The paired benchmark of bench/README.md: the former engine (a worktree of 3c1e748, built, given as $1)
# and this one, alternating, two rounds; then PyTorch eager (needs python3-torch) and the in-process A/B.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OLD="${1:?usage: bench/pair.sh <former-engine worktree>}/bench/PDiff.Bench.Diffusion/bin/Release/net10.0/PDiff.Bench.Diffusion.dll"
NEW=bench/PDiff.Bench.Diffusion/bin/Release/net10.0/PDiff.Bench.Diffusion.dll
[ -f "$OLD" ] || { echo "bench/pair.sh: build the former engine's timer first: $OLD is missing" >&2; exit 2; }
[ -f "$NEW" ] || { echo "bench/pair.sh: dotnet build bench/PDiff.Bench.Diffusion -c Release first" >&2; exit 2; }
for r in 1 2; do
  echo "== round $r $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "-- old"; PDIFF_BENCH_STEPS=6 dotnet "$OLD" 2 v2_ae v2_denoiser gen_v2_ddim 2>&1 | grep -v NNPACK
  echo "-- new"; PDIFF_BENCH_STEPS=6 dotnet "$NEW" 2 v2_ae v2_denoiser gen_v2_ddim 2>&1 | grep -v NNPACK
  echo "-- new channels-last"; PDIFF_BENCH_CHANNELS_LAST=1 PDIFF_BENCH_STEPS=6 dotnet "$NEW" 2 v2_ae v2_denoiser gen_v2_ddim 2>&1 | grep -v NNPACK
done
echo "-- pytorch $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 ../shared/bench/torch_v2_reference.py 2 2>&1 | tail -8
echo "-- A/B in process $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
PDIFF_BENCH_STEPS=6 dotnet "$NEW" 2 ab_v2_ae_layout ab_v2_denoiser_layout ab_v2_sampling_step ab_conv_im2col 2>&1 | grep -v NNPACK
echo "== end $(date +%T)"
