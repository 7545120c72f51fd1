#!/bin/bash
# e2e: tool calls and structured output through the official `openai` npm client, validated with `ajv`, on both
# tiny models (tiny-dsv3 Q4_K_M, tiny-dsv2 Q8_0 with the V3 chat format for its tool syntax), in `latte serve`
# with 8 sessions and 8 concurrent clients:
#   - tool round trip: tool_choice "required" -> a call whose arguments validate -> the tool result sent back ->
#     a final answer that is content, not a call;
#   - required (model picks the tool among three) and named tool calls, non-streamed and streamed; the streamed
#     delta.tool_calls are reassembled by the client's own stream helper (finalChatCompletion);
#   - response_format json_schema (non-streamed and streamed: the concatenated deltas) and json_object;
#   - an unsupported schema keyword -> 400 naming it, server still up.
# With the tiny models' random-ish text only the constraint makes the output valid: 100 % must parse and validate.
# Skips (exit 77) only where node/npm are missing or the npm registry cannot be reached.
# Usage: serve_tools.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
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
skip() { echo "SKIP: $*"; exit 77; }

for tool in node npm curl; do command -v "$tool" >/dev/null || skip "$tool is not installed (this test needs node + npm)"; done
(cd "$tmp" && npm init -y >/dev/null 2>&1 && timeout 240 npm install --no-audit --no-fund --loglevel=error openai ajv \
  >"$tmp/npm.log" 2>&1) || skip "npm install openai ajv failed (no registry access?): $(tail -3 "$tmp/npm.log")"
pass "openai $(node -p "require('$tmp/node_modules/openai/package.json').version"), ajv $(node -p "require('$tmp/node_modules/ajv/package.json').version") installed"

cat >"$tmp/client.mjs" <<'EOF'
import OpenAI from 'openai';
import Ajv from 'ajv';
const [base, label] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 300000 });
const ajv = new Ajv({ allErrors: true });
let failures = 0, checks = 0;
const ok = (cond, what) => {
  checks++;
  if (!cond) { failures++; console.log(`FAIL: ${label}: ${what}`); }
};

const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', description: 'City name', minLength: 1, maxLength: 40 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', description: 'Forecast days' },
    hourly: { type: 'boolean' },
  },
  required: ['city', 'days'],
  additionalProperties: false,
};
const flights = {
  type: 'object',
  properties: {
    from: { type: 'string', maxLength: 24 },
    to: { type: 'string', maxLength: 24 },
    passengers: { type: 'array', items: { type: 'object', properties: { name: { type: 'string', maxLength: 30 },
                                                                        age: { type: ['integer', 'null'] } },
                                          required: ['name'], additionalProperties: false }, minItems: 1, maxItems: 3 },
    cabin: { anyOf: [{ const: 'economy' }, { const: 'business' }, { type: 'null' }] },
  },
  required: ['from', 'to', 'passengers'],
  additionalProperties: false,
};
const notes = { type: 'object', properties: { text: { type: 'string', maxLength: 60 }, tags: { type: 'array',
  items: { type: 'string', maxLength: 12 }, maxItems: 4 } }, required: ['text'] };
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast for a city', parameters: weather } },
  { type: 'function', function: { name: 'search_flights', description: 'Search flights', parameters: flights } },
  { type: 'function', function: { name: 'save_note', description: 'Save a note', parameters: notes } },
];
const schemaOf = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const answer = {
  type: 'object',
  properties: { summary: { type: 'string', maxLength: 80 }, score: { type: 'number' }, ok: { type: 'boolean' },
                items: { type: 'array', items: { type: 'integer' }, maxItems: 5 },
                level: { type: 'string', enum: ['low', 'mid', 'high'] } },
  required: ['summary', 'score', 'ok', 'level'],
  additionalProperties: false,
};
const validAnswer = ajv.compile(answer);
const user = (t) => [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: t }];
const common = { model: 'default', max_tokens: 160, temperature: 0.9 };

function checkCall(call, what, name) {
  ok(call && call.type === 'function' && typeof call.id === 'string' && call.id.length > 0, `${what}: call shape`);
  if (!call) return null;
  ok(!name || call.function.name === name, `${what}: name ${call.function.name}`);
  const validate = schemaOf[call.function.name];
  ok(!!validate, `${what}: known tool ${call.function.name}`);
  let args = null;
  try { args = JSON.parse(call.function.arguments); } catch (e) { ok(false, `${what}: arguments not JSON: ${call.function.arguments}`); return null; }
  ok(validate && validate(args), `${what}: arguments validate: ${call.function.arguments} ${JSON.stringify(validate && validate.errors)}`);
  return args;
}

async function toolCall(seed, stream, name) {
  const req = { ...common, seed, messages: user('Plan my trip.'), tools,
                tool_choice: name ? { type: 'function', function: { name } } : 'required' };
  const what = `tool call (${name || 'required'}, ${stream ? 'stream' : 'plain'}, seed ${seed})`;
  let msg, finish;
  if (stream) {
    const helper = client.chat.completions.stream ? client.chat.completions : client.beta.chat.completions;
    const s = helper.stream({ ...req, stream: true });
    const done = await s.finalChatCompletion();
    msg = done.choices[0].message;
    finish = done.choices[0].finish_reason;
  } else {
    const r = await client.chat.completions.create(req);
    msg = r.choices[0].message;
    finish = r.choices[0].finish_reason;
  }
  ok(finish === 'tool_calls', `${what}: finish_reason ${finish}`);
  ok(Array.isArray(msg.tool_calls) && msg.tool_calls.length === 1, `${what}: one call, got ${JSON.stringify(msg)}`);
  const call = msg.tool_calls ? msg.tool_calls[0] : null;
  return { call, args: checkCall(call, what, name), msg };
}

async function roundTrip(seed) {
  const first = await toolCall(seed, seed % 2 === 0, 'get_weather');
  if (!first.call) return;
  const messages = [...user('What is the weather in Paris?'),
                    { role: 'assistant', content: null, tool_calls: first.msg.tool_calls },
                    { role: 'tool', tool_call_id: first.call.id, content: JSON.stringify({ temp_c: 18, sky: 'clear' }) }];
  const r = await client.chat.completions.create({ ...common, seed, max_tokens: 40, messages, tools, tool_choice: 'none' });
  const c = r.choices[0];
  ok(typeof c.message.content === 'string' && !c.message.tool_calls, `round trip (seed ${seed}): final answer ${JSON.stringify(c.message)}`);
  ok(c.finish_reason === 'stop' || c.finish_reason === 'length', `round trip: finish ${c.finish_reason}`);
}

async function jsonSchema(seed, stream) {
  const req = { ...common, seed, messages: user('Rate this plan.'),
                response_format: { type: 'json_schema', json_schema: { name: 'rating', schema: answer, strict: true } } };
  let text = '', finish;
  if (stream) {
    for await (const chunk of await client.chat.completions.create({ ...req, stream: true })) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      if (ch.delta && typeof ch.delta.content === 'string') text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  } else {
    const r = await client.chat.completions.create(req);
    text = r.choices[0].message.content;
    finish = r.choices[0].finish_reason;
  }
  const what = `json_schema (${stream ? 'stream' : 'plain'}, seed ${seed})`;
  ok(finish === 'stop', `${what}: finish ${finish}`);
  let v = null;
  try { v = JSON.parse(text); } catch (e) { ok(false, `${what}: not JSON: ${text}`); return; }
  ok(validAnswer(v), `${what}: validates: ${text} ${JSON.stringify(validAnswer.errors)}`);
}

async function jsonObject(seed) {
  const r = await client.chat.completions.create({ ...common, seed, max_tokens: 60, messages: user('Reply in JSON.'),
                                                   response_format: { type: 'json_object' } });
  let v = null;
  try { v = JSON.parse(r.choices[0].message.content); } catch (e) { ok(false, `json_object: not JSON: ${r.choices[0].message.content}`); return; }
  ok(v !== null && typeof v === 'object' && !Array.isArray(v), `json_object (seed ${seed}): an object`);
}

async function badSchema() {
  try {
    await client.chat.completions.create({ ...common, messages: user('x'), response_format: { type: 'json_schema',
      json_schema: { name: 'x', schema: { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]+$' } } } } } });
    ok(false, 'unsupported keyword accepted');
  } catch (e) {
    ok(e.status === 400 && /pattern/.test(e.message), `unsupported keyword -> 400 naming it: ${e.status} ${e.message}`);
  }
}

// 8 clients at a time over a mixed batch.
const jobs = [];
for (let seed = 1; seed <= 6; ++seed) {
  jobs.push(() => toolCall(seed, false, null));
  jobs.push(() => toolCall(seed + 100, true, null));
  jobs.push(() => toolCall(seed + 200, seed % 2 === 1, 'search_flights'));
  jobs.push(() => roundTrip(seed + 300));
  jobs.push(() => jsonSchema(seed + 400, false));
  jobs.push(() => jsonSchema(seed + 500, true));
}
for (let seed = 1; seed <= 4; ++seed) jobs.push(() => jsonObject(seed + 600));
jobs.push(badSchema);
let next = 0;
const worker = async () => {
  while (next < jobs.length) {
    const job = jobs[next++];
    try { await job(); } catch (e) { ok(false, `request failed: ${e.status || ''} ${e.message}`); }
  }
};
const t0 = Date.now();
await Promise.all(Array.from({ length: 8 }, worker));
console.log(`${label}: ${jobs.length} requests, ${checks} checks, ${failures} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
EOF

run_model() {  # run_model LABEL GGUF [serve flags...]
  local label="$1" gguf="$2"
  shift 2
  [ -f "$gguf" ] || { fail "$label: model $gguf missing"; return; }
  "$LATTE" serve -m "$gguf" --host 127.0.0.1 --port 0 --parallel 8 -c 2048 -t 1 "$@" >"$tmp/$label.log" 2>&1 &
  server_pid=$!
  local port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$label.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$port" ]; then
    fail "$label: server did not start: $(tail -3 "$tmp/$label.log")"
  elif (cd "$tmp" && node client.mjs "http://127.0.0.1:$port" "$label") >"$tmp/$label.out" 2>&1; then
    pass "$(tail -1 "$tmp/$label.out")"
  else
    fail "$label: $(grep -c FAIL "$tmp/$label.out") failed check(s)"
    head -20 "$tmp/$label.out"
    tail -15 "$tmp/$label.log"
  fi
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && pass "$label: server up at the end" || fail "$label: server down"
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

run_model tiny-dsv3 "$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
run_model tiny-dsv2 "$SHARED/models/tiny-dsv2/tiny-dsv2-q8_0.gguf" --chat-format deepseek-v3
echo "serve_tools: $failures failure(s)"
[ $failures -eq 0 ]
