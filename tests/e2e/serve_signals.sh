#!/bin/bash
# e2e: SIGINT and SIGTERM stop `latte serve` cleanly whichever thread receives them (OpenBLAS/OpenMP threads exist
# before serve starts). For each signal: a streamed greedy completion is in flight when the signal is sent; the
# server prints its stop message, exits 0, and the stream is complete: it ends with finish_reason and
# "data: [DONE]" and its text equals the same request answered before the signal. A second signal cuts a running
# generation short and the stream still ends with [DONE]. A signal during model load exits 0 too.
# Usage: serve_signals.sh LATTE_BINARY SHARED_DIR
set -u
. "$(dirname "$0")/lib/serve.sh"
LATTE="$1"
SHARED="$2"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
tmp=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*"; [ -f "$tmp/server.log" ] && tail -20 "$tmp/server.log"; exit 1; }
command -v curl >/dev/null || die "curl is not installed (needed by this test)"

start_server() {
  # OPENBLAS_NUM_THREADS=2: OpenBLAS starts a worker thread when the library loads, before main.
  OPENBLAS_NUM_THREADS=2 "$LATTE" serve -m "$Q4" --port 0 -t 1 -c 2048 >"$tmp/server.log" 2>&1 &
  server_pid=$!
  wait_listening
}
# wait_exit: waits up to 60 s for the server; sets rc to its exit status (or "hung")
wait_exit() {
  rc=hung
  for _ in $(seq 1 600); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid"
      rc=$?
      server_pid=""
      return
    fi
    sleep 0.1
  done
}
body='{"prompt":"The","max_tokens":1500,"temperature":0,"stream":true}'
text_of() { sed -n 's/^data: {.*"text":"\([^"]*\)".*/\1/p' "$1" | tr -d '\n'; }

for sig in INT TERM; do
  start_server
  # the reference: the same greedy request, answered without interruption
  curl -sN "$base/v1/completions" -H 'Content-Type: application/json' -d "$body" >"$tmp/ref.sse"
  grep -q '^data: \[DONE\]' "$tmp/ref.sse" || die "reference stream incomplete"
  curl -sN "$base/v1/completions" -H 'Content-Type: application/json' -d "$body" >"$tmp/got.sse" &
  curl_pid=$!
  for _ in $(seq 1 200); do [ "$(grep -c '^data: ' "$tmp/got.sse")" -ge 3 ] && break; sleep 0.05; done
  in_flight=no
  kill -0 "$curl_pid" 2>/dev/null && ! grep -q '^data: \[DONE\]' "$tmp/got.sse" && in_flight=yes
  kill -"$sig" "$server_pid"
  wait_exit
  wait "$curl_pid"
  [ "$in_flight" = yes ] && pass "SIG$sig sent with a stream in flight" \
    || fail "SIG$sig: the stream had finished before the signal (the test proves nothing)"
  [ "$rc" = 0 ] && pass "SIG$sig: exit 0" || fail "SIG$sig: exit status $rc: $(tail -5 "$tmp/server.log")"
  grep -q "signal .*stopping" "$tmp/server.log" && grep -q "latte serve: stopped" "$tmp/server.log" \
    && pass "SIG$sig: stop message" || fail "SIG$sig: no stop message: $(tail -5 "$tmp/server.log")"
  grep -q '^data: \[DONE\]' "$tmp/got.sse" && grep -q '"finish_reason":"' "$tmp/got.sse" \
    && pass "SIG$sig: in-flight stream ended with finish_reason and [DONE]" || fail "SIG$sig: stream cut: $(tail -c 300 "$tmp/got.sse")"
  [ -n "$(text_of "$tmp/ref.sse")" ] && [ "$(text_of "$tmp/got.sse")" = "$(text_of "$tmp/ref.sse")" ] \
    && pass "SIG$sig: in-flight text equals the uninterrupted answer ($(grep -c '^data: ' "$tmp/got.sse") events)" \
    || fail "SIG$sig: text differs from the reference"
done

# two signals: the second cuts the running generation short; the stream still ends properly
start_server
curl -sN "$base/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt":"The","max_tokens":2000,"temperature":0,"stream":true}' >"$tmp/cut.sse" &
curl_pid=$!
for _ in $(seq 1 200); do [ "$(grep -c '^data: ' "$tmp/cut.sse")" -ge 3 ] && break; sleep 0.05; done
kill -INT "$server_pid"
sleep 0.2
kill -INT "$server_pid" 2>/dev/null
wait_exit
wait "$curl_pid"
[ "$rc" = 0 ] && grep -q "cutting the running generations short" "$tmp/server.log" \
  && pass "second SIGINT: exit 0, generations cut short" || fail "second SIGINT: exit $rc: $(tail -5 "$tmp/server.log")"
grep -q '^data: \[DONE\]' "$tmp/cut.sse" && pass "cut stream still ends with [DONE]" || fail "cut stream: no [DONE]"

# a signal during start-up, as soon as serve handles it (before the listener exists): still a clean exit
OPENBLAS_NUM_THREADS=2 "$LATTE" serve -m "$Q4" --port 0 -t 1 >"$tmp/server.log" 2>&1 &
server_pid=$!
# as soon as SIGTERM is caught (bit 14 of SigCgt), before the model has loaded on most runs
for _ in $(seq 1 2000); do
  cgt=$(sed -n 's/^SigCgt:\s*//p' "/proc/$server_pid/status" 2>/dev/null)
  [ -n "$cgt" ] && (( (16#$cgt >> 14) & 1 )) && break
done
kill -TERM "$server_pid"
wait_exit
[ "$rc" = 0 ] && pass "SIGTERM during start-up: exit 0" || fail "SIGTERM during start-up: exit $rc: $(tail -3 "$tmp/server.log")"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; tail -5 "$tmp/server.log"; exit 1; }
echo "serve stops cleanly on SIGINT and SIGTERM"
