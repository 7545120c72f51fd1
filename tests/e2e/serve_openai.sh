#!/bin/bash
# e2e: `latte serve` on loopback with the shared tiny Q4_K_M model, driven by the official `openai` npm package
# (installed here from the npm registry into a temp dir): a plain and a streamed chat completion, a completion, the
# model list, stop sequences, 16 concurrent streamed clients (every answer equal to its sequential greedy answer,
# one id per stream), bad requests answered with 4xx JSON errors while the server stays up, and a client that
# disconnects mid-stream stopping its generation. Fails if npm/node are missing or the package cannot be installed.
# Usage: serve_openai.sh LATTE_BINARY SHARED_DIR
set -u
. "$(dirname "$0")/lib/serve.sh"
LATTE="$1"
SHARED="$2"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*"; [ -f "$tmp/server.log" ] && tail -20 "$tmp/server.log"; exit 1; }

for tool in node npm curl; do command -v "$tool" >/dev/null || die "$tool is not installed (needed by this test)"; done

# ---- start the server on a free port (--port 0: the kernel picks; the log says which)
"$LATTE" serve -m "$Q4" --host 127.0.0.1 --port 0 --parallel 4 -c 2048 -t 1 >"$tmp/server.log" 2>&1 &
server_pid=$!
wait_listening
for _ in $(seq 1 100); do
  curl -sf "$base/health" >"$tmp/health" 2>/dev/null && break
  sleep 0.2
done
grep -q '"status":"ok"' "$tmp/health" && pass "server up on port $port" || die "no /health answer"

# ---- install the official openai client
(cd "$tmp" && npm init -y >/dev/null 2>&1 && timeout 180 npm install --no-audit --no-fund --loglevel=error openai \
  >"$tmp/npm.log" 2>&1) || die "npm install openai failed: $(tail -5 "$tmp/npm.log")"
pass "openai $(node -p "require('$tmp/node_modules/openai/package.json').version") installed"

cat >"$tmp/client.mjs" <<'EOF'
import OpenAI from 'openai';
const [base, modelId] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'not-needed', maxRetries: 0, timeout: 120000 });
let failures = 0;
const ok = (cond, what) => { console.log((cond ? 'ok: ' : 'FAIL: ') + what); if (!cond) failures++; };
const checkUsage = (u, maxCompletion, what) =>
  ok(u && u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= maxCompletion &&
     u.total_tokens === u.prompt_tokens + u.completion_tokens, `${what}: usage ${JSON.stringify(u)}`);
const msgs = (text) => [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: text }];

async function chatPlain(text, max = 16) {
  const r = await client.chat.completions.create({ model: modelId, messages: msgs(text), max_tokens: max,
                                                   temperature: 0 });
  return r;
}
async function chatStream(text, max = 16) {
  const stream = await client.chat.completions.create({ model: modelId, messages: msgs(text), max_tokens: max,
                                                        temperature: 0, stream: true,
                                                        stream_options: { include_usage: true } });
  const ids = new Set();
  let content = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    ids.add(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta && typeof c.delta.content === 'string') content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { ids, content, finish, usage, chunks };
}

try {
  // models
  const models = await client.models.list();
  ok(models.data.some((m) => m.id === modelId), `models.list has ${modelId}`);

  // plain chat
  const plain = await chatPlain('Tell me about the river.');
  const pc = plain.choices[0];
  ok(typeof pc.message.content === 'string' && pc.message.content.trim().length > 0,
     `plain chat text: ${JSON.stringify(pc.message.content)}`);
  ok(pc.message.role === 'assistant', 'plain chat role is assistant');
  ok(['stop', 'length'].includes(pc.finish_reason), `plain chat finish_reason ${pc.finish_reason}`);
  ok(plain.id.startsWith('chatcmpl-') && plain.object === 'chat.completion', 'plain chat id/object');
  checkUsage(plain.usage, 16, 'plain chat');

  // streamed chat: same greedy answer as the plain one, one id for all chunks
  const s = await chatStream('Tell me about the river.');
  ok(s.chunks > 2, `stream had ${s.chunks} chunks`);
  ok(s.ids.size === 1, `stream chunks share one id (${[...s.ids].join(',')})`);
  ok(s.content === pc.message.content, `stream text equals plain text: ${JSON.stringify(s.content)}`);
  ok(s.finish === pc.finish_reason, `stream finish_reason ${s.finish}`);
  checkUsage(s.usage, 16, 'stream chat');

  // completion
  const comp = await client.completions.create({ model: modelId, prompt: 'The', max_tokens: 12, temperature: 0 });
  ok(comp.choices[0].text.trim().length > 0, `completion text: ${JSON.stringify(comp.choices[0].text)}`);
  ok(comp.choices[0].finish_reason === 'length', `completion finish_reason ${comp.choices[0].finish_reason}`);
  checkUsage(comp.usage, 12, 'completion');

  // stop sequence: a word from the middle of the greedy completion ends the text before it
  const words = comp.choices[0].text.split(' ').filter((w) => w.length >= 2);
  if (words.length >= 2) {
    const stopWord = ' ' + words[Math.floor(words.length / 2)];
    const cut = comp.choices[0].text.indexOf(stopWord);
    const st = await client.completions.create({ model: modelId, prompt: 'The', max_tokens: 12, temperature: 0,
                                                 stop: [stopWord, '@@never@@'] });
    ok(st.choices[0].finish_reason === 'stop' && st.choices[0].text === comp.choices[0].text.slice(0, cut),
       `stop ${JSON.stringify(stopWord)} -> ${JSON.stringify(st.choices[0].text)} (${st.choices[0].finish_reason})`);
  } else {
    ok(false, `completion too short for a stop-sequence check: ${JSON.stringify(comp.choices[0].text)}`);
  }

  // seeded sampling is reproducible
  const seeded = async () => (await client.chat.completions.create({
    model: modelId, messages: msgs('Once upon a time'), max_tokens: 10, temperature: 0.9, top_p: 0.9,
    seed: 1234 })).choices[0].message.content;
  const a = await seeded(), b = await seeded();
  ok(a === b && a.length > 0, `same seed, same sample: ${JSON.stringify(a)}`);

  // one model is served: any model name is accepted (as llama.cpp's server does), the reply names the served id
  const other = await client.chat.completions.create({ model: 'no-such-model', messages: msgs('hi'), max_tokens: 2 });
  ok(other.model === modelId, `another model name accepted, reply model ${other.model}`);

  // concurrency: 16 streamed clients over 4 prompts; each answer equals the sequential greedy answer
  const prompts = ['The city council', 'In the morning', 'Music and dance', 'A letter from home'];
  const ref = {};
  for (const p of prompts) ref[p] = (await chatPlain(p, 12)).choices[0].message.content;
  const t0 = Date.now();
  const runs = await Promise.all(Array.from({ length: 16 }, (_, i) => chatStream(prompts[i % 4], 12)
    .then((r) => ({ ...r, prompt: prompts[i % 4] }))));
  const allIds = new Set();
  let good = 0;
  for (const r of runs) {
    const fine = r.ids.size === 1 && r.content === ref[r.prompt] && r.finish !== null;
    if (!fine) console.log(`  mismatch for ${JSON.stringify(r.prompt)}: ids=${r.ids.size} got ` +
                           `${JSON.stringify(r.content)} want ${JSON.stringify(ref[r.prompt])}`);
    good += fine;
    for (const id of r.ids) allIds.add(id);
  }
  ok(good === 16, `16 concurrent streams answered correctly (${good}/16, ${Date.now() - t0} ms)`);
  ok(allIds.size === 16, `16 distinct response ids (${allIds.size})`);
} catch (e) {
  ok(false, `client error: ${e.stack || e}`);
}
process.exit(failures ? 1 : 0);
EOF
if (cd "$tmp" && timeout 400 node client.mjs "$base" tiny-dsv3-q4_k_m) >"$tmp/client.out" 2>&1; then
  cat "$tmp/client.out"
  pass "openai client checks"
else
  cat "$tmp/client.out"
  fail "openai client checks"
fi

# ---- bad requests: 4xx with an OpenAI error object, server stays up
expect_error() {  # expect_error STATUS PATH BODY WHAT
  local code
  code=$(curl -s -o "$tmp/err.json" -w '%{http_code}' -H 'Content-Type: application/json' "$base$2" --data-binary "$3")
  if [ "$code" = "$1" ] && grep -q '"error":{' "$tmp/err.json" && grep -q '"message":' "$tmp/err.json"; then
    pass "$4 -> $code $(head -c 120 "$tmp/err.json")"
  else
    fail "$4: want $1, got $code $(head -c 200 "$tmp/err.json")"
  fi
}
expect_error 400 /v1/chat/completions '{"messages": [' "invalid JSON"
expect_error 400 /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":-1}' "negative max_tokens"
expect_error 400 /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"temperature":"warm"}' "wrong type"
expect_error 400 /v1/chat/completions '{"messages":[]}' "no messages"
expect_error 400 /v1/completions '{"prompt":{"a":1}}' "completion prompt of the wrong type"
long=$(printf 'the river and the city %.0s' $(seq 1 600))
expect_error 400 /v1/completions "{\"prompt\":\"$long\",\"max_tokens\":4}" "prompt over the context"
grep -q context_length_exceeded "$tmp/err.json" && pass "context_length_exceeded code" || fail "no context_length_exceeded code"
expect_error 404 /v1/nothing-here '{}' "unknown endpoint"
curl -sf "$base/health" | grep -q '"status":"ok"' && pass "server still up after bad requests" \
  || fail "server down after bad requests"

# ---- a client that disconnects mid-stream stops its generation: read ~3 events, then hang up (head exits).
# Greedy from "The": the reference greedy text has no end-of-sequence in its first 32 tokens.
curl -sN "$base/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt":"The","max_tokens":2000,"temperature":0,"stream":true}' 2>/dev/null | head -c 700 >"$tmp/partial"
got=$(grep -c '^data: ' "$tmp/partial")
stopped=""
for _ in $(seq 1 100); do
  stopped=$(grep 'client disconnected, generation stopped after' "$tmp/server.log" | tail -1)
  [ -n "$stopped" ] && break
  sleep 0.2
done
n_done=$(echo "$stopped" | sed -n 's/.*stopped after \([0-9]*\) tokens.*/\1/p')
if [ -n "$n_done" ] && [ "$n_done" -lt 2000 ]; then pass "disconnect after $got events stopped generation at $n_done tokens"
else fail "disconnected client did not stop its generation (log: ${stopped:-none})"; fi
curl -sf "$base/health" | grep -q '"slots_busy":0' && pass "all sessions free again" || fail "sessions still busy"

kill -0 "$server_pid" 2>/dev/null && pass "server alive at the end" || fail "server died"
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=""

# ---- reasoning: with the R1 chat format the generation prompt opens <think>, so the (tiny, never-closing) reply is
# all reasoning_content; streamed deltas must carry the same text.
"$LATTE" serve -m "$Q4" --host 127.0.0.1 --port 0 --parallel 1 -c 512 -t 1 --chat-format deepseek-r1 \
  >"$tmp/server2.log" 2>&1 &
server_pid=$!
port2=""
for _ in $(seq 1 300); do
  port2=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server2.log" | head -1)
  [ -n "$port2" ] && break
  sleep 0.2
done
if [ -n "$port2" ]; then
  req='{"messages":[{"role":"user","content":"Why is the sky blue?"}],"max_tokens":10,"temperature":0'
  curl -s "http://127.0.0.1:$port2/v1/chat/completions" -d "$req}" >"$tmp/r1.json"
  curl -sN "http://127.0.0.1:$port2/v1/chat/completions" -d "$req,\"stream\":true}" >"$tmp/r1.sse"
  if node -e '
    const fs = require("fs");
    const plain = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).choices[0].message;
    let r = "", c = "";
    for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
      if (!line.startsWith("data: {")) continue;
      const d = JSON.parse(line.slice(6)).choices[0].delta;
      if (d.reasoning_content) r += d.reasoning_content;
      if (d.content) c += d.content;
    }
    const ok = plain.reasoning_content && plain.reasoning_content.length > 0 && plain.content === "" &&
               r === plain.reasoning_content && c === "";
    console.log(JSON.stringify({ reasoning: plain.reasoning_content, content: plain.content, streamed: r }));
    process.exit(ok ? 0 : 1);' "$tmp/r1.json" "$tmp/r1.sse" >"$tmp/r1.out" 2>&1; then
    pass "reasoning_content (plain and streamed): $(cat "$tmp/r1.out")"
  else
    fail "reasoning_content: $(cat "$tmp/r1.out") $(head -c 300 "$tmp/r1.json")"
  fi
else
  fail "second server (--chat-format deepseek-r1) did not start: $(tail -3 "$tmp/server2.log")"
fi
[ $failures -eq 0 ] || { echo "--- server log (tail)"; tail -30 "$tmp/server.log"; }
echo "serve_openai: $failures failure(s)"
[ $failures -eq 0 ]
