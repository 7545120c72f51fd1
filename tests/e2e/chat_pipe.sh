#!/bin/bash
# e2e: `latte chat` with stdin not a terminal (one turn per line, only the answers printed), --prompt-file,
# the R1 generation prompt, a conversation far longer than the context, and the error paths.
# Usage: chat_pipe.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
M="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
command -v jq >/dev/null || { echo "FAIL: jq is required for this test"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
CHAT=("$LATTE" chat -m "$M" --temp 0 -n 16 -t 2 -s "You are terse.")

# ---- 1. two turns from a pipe: stdout is exactly the two answers, one per turn
if printf 'Hello there\nWhat next?\n' | "${CHAT[@]}" --dump-prompt-ids "$tmp/d.jsonl" >"$tmp/out" 2>"$tmp/err"; then
  pass "exit 0"
else
  fail "exit non-zero: $(cat "$tmp/err")"
fi
[ "$(wc -l <"$tmp/d.jsonl" 2>/dev/null)" = "2" ] && pass "two turns" || fail "dump has $(wc -l <"$tmp/d.jsonl") lines"
jq -j '.reply + "\n"' "$tmp/d.jsonl" >"$tmp/want"
cmp -s "$tmp/out" "$tmp/want" && pass "stdout = the answers only ($(wc -c <"$tmp/out") bytes)" \
  || fail "stdout differs from the answers: $(head -c 200 "$tmp/out")"
grep -qE 'tok/s|Ctrl-D|^> ' "$tmp/out" && fail "decoration in pipe output" || pass "no decoration"
e2=$(sed -n 2p "$tmp/d.jsonl" | jq .n_prompt_evaluated)
n2=$(sed -n 2p "$tmp/d.jsonl" | jq .n_prompt)
[ "$e2" -lt "$n2" ] && pass "turn 2 reuses the cached prefix ($e2 of $n2 evaluated)" || fail "no prefix reuse ($e2 of $n2)"

# ---- 2. greedy is deterministic and --prompt-file gives the same first answer
printf 'Hello there' >"$tmp/prompt.txt"
"${CHAT[@]}" --prompt-file "$tmp/prompt.txt" </dev/null >"$tmp/pf" 2>"$tmp/err" || fail "--prompt-file: $(cat "$tmp/err")"
[ "$(head -1 "$tmp/pf")" = "$(head -1 "$tmp/want")" ] && pass "--prompt-file answer = piped answer" \
  || fail "--prompt-file: '$(head -1 "$tmp/pf")' vs '$(head -1 "$tmp/want")'"

# ---- 3. R1 format: the generation prompt opens <think> (ids 4 5 218 = <｜Assistant｜> <think> \n in this vocab)
echo "Hi" | "${CHAT[@]}" --chat-format deepseek-r1 --dump-prompt-ids "$tmp/r1.jsonl" >/dev/null 2>"$tmp/err" \
  || fail "r1: $(cat "$tmp/err")"
tail3=$(jq -c '.prompt_ids[-3:]' "$tmp/r1.jsonl" 2>/dev/null)
[ "$tail3" = "[4,5,218]" ] && pass "R1 prompt ends with <｜Assistant｜><think>\\n" || fail "R1 prompt tail $tail3"

# ---- 4. 20 turns through a 96-token context: no error, every prompt fits, old turns dropped (/stats says so)
for i in $(seq 1 20); do echo "Tell me about the number $i and more"; done >"$tmp/many.txt"
echo "/stats" >>"$tmp/many.txt"
if "$LATTE" chat -m "$M" --temp 0 -n 16 -t 2 -c 96 --dump-prompt-ids "$tmp/m.jsonl" <"$tmp/many.txt" >"$tmp/mout" 2>"$tmp/err"; then
  pass "20 turns in a 96-token context: exit 0"
else
  fail "overflow run: $(tail -2 "$tmp/err")"
fi
[ "$(wc -l <"$tmp/m.jsonl")" = "20" ] && pass "20 answers" || fail "$(wc -l <"$tmp/m.jsonl") answers"
maxp=$(jq -s 'map(.n_prompt) | max' "$tmp/m.jsonl")
[ "$maxp" -le 96 ] && pass "largest prompt $maxp tokens <= 96" || fail "prompt of $maxp tokens"
grep -qE "[1-9][0-9]* turns dropped" "$tmp/mout" && pass "/stats reports dropped turns" || fail "/stats: no dropped turns"

# ---- 5. errors: one line on stderr, non-zero exit
check_err() {  # check_err WHAT PATTERN ARGS...
  local what="$1" pat="$2"
  shift 2
  if echo hi | "$@" >/dev/null 2>"$tmp/e"; then fail "$what: exit 0"; return; fi
  if [ "$(wc -l <"$tmp/e")" = "1" ] && grep -q -- "$pat" "$tmp/e"; then pass "$what: $(cat "$tmp/e")"
  else fail "$what: stderr '$(cat "$tmp/e")'"; fi
}
check_err "unknown format" "unknown chat format" "$LATTE" chat -m "$M" --chat-format chatml
check_err "bad --think" "--think" "$LATTE" chat -m "$M" --think loud
check_err "missing model" "nope.gguf" "$LATTE" chat -m "$tmp/nope.gguf"
# An unknown /command in a script is reported but the chat goes on.
printf '/bogus\nHi\n' | "${CHAT[@]}" >"$tmp/o" 2>"$tmp/e"
[ $? = 0 ] && grep -q "unknown command /bogus" "$tmp/e" && [ -s "$tmp/o" ] && pass "unknown /command reported, chat continues" \
  || fail "unknown /command: $(cat "$tmp/e")"

echo "failures: $failures"
[ "$failures" -eq 0 ]
