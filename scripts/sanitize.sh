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
# The suites that parse untrusted input or hold the numerics run under the sanitizers; the e2e shell tests and
# the slow tool suites run in the main build only (keeps CI well under 30 minutes on 2 cores).
SUITES=(test_gguf test_quant test_kernels test_tokenizer test_chat_format test_golden test_sampler
        test_server_protocol test_memory_plan test_convert test_convert_v4 test_generate)
FUZZERS=(gguf safetensors tokenizer chat chat_request)
targets=()
for t in "${SUITES[@]}"; do [[ -f tests/$t.cpp ]] && targets+=("$t"); done
for f in "${FUZZERS[@]}"; do [[ -f tests/fuzz/fuzz_$f.cpp ]] && targets+=("fuzz_$f"); done
cmake --build $B -j"$(nproc)" --target "${targets[@]}"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_WAIT_POLICY=passive
regex="^($(IFS='|'; echo "${targets[*]}" | tr ' ' '|'))\$"
(cd $B && ctest --output-on-failure -j"$(nproc)" -R "$regex")
for f in "${FUZZERS[@]}"; do
  [[ -x $B/fuzz_$f ]] && bash bench/fuzz.sh "$f" "${FUZZ_SECONDS:-60}" $B
done
