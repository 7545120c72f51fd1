#!/bin/bash
# e2e: the chat page of `latte serve` (GET /) in a real browser. Headless Chromium (Debian's `chromium`, driven by
# playwright-core from npm with executablePath /usr/bin/chromium; no browser is downloaded) opens the page, checks
# the model name, sets a system prompt, sends a message, waits for the streamed reply and checks it equals the
# greedy reply of the API for the same conversation, checks tokens/s is shown, stops a long reply with the stop
# button (the server is frozen with SIGSTOP while the page presses it, so the check cannot race the reply's end;
# after SIGCONT the server logs that the client disconnected), starts a new chat, and, against a second server with the
# R1 chat format, checks the reasoning block. Screenshots go to the test's output folder
# ($LATTE_E2E_OUT, default <build>/e2e-out/chat_page/). Installs Chromium with apt-get (as root, no recommends)
# when it is missing; skips (exit 77) with a message only where it cannot be installed.
# Usage: chat_page.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
OUT="${LATTE_E2E_OUT:-$(cd "$(dirname "$LATTE")" && pwd)/e2e-out/chat_page}"
CHROMIUM=/usr/bin/chromium
tmp=$(mktemp -d)
pids=()
cleanup() {  # a server the page test froze (SIGSTOP) gets SIGCONT, or SIGTERM would wait forever
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "FAIL: $*"; for f in "$tmp"/server*.log; do [ -f "$f" ] && tail -20 "$f"; done; exit 1; }

for tool in node npm curl; do command -v "$tool" >/dev/null || die "$tool is not installed (needed by this test)"; done
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "chat_page: installing Debian's chromium (apt-get, no recommends)"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends chromium \
      >"$tmp/apt.log" 2>&1 || tail -5 "$tmp/apt.log"
  fi
  if [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: Chromium is not installed and cannot be installed here (needs root and apt-get: apt-get install chromium)"
    exit 77
  fi
fi
mkdir -p "$OUT" || die "cannot create the output folder $OUT"
rm -f "$OUT"/*.png

# start_server LOG ARGS... -> sets $server_port and $server_pid (no subshell: the pid must reach cleanup)
start_server() {
  local log="$1"; shift
  "$LATTE" serve -m "$Q4" --host 127.0.0.1 --port 0 -c 2048 -t 1 "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  server_port=""
  for _ in $(seq 1 300); do
    server_port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$server_port" ] && break
    sleep 0.2
  done
}
start_server "$tmp/server.log" --parallel 2
port=$server_port pid=$server_pid
[ -n "$port" ] || die "server did not start"
start_server "$tmp/server_r1.log" --parallel 1 --chat-format deepseek-r1
port_r1=$server_port
[ -n "$port_r1" ] || die "R1 server did not start"
curl -sf "http://127.0.0.1:$port/" | grep -q '<title>Latte chat</title>' || die "GET / does not serve the chat page"
curl -sfI "http://127.0.0.1:$port/" | grep -qi 'content-type: text/html' || die "GET / is not text/html"
echo "ok: GET / serves the page ($(curl -s "http://127.0.0.1:$port/" | wc -c) bytes)"

(cd "$tmp" && npm init -y >/dev/null 2>&1 && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm install --no-audit \
  --no-fund --loglevel=error playwright-core >"$tmp/npm.log" 2>&1) || die "npm install playwright-core failed: $(tail -5 "$tmp/npm.log")"
echo "ok: playwright-core $(node -p "require('$tmp/node_modules/playwright-core/package.json').version") installed"

cat >"$tmp/page.mjs" <<'EOF'
import { chromium } from 'playwright-core';
import fs from 'fs';
const [base, baseR1, out, profile, logFile, pidText] = process.argv.slice(2);
const serverPid = Number(pidText);  // the first server's pid: frozen during the stop check
let failures = 0;
const ok = (cond, what) => { console.log((cond ? 'ok: ' : 'FAIL: ') + what); if (!cond) failures++; };
const SYSTEM = 'You are terse.';
const QUESTION = 'Tell me about the river.';

async function apiReply(messages, max) {
  const r = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages, max_tokens: max, temperature: 0 }) });
  return (await r.json()).choices[0].message.content;
}

const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1000, height: 720 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const external = [];
  page.on('request', (req) => { if (!req.url().startsWith(base) && !req.url().startsWith(baseR1)) external.push(req.url()); });
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(base + '/');
  await page.waitForFunction(() => !document.getElementById('model').textContent.includes('…'), null, { timeout: 10000 });
  const model = await page.textContent('#model');
  ok(model === 'tiny-dsv3-q4_k_m', `model name shown: ${model}`);

  // A message with a system prompt, greedy: the page shows exactly the API's streamed reply.
  await page.click('#settings summary');
  await page.fill('#system', SYSTEM);
  await page.fill('#max_tokens', '24');
  await page.fill('#temperature', '0');
  await page.fill('#input', QUESTION);
  await page.click('#send');
  await page.waitForSelector('.msg.assistant.done', { timeout: 60000 });
  const shown = await page.textContent('.msg.assistant .content');
  const want = await apiReply([{ role: 'system', content: SYSTEM }, { role: 'user', content: QUESTION }], 24);
  ok(shown.length > 0 && shown === want, `streamed reply shown: ${JSON.stringify(shown)} (API: ${JSON.stringify(want)})`);
  ok((await page.textContent('.msg.user')) .includes(QUESTION), 'user message shown');
  const speed = await page.textContent('#speed');
  ok(/^[0-9.]+ tokens\/s$/.test(speed), `tokens/s shown: ${speed}`);
  await page.screenshot({ path: out + '/chat_reply.png', fullPage: true });

  // Second turn: history is sent (the reply equals the API's answer for the whole conversation).
  await page.fill('#input', 'And the city?');
  await page.click('#send');
  await page.waitForSelector('.msg.assistant.done >> nth=1', { timeout: 60000 });
  const second = (await page.$$eval('.msg.assistant .content', (els) => els.map((e) => e.textContent)))[1];
  const want2 = await apiReply([{ role: 'system', content: SYSTEM }, { role: 'user', content: QUESTION },
                               { role: 'assistant', content: want }, { role: 'user', content: 'And the city?' }], 24);
  ok(second === want2, `second turn uses the history: ${JSON.stringify(second)}`);

  // Stop: a long reply stopped after its first tokens; the server notices the closed connection. The check must
  // not race the reply's end (a fast machine finished a short reply before the click): the server is frozen
  // (SIGSTOP) as soon as the first tokens are shown and resumed (SIGCONT) only after the click, so the reply is
  // still streaming when stop is pressed however fast the machine is, and the page must end the reply by itself
  // (abort) while the server cannot answer. The greedy reply to this conversation is long (1170 tokens before its
  // end of sentence), so it cannot end in the moment between its first tokens and the freeze either.
  await page.fill('#max_tokens', '1500');
  await page.fill('#input', 'Once upon a time');
  await page.click('#send');
  await page.waitForFunction(() => {
    const c = document.querySelectorAll('.msg.assistant .content');
    return c.length === 3 && c[2].textContent.length > 0;
  }, null, { timeout: 60000, polling: 5 });
  process.kill(serverPid, 'SIGSTOP');
  let resumed = false;
  const resume = () => { if (!resumed) { resumed = true; process.kill(serverPid, 'SIGCONT'); } };
  try {
    const streaming = await page.$$eval('.msg.assistant', (els) => els.length === 3 && !els[2].classList.contains('done'));
    ok(streaming && await page.isEnabled('#stop') && await page.isDisabled('#send'),
       'stop enabled (and send disabled) while the reply streams');
    await page.click('#stop', { timeout: 5000 });
    await page.waitForSelector('.msg.assistant.done >> nth=2', { timeout: 20000 });
    ok(await page.isDisabled('#stop') && await page.isEnabled('#send'),
       'stop disabled and send enabled after stopping (the page ends the reply itself)');
  } finally {
    resume();
  }
  let stopped = false;
  for (let i = 0; i < 50 && !stopped; i++) {
    stopped = /client disconnected, generation stopped after [0-9]+ tokens/.test(fs.readFileSync(logFile, 'utf8'));
    if (!stopped) await new Promise((r) => setTimeout(r, 200));
  }
  ok(stopped, 'server stopped generating when the page pressed stop');

  // New chat clears the conversation.
  await page.click('#newchat');
  ok((await page.$$('.msg')).length === 0, 'new chat clears the messages');

  // R1 chat format: the (never-closing) tiny reply is reasoning, shown in the collapsible block.
  await page.goto(baseR1 + '/');
  await page.waitForFunction(() => !document.getElementById('model').textContent.includes('…'), null, { timeout: 10000 });
  await page.click('#settings summary');
  await page.fill('#max_tokens', '20');
  await page.fill('#temperature', '0');
  await page.fill('#input', 'Why is the sky blue?');
  await page.click('#send');
  await page.waitForSelector('.msg.assistant.done', { timeout: 60000 });
  const reasoning = await page.$eval('.msg.assistant .reasoning', (d) => ({ hidden: d.hidden, text: d.textContent }));
  ok(!reasoning.hidden && reasoning.text.replace('Reasoning', '').trim().length > 0,
     `reasoning block shown: ${JSON.stringify(reasoning.text.slice(0, 80))}`);
  await page.screenshot({ path: out + '/chat_reasoning.png', fullPage: true });
  await page.click('.msg.assistant .reasoning summary');
  ok(!(await page.$eval('.msg.assistant .reasoning', (d) => d.open)), 'reasoning block collapses');

  ok(external.length === 0, `no request leaves the server (${external.join(', ')})`);
  ok(consoleErrors.length === 0, `no page errors (${consoleErrors.join('; ')})`);
} catch (e) {
  ok(false, `browser error: ${e.stack || e}`);
} finally {
  await ctx.close();
}
process.exit(failures ? 1 : 0);
EOF
mkdir -p "$tmp/profile"
if (cd "$tmp" && timeout 300 node page.mjs "http://127.0.0.1:$port" "http://127.0.0.1:$port_r1" "$OUT" "$tmp/profile" \
    "$tmp/server.log" "$pid") >"$tmp/page.out" 2>&1; then
  cat "$tmp/page.out"
else
  cat "$tmp/page.out"
  die "chat page checks"
fi
for f in chat_reply.png chat_reasoning.png; do
  [ -s "$OUT/$f" ] || die "screenshot $OUT/$f missing"
done
echo "ok: screenshots in $OUT"
echo "chat_page: passed"
