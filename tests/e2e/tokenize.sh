#!/bin/bash
# e2e: `latte tokenize` on the real DeepSeek-V3 vocabulary and the tiny model's (ids from tokenizer-refs/*.json),
# --json / --no-bos / --no-special / --ids, and its error paths (one line on stderr, non-zero exit).
# Control tokens written in the text are parsed by default (as Hugging Face tokenizers and llama-tokenize do);
# --no-special keeps them text (and renders none with --ids).
# Usage: tokenize.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
V="$SHARED/models/deepseek-v3-vocab.gguf"
TINY="$SHARED/models/tiny-dsv3/tiny-dsv3-f32.gguf"
REFS="$SHARED/models/tokenizer-refs/tokenize_tiny_A.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
expect() {  # expect WHAT WANT ARGS...
  local what="$1" want="$2"
  shift 2
  local got
  got=$("$LATTE" tokenize -m "$V" "$@" 2>&1)
  [ "$got" = "$want" ] && pass "$what: $got" || fail "$what: got '$got' want '$want'"
}
expect "text -> ids with BOS" "0 19923 2058" --text "Hello world"
expect "--no-bos" "19923 2058" --text "Hello world" --no-bos
U=$'<\xef\xbd\x9cUser\xef\xbd\x9c>'
expect "control tokens in the text are split out by default" "128803 23166" --text "${U}Hi" --no-bos
expect "--special (the default) too" "128803 23166" --text "${U}Hi" --no-bos --special
expect "with --no-special they stay text" "30 28217 6756 28217 32 23166" --text "${U}Hi" --no-bos --no-special
expect "--ids renders control tokens by default" $'<\xef\xbd\x9cbegin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>Hello' --ids "0 19923"
expect "--ids --no-special renders none" "Hello world" --ids 0,19923,2058 --no-special
got=$("$LATTE" tokenize -m "$V" --text "Hello world" --no-bos --json | jq -c '[.ids, .tokens, .n_tokens]')
[ "$got" = '[[19923,2058],["Hello","Ġworld"],2]' ] && pass "--json: $got" || fail "--json: $got"

# Every reference string of the tiny vocabulary through the CLI (text via --file so that bytes are exact; the
# tiny file loads in milliseconds, the V3 references are covered by test_tokenizer).
n=$(jq '.items | length' "$REFS")
bad=0
for ((i = 0; i < n; i++)); do
  jq -j ".items[$i].text" "$REFS" >"$tmp/t.txt"
  want=$(jq -c ".items[$i].ids" "$REFS")
  got=$("$LATTE" tokenize -m "$TINY" --file "$tmp/t.txt" --no-bos --special --json | jq -c .ids)
  [ "$got" = "$want" ] || { bad=$((bad + 1)); echo "  item $i: got $got want $want"; }
done
[ "$bad" = 0 ] && pass "all $n reference strings" || fail "$bad of $n reference strings differ"

err() {  # err WHAT PATTERN ARGS...
  local what="$1" pat="$2"
  shift 2
  if "$LATTE" tokenize "$@" >/dev/null 2>"$tmp/e"; then fail "$what: exit 0"; return; fi
  [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q -- "$pat" "$tmp/e" && pass "$what: $(cat "$tmp/e")" \
    || fail "$what: '$(cat "$tmp/e")'"
}
err "id outside the vocabulary" "outside the vocabulary" -m "$V" --ids 1,129280
err "negative id" "outside the vocabulary" -m "$V" --ids -5
err "not a number" "not a token id" -m "$V" --ids 1,abc
err "nothing to do" "give --text" -m "$V"
err "missing file" "nope.gguf" -m "$tmp/nope.gguf" --text hi

echo "failures: $failures"
[ "$failures" -eq 0 ]
