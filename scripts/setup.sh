#!/usr/bin/env bash
# Installs the Debian packages Latte needs (only the missing ones) and builds it into build/.
# Needs root for apt-get: runs it directly as root, through sudo otherwise (and says so).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config ninja-build
      libopenblas-dev libopenblas-openmp-dev libdnnl-dev libxsimd-dev doctest-dev libpcre2-dev
      libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libedit-dev tmux)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing missing Debian packages: ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else
    echo "setup: not root — using sudo for apt-get (you may be asked for your password)"
    SUDO=(sudo)
  fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"
fi

BUILD_DIR=${LATTE_BUILD_DIR:-build}
EXTRA=()
[[ "${CI:-}" == "true" ]] && EXTRA+=(-DLATTE_WERROR=ON)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built $BUILD_DIR/latte"
