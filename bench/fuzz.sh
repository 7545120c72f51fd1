#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS on its seed corpus. Usage: bench/fuzz.sh TARGET SECONDS [BUILD_DIR]
# TARGET: gguf | safetensors | tokenizer | chat | chat_request. Builds the clang ASan+UBSan+fuzzer tree (build-fuzz) if needed.
# Prints the execution count and exits non-zero if the fuzzer found a crash (reproducer left in build-fuzz/crashes).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target: gguf|safetensors|tokenizer|chat|chat_request}
secs=${2:-60}
bdir=${3:-build-fuzz}
if [[ ! -x $bdir/fuzz_$target ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLATTE_SANITIZE=ON -DLATTE_FUZZ=ON >/dev/null
  cmake --build "$bdir" -j"$(nproc)" --target "fuzz_$target"
fi
corpus_seed=tests/fuzz/corpus/$target
work=$bdir/corpus-$target
mkdir -p "$work" "$bdir/crashes"
[[ -d $corpus_seed ]] && cp -n "$corpus_seed"/* "$work"/ 2>/dev/null || true
log=$bdir/fuzz-$target.log
set +e
"$bdir/fuzz_$target" "$work" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$bdir/crashes/$target-" -print_final_stats=1 >"$log" 2>&1
rc=$?
set -e
runs=$(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
echo "fuzz $target: ${secs}s, $runs executions, exit $rc"
if [[ $rc -ne 0 ]]; then tail -40 "$log"; exit 1; fi
