#!/bin/bash
# e2e: the README's server examples, exactly as written there. The curl, Node (and, where the `openai` Python
# package is installed, Python) code blocks of "Serving: latte serve" are cut out of README.md and run against
# `latte serve -m model.gguf` (the shared tiny model under that name); the only change is the port (the README's
# 8080 becomes the free port the server picked). Then `--alias` and `--strict-model` do what the README's flag
# table says: the alias is the reported id; with --strict-model the alias, the file name with and without .gguf
# and "default" are accepted, other names get 404 model_not_found; without it any name is accepted.
# Usage: serve_readme.sh LATTE_BINARY SHARED_DIR
set -u
. "$(dirname "$0")/lib/serve.sh"
LATTE="$(realpath "$1")"
SHARED="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
README="$HERE/../../README.md"
Q4="$(realpath "$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf")"
tmp=$(mktemp -d)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  server_pid=""
}
trap 'stop_server; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*"; [ -f "$tmp/server.log" ] && tail -20 "$tmp/server.log"; exit 1; }
for tool in node npm curl; do command -v "$tool" >/dev/null || die "$tool is not installed (needed by this test)"; done

# block LANG AFTER_LINE: the first ```LANG block after the line that starts with AFTER_LINE in README.md
block() {
  awk -v lang="$1" -v after="$2" '
    !seen && index($0, after) == 1 { seen = 1; next }
    seen && !inb && $0 == "```" lang { inb = 1; next }
    inb && $0 == "```" { exit }
    inb { print }' "$README"
}
start_server() {  # start_server ARGS...: serves from $tmp, sets $port and $base
  (cd "$tmp" && exec "$LATTE" serve -m model.gguf --port 0 -t 1 "$@") >"$tmp/server.log" 2>&1 &
  server_pid=$!
  wait_listening
}

ln -s "$Q4" "$tmp/model.gguf"
block sh "curl:" >"$tmp/readme_curl.sh"
block js "Node (\`npm install openai\`):" >"$tmp/readme_node.mjs"
block python "Python (\`pip install openai\`):" >"$tmp/readme_python.py"
for f in readme_curl.sh readme_node.mjs readme_python.py; do
  grep -q '127.0.0.1:8080' "$tmp/$f" || die "README: no code block with 127.0.0.1:8080 for $f"
done
pass "README blocks: curl $(wc -l <"$tmp/readme_curl.sh") lines, node $(wc -l <"$tmp/readme_node.mjs"), python $(wc -l <"$tmp/readme_python.py")"

start_server
pass "latte serve -m model.gguf on port $port"
for f in readme_curl.sh readme_node.mjs readme_python.py; do sed -i "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" "$tmp/$f"; done

# ---- curl block: a chat completion, a stream ending in [DONE], the model list, health; no error anywhere
(cd "$tmp" && bash readme_curl.sh) >"$tmp/curl.out" 2>&1
rc=$?
[ $rc = 0 ] && pass "curl block exit 0" || fail "curl block exit $rc"
grep -q '"error"' "$tmp/curl.out" && fail "curl block got an error: $(grep -m1 '"error"' "$tmp/curl.out")"
grep -q '"object":"chat.completion"' "$tmp/curl.out" && pass "curl: chat completion" \
  || fail "curl: no chat completion: $(head -c 300 "$tmp/curl.out")"
grep -q '"content":"[^"]' "$tmp/curl.out" && pass "curl: non-empty content" || fail "curl: empty content"
grep -q '^data: \[DONE\]' "$tmp/curl.out" && pass "curl: stream ends with [DONE]" || fail "curl: no [DONE]"
grep -q '"object":"list"' "$tmp/curl.out" && grep -q '"id":"model"' "$tmp/curl.out" \
  && pass "curl: /v1/models lists id model" || fail "curl: no model list with id model"
grep -q '"status":"ok"' "$tmp/curl.out" && pass "curl: health ok" || fail "curl: no health"

# ---- Node block with the official openai package
(cd "$tmp" && npm init -y >/dev/null 2>&1 && timeout 180 npm install --no-audit --no-fund --loglevel=error openai \
  >"$tmp/npm.log" 2>&1) || die "npm install openai failed: $(tail -5 "$tmp/npm.log")"
(cd "$tmp" && timeout 120 node readme_node.mjs) >"$tmp/node.out" 2>&1
rc=$?
[ $rc = 0 ] && [ -s "$tmp/node.out" ] && pass "node block: exit 0, streamed $(wc -c <"$tmp/node.out") bytes" \
  || fail "node block: exit $rc: $(head -c 300 "$tmp/node.out")"

# ---- Python block, where the openai package is there (the README says to pip install it)
if python3 -c 'import openai' 2>/dev/null; then
  (cd "$tmp" && timeout 120 python3 readme_python.py) >"$tmp/py.out" 2>&1
  rc=$?
  [ $rc = 0 ] && [ -s "$tmp/py.out" ] && pass "python block: exit 0" || fail "python block: exit $rc: $(head -c 300 "$tmp/py.out")"
else
  echo "note: python3 has no openai package here; the README's Python block was not run"
fi
stop_server

# ---- --alias and --strict-model as the README's flag table says
status_for() {  # status_for MODEL_NAME -> HTTP status of a 1-token chat request naming that model
  curl -s -o "$tmp/r.json" -w '%{http_code}' "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1}"
}
start_server --alias tiny --strict-model
curl -s "$base/v1/models" | grep -q '"id":"tiny"' && pass "--alias tiny: /v1/models id tiny" || fail "--alias not reported"
for name in tiny model.gguf model default; do
  code=$(status_for "$name")
  [ "$code" = 200 ] && grep -q '"model":"tiny"' "$tmp/r.json" && pass "--strict-model accepts $name" \
    || fail "--strict-model: $name -> $code $(head -c 200 "$tmp/r.json")"
done
code=$(status_for gpt-4o)
[ "$code" = 404 ] && grep -q model_not_found "$tmp/r.json" && pass "--strict-model: gpt-4o -> 404 model_not_found" \
  || fail "--strict-model: gpt-4o -> $code $(head -c 200 "$tmp/r.json")"
stop_server
start_server
code=$(status_for gpt-4o)
[ "$code" = 200 ] && grep -q '"model":"model"' "$tmp/r.json" && pass "default: any model name accepted (gpt-4o)" \
  || fail "default: gpt-4o -> $code $(head -c 200 "$tmp/r.json")"
stop_server

[ "$failures" = 0 ] || { echo "$failures failure(s)"; tail -5 "$tmp/server.log"; exit 1; }
echo "all README server examples pass"
