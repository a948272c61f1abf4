#!/usr/bin/env bash
# The README's main result over seeds, generated from the committed per-seed results (issue 12): reads
# results/<profile>/01-main-results/fashion-mnist_resnet18_last-two-norms/seed<s>/ (each seed's run<i>/groups.json and
# zoo_manifest.json, and environment.json beside them) and rewrites the block between the README's
# <!-- main-result:begin --> and <!-- main-result:end --> markers: mean ± std over seeds, paired differences with
# 95 % intervals beside the main-result family's p-values (headline rows with Holm's correction, the rest exploratory),
# date, CPU model, thread count and library versions. Never edit that block by hand.
#
#   ./scripts/main-result.sh                       # quick profile, README.md
#   ./scripts/main-result.sh --profile smoke       # another profile's committed results
#   ./scripts/main-result.sh --compare runs/quick/01-main-results/fashion-mnist_resnet18_last-two-norms
#                                                  # your rerun against the committed interval (scripts/main.sh does this)
# Without committed per-seed results it says so and exits 0. It runs as a .NET file-based app (scripts/main-result.cs):
# the first call builds it (about a minute), later calls take seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec dotnet run --file scripts/main-result.cs -- "$@"
