#!/bin/bash
# e2e: DeepSeek-V4 chat, thinking and tools through `latte serve` and `latte chat` on the tiny deepseek4 model
# (tiny-dsv4 converted by the ctest fixture fixture_tiny_dsv4 into LATTE_TINY_DSV4_DIR, or here when run by hand):
#   - the server picks the deepseek-v4 format from general.architecture (its log says so);
#   - POST /apply-template renders DEEPSEEK_V4.md §10's example exactly (thinking off; "\n\n" before the DSML block,
#     as the official encoder writes it), the tools block and the thinking on / max generation prompts, a tool-call
#     history with reasoning_content, and the forced-call opener of tool_choice named;
#   - chat completions with tools (thinking off: a normal reply in content; thinking on: reasoning_content), plain and
#     streamed (the streamed deltas add up to the plain answer, one id, a finish_reason, [DONE]), through curl and the
#     official `openai` npm client (that part is skipped, not failed, when the npm registry cannot be reached);
#   - tool_choice required / named: the constrained DSML call comes back as tool_calls (plain) and delta.tool_calls
#     (streamed, reassembled) with finish_reason "tool_calls", arguments valid for the tool's schema;
#   - a bad thinking option is a 400 and the server stays up;
#   - `latte chat` on the same model: --think off / on end the prompt with </think> / <think> (ids 6 / 5 here).
# A tiny trained model writes no sensible tool calls: the DSML parser is tested on fixed text in test_tool_calls.
# Usage: serve_v4.sh LATTE_BINARY SHARED_DIR
set -u
. "$(dirname "$0")/lib/serve.sh"
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
die() { echo "FAIL: $*"; [ -f "$tmp/server.log" ] && tail -20 "$tmp/server.log"; exit 1; }
for tool in node curl jq; do command -v "$tool" >/dev/null || die "$tool is not installed (needed by this test)"; done

M="${LATTE_TINY_DSV4_DIR:-}/tiny-dsv4-f32.gguf"
if [ -z "${LATTE_TINY_DSV4_DIR:-}" ] || [ ! -f "$M" ]; then  # run by hand: convert it here
  M="$tmp/tiny-dsv4-f32.gguf"
  "$LATTE" convert "$SHARED/models/tiny-dsv4/hf" "$M" --outtype f32 -q >"$tmp/convert.log" 2>&1 \
    || die "latte convert tiny-dsv4: $(tail -3 "$tmp/convert.log")"
fi

# ---- server
"$LATTE" serve -m "$M" --host 127.0.0.1 --port 0 --parallel 2 -c 2048 -t 1 >"$tmp/server.log" 2>&1 &
server_pid=$!
wait_listening
grep -q 'chat format deepseek-v4, thinking on by default' "$tmp/server.log" && pass "deepseek-v4 format chosen from the model" \
  || fail "server log does not name the deepseek-v4 format: $(head -3 "$tmp/server.log")"

post() {  # post PATH BODY -> body in $tmp/out, status echoed
  curl -s -o "$tmp/out" -w '%{http_code}' -H 'Content-Type: application/json' "$base$1" --data-binary "$2"
}
prompt_of() {  # prompt_of BODY -> the rendered prompt in $got ("" on a non-200; trailing newlines kept)
  local code
  got=""
  code=$(post /apply-template "$1")
  [ "$code" = 200 ] || return
  got=$(jq -j '.prompt + "@"' "$tmp/out")
  got=${got%@}
}

# ---- /apply-template: the §10 example, thinking off (the doc's text plus the encoder's "\n\n" before the block)
BOS='<｜begin▁of▁sentence｜>'; EOS='<｜end▁of▁sentence｜>'; U='<｜User｜>'; A='<｜Assistant｜>'; D='｜DSML｜'
example='{"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Weather in Paris?"},
  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
   "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
  {"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\": 18}"}],"chat_template_kwargs":{"thinking":false}}'
want="${BOS}You are helpful.${U}Weather in Paris?${A}</think>

<${D}tool_calls>
<${D}invoke name=\"get_weather\">
<${D}parameter name=\"city\" string=\"true\">Paris</${D}parameter>
</${D}invoke>
</${D}tool_calls>${EOS}${U}<tool_result>{\"temp_c\": 18}</tool_result>${A}</think>"
prompt_of "$example"
[ "$got" = "$want" ] && pass "apply-template: DEEPSEEK_V4.md §10 example" \
  || fail "apply-template example: got $(printf '%q' "$got")"

# ---- tools block and thinking modes
tools='"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city",
  "parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}]'
q='"messages":[{"role":"system","content":"S"},{"role":"user","content":"Weather in Paris?"}]'
prompt_of "{$q,$tools}"
schema='{"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}'
case "$got" in
  "${BOS}S

## Tools

"*"$schema"*"${U}Weather in Paris?${A}<think>") pass "apply-template: tools block (client's property order), thinking on by default" ;;
  *) fail "tools prompt: $(printf '%q' "$got" | head -c 600)" ;;
esac
prompt_of "{$q,\"reasoning_effort\":\"max\"}"
case "$got" in
  "${BOS}Reasoning Effort: Absolute maximum with no shortcuts permitted."*"S${U}Weather in Paris?${A}<think>")
    pass "apply-template: reasoning_effort max" ;;
  *) fail "max prompt: $(printf '%q' "$got" | head -c 300)" ;;
esac
prompt_of "{$q,\"thinking\":{\"type\":\"disabled\"}}"
[ "$got" = "${BOS}S${U}Weather in Paris?${A}</think>" ] && pass "apply-template: thinking disabled" \
  || fail "thinking disabled: $(printf '%q' "$got")"
# history with reasoning_content and tools: the reasoning is kept (tools in use), the result is user content
hist="{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},{\"role\":\"assistant\",\"content\":\"\",
  \"reasoning_content\":\"Need the tool.\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",
  \"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"days\":2}}}]},
  {\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"cold\"}],$tools}"
prompt_of "$hist"
case "$got" in
  *"${U}Weather?${A}<think>Need the tool.</think>

<${D}tool_calls>
<${D}invoke name=\"get_weather\">
<${D}parameter name=\"city\" string=\"true\">Oslo</${D}parameter>
<${D}parameter name=\"days\" string=\"false\">2</${D}parameter>
</${D}invoke>
</${D}tool_calls>${EOS}${U}<tool_result>cold</tool_result>${A}<think>") pass "apply-template: tool-call history with reasoning" ;;
  *) fail "history prompt: $(printf '%q' "$got" | tail -c 500)" ;;
esac
prompt_of "{$q,$tools,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},
  \"chat_template_kwargs\":{\"enable_thinking\":false}}"
case "$got" in
  *"${A}</think>

<${D}tool_calls>
<${D}invoke name=\"get_weather\">
") pass "apply-template: tool_choice named ends with the forced DSML opener" ;;
  *) fail "forced prompt: $(printf '%q' "$got" | tail -c 300)" ;;
esac

# ---- chat completions with tools: plain and streamed, thinking off and on
check_stream() {  # check_stream BODY WHAT: streamed deltas == the plain answer
  local body="$1" what="$2"
  code=$(post /v1/chat/completions "$body")
  [ "$code" = 200 ] || { fail "$what: HTTP $code $(head -c 300 "$tmp/out")"; return; }
  cp "$tmp/out" "$tmp/plain.json"
  curl -sN "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    --data-binary "${body%\}},\"stream\":true}" >"$tmp/stream.sse"
  if node -e '
    const fs = require("fs");
    const plain = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const msg = plain.choices[0].message, want = process.argv[3];
    let r = "", c = "", ids = new Set(), finish = null, done = false, calls = 0;
    for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
      if (line === "data: [DONE]") { done = true; continue; }
      if (!line.startsWith("data: {")) continue;
      const j = JSON.parse(line.slice(6));
      ids.add(j.id);
      const ch = j.choices[0];
      if (ch.delta.reasoning_content) r += ch.delta.reasoning_content;
      if (ch.delta.content) c += ch.delta.content;
      if (ch.delta.tool_calls) calls++;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    const main = want === "reasoning" ? msg.reasoning_content : msg.content;
    const ok = typeof main === "string" && main.length > 0 && (msg.content || "") === c &&
               (msg.reasoning_content || "") === r && ids.size === 1 && done &&
               finish === plain.choices[0].finish_reason && ["stop", "length", "tool_calls"].includes(finish) &&
               (finish === "tool_calls") === (calls > 0);
    console.log(JSON.stringify({ finish, content: c.slice(0, 60), reasoning: r.slice(0, 60), chunks_ids: ids.size }));
    process.exit(ok ? 0 : 1);' "$tmp/plain.json" "$tmp/stream.sse" "$3" >"$tmp/node.out" 2>&1; then
    pass "$what: $(cat "$tmp/node.out")"
  else
    fail "$what: $(cat "$tmp/node.out") plain: $(head -c 300 "$tmp/plain.json")"
  fi
}
msgs='"messages":[{"role":"user","content":"Tell me about the river and the city."}]'
check_stream "{$msgs,$tools,\"max_tokens\":24,\"temperature\":0,\"chat_template_kwargs\":{\"thinking\":false}}" \
  "tools, thinking off: content" content
check_stream "{$msgs,$tools,\"max_tokens\":24,\"temperature\":0}" "tools, thinking on: reasoning_content" reasoning
check_stream "{$msgs,\"max_tokens\":16,\"temperature\":0,\"reasoning_effort\":\"none\"}" "no tools, thinking off" content

# ---- forced calls (tool_choice required / named): the constraint writes DSML whose parameters match the schema;
# they come back as tool_calls (plain) and delta.tool_calls (streamed), finish_reason "tool_calls"
ftools='"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
  "properties":{"city":{"type":"string","maxLength":24},"days":{"type":"integer"},"unit":{"enum":["c","f"]}},
  "required":["city","days"]}}},{"type":"function","function":{"name":"add","parameters":{"type":"object",
  "properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}}}]'
check_calls() {  # check_calls BODY WHAT [NAME]
  local body="$1" what="$2" name="${3:-}"
  code=$(post /v1/chat/completions "$body")
  [ "$code" = 200 ] || { fail "$what: HTTP $code $(head -c 300 "$tmp/out")"; return; }
  cp "$tmp/out" "$tmp/fplain.json"
  curl -sN "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    --data-binary "${body%\}},\"stream\":true}" >"$tmp/fstream.sse"
  if node -e '
    const fs = require("fs");
    const valid = (c) => {
      const a = JSON.parse(c.function.arguments);
      if (c.function.name === "get_weather")
        return typeof a.city === "string" && Number.isInteger(a.days) && (a.unit === undefined || ["c", "f"].includes(a.unit));
      return c.function.name === "add" && typeof a.a === "number" && typeof a.b === "number";
    };
    const want = process.argv[3];
    const plain = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).choices[0];
    const calls = plain.message.tool_calls || [];
    let ok = plain.finish_reason === "tool_calls" && calls.length === 1 && valid(calls[0]) &&
             calls[0].id.startsWith("call_") && (!want || calls[0].function.name === want);
    const acc = {}; let finish = null;
    for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
      if (!line.startsWith("data: {")) continue;
      const ch = JSON.parse(line.slice(6)).choices[0];
      for (const d of ch.delta.tool_calls || []) {
        acc[d.index] ??= { id: "", function: { name: "", arguments: "" } };
        if (d.id) acc[d.index].id = d.id;
        if (d.function.name) acc[d.index].function.name = d.function.name;
        acc[d.index].function.arguments += d.function.arguments || "";
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    const s = Object.values(acc);
    ok = ok && finish === "tool_calls" && s.length === 1 && valid(s[0]) && s[0].function.name === calls[0].function.name &&
         s[0].function.arguments === calls[0].function.arguments;
    console.log(JSON.stringify({ plain: calls.map((c) => c.function), streamed: s.map((c) => c.function) }));
    process.exit(ok ? 0 : 1);' "$tmp/fplain.json" "$tmp/fstream.sse" "$name" >"$tmp/fnode.out" 2>&1; then
    pass "$what: $(head -c 300 "$tmp/fnode.out")"
  else
    fail "$what: $(cat "$tmp/fnode.out") $(head -c 400 "$tmp/fplain.json")"
  fi
}
wq='"messages":[{"role":"user","content":"Weather in Paris for three days?"}]'
for seed in 1 2; do
  check_calls "{$wq,$ftools,\"tool_choice\":\"required\",\"max_tokens\":300,\"temperature\":1,\"seed\":$seed}" \
    "tool_choice required (seed $seed, thinking on)"
  check_calls "{$wq,$ftools,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},
    \"max_tokens\":300,\"temperature\":1,\"seed\":$seed,\"reasoning_effort\":\"none\"}" \
    "tool_choice named (seed $seed, thinking off)" get_weather
done

# ---- errors
code=$(post /v1/chat/completions "{$msgs,\"reasoning_effort\":\"extreme\"}")
[ "$code" = 400 ] && grep -q reasoning_effort "$tmp/out" && pass "bad reasoning_effort -> 400" \
  || fail "bad reasoning_effort: $code $(cat "$tmp/out")"
code=$(post /apply-template '{"messages":[]}')
[ "$code" = 400 ] && pass "apply-template without messages -> 400" || fail "apply-template bad body: $code"
curl -sf "$base/health" | grep -q '"status":"ok"' && pass "server still up" || fail "server down"

# ---- the official openai client (chat with tools, plain and streamed)
if (cd "$tmp" && npm init -y >/dev/null 2>&1 && timeout 180 npm install --no-audit --no-fund --loglevel=error openai \
    >"$tmp/npm.log" 2>&1); then
  cat >"$tmp/client.mjs" <<'EOF'
import OpenAI from 'openai';
const [base] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const req = { model: 'tiny', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, max_tokens: 16,
              temperature: 0, chat_template_kwargs: { thinking: false } };
const plain = await client.chat.completions.create(req);
const m = plain.choices[0].message;
let ok = typeof m.content === 'string' && m.content.length > 0 && ['stop', 'length'].includes(plain.choices[0].finish_reason);
const stream = await client.chat.completions.create({ ...req, stream: true });
let text = '';
for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
ok = ok && text === m.content;
const think = await client.chat.completions.create({ ...req, chat_template_kwargs: { thinking: true } });
ok = ok && think.choices[0].message.reasoning_content.length > 0;
console.log(JSON.stringify({ content: m.content, streamed_equal: text === m.content,
                             reasoning: think.choices[0].message.reasoning_content.slice(0, 40) }));
process.exit(ok ? 0 : 1);
EOF
  if (cd "$tmp" && timeout 200 node client.mjs "$base") >"$tmp/client.out" 2>&1; then
    pass "openai client: $(cat "$tmp/client.out")"
  else
    fail "openai client: $(cat "$tmp/client.out")"
  fi
else
  echo "SKIP: openai client part (npm install failed: $(tail -1 "$tmp/npm.log"))"
fi
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=""

# ---- latte chat: the thinking mode decides the end of the prompt (</think> = 6, <think> = 5 in this vocabulary)
for mode in off:6 on:5 max:5; do
  t=${mode%%:*}; id=${mode##*:}
  if echo "Hello there" | "$LATTE" chat -m "$M" --temp 0 -n 8 -t 1 --think "$t" --dump-prompt-ids "$tmp/c-$t.jsonl" \
       >"$tmp/c-$t.out" 2>"$tmp/c-$t.err"; then
    last=$(jq '.prompt_ids[-1]' "$tmp/c-$t.jsonl")
    [ "$last" = "$id" ] && pass "latte chat --think $t: prompt ends with token $id" \
      || fail "latte chat --think $t: prompt ends with $last"
  else
    fail "latte chat --think $t: $(cat "$tmp/c-$t.err")"
  fi
done
n_on=$(jq '.n_prompt' "$tmp/c-on.jsonl"); n_max=$(jq '.n_prompt' "$tmp/c-max.jsonl")
[ "$n_max" -gt $((n_on + 20)) ] && pass "--think max adds the instruction ($n_on -> $n_max tokens)" \
  || fail "--think max: $n_on vs $n_max prompt tokens"

[ $failures -eq 0 ] || { echo "--- server log (tail)"; tail -20 "$tmp/server.log" 2>/dev/null; }
echo "serve_v4: $failures failure(s)"
[ $failures -eq 0 ]
