// The chat page `latte serve` answers GET / with: one self-contained HTML document (inline CSS and JS, no CDN,
// no external request but the server's own /v1 API). It streams replies from /v1/chat/completions (SSE over
// fetch), shows R1 reasoning (`reasoning_content`) in a collapsible block, has a stop button (aborts the
// request; the server stops generating when the connection closes), a system prompt, a new-chat button, the
// model name (/v1/models) and the tokens/s of the last reply (completion tokens from the usage chunk over the
// time from the first streamed token). Text is inserted as text (textContent), never as HTML.
// Element ids used by tests/e2e/chat_page.sh: #model, #system, #input, #send, #stop, #newchat, #messages, #speed;
// each reply is a .msg.assistant with .reasoning (a <details>) and .content, marked .done when it ends.
#pragma once
#include <string_view>

namespace latte::server {

inline constexpr std::string_view kChatPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latte chat</title>
<style>
  :root { --bg:#f6f4f1; --panel:#fff; --ink:#222; --muted:#777; --accent:#7a4b2a; --user:#efe6dc; --border:#ddd6cd; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--ink);
         display:flex; flex-direction:column; height:100vh; }
  header { display:flex; align-items:center; gap:12px; padding:10px 16px; background:var(--panel);
           border-bottom:1px solid var(--border); }
  header h1 { font-size:18px; margin:0; color:var(--accent); }
  #model { font-family:ui-monospace, monospace; font-size:13px; color:var(--muted); }
  #speed { margin-left:auto; font-family:ui-monospace, monospace; font-size:13px; color:var(--muted); }
  button { font:inherit; border:1px solid var(--border); background:var(--panel); border-radius:6px; padding:6px 12px;
           cursor:pointer; }
  button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
  button:disabled { opacity:.5; cursor:default; }
  #settings { padding:8px 16px; background:var(--panel); border-bottom:1px solid var(--border); }
  #settings summary { cursor:pointer; color:var(--muted); }
  #system { width:100%; min-height:48px; margin-top:6px; font:inherit; padding:6px; border:1px solid var(--border);
            border-radius:6px; resize:vertical; }
  #settings label { margin-right:14px; color:var(--muted); font-size:13px; }
  #settings input[type=number] { width:80px; }
  #messages { flex:1; overflow-y:auto; padding:16px; display:flex; flex-direction:column; gap:10px; }
  .msg { max-width:820px; padding:10px 14px; border-radius:10px; white-space:pre-wrap; word-wrap:break-word; }
  .msg.user { align-self:flex-end; background:var(--user); }
  .msg.assistant { align-self:flex-start; background:var(--panel); border:1px solid var(--border); }
  .msg .role { font-size:12px; color:var(--muted); margin-bottom:2px; }
  .reasoning { color:var(--muted); font-size:14px; border-left:3px solid var(--border); padding-left:8px; margin:4px 0; }
  .reasoning summary { cursor:pointer; }
  .tools { font-family:ui-monospace, monospace; font-size:13px; background:#f3efe9; padding:6px; border-radius:6px; }
  .error { color:#a00; }
  form { display:flex; gap:8px; padding:12px 16px; background:var(--panel); border-top:1px solid var(--border); }
  #input { flex:1; font:inherit; padding:8px; border:1px solid var(--border); border-radius:6px; resize:none; height:60px; }
</style>
</head>
<body>
<header>
  <h1>Latte</h1><span id="model">…</span>
  <button id="newchat" type="button">New chat</button>
  <span id="speed"></span>
</header>
<details id="settings">
  <summary>System prompt and sampling</summary>
  <textarea id="system" placeholder="System prompt (optional)"></textarea>
  <div>
    <label>max tokens <input id="max_tokens" type="number" min="1" value="512"></label>
    <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
  </div>
</details>
<div id="messages"></div>
<form id="form">
  <textarea id="input" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" class="primary" type="submit">Send</button>
  <button id="stop" type="button" disabled>Stop</button>
</form>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let history = [];      // {role, content} of the conversation so far
let controller = null; // AbortController of the running request
let modelId = null;

fetch("/v1/models").then((r) => r.json()).then((j) => {
  modelId = j.data && j.data[0] ? j.data[0].id : null;
  $("model").textContent = modelId || "(no model)";
}).catch(() => { $("model").textContent = "(server unreachable)"; });

function bubble(role) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const label = document.createElement("div");
  label.className = "role";
  label.textContent = role === "user" ? "You" : "Assistant";
  div.appendChild(label);
  $("messages").appendChild(div);
  return div;
}

function addUser(text) {
  const div = bubble("user");
  const c = document.createElement("div");
  c.textContent = text;
  div.appendChild(c);
}

function addAssistant() {
  const div = bubble("assistant");
  const details = document.createElement("details");
  details.className = "reasoning";
  details.open = true;
  details.hidden = true;
  const summary = document.createElement("summary");
  summary.textContent = "Reasoning";
  const rtext = document.createElement("div");
  details.append(summary, rtext);
  const content = document.createElement("div");
  content.className = "content";
  const tools = document.createElement("div");
  tools.className = "tools";
  tools.hidden = true;
  div.append(details, content, tools);
  return { div, details, rtext, content, tools };
}

function scrollDown() { const m = $("messages"); m.scrollTop = m.scrollHeight; }

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

async function send(text) {
  addUser(text);
  history.push({ role: "user", content: text });
  const view = addAssistant();
  scrollDown();
  const messages = [];
  const sys = $("system").value.trim();
  if (sys) messages.push({ role: "system", content: sys });
  messages.push(...history);
  const body = { messages, stream: true, stream_options: { include_usage: true },
                 max_tokens: parseInt($("max_tokens").value, 10) || 512,
                 temperature: parseFloat($("temperature").value) };
  if (modelId) body.model = modelId;
  controller = new AbortController();
  setBusy(true);
  let content = "", reasoning = "", first = 0, pieces = 0, usage = null;
  const calls = [];
  const showSpeed = (final) => {
    if (!first) return;
    const secs = (performance.now() - first) / 1000;
    const n = usage ? usage.completion_tokens : pieces;
    if (secs > 0) $("speed").textContent = (n / secs).toFixed(1) + " tokens/s" + (final ? "" : " …");
  };
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      signal: controller.signal });
    if (!res.ok) {
      let msg = "HTTP " + res.status;
      try { msg = (await res.json()).error.message; } catch (e) {}
      throw new Error(msg);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices && chunk.choices[0];
          if (!choice || !choice.delta) continue;
          const d = choice.delta;
          if (d.reasoning_content) {
            if (!first) first = performance.now();
            pieces++;
            reasoning += d.reasoning_content;
            view.details.hidden = false;
            view.rtext.textContent = reasoning;
          }
          if (d.content) {
            if (!first) first = performance.now();
            pieces++;
            if (reasoning && view.details.open && !content) view.details.open = false;
            content += d.content;
            view.content.textContent = content;
          }
          if (d.tool_calls) {
            for (const tc of d.tool_calls) {
              const c = calls[tc.index] || (calls[tc.index] = { name: "", arguments: "" });
              if (tc.function && tc.function.name) c.name = tc.function.name;
              if (tc.function && tc.function.arguments) c.arguments += tc.function.arguments;
            }
            view.tools.hidden = false;
            view.tools.textContent = calls.map((c) => "tool call: " + c.name + "(" + c.arguments + ")").join("\n");
          }
          showSpeed(false);
          scrollDown();
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") {
      const err = document.createElement("div");
      err.className = "error";
      err.textContent = "Error: " + e.message;
      view.div.appendChild(err);
    }
  } finally {
    controller = null;
    setBusy(false);
    showSpeed(true);
    view.div.classList.add("done");
    history.push({ role: "assistant", content });
    scrollDown();
  }
}

$("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("form").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("newchat").addEventListener("click", () => {
  if (controller) controller.abort();
  history = [];
  $("messages").replaceChildren();
  $("speed").textContent = "";
  $("input").focus();
});
</script>
</body>
</html>
)HTML";

}  // namespace latte::server
