#!/usr/bin/env bash
# Sanitizer pass: builds the tree with clang + AddressSanitizer + UndefinedBehaviorSanitizer (build-asan), runs the
# unit and golden suites under them, then runs each libFuzzer target for FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in clang libomp-dev libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=(); [[ $(id -u) -eq 0 ]] || { echo "sanitize: using sudo for apt-get"; SUDO=(sudo); }
  "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}"
fi
B=build-asan
CC=clang CXX=clang++ cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLATTE_SANITIZE=ON -DLATTE_FUZZ=ON \
  >/dev/null
cmake --build $B -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Unit + golden suites under the sanitizers (e2e shell tests run in the main build).
(cd $B && ctest --output-on-failure -j"$(nproc)" -E '^e2e_' -LE slow)
for t in gguf safetensors tokenizer chat chat_request; do
  [[ -x $B/fuzz_$t ]] && bash bench/fuzz.sh $t "${FUZZ_SECONDS:-60}" $B
done
