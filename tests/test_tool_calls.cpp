// Tool calls: rendering of tools, assistant tool calls and tool results in the DeepSeek-V3 / R1 syntax
// (GGUF_DEEPSEEK.md §E.8), their tokens with the tiny vocabulary (each marker one token), and the streaming parser:
// well-formed blocks, every split point, one byte at a time, argument fragments, and malformed blocks coming back
// verbatim as content. DeepSeek-V4's DSML (DEEPSEEK_V4.md §10, and V3.2's function_calls block): rendered calls,
// render -> parse round trips, every split point, forced prefix / suffix, malformed markup back as text.
#include <doctest/doctest.h>

#include "formats/error.h"
#include "formats/gguf.h"
#include "runtime/text/chat_format.h"
#include "runtime/text/tokenizer.h"
#include "runtime/text/json_schema.h"
#include "runtime/text/tool_calls.h"
#include "tests/test_support.h"

using namespace latte;

namespace {

const std::string BOS = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
const std::string EOS = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
const std::string USER = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>";
const std::string ASSISTANT = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";
const std::string CALLS_B = "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "begin\xEF\xBD\x9C>";
const std::string CALLS_E = "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "end\xEF\xBD\x9C>";
const std::string CALL_B = "<\xEF\xBD\x9Ctool\xE2\x96\x81" "call\xE2\x96\x81" "begin\xEF\xBD\x9C>";
const std::string CALL_E = "<\xEF\xBD\x9Ctool\xE2\x96\x81" "call\xE2\x96\x81" "end\xEF\xBD\x9C>";
const std::string SEP = "<\xEF\xBD\x9Ctool\xE2\x96\x81sep\xEF\xBD\x9C>";
const std::string OUTS_B = "<\xEF\xBD\x9Ctool\xE2\x96\x81outputs\xE2\x96\x81" "begin\xEF\xBD\x9C>";
const std::string OUTS_E = "<\xEF\xBD\x9Ctool\xE2\x96\x81outputs\xE2\x96\x81" "end\xEF\xBD\x9C>";
const std::string OUT_B = "<\xEF\xBD\x9Ctool\xE2\x96\x81output\xE2\x96\x81" "begin\xEF\xBD\x9C>";
const std::string OUT_E = "<\xEF\xBD\x9Ctool\xE2\x96\x81output\xE2\x96\x81" "end\xEF\xBD\x9C>";

std::string call_text(const std::string& name, const std::string& args) {
  return CALL_B + "function" + SEP + name + "\n```json\n" + args + "\n```" + CALL_E;
}

const std::vector<ToolSpec> kTools = {
    {"get_weather", "Current weather of a city", R"({"type":"object","properties":{"city":{"type":"string"}}})"},
    {"add", "", R"({"type":"object"})"}};

const std::string kToolsBlock =
    "## Tools\nYou have access to the following tools:\n"
    "\n### get_weather\nDescription: Current weather of a city\n\nParameters: "
    R"({"type":"object","properties":{"city":{"type":"string"}}})"
    "\n"
    "\n### add\n\nParameters: {\"type\":\"object\"}\n"
    "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n" +
    CALLS_B + CALL_B + "function" + SEP + "tool_call_name\n```json\ntool_call_arguments\n```" + CALL_E +
    "{{additional_tool_calls}}" + CALLS_E +
    "\n\nWhere:\n\n- `tool_call_name` must be an exact match to one of the available tools\n"
    "- `tool_call_arguments` must be valid JSON that strictly follows the tool's Parameters Schema\n"
    "- For multiple tool calls, separate them by a newline\n";

struct Result {
  std::string content;
  std::vector<ParsedToolCall> calls;
  std::string order;  // 't' for a content segment, 'c' for a call, in stream order (adjacent 't' merged)
};

void collect(Result& r, const ToolCallParser::Output& out) {
  for (const auto& s : out) {
    if (s.is_call) {
      r.calls.push_back(s.call);
      r.order += 'c';
    } else {
      CHECK_FALSE(s.content.empty());
      r.content += s.content;
      if (r.order.empty() || r.order.back() != 't') r.order += 't';
    }
  }
}

Result parse(const std::vector<std::string>& pieces, std::vector<std::string> names = {"get_weather", "add"},
             std::string_view primed = {}, ChatFormat f = ChatFormat::DeepSeekV3) {
  ToolCallParser p(f, std::move(names), primed);
  Result r;
  for (const auto& x : pieces) collect(r, p.push(x));
  collect(r, p.flush());
  return r;
}

std::vector<std::string> bytes_of(const std::string& s) {
  std::vector<std::string> v;
  for (char c : s) v.emplace_back(1, c);
  return v;
}

}  // namespace

TEST_CASE("tools: V3 rendering of tools, a call, its result and the answer") {
  std::vector<ChatMessage> msgs(6);
  msgs[0] = {"system", "S"};
  msgs[1] = {"user", "Weather in Paris?"};
  msgs[2].role = "assistant";
  msgs[2].tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}};
  msgs[3] = {"tool", R"({"temp":18})"};
  msgs[3].tool_call_id = "call_1";
  msgs[4] = {"assistant", "It is 18."};
  msgs[5] = {"user", "Thanks"};
  const std::string expect = BOS + "S\n\n" + kToolsBlock + USER + "Weather in Paris?" + ASSISTANT + CALLS_B +
                             call_text("get_weather", R"({"city":"Paris"})") + CALLS_E + EOS + OUTS_B + OUT_B +
                             R"({"temp":18})" + OUT_E + OUTS_E + "It is 18." + EOS + USER + "Thanks" + ASSISTANT;
  CHECK(render_chat(ChatFormat::DeepSeekV3, msgs, true, BOS, EOS, kTools) == expect);
  // Without a system message the tools block is the whole system text.
  CHECK(render_chat(ChatFormat::DeepSeekV3, {{"user", "q"}}, true, BOS, EOS, kTools) ==
        BOS + kToolsBlock + USER + "q" + ASSISTANT);
  // The generation prompt after tool results is the opener of the assistant turn that follows them.
  std::vector<ChatMessage> upto(msgs.begin(), msgs.begin() + 4);
  std::string gen = render_chat(ChatFormat::DeepSeekV3, upto, true, BOS, EOS, kTools);
  CHECK(gen == expect.substr(0, gen.size()));
  CHECK(gen.size() == expect.find("It is 18."));
}

TEST_CASE("tools: content before calls, several calls, calls after tool results, R1 reasoning cut") {
  std::vector<ChatMessage> msgs(4);
  msgs[0] = {"user", "q"};
  msgs[1] = {"assistant", "<think>plan</think>Let me look."};
  msgs[1].tool_calls = {{"a", "get_weather", R"({"city":"Oslo"})"}, {"b", "add", R"({"x":1})"}};
  msgs[2] = {"tool", "r"};
  msgs[3].role = "assistant";
  msgs[3].tool_calls = {{"c", "add", "{}"}};
  const std::string calls2 =
      CALLS_B + call_text("get_weather", R"({"city":"Oslo"})") + "\n" + call_text("add", R"({"x":1})") + CALLS_E;
  const std::string tail = OUTS_B + OUT_B + "r" + OUT_E + OUTS_E + CALLS_B + call_text("add", "{}") + CALLS_E + EOS;
  CHECK(render_chat(ChatFormat::DeepSeekR1, msgs, true, BOS, EOS) ==
        BOS + USER + "q" + ASSISTANT + "Let me look." + calls2 + EOS + tail + ASSISTANT + "<think>\n");
  CHECK(render_chat(ChatFormat::DeepSeekV3, msgs, false, BOS, EOS) ==
        BOS + USER + "q" + ASSISTANT + "<think>plan</think>Let me look." + calls2 + EOS + tail);
  CHECK(render_tool_calls(ChatFormat::DeepSeekV3, msgs[1].tool_calls) == calls2);
}

TEST_CASE("tools: a format without tool syntax refuses tools and calls") {
  CHECK_FALSE(chat_format_has_tools(ChatFormat::DeepSeekV2));
  CHECK_THROWS_AS(render_chat(ChatFormat::DeepSeekV2, {{"user", "q"}}, true, BOS, EOS, kTools), ArgumentError);
  std::vector<ChatMessage> msgs(1);
  msgs[0].role = "assistant";
  msgs[0].tool_calls = {{"a", "add", "{}"}};
  CHECK_THROWS_AS(render_chat(ChatFormat::DeepSeekV2, msgs, true, BOS, EOS), ArgumentError);
  CHECK_THROWS_AS(ToolCallParser(ChatFormat::DeepSeekV2, {}), ArgumentError);
  CHECK_THROWS_AS(tool_call_prefix(ChatFormat::DeepSeekV2, "add", false), ArgumentError);
}

TEST_CASE("tools: every marker is one token of the tiny vocabulary") {
  auto file = gguf::File::open(test::model_path("tiny-dsv3/tiny-dsv3-f32.gguf"));
  auto tok = Tokenizer::from_gguf(*file);
  std::string text = CALLS_B + CALL_B + "function" + SEP + "add\n```json\n{}\n```" + CALL_E + CALLS_E + OUTS_B +
                     OUT_B + "r" + OUT_E + OUTS_E;
  auto ids = tok->encode(text, false, true);
  for (int32_t id : {11, 12, 13, 14, 15, 16, 17, 18, 19})
    CHECK(std::count(ids.begin(), ids.end(), id) == 1);
  CHECK(tok->decode(ids, /*render_special=*/true) == text);
}

TEST_CASE("tool parser: plain text, one call, two calls, text around") {
  auto r = parse({"Hello, no tools here. <tool> < | >"});
  CHECK(r.content == "Hello, no tools here. <tool> < | >");
  CHECK(r.calls.empty());

  const std::string one = CALLS_B + call_text("get_weather", R"({"city": "Paris"})") + CALLS_E;
  r = parse({one});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "get_weather");
  CHECK(r.calls[0].arguments == R"({"city": "Paris"})");
  CHECK(r.content.empty());

  const std::string two = "I will check. " + CALLS_B + call_text("get_weather", R"({"city":"Oslo"})") + "\n" +
                          call_text("add", R"({"a": [1, 2], "b": {"c": "```"}})") + CALLS_E + " Done.";
  r = parse({two});
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[1].name == "add");
  CHECK(r.calls[1].arguments == R"({"a": [1, 2], "b": {"c": "```"}})");
  CHECK(r.content == "I will check.  Done.");
  CHECK(r.order == "tcct");

  // Lenient forms: no type word, no fence, a bare call opener without the block opener, no block closer.
  r = parse({CALL_B + SEP + "add " + R"({"x":1})" + CALL_E});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].arguments == R"({"x":1})");
  CHECK(r.content.empty());
}

TEST_CASE("tool parser: every split point and one byte at a time give the same result") {
  const std::string text = "Sure" + CALLS_B + call_text("get_weather", R"({"city":"Zürich"})") + "\n" +
                           call_text("add", R"({"n":3})") + CALLS_E;
  auto whole = parse({text});
  REQUIRE(whole.calls.size() == 2);
  CHECK(whole.content == "Sure");
  for (size_t a = 0; a <= text.size(); a += 3) {
    for (size_t b = a; b <= text.size(); b += 5) {
      auto r = parse({text.substr(0, a), text.substr(a, b - a), text.substr(b)});
      CAPTURE(a);
      CAPTURE(b);
      CHECK(r.content == whole.content);
      REQUIRE(r.calls.size() == 2);
      CHECK(r.calls[0].arguments == whole.calls[0].arguments);
      CHECK(r.calls[1].name == "add");
      CHECK(r.order == "tcc");
    }
  }
  auto r = parse(bytes_of(text));
  CHECK(r.content == "Sure");
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].arguments == R"({"city":"Zürich"})");
  // Fed one byte at a time, each argument byte is its own fragment.
  CHECK(r.calls[1].argument_fragments == std::vector<std::string>{"{", "\"", "n", "\"", ":", "3", "}"});
}

TEST_CASE("tool parser: argument fragments follow the pieces and join to the arguments") {
  auto r = parse({CALLS_B + CALL_B + "function" + SEP + "add\n```json\n{\"a\"", ": 1", ", \"b\": 2}\n```", CALL_E,
                  CALLS_E});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].argument_fragments == std::vector<std::string>{"{\"a\"", ": 1", ", \"b\": 2}"});
  std::string joined;
  for (const auto& f : r.calls[0].argument_fragments) joined += f;
  CHECK(joined == r.calls[0].arguments);
}

TEST_CASE("tool parser: a forced prefix in the prompt (primed) and the matching suffix") {
  std::string prefix = tool_call_prefix(ChatFormat::DeepSeekV3, "add", false);
  CHECK(prefix == CALLS_B + CALL_B + "function" + SEP + "add\n```json\n");
  CHECK(tool_call_prefix(ChatFormat::DeepSeekR1, "", true) == "</think>\n\n" + CALLS_B + CALL_B + "function" + SEP);
  CHECK(tool_call_suffix(ChatFormat::DeepSeekV3) == "\n```" + CALL_E + CALLS_E);
  auto r = parse({"{\"x\":", " 2}", tool_call_suffix(ChatFormat::DeepSeekV3)}, {"add"}, prefix);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "add");
  CHECK(r.calls[0].arguments == "{\"x\": 2}");
  CHECK(r.calls[0].argument_fragments == std::vector<std::string>{"{\"x\":", " 2}"});
  CHECK(r.content.empty());
  // Name chosen by the model after a forced opener.
  r = parse({"get_weather\n```json\n{}\n```", CALL_E}, {"get_weather", "add"},
            tool_call_prefix(ChatFormat::DeepSeekV3, "", false));
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "get_weather");
}

TEST_CASE("tool parser: malformed blocks come back verbatim as content") {
  const std::vector<std::string> bad = {
      CALLS_B + call_text("delete_everything", "{}") + CALLS_E,               // unknown tool
      CALLS_B + call_text("add", "{\"x\": }") + CALLS_E,                      // arguments not JSON
      CALLS_B + call_text("add", "[1, 2]") + CALLS_E,                         // arguments not an object
      CALLS_B + CALL_B + "function add {}" + CALL_E + CALLS_E,                // no separator
      CALLS_B + CALL_B + "class" + SEP + "add\n{}" + CALL_E + CALLS_E,        // wrong type word
      CALLS_B + CALL_B + "function" + SEP + "add\n```json\n{}" + CALL_E,     // fence opened, not closed
      CALLS_B + CALL_B + "function" + SEP + "\n```json\n{}\n```" + CALL_E,   // no name
      CALLS_B + "just some words" + CALLS_E,                                  // text where a call should start
      CALLS_B + CALLS_E,                                                      // empty block
      CALLS_B + CALL_B + "function" + SEP + "add\n```json\n{\"a\": 1",       // unterminated at the end
      CALLS_B,                                                                // opener only
  };
  for (const auto& text : bad) {
    CAPTURE(text);
    auto r = parse({text});
    CHECK(r.calls.empty());
    CHECK(r.content == text);
    r = parse(bytes_of(text));
    CHECK(r.calls.empty());
    CHECK(r.content == text);
  }
  // A good call after a malformed one is still found; the bad part stays text.
  const std::string bad_then_good = CALLS_B + call_text("nope", "{}") + "\n" + call_text("add", "{}") + CALLS_E;
  auto r = parse({bad_then_good});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "add");
  CHECK(r.content == CALLS_B + call_text("nope", "{}") + "\n");
  // After a good call, an unterminated second call comes back as text; the first stays a call.
  const std::string good_then_cut = CALLS_B + call_text("add", "{}") + "\n" + CALL_B + "function" + SEP + "ad";
  r = parse(bytes_of(good_then_cut));
  REQUIRE(r.calls.size() == 1);
  CHECK(r.content == "\n" + CALL_B + "function" + SEP + "ad");
  // Whitespace after the last call of a block without a closer is dropped.
  r = parse({CALLS_B + call_text("add", "{}") + "\n"});
  CHECK(r.calls.size() == 1);
  CHECK(r.content.empty());
}

// ---- DSML (DeepSeek-V4; V3.2's function_calls block) ----

namespace {

const std::string DSML = "\xEF\xBD\x9C" "DSML" "\xEF\xBD\x9C";
const std::string TC_OPEN = "<" + DSML + "tool_calls>";
const std::string TC_CLOSE = "</" + DSML + "tool_calls>";
const std::string FC_OPEN = "<" + DSML + "function_calls>";
const std::string FC_CLOSE = "</" + DSML + "function_calls>";
const std::string INVOKE_CLOSE = "</" + DSML + "invoke>";
std::string invoke(const std::string& name) { return "<" + DSML + "invoke name=\"" + name + "\">"; }
std::string param(const std::string& name, const char* str, const std::string& value) {
  std::string attr = str ? std::string(" string=\"") + str + "\"" : std::string();
  return "<" + DSML + "parameter name=\"" + name + "\"" + attr + ">" + value + "</" + DSML + "parameter>";
}
std::string dsml_call(const std::string& name, const std::vector<std::string>& params) {
  std::string s = invoke(name) + "\n";
  for (size_t i = 0; i < params.size(); ++i) s += (i ? "\n" : "") + params[i];
  return s + "\n" + INVOKE_CLOSE;
}

Result parse_v4(const std::vector<std::string>& pieces, std::vector<std::string> names = {"get_weather", "add"},
                std::string_view primed = {}) {
  return parse(pieces, std::move(names), primed, ChatFormat::DeepSeekV4);
}

nlohmann::json J(const std::string& s) { return nlohmann::json::parse(s); }

}  // namespace

TEST_CASE("DSML: rendered calls (string and JSON parameters, arguments that are not an object)") {
  std::vector<ToolCall> calls{{"c1", "get_weather", R"({"city":"Zürich","days":3,"opts":{"a":[1,true]},"unit":null})"},
                              {"c2", "add", "not json"}};
  CHECK(render_tool_calls(ChatFormat::DeepSeekV4, calls) ==
        TC_OPEN + "\n" +
            dsml_call("get_weather", {param("city", "true", "Zürich"), param("days", "false", "3"),
                                      param("opts", "false", R"({"a": [1, true]})"), param("unit", "false", "null")}) +
            "\n" + dsml_call("add", {param("arguments", "true", "not json")}) + "\n" + TC_CLOSE);
  // Empty arguments: an invoke with no parameters.
  CHECK(render_tool_calls(ChatFormat::DeepSeekV4, {{"c", "f", "{}"}}) ==
        TC_OPEN + "\n" + invoke("f") + "\n\n" + INVOKE_CLOSE + "\n" + TC_CLOSE);
}

TEST_CASE("DSML: render -> parse round trip gives the arguments back") {
  const std::vector<std::string> args = {
      R"({"city":"Paris"})", R"({})", R"({"n":-2.5,"ok":false,"list":[1,"two",{"x":null}],"s":"line1\nline2 \"q\""})",
      R"({"text":"  spaces kept  ","empty":""})", R"({"html":"<b>bold</b> & <i>it</i>"})"};
  for (const auto& a : args) {
    CAPTURE(a);
    const std::string text = "\n\n" + render_tool_calls(ChatFormat::DeepSeekV4, {{"id", "add", a}});
    auto r = parse_v4({text});
    REQUIRE(r.calls.size() == 1);
    CHECK(r.calls[0].name == "add");
    CHECK(J(r.calls[0].arguments) == J(a));
    CHECK(r.content.empty());  // the "\n\n" before the block is markup
    CHECK(r.calls[0].argument_fragments == std::vector<std::string>{r.calls[0].arguments});
  }
  // Parameter order is kept.
  auto r = parse_v4({TC_OPEN + "\n" + dsml_call("add", {param("b", "false", "1"), param("a", "false", "2")}) + "\n" +
                     TC_CLOSE});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].arguments == R"({"b":1,"a":2})");
}

TEST_CASE("DSML parser: text around, two calls, V3.2's function_calls block, lenient whitespace") {
  const std::string two = TC_OPEN + "\n" + dsml_call("get_weather", {param("city", "true", "Paris")}) + "\n" +
                          dsml_call("add", {param("a", "false", "1"), param("b", "false", "2")}) + "\n" + TC_CLOSE;
  auto r = parse_v4({"Let me check.\n\n" + two});
  CHECK(r.content == "Let me check.");
  CHECK(r.order == "tcc");
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].arguments == R"({"city":"Paris"})");
  CHECK(r.calls[1].arguments == R"({"a":1,"b":2})");
  // Plain text, whitespace included, comes back unchanged.
  r = parse_v4({"Hello ", "world \n", " "});
  CHECK(r.content == "Hello world \n ");
  CHECK(r.calls.empty());
  // V3.2's block name.
  r = parse_v4({FC_OPEN + "\n" + dsml_call("add", {param("a", "false", "1")}) + "\n" + FC_CLOSE + " done"});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.content == " done");
  CHECK(r.order == "ct");
  // Extra whitespace between tags and inside the opener, a value without string="..." (JSON if it parses).
  r = parse_v4({TC_OPEN + "\n\n  <" + DSML + "invoke  name = \"add\" >\n  " + param("a", nullptr, "7") + "\n  " +
                param("s", nullptr, "seven") + "\n  " + INVOKE_CLOSE + "\n\n" + TC_CLOSE});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].arguments == R"({"a":7,"s":"seven"})");
  CHECK(r.content.empty());
}

TEST_CASE("DSML parser: every split point and one byte at a time give the same result") {
  const std::string text = "Sure.\n\n" + TC_OPEN + "\n" + dsml_call("get_weather", {param("city", "true", "Zürich")}) +
                           "\n" + dsml_call("add", {param("n", "false", "[1, 2]")}) + "\n" + TC_CLOSE + "\nBye";
  auto whole = parse_v4({text});
  REQUIRE(whole.calls.size() == 2);
  CHECK(whole.content == "Sure.\nBye");
  CHECK(whole.order == "tcct");
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); b += 7) {
      auto r = parse_v4({text.substr(0, a), text.substr(a, b - a), text.substr(b)});
      CAPTURE(a);
      CAPTURE(b);
      CHECK(r.content == whole.content);
      REQUIRE(r.calls.size() == 2);
      CHECK(r.calls[0].arguments == R"({"city":"Zürich"})");
      CHECK(r.calls[1].arguments == R"({"n":[1,2]})");
      CHECK(r.order == "tcct");
    }
  }
  auto r = parse_v4(bytes_of(text));
  CHECK(r.content == whole.content);
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[1].name == "add");
}

TEST_CASE("DSML parser: a forced prefix in the prompt (primed) and the matching suffix") {
  const std::string prefix = tool_call_prefix(ChatFormat::DeepSeekV4, "add", true);
  CHECK(prefix == "</think>\n\n" + TC_OPEN + "\n" + invoke("add") + "\n");
  CHECK(tool_call_prefix(ChatFormat::DeepSeekV4, "", false) == "\n\n" + TC_OPEN + "\n<" + DSML + "invoke name=\"");
  CHECK(tool_call_suffix(ChatFormat::DeepSeekV4) == "\n" + INVOKE_CLOSE + "\n" + TC_CLOSE);
  auto r = parse_v4({param("a", "false", "1"), tool_call_suffix(ChatFormat::DeepSeekV4)}, {"add"}, prefix);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].arguments == R"({"a":1})");
  CHECK(r.content.empty());
  // The model writes the name after the bare opener.
  r = parse_v4({"get_weather\">\n", param("city", "true", "Oslo"), "\n" + INVOKE_CLOSE + "\n" + TC_CLOSE}, {},
               tool_call_prefix(ChatFormat::DeepSeekV4, "", false));
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "get_weather");
  // The forced-call grammar: parameters with JSON values (string="false"), schema order, optional ones optional.
  const auto schema = nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["days"]})");
  const std::vector<ToolSchema> specs{{"get_weather", schema}, {"add", nlohmann::ordered_json()}};
  auto accepts = [](const JsonGrammar& g, const std::string& text) {
    GrammarState st = g.initial();
    return g.feed(st, text) && g.accepting(st);
  };
  const JsonGrammar named = tool_call_grammar(ChatFormat::DeepSeekV4, specs, "get_weather");
  const std::string tail = INVOKE_CLOSE + "\n" + TC_CLOSE;
  const std::string city = param("city", "false", "\"Oslo\"") + "\n", days = param("days", "false", "3") + "\n";
  CHECK(accepts(named, city + days + tail));
  CHECK(accepts(named, days + tail));                        // optional city left out
  CHECK_FALSE(accepts(named, city + tail));                  // required days missing
  CHECK_FALSE(accepts(named, days + city + tail));           // schema order
  CHECK_FALSE(accepts(named, param("days", "false", "\"3\"") + "\n" + tail));  // not an integer
  r = parse_v4({city + days + tail}, {"get_weather"}, tool_call_prefix(ChatFormat::DeepSeekV4, "get_weather", false));
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].arguments == R"({"city":"Oslo","days":3})");
  const JsonGrammar any = tool_call_grammar(ChatFormat::DeepSeekV4, specs, "");
  CHECK(accepts(any, "add\">\n" + tail));                   // no declared properties: no parameters
  CHECK(accepts(any, "get_weather\">\n" + days + tail));
  CHECK_FALSE(accepts(any, "nope\">\n" + tail));
}

TEST_CASE("DSML parser: malformed markup comes back verbatim as content") {
  const std::string good = dsml_call("add", {param("a", "false", "1")});
  const std::vector<std::string> bad = {
      TC_OPEN + "\n" + dsml_call("delete_everything", {}) + "\n" + TC_CLOSE,                      // unknown tool
      TC_OPEN + "\n" + dsml_call("add", {param("a", "false", "{oops")}) + "\n" + TC_CLOSE,         // not JSON
      TC_OPEN + "\n" + dsml_call("add", {param("a", "maybe", "1")}) + "\n" + TC_CLOSE,             // bad attribute
      TC_OPEN + "\n" + dsml_call("add", {param("a", "true", "1"), param("a", "true", "2")}) + "\n" + TC_CLOSE,  // dup
      TC_OPEN + "\n<" + DSML + "invoke>\n" + INVOKE_CLOSE + "\n" + TC_CLOSE,                        // no name
      TC_OPEN + "\n" + invoke("add") + "\nstray words\n" + INVOKE_CLOSE + "\n" + TC_CLOSE,          // text in a call
      TC_OPEN + "\n" + invoke("add") + "\n<" + DSML + "parameter name=\"a\" string=\"true\">1" + INVOKE_CLOSE +
          "\n" + TC_CLOSE,                                                                        // unterminated param
      TC_OPEN + "\njust some words\n" + TC_CLOSE,                                                  // text in the block
      TC_OPEN + "\n" + TC_CLOSE,                                                                   // empty block
      TC_OPEN + "\n" + invoke("add") + "\n" + param("a", "false", "1"),                           // cut at the end
      TC_OPEN,                                                                                     // opener only
      "\n\n" + TC_OPEN + "\n" + good + "\n" + FC_CLOSE,  // wrong closer: the call stands, the closer is text
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string& text = bad[i];
    CAPTURE(text);
    auto r = parse_v4({text});
    auto b = parse_v4(bytes_of(text));
    CHECK(b.content == r.content);
    CHECK(b.calls.size() == r.calls.size());
    if (i + 1 == bad.size()) {
      REQUIRE(r.calls.size() == 1);
      CHECK(r.content == "\n" + FC_CLOSE);
      continue;
    }
    CHECK(r.calls.empty());
    CHECK(r.content == text);
  }
  // A good call after a malformed one is still found; the bad part stays text.
  const std::string bad_then_good =
      TC_OPEN + "\n" + dsml_call("nope", {}) + "\n" + TC_OPEN + "\n" + good + "\n" + TC_CLOSE;
  auto r = parse_v4({bad_then_good});
  REQUIRE(r.calls.size() == 1);
  CHECK(r.content == TC_OPEN + "\n" + dsml_call("nope", {}));
  // After a good call, an unterminated second call comes back as text; the first stays a call.
  r = parse_v4(bytes_of(TC_OPEN + "\n" + good + "\n" + invoke("add") + "\n" + param("a", "false", "2")));
  REQUIRE(r.calls.size() == 1);
  CHECK(r.content == "\n" + invoke("add") + "\n" + param("a", "false", "2"));
  // Every prefix of a good block: never a throw; no call -> the prefix comes back whole.
  const std::string full = "Hi\n\n" + TC_OPEN + "\n" + good + "\n" + TC_CLOSE;
  for (size_t n = 0; n <= full.size(); ++n) {
    CAPTURE(n);
    const std::string cut = full.substr(0, n);
    auto p = parse_v4({cut});
    if (p.calls.empty()) {
      CHECK(p.content == cut);
      continue;
    }
    // After the call: a whitespace-only rest is dropped, a cut closer comes back as text.
    const std::string tail = cut.substr(cut.rfind(INVOKE_CLOSE) + INVOKE_CLOSE.size());
    const bool blank = tail.find_first_not_of(" \n") == std::string::npos;
    if (n == full.size()) CHECK(p.content == "Hi");
    else CHECK(p.content == "Hi" + (blank ? std::string() : tail));
  }
}
