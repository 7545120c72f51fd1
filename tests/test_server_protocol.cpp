// `latte serve`'s runtime-free parts: OpenAI request validation (cli/server_protocol), response and SSE shapes,
// and the session slot pool (cli/server_pool). The server sources live in cli/ (the latte binary), so this test
// compiles them in directly.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "cli/server_pool.cpp"
#include "cli/server_protocol.cpp"

using namespace latte::server;

namespace {

ServedModel served() {  // strict names: only the id and the aliases
  ServedModel m;
  m.id = "tiny";
  m.any_name = false;
  return m;
}

Parsed<ChatRequest> chat(const std::string& body) {
  auto j = parse_json_body(body);
  REQUIRE_MESSAGE(j.ok(), body);
  return parse_chat_request(*j.value, served());
}

Parsed<CompletionRequest> completion(const std::string& body) {
  auto j = parse_json_body(body);
  REQUIRE_MESSAGE(j.ok(), body);
  return parse_completion_request(*j.value, served());
}

// The request is rejected with `status` and the error names `param`.
template <class P>
void rejected(const P& p, int status, const std::string& param) {
  CHECK_FALSE(p.ok());
  CHECK(p.error.status == status);
  CHECK(p.error.param == param);
  CHECK(!p.error.message.empty());
}

const std::string kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

}  // namespace

TEST_CASE("server: JSON bodies") {
  CHECK_FALSE(parse_json_body("{not json").ok());
  CHECK(parse_json_body("{not json").error.status == 400);
  CHECK_FALSE(parse_json_body("[1,2]").ok());
  CHECK_FALSE(parse_json_body("").ok());
  CHECK_FALSE(parse_json_body("{\"a\":\"\xff\"}").ok());  // invalid UTF-8 in a string
  CHECK(parse_json_body("{}").ok());
}

TEST_CASE("server: chat request validation") {
  auto ok = chat("{" + kMsgs + "}");
  REQUIRE(ok.ok());
  CHECK(ok.value->model == "tiny");
  CHECK(ok.value->messages.size() == 1);
  CHECK(ok.value->sampling.max_tokens == -1);
  CHECK(ok.value->sampling.temperature == 1.0f);
  CHECK_FALSE(ok.value->sampling.stream);
  CHECK_FALSE(ok.value->sampling.seed.has_value());

  CHECK(chat(R"({"model":"tiny",)" + kMsgs + "}").ok());
  CHECK(chat(R"({"model":"default",)" + kMsgs + "}").ok());
  auto unknown = chat(R"({"model":"gpt-4o",)" + kMsgs + "}");
  rejected(unknown, 404, "model");
  CHECK(unknown.error.code == "model_not_found");
  rejected(chat(R"({"model":7,)" + kMsgs + "}"), 400, "model");
  // The server's default: one model served, so any name is accepted and the response reports the served id.
  ServedModel any;
  any.id = "tiny";
  auto other = parse_chat_request(*parse_json_body(R"({"model":"gpt-4o",)" + kMsgs + "}").value, any);
  REQUIRE(other.ok());
  CHECK(other.value->model == "tiny");
  CHECK_FALSE(parse_chat_request(*parse_json_body(R"({"model":7,)" + kMsgs + "}").value, any).ok());

  rejected(chat("{}"), 400, "messages");
  rejected(chat(R"({"messages":[]})"), 400, "messages");
  rejected(chat(R"({"messages":"hi"})"), 400, "messages");
  rejected(chat(R"({"messages":[1]})"), 400, "messages[0]");
  rejected(chat(R"({"messages":[{"content":"x"}]})"), 400, "messages[0].role");
  rejected(chat(R"({"messages":[{"role":"wizard","content":"x"}]})"), 400, "messages[0].role");
  rejected(chat(R"({"messages":[{"role":"user"}]})"), 400, "messages[0].content");
  rejected(chat(R"({"messages":[{"role":"user","content":5}]})"), 400, "messages[0].content");
  rejected(chat(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})"), 400, "messages[0].content");

  auto parts = chat(R"({"messages":[{"role":"developer","content":"S"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null}]})");
  REQUIRE(parts.ok());
  CHECK(parts.value->messages[0].role == "system");
  CHECK(parts.value->messages[1].content == "ab");
  CHECK(parts.value->messages[2].content.empty());

  // sampling options
  auto s = chat("{" + kMsgs + R"(,"max_tokens":7,"temperature":0,"top_p":0.5,"seed":42,"stop":"END",
      "stream":true,"stream_options":{"include_usage":true},"top_k":5,"min_p":0.1,"n":1})");
  REQUIRE(s.ok());
  CHECK(s.value->sampling.max_tokens == 7);
  CHECK(s.value->sampling.temperature == 0.0f);
  CHECK(s.value->sampling.top_p == 0.5f);
  CHECK(*s.value->sampling.seed == 42u);
  CHECK(s.value->sampling.stop == std::vector<std::string>{"END"});
  CHECK(s.value->sampling.stream);
  CHECK(s.value->sampling.include_usage);
  CHECK(s.value->sampling.top_k == 5);
  CHECK(chat("{" + kMsgs + R"(,"max_completion_tokens":3})").value->sampling.max_tokens == 3);
  CHECK(chat("{" + kMsgs + R"(,"max_tokens":4.0})").value->sampling.max_tokens == 4);
  CHECK(chat("{" + kMsgs + R"(,"stop":["a","b"]})").value->sampling.stop.size() == 2);
  CHECK(chat("{" + kMsgs + R"(,"seed":18446744073709551615})").value->sampling.seed == UINT64_MAX);
  CHECK(chat("{" + kMsgs + R"(,"max_tokens":null})").value->sampling.max_tokens == -1);

  rejected(chat("{" + kMsgs + R"(,"max_tokens":-1})"), 400, "max_tokens");
  rejected(chat("{" + kMsgs + R"(,"max_tokens":0})"), 400, "max_tokens");
  rejected(chat("{" + kMsgs + R"(,"max_tokens":1.5})"), 400, "max_tokens");
  rejected(chat("{" + kMsgs + R"(,"max_tokens":"5"})"), 400, "max_tokens");
  rejected(chat("{" + kMsgs + R"(,"max_tokens":1e300})"), 400, "max_tokens");
  rejected(chat("{" + kMsgs + R"(,"temperature":"hot"})"), 400, "temperature");
  rejected(chat("{" + kMsgs + R"(,"temperature":3})"), 400, "temperature");
  rejected(chat("{" + kMsgs + R"(,"top_p":0})"), 400, "top_p");
  rejected(chat("{" + kMsgs + R"(,"top_p":1.5})"), 400, "top_p");
  rejected(chat("{" + kMsgs + R"(,"seed":"x"})"), 400, "seed");
  rejected(chat("{" + kMsgs + R"(,"stop":5})"), 400, "stop");
  rejected(chat("{" + kMsgs + R"(,"stop":["a",1]})"), 400, "stop");
  rejected(chat("{" + kMsgs + R"(,"stop":[""]})"), 400, "stop");
  rejected(chat("{" + kMsgs + R"(,"stream":"yes"})"), 400, "stream");
  rejected(chat("{" + kMsgs + R"(,"n":2})"), 400, "n");
  rejected(chat("{" + kMsgs + R"(,"tools":[{"type":"function"}]})"), 400, "tools[0].function");
  CHECK(chat("{" + kMsgs + R"(,"tools":[]})").ok());
}

TEST_CASE("server: tools, tool_choice and tool messages") {
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"get_weather","description":"d",)"
      R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},)"
      R"({"type":"function","function":{"name":"add"}}])";
  auto r = chat("{" + kMsgs + "," + tools + "}");
  REQUIRE(r.ok());
  REQUIRE(r.value->tools.size() == 2);
  CHECK(r.value->tools[0].name == "get_weather");
  CHECK(r.value->tools[0].description == "d");
  CHECK(r.value->tools[0].parameters["type"] == "object");
  CHECK(r.value->tools[1].parameters.is_null());
  CHECK(r.value->tool_choice == ToolChoice::Auto);
  CHECK(chat("{" + kMsgs + "," + tools + R"(,"tool_choice":"none"})").value->tool_choice == ToolChoice::None);
  CHECK(chat("{" + kMsgs + "," + tools + R"(,"tool_choice":"required"})").value->tool_choice ==
        ToolChoice::Required);
  auto named = chat("{" + kMsgs + "," + tools + R"(,"tool_choice":{"type":"function","function":{"name":"add"}}})");
  REQUIRE(named.ok());
  CHECK(named.value->tool_choice == ToolChoice::Named);
  CHECK(named.value->tool_name == "add");
  rejected(chat("{" + kMsgs + "," + tools + R"(,"tool_choice":{"type":"function","function":{"name":"x"}}})"), 400,
           "tool_choice");
  rejected(chat("{" + kMsgs + "," + tools + R"(,"tool_choice":"sometimes"})"), 400, "tool_choice");
  rejected(chat("{" + kMsgs + R"(,"tool_choice":"required"})"), 400, "tool_choice");
  rejected(chat("{" + kMsgs + R"(,"tools":[{"type":"retrieval"}]})"), 400, "tools[0].type");
  rejected(chat("{" + kMsgs + R"(,"tools":[{"type":"function","function":{"name":"a b"}}]})"), 400,
           "tools[0].function.name");
  rejected(chat("{" + kMsgs + R"(,"tools":[{"type":"function","function":{"name":"a","parameters":3}}]})"), 400,
           "tools[0].function.parameters");
  rejected(chat("{" + kMsgs +
                R"(,"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}]})"),
           400, "tools[1].function.name");
  rejected(chat("{" + kMsgs + R"(,"tools":{}})"), 400, "tools");

  // History: an assistant call (content null) and its result.
  auto h = chat(R"({"messages":[{"role":"user","content":"w?"},)"
                R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
                R"("function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},)"
                R"({"role":"tool","tool_call_id":"call_1","content":"{\"t\":3}"}]})");
  REQUIRE(h.ok());
  REQUIRE(h.value->messages.size() == 3);
  REQUIRE(h.value->messages[1].tool_calls.size() == 1);
  CHECK(h.value->messages[1].tool_calls[0].id == "call_1");
  CHECK(h.value->messages[1].tool_calls[0].name == "get_weather");
  CHECK(h.value->messages[1].tool_calls[0].arguments == R"({"city":"Oslo"})");
  CHECK(h.value->messages[1].content.empty());
  CHECK(h.value->messages[2].role == "tool");
  CHECK(h.value->messages[2].tool_call_id == "call_1");
  CHECK(h.value->messages[2].content == R"({"t":3})");
  // Arguments sent as an object are accepted and dumped.
  auto o = chat(R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]}]})");
  REQUIRE(o.ok());
  CHECK(o.value->messages[0].tool_calls[0].arguments == R"({"a":1})");
  rejected(chat(R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":""}}]}]})"), 400,
           "messages[0].tool_calls[0].function.name");
  rejected(chat(R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":5}}]}]})"),
           400, "messages[0].tool_calls[0].function.arguments");
  rejected(chat(R"({"messages":[{"role":"user","content":"x","tool_calls":[]}]})"), 400, "messages[0].tool_calls");
  rejected(chat(R"({"messages":[{"role":"function","content":"x"}]})"), 400, "messages[0].role");
  rejected(chat(R"({"messages":[{"role":"tool"}]})"), 400, "messages[0].content");
}

TEST_CASE("server: thinking options (chat_template_kwargs, thinking, reasoning_effort) and reasoning_content") {
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  auto thinking_of = [&](const std::string& extra) {
    auto r = chat("{" + msgs + (extra.empty() ? "" : "," + extra) + "}");
    REQUIRE_MESSAGE(r.ok(), extra);
    return r.value->thinking;
  };
  CHECK(thinking_of("") == "");
  CHECK(thinking_of(R"("chat_template_kwargs":{"thinking":false})") == "off");
  CHECK(thinking_of(R"("chat_template_kwargs":{"enable_thinking":true})") == "on");
  CHECK(thinking_of(R"("chat_template_kwargs":{"reasoning_effort":"max"})") == "max");
  CHECK(thinking_of(R"("thinking":{"type":"disabled"})") == "off");
  CHECK(thinking_of(R"("thinking":{"type":"enabled"})") == "on");
  CHECK(thinking_of(R"("reasoning_effort":"max")") == "max");
  CHECK(thinking_of(R"("reasoning_effort":"low")") == "on");
  CHECK(thinking_of(R"("reasoning_effort":"none")") == "off");
  CHECK(thinking_of(R"("reasoning_effort":"max","chat_template_kwargs":{"thinking":false})") == "off");
  rejected(chat("{" + msgs + R"(,"reasoning_effort":"extreme"})"), 400, "reasoning_effort");
  rejected(chat("{" + msgs + R"(,"chat_template_kwargs":{"thinking":"yes"}})"), 400, "chat_template_kwargs.thinking");
  rejected(chat("{" + msgs + R"(,"chat_template_kwargs":[1]})"), 400, "chat_template_kwargs");
  rejected(chat("{" + msgs + R"(,"thinking":true})"), 400, "thinking");
  auto r = chat(R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a",)"
                R"("reasoning_content":"because"},{"role":"user","content":"q2"}]})");
  REQUIRE(r.ok());
  CHECK(r.value->messages[1].reasoning == "because");
  rejected(chat(R"({"messages":[{"role":"assistant","content":"a","reasoning_content":3}]})"), 400,
           "messages[0].reasoning_content");
}

TEST_CASE("server: completion request validation") {
  auto a = completion(R"({"prompt":"The"})");
  REQUIRE(a.ok());
  CHECK(a.value->prompt == "The");
  CHECK(a.value->prompt_ids.empty());
  CHECK(completion(R"({"prompt":["The"]})").value->prompt == "The");
  auto ids = completion(R"({"prompt":[0, 358]})");
  REQUIRE(ids.ok());
  CHECK(ids.value->prompt_ids == std::vector<int32_t>{0, 358});
  rejected(completion(R"({"prompt":[0, -1]})"), 400, "prompt");
  rejected(completion(R"({"prompt":["a","b"]})"), 400, "prompt");
  rejected(completion(R"({"prompt":{"a":1}})"), 400, "prompt");
  rejected(completion(R"({"max_tokens":3})"), 400, "prompt");
  rejected(completion(R"({"prompt":"x","echo":true})"), 400, "echo");
  rejected(completion(R"({"prompt":"x","model":"other"})"), 404, "model");
  CHECK(parse_completion_request(json::array(), served()).error.status == 400);  // never throws
}

TEST_CASE("server: response shapes") {
  ResponseMeta m{"chatcmpl-1", 1700000000, "tiny"};
  Usage u{5, 3};
  CHECK(u.to_json()["total_tokens"] == 8);

  json c = chat_completion(m, "hello", "thinking", Finish::Length, u);
  CHECK(c["object"] == "chat.completion");
  CHECK(c["choices"][0]["message"]["content"] == "hello");
  CHECK(c["choices"][0]["message"]["reasoning_content"] == "thinking");
  CHECK(c["choices"][0]["finish_reason"] == "length");
  CHECK(c["usage"]["completion_tokens"] == 3);
  CHECK_FALSE(chat_completion(m, "x", "", Finish::Stop, u)["choices"][0]["message"].contains("reasoning_content"));

  json d = chat_chunk(m, std::nullopt, std::nullopt, std::string("r"), std::nullopt, std::nullopt);
  CHECK(d["object"] == "chat.completion.chunk");
  CHECK(d["choices"][0]["delta"]["reasoning_content"] == "r");
  CHECK_FALSE(d["choices"][0]["delta"].contains("content"));
  CHECK(d["choices"][0]["finish_reason"].is_null());
  CHECK_FALSE(d.contains("usage"));
  json f = chat_chunk(m, std::nullopt, std::nullopt, std::nullopt, Finish::Stop, u);
  CHECK(f["choices"][0]["finish_reason"] == "stop");
  CHECK(f["usage"]["total_tokens"] == 8);

  json tc = chat_completion(m, "", "", Finish::ToolCalls, u, {{"call_1", "add", "{\"a\":1}"}});
  CHECK(tc["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(tc["choices"][0]["message"]["content"].is_null());
  CHECK(tc["choices"][0]["message"]["tool_calls"][0]["id"] == "call_1");
  CHECK(tc["choices"][0]["message"]["tool_calls"][0]["type"] == "function");
  CHECK(tc["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "add");
  CHECK(tc["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{\"a\":1}");
  CHECK_FALSE(chat_completion(m, "x", "", Finish::Stop, u)["choices"][0]["message"].contains("tool_calls"));
  json first = tool_call_chunk(m, 1, "call_2", "add", "");
  CHECK(first["choices"][0]["delta"]["tool_calls"][0]["index"] == 1);
  CHECK(first["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_2");
  CHECK(first["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "add");
  CHECK(first["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == "");
  json frag = tool_call_chunk(m, 1, "", "", "{\"a\"");
  CHECK_FALSE(frag["choices"][0]["delta"]["tool_calls"][0].contains("id"));
  CHECK(frag["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == "{\"a\"");

  json t = text_completion(m, "abc", Finish::Stop, u);
  CHECK(t["object"] == "text_completion");
  CHECK(t["choices"][0]["text"] == "abc");
  CHECK(usage_chunk(m, "chat.completion.chunk", u)["choices"].empty());
  CHECK(models_list(served(), 1)["data"][0]["id"] == "tiny");

  RequestError e{400, "bad thing", "invalid_request_error", "max_tokens", ""};
  json eb = error_body(e);
  CHECK(eb["error"]["message"] == "bad thing");
  CHECK(eb["error"]["type"] == "invalid_request_error");
  CHECK(eb["error"]["param"] == "max_tokens");
  CHECK(eb["error"]["code"].is_null());

  std::string ev = sse_event(json{{"text", std::string("a\xff")}});
  CHECK(ev.rfind("data: {", 0) == 0);
  CHECK(ev.size() > 2);
  CHECK(ev.substr(ev.size() - 2) == "\n\n");
  CHECK(ev.find("\xef\xbf\xbd") != std::string::npos);  // invalid byte replaced by U+FFFD

  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(new_response_id("cmpl-"));
  CHECK(ids.size() == 100);
  CHECK(ids.begin()->rfind("cmpl-", 0) == 0);
}

TEST_CASE("server: slot pool picks the longest cached prefix and waits when full") {
  std::vector<std::vector<int32_t>> cached = {{1, 2, 3}, {1, 2, 3, 4, 5}, {9}};
  SlotPool pool(3, [&](int slot, std::span<const int32_t> prompt) {
    size_t k = 0;
    while (k < cached[size_t(slot)].size() && k < prompt.size() && cached[size_t(slot)][k] == prompt[k]) ++k;
    return k;
  });
  std::vector<int32_t> p = {1, 2, 3, 4, 5, 6};
  auto a = pool.acquire(p);
  CHECK(a.slot() == 1);
  auto b = pool.acquire(p);
  CHECK(b.slot() == 0);  // next best free
  std::vector<int32_t> q = {7};
  auto c = pool.acquire(q);
  CHECK(c.slot() == 2);
  CHECK(pool.n_busy() == 3);

  std::atomic<int> got{-1};
  std::thread waiter([&] { got = pool.acquire(q).slot(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(got == -1);  // all busy: still waiting
  b.reset();
  waiter.join();
  CHECK(got == 0);
  CHECK(pool.n_busy() == 2);  // the waiter's lease ended with its thread
}
