#!/bin/bash
# e2e: the CLI's rough edges a new user met (issue 16, item 8), each checked:
#   -t -1 says what a thread count is, in one short line; -t 1000 is capped (4 x the logical CPUs) with a warning;
#   `latte runn` names the unknown command; -p '' says the prompt is empty; -c above the model's training context
#   is warned with the value used and why; a busy port gives the reason (strerror); `serve --ctx-size` works
#   (and `--ctx` still does); `quantize -q` prints nothing; flag errors exit 1 like every other error.
# Usage: rough_edges.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
BF16="$SHARED/models/tiny-dsv3/tiny-dsv3-bf16.gguf"
tmp=$(mktemp -d)
pids=()
# Servers started inside $(...) (a subshell) record their pid in $tmp/*.pid: the array alone would lose them.
trap 'for f in "$tmp"/*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
      for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# expect RC PATTERN ARGS...: exit code RC, one line on stderr matching PATTERN (grep -E)
expect() {
  local want=$1 pat=$2
  shift 2
  timeout 60 "$LATTE" "$@" >"$tmp/o" 2>"$tmp/e"
  local rc=$?
  if [ $rc = "$want" ] && grep -qE "$pat" "$tmp/e" && [ "$(wc -l <"$tmp/e")" -le 1 ] && [ "$(wc -c <"$tmp/e")" -lt 300 ]
  then pass "latte $* -> $rc: $(cat "$tmp/e")"
  else fail "latte $*: want exit $want and /$pat/ in one line, got $rc: $(head -c 400 "$tmp/e")"
  fi
}

expect 1 "thread count" run -m "$Q4" -p hi -n 1 -t -1
expect 1 "thread count" run -m "$Q4" -p hi -n 1 -t abc
expect 1 "unknown command 'runn'" runn -m "$Q4"
expect 1 "prompt given with -p/--prompt is empty" run -m "$Q4" -p '' -n 1
expect 1 "no prompt" run -m "$Q4" -n 1
expect 1 "not both" run -m "$Q4" -p hi -f /dev/null -n 1
# every flag error exits 1 (CLI11's own codes are 100+)
expect 1 "error" run -m "$Q4" -p hi --no-such-flag
expect 1 "error" run -p hi
expect 1 "error" serve -m "$Q4" --port 70000
expect 1 "error" bench -m "$Q4" -n notanumber
"$LATTE" --version >"$tmp/o" 2>&1 && grep -q "latte" "$tmp/o" && pass "--version exit 0" || fail "--version"

# -t 1000: capped with a warning naming the cap, and it still runs
cap=$((4 * $(nproc)))
"$LATTE" run -m "$Q4" -p "The" -n 2 --temp 0 -t 1000 >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc = 0 ] && grep -q "warning: -t 1000 .*using $cap" "$tmp/e" && pass "-t 1000: $(grep warning "$tmp/e")" \
  || fail "-t 1000: exit $rc: $(head -c 400 "$tmp/e")"

# -c above the training context (2048 for the demo model): warned, with the value used and why
"$LATTE" run -m "$Q4" -p "The" -n 2 --temp 0 -t 1 -c 100000000 >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc = 0 ] && grep -q "warning: -c 100000000 is more than the model's training context (2048 tokens.*using 2048" \
  "$tmp/e" && pass "-c 100000000: $(grep warning "$tmp/e")" || fail "-c 100000000: exit $rc: $(head -c 400 "$tmp/e")"
"$LATTE" run -m "$Q4" -p "The" -n 2 --temp 0 -t 1 >"$tmp/o" 2>"$tmp/e"
grep -q warning "$tmp/e" && fail "default -c warns: $(grep warning "$tmp/e")" || pass "default -c: no warning"

# serve: --ctx-size (and the old --ctx), a -c cap warning, a busy port with the reason
start() {  # start LOG ARGS...: start a server, wait for its port (or its exit); echoes the port
  local log=$1
  shift
  "$LATTE" serve -m "$Q4" -t 1 "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  echo "$pid" >"$log.pid"
  for _ in $(seq 1 300); do
    local p
    p=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$p" ] && { echo "$p"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
port=$(start "$tmp/s1.log" --port 0 --ctx-size 512) || fail "serve --ctx-size 512 did not start: $(cat "$tmp/s1.log")"
grep -q "x 512 tokens of context" "$tmp/s1.log" && pass "serve --ctx-size 512" || fail "--ctx-size not used: $(head -3 "$tmp/s1.log")"
port2=$(start "$tmp/s2.log" --port 0 --ctx 100000) || fail "serve --ctx did not start"
grep -q "x 2048 tokens of context" "$tmp/s2.log" && grep -q "warning: -c 100000 .*using 2048" "$tmp/s2.log" \
  && pass "serve --ctx alias + cap warning: $(grep warning "$tmp/s2.log")" || fail "serve -c cap: $(head -3 "$tmp/s2.log")"
if [ -n "$port" ]; then
  timeout 60 "$LATTE" serve -m "$Q4" -t 1 --port "$port" >"$tmp/o" 2>"$tmp/e"
  rc=$?
  [ $rc = 1 ] && grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$tmp/e" \
    && pass "busy port: $(tail -1 "$tmp/e")" || fail "busy port: exit $rc: $(head -c 400 "$tmp/e")"
fi

# quantize -q: nothing on stdout or stderr
"$LATTE" quantize "$BF16" "$tmp/q.gguf" q8_0 -q -t 1 >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc = 0 ] && [ ! -s "$tmp/o" ] && [ ! -s "$tmp/e" ] && pass "quantize -q is silent" \
  || fail "quantize -q: exit $rc, printed: $(head -c 300 "$tmp/o") $(head -c 300 "$tmp/e")"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "rough edges smoothed"
