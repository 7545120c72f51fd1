#!/bin/bash
# e2e: `latte quantize IN OUT TYPE` never harms its input or leaves a partial OUT.
#   - OUT == IN is refused (exit 1, one line), also when OUT is a symlink or a hard link to IN; IN is unchanged;
#   - a run that fails while writing (file size limit) leaves no OUT, an existing OUT untouched, no temporary;
#   - an unrelated file named OUT.tmp is neither overwritten nor deleted;
#   - a normal run leaves exactly OUT (loadable) and nothing else; -q prints nothing; --help says all this.
# Usage: quantize_safe.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$(realpath "$1")"
SHARED="$2"
SRC="$SHARED/models/tiny-dsv3/tiny-dsv3-bf16.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

cp "$SRC" "$tmp/m.gguf"
sum0=$(sha256sum <"$tmp/m.gguf")
ln -s m.gguf "$tmp/sym.gguf"
ln "$tmp/m.gguf" "$tmp/hard.gguf"
for out in m.gguf sym.gguf hard.gguf ./m.gguf; do
  (cd "$tmp" && "$LATTE" quantize m.gguf "$out" q8_0 -q) >"$tmp/o" 2>"$tmp/e"
  rc=$?
  if [ $rc = 1 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "is the input file" "$tmp/e"; then
    pass "OUT=$out refused: $(cat "$tmp/e")"
  else
    fail "OUT=$out: exit $rc, stderr: $(head -c 300 "$tmp/e")"
  fi
  [ "$(sha256sum <"$tmp/m.gguf")" = "$sum0" ] || fail "input changed by quantize m.gguf $out"
done
[ -L "$tmp/sym.gguf" ] || fail "the symlink was replaced"

# a failed write (file size limit 1 MB, SIGXFSZ ignored so write() fails with EFBIG) keeps an existing OUT
echo "old output" >"$tmp/out.gguf"
echo "not ours" >"$tmp/out.gguf.tmp"
(trap '' XFSZ; ulimit -f 1024; exec "$LATTE" quantize "$tmp/m.gguf" "$tmp/out.gguf" q8_0 -q) >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc = 1 ] && pass "failed write: exit 1: $(tail -1 "$tmp/e")" || fail "failed write: exit $rc: $(head -c 300 "$tmp/e")"
[ "$(cat "$tmp/out.gguf")" = "old output" ] && pass "existing OUT untouched after a failed write" \
  || fail "existing OUT changed by a failed write"
[ "$(cat "$tmp/out.gguf.tmp")" = "not ours" ] && pass "unrelated out.gguf.tmp kept" || fail "out.gguf.tmp clobbered"
left=$(ls "$tmp" | grep -c '\.tmp\.' || true)
[ "$left" = 0 ] && pass "no temporary left after a failed write" || fail "temporaries left: $(ls "$tmp")"

# a normal run: OUT replaced atomically, loads, nothing else left; -q prints nothing on stdout or stderr
rm -f "$tmp/out.gguf"
"$LATTE" quantize "$tmp/m.gguf" "$tmp/out.gguf" q8_0 -q >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc = 0 ] && [ ! -s "$tmp/o" ] && [ ! -s "$tmp/e" ] && pass "quantize -q: exit 0, silent" \
  || fail "quantize -q: exit $rc, stdout $(head -c 200 "$tmp/o"), stderr $(head -c 200 "$tmp/e")"
"$LATTE" inspect "$tmp/out.gguf" >/dev/null 2>&1 && pass "OUT loads" || fail "OUT does not load"
[ "$(ls "$tmp" | grep -c '\.tmp\.' || true)" = 0 ] || fail "temporaries left after success: $(ls "$tmp")"
"$LATTE" quantize "$tmp/m.gguf" "$tmp/out2.gguf" q8_0 >"$tmp/o" 2>"$tmp/e"
grep -q "wrote" "$tmp/e" && [ -s "$tmp/o" ] && pass "without -q: progress and summary printed" \
  || fail "without -q nothing printed"

"$LATTE" quantize --help >"$tmp/help" 2>&1
grep -q "temporary file" "$tmp/help" && grep -q "must not" "$tmp/help" && pass "--help explains OUT" \
  || fail "--help says nothing about the temporary file / OUT == IN"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "quantize output safety checks pass"
