#!/bin/bash
# e2e: no absolute machine path in the product. The product's sources (cli/ formats/ quant/ runtime/ include/
# bench/ scripts/ examples/ CMakeLists.txt; not tests/ or measured results) and its binaries (latte, liblatte.so,
# synth_model) must not name /work/, /home/, /root/ or this checkout's own absolute path. And synth_model, with
# LATTE_SHARED_DIR unset, finds its vocabulary in shared/ beside the checkout relative to where the program is:
# a copy of it at X/ckout/build/ uses X/shared/models/.
# Usage: no_machine_paths.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$(realpath "$1")"
SHARED="$(realpath "$2")"
BUILD="$(dirname "$LATTE")"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

pattern='/work/|/home/|/root/'
cd "$ROOT" || exit 1
hits=$(grep -rnE "$pattern" cli formats quant runtime include scripts examples CMakeLists.txt \
         $(ls -d bench/* | grep -v '^bench/results$') 2>/dev/null)
[ -z "$hits" ] && pass "no /work/, /home/, /root/ in the product sources" || fail "machine paths in sources:
$hits"

for bin in "$LATTE" "$BUILD/liblatte.so" "$BUILD/synth_model"; do
  [ -f "$bin" ] || { fail "$bin is not built"; continue; }
  found=$(strings -a "$bin" | grep -E "$pattern|$ROOT" | head -5)
  [ -z "$found" ] && pass "no machine path in $(basename "$bin")" || fail "$(basename "$bin") contains: $found"
done

# synth_model's default vocabulary, relative to the program: X/ckout/build/synth_model -> X/shared/models
if [ -f "$BUILD/synth_model" ]; then
  mkdir -p "$tmp/x/ckout/build" "$tmp/x/shared/models" "$tmp/elsewhere"
  cp "$BUILD/synth_model" "$tmp/x/ckout/build/"
  ln -s "$SHARED/models/deepseek-v3-vocab.gguf" "$tmp/x/shared/models/deepseek-v3-vocab.gguf"
  (cd "$tmp/elsewhere" && env -u LATTE_SHARED_DIR "$tmp/x/ckout/build/synth_model" --preset tiny --layers 1 \
     --type q8_0 --out "$tmp/s.gguf" --quiet -t 1) >"$tmp/o" 2>&1
  rc=$?
  [ $rc = 0 ] && [ -s "$tmp/s.gguf" ] && pass "synth_model found ../shared beside its checkout" \
    || fail "synth_model without LATTE_SHARED_DIR: exit $rc: $(head -c 300 "$tmp/o")"
  # with no shared/ anywhere it says where it looked, in one line, exit 1
  rm "$tmp/x/shared/models/deepseek-v3-vocab.gguf"
  (cd "$tmp/elsewhere" && env -u LATTE_SHARED_DIR "$tmp/x/ckout/build/synth_model" --preset tiny --layers 1 \
     --out "$tmp/s2.gguf" --quiet -t 1) >"$tmp/o" 2>&1
  rc=$?
  [ $rc = 1 ] && grep -q "LATTE_SHARED_DIR" "$tmp/o" && [ "$(wc -l <"$tmp/o")" = 1 ] \
    && pass "no vocabulary: $(cat "$tmp/o")" || fail "no vocabulary: exit $rc: $(head -c 300 "$tmp/o")"
fi

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "no machine paths"
