#!/bin/bash
# e2e: interactive `latte chat` driven through tmux (send-keys / capture-pane) with the shared tiny model:
# a two-turn chat with /save, /reset and /load in between; the prompt ids fed to the model (hidden
# --dump-prompt-ids) must equal the ids of the DeepSeek-V3 template text (GGUF_DEEPSEEK.md §E.8) built here, and
# the second turn must reuse the cache restored by /load. Then Ctrl-C stops an endless reply without ending the
# program, and a context far smaller than the reply shifts instead of failing.
# Usage: chat_tmux.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
M="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
for tool in tmux jq; do
  command -v $tool >/dev/null || { echo "FAIL: $tool is required for this test"; exit 1; }
done
tmp=$(mktemp -d)
T="tmux -S $tmp/tmux.sock"
export LATTE_HISTORY="$tmp/history"  # keep the line-editing history out of $HOME
trap '$T kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
pane() { $T capture-pane -p -t "$1" -S -500 2>/dev/null; }
# wait_for SESSION PATTERN [SECONDS]: poll the pane until grep -E matches.
wait_for() {
  local i
  for ((i = 0; i < ${3:-30} * 10; i++)); do
    pane "$1" | grep -qE -- "$2" && return 0
    sleep 0.1
  done
  return 1
}
wait_lines() {  # wait_lines FILE N [SECONDS]
  local i
  for ((i = 0; i < ${3:-30} * 10; i++)); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
BOS=$'<\xef\xbd\x9cbegin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>'
EOS=$'<\xef\xbd\x9cend\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>'
USER=$'<\xef\xbd\x9cUser\xef\xbd\x9c>'
ASSIST=$'<\xef\xbd\x9cAssistant\xef\xbd\x9c>'
SYS="You are terse."
ids_of_file() { "$LATTE" tokenize -m "$M" --special --no-bos --json --file "$1" | jq -c .ids; }

# ---- 1. two turns with /save, /reset, /load in between
D="$tmp/dump.jsonl"
$T new-session -d -s chat -x 200 -y 50 \
  "LATTE_HISTORY='$tmp/history' '$LATTE' chat -m '$M' --temp 0 -n 16 -c 512 -t 2 -s '$SYS' --dump-prompt-ids '$D'; echo \$? > '$tmp/rc'; sleep 30"
wait_for chat "Ctrl-D quits" 60 && pass "banner shown" || fail "no banner: $(pane chat | tail -5)"
$T send-keys -t chat "Hello there" Enter
wait_lines "$D" 1 60 && wait_for chat "tok/s" 30 && pass "turn 1 answered" || fail "turn 1: $(pane chat | tail -5)"
$T send-keys -t chat "/save $tmp/s.bin" Enter
wait_for chat "^saved [0-9]+ tokens" 30 && pass "/save" || fail "/save: $(pane chat | tail -3)"
$T send-keys -t chat "/reset" Enter
wait_for chat "conversation cleared" 30 && pass "/reset" || fail "/reset: $(pane chat | tail -3)"
$T send-keys -t chat "/load $tmp/s.bin" Enter
wait_for chat "^loaded [0-9]+ tokens, 3 messages" 30 && pass "/load" || fail "/load: $(pane chat | tail -3)"
$T send-keys -t chat "What next?" Enter
wait_lines "$D" 2 60 && pass "turn 2 answered" || fail "turn 2: $(pane chat | tail -5)"
$T send-keys -t chat "/stats" Enter
wait_for chat "context shifts" 30 && pass "/stats" || fail "/stats: $(pane chat | tail -3)"
$T send-keys -t chat C-d
for ((i = 0; i < 100; i++)); do [ -s "$tmp/rc" ] && break; sleep 0.1; done
[ "$(cat "$tmp/rc" 2>/dev/null)" = "0" ] && pass "Ctrl-D exits with 0" || fail "exit status '$(cat "$tmp/rc" 2>/dev/null)'"

if [ "$(wc -l <"$D")" -ge 2 ]; then
  printf '%s' "$BOS$SYS$USER""Hello there$ASSIST" >"$tmp/t1.txt"
  want1=$(ids_of_file "$tmp/t1.txt")
  got1=$(sed -n 1p "$D" | jq -c .prompt_ids)
  [ "$want1" = "$got1" ] && pass "turn 1 prompt ids = template ids $got1" || fail "turn 1 ids: got $got1 want $want1"
  # Turn 2: the whole conversation re-rendered, including the model's first reply (exact bytes from the dump).
  sed -n 1p "$D" | jq -j --arg pre "$BOS$SYS$USER""Hello there$ASSIST" --arg post "$EOS$USER""What next?$ASSIST" \
    '$pre + .reply + $post' >"$tmp/t2.txt"
  want2=$(ids_of_file "$tmp/t2.txt")
  got2=$(sed -n 2p "$D" | jq -c .prompt_ids)
  [ "$want2" = "$got2" ] && pass "turn 2 prompt ids = template ids" || fail "turn 2 ids: got $got2 want $want2"
  n1=$(sed -n 1p "$D" | jq '.prompt_ids | length')
  n2=$(sed -n 2p "$D" | jq .n_prompt)
  e2=$(sed -n 2p "$D" | jq .n_prompt_evaluated)
  # After /load the cache holds turn 1's prompt and reply: only the tail of prompt 2 is evaluated.
  [ "$e2" -le $((n2 - n1)) ] && pass "turn 2 evaluated $e2 of $n2 prompt tokens (cache from /load reused)" \
    || fail "turn 2 evaluated $e2 of $n2 tokens: the loaded cache was not reused"
  [ -s "$tmp/s.bin" ] && [ -s "$tmp/s.bin.chat.json" ] && pass "session files written" || fail "no session files"
  grep -q "What" "$tmp/history" 2>/dev/null && pass "line history saved" || fail "no line history in $tmp/history"
fi

# ---- 2. Ctrl-C stops an endless reply; a 32-token context shifts instead of failing
$T new-session -d -s long -x 200 -y 50 "LATTE_HISTORY='$tmp/history2' '$LATTE' chat -m '$M' --temp 0 -n -1 -c 32 -t 2; echo \$? > '$tmp/rc2'; sleep 30"
wait_for long "Ctrl-D quits" 60 || fail "long: no banner"
$T send-keys -t long "Tell me a long story" Enter
sleep 5
$T send-keys -t long C-c
wait_for long "stopped\]" 30 && pass "Ctrl-C stopped the reply" || fail "Ctrl-C: $(pane long | tail -3)"
$T send-keys -t long "/stats" Enter
if wait_for long "context shifts" 30; then
  n=$(pane long | grep -oE '^\[[0-9]+ tokens' | head -1 | tr -dc 0-9)
  shifts=$(pane long | grep -oE '[0-9]+ context shifts' | head -1 | tr -dc 0-9)
  if [ "${n:-0}" -gt 32 ]; then
    [ "${shifts:-0}" -gt 0 ] && pass "$n tokens in a 32-token context: $shifts shifts" || fail "$n tokens, no shift"
  else
    fail "reply too short to overflow the context ($n tokens)"
  fi
else
  fail "/stats after Ctrl-C: $(pane long | tail -3)"
fi
$T send-keys -t long "/quit" Enter
for ((i = 0; i < 100; i++)); do [ -s "$tmp/rc2" ] && break; sleep 0.1; done
[ "$(cat "$tmp/rc2" 2>/dev/null)" = "0" ] && pass "still running after Ctrl-C; /quit exits 0" || fail "long: exit '$(cat "$tmp/rc2" 2>/dev/null)'"

echo "failures: $failures"
[ "$failures" -eq 0 ]
