# Sourced by the serve e2e tests (kept in lib/, outside the tests/e2e/*.sh glob that registers tests). wait_listening: waits up to 60 s for the `latte serve` started in the background
# (pid $server_pid, output in $tmp/server.log, --port 0) to log its port; sets $port and $base, or calls the test's
# die() with the reason (exited early, or never listened).
wait_listening() {
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || die "server exited early: $(cat "$tmp/server.log")"
    sleep 0.2
  done
  [ -n "$port" ] || die "server did not start listening within 60 s"
  base="http://127.0.0.1:$port"
}
