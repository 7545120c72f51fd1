#!/usr/bin/env bash
# Installs the Debian packages Latte needs (only the missing ones) and builds it into build/.
# `setup.sh --tests` also installs the tools the test suites use (scripts/test.sh and CI pass it).
# Needs root for apt-get: runs it directly as root, through sudo otherwise (and says so).
# The README's "Dependencies and why each is there" lists every package below, with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."

# `--print-packages` (after --tests, if any) lists the packages it would want on a bare machine and exits.
TESTS=0 PRINT=0
if [[ "${1:-}" == "--tests" ]]; then TESTS=1; shift; fi
if [[ "${1:-}" == "--print-packages" ]]; then PRINT=1; shift; fi

# To build: compiler and build tools, then the libraries (see the README for what each is for).
PKGS=(build-essential cmake pkg-config ninja-build
      libopenblas-dev libopenblas-openmp-dev libdnnl-dev libxsimd-dev doctest-dev libpcre2-dev
      libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libedit-dev)
# To run the tests (tests/e2e/*.sh): python3 checks JSON output and numbers, curl talks to `latte serve`, jq reads
# JSON in shell, tmux drives the interactive chat, node/npm run the official `openai` npm client against the
# server, ca-certificates lets npm reach its registry over HTTPS.
if ((TESTS)); then
  PKGS+=(python3 curl jq tmux ca-certificates)
  # Node may come from elsewhere (nvm, NodeSource): only install Debian's when there is no node/npm at all.
  if ((PRINT)) || ! command -v node >/dev/null || ! command -v npm >/dev/null; then PKGS+=(nodejs npm); fi
fi
if ((PRINT)); then printf '%s\n' "${PKGS[@]}"; ((TESTS)) && echo chromium; exit 0; fi

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
# The chat page test drives the page in headless Chromium: installed here, up front, without recommends (the test
# would otherwise try apt-get itself while other tests run, and skip when the package lock is busy).
if ((TESTS)) && ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  echo "setup: installing chromium (for the chat page test; no recommends)"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  { "${SUDO[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium; } ||
    echo "setup: chromium could not be installed; the chat page test will skip"
fi

BUILD_DIR=${LATTE_BUILD_DIR:-build}
EXTRA=()
[[ "${CI:-}" == "true" ]] && EXTRA+=(-DLATTE_WERROR=ON)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built $BUILD_DIR/latte"
