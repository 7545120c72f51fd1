// Structured output: JSON Schema compile (supported subset accepted, everything else refused naming the keyword),
// the byte-level recogniser on hand-written prefixes and documents, min_remaining() against a breadth-first search
// for the shortest completion, the token mask against a brute-force check of every token (tiny 4k vocabulary and
// the real 129k DeepSeek-V3 vocabulary, normal and closing mode), and constrained generation on the tiny V3 and V2
// models: every output parses and validates against its schema (with a small validator for the subset below), also
// when the token budget forces the document closed, and a forced tool call parses back into one valid call.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/error.h"
#include "formats/gguf.h"
#include "runtime/session/constraint.h"
#include "runtime/session/generate.h"
#include "runtime/session/session.h"
#include "runtime/text/chat_format.h"
#include "runtime/text/json_schema.h"
#include "runtime/text/tokenizer.h"
#include "runtime/text/tool_calls.h"
#include "tests/test_support.h"

using namespace latte;
using ojson = nlohmann::ordered_json;

namespace {

// ---- a validator for the supported subset (independent of the grammar code) ----
bool validate(const ojson& v, const ojson& s) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("anyOf")) {
    for (const auto& a : s["anyOf"])
      if (validate(v, a)) return true;
    return false;
  }
  if (s.contains("const") && v != s["const"]) return false;
  if (s.contains("enum")) {
    bool found = false;
    for (const auto& e : s["enum"]) found = found || e == v;
    if (!found) return false;
  }
  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_string()) types.push_back(s["type"]);
    else for (const auto& t : s["type"]) types.push_back(t);
    bool ok = false;
    for (const auto& t : types) {
      if (t == "object") ok = ok || v.is_object();
      if (t == "array") ok = ok || v.is_array();
      if (t == "string") ok = ok || v.is_string();
      if (t == "number") ok = ok || v.is_number();
      if (t == "integer") ok = ok || v.is_number_integer();
      if (t == "boolean") ok = ok || v.is_boolean();
      if (t == "null") ok = ok || v.is_null();
    }
    if (!ok) return false;
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const auto& r : s["required"])
        if (!v.contains(r.get<std::string>())) return false;
    for (const auto& [k, x] : v.items()) {
      if (s.contains("properties") && s["properties"].contains(k)) {
        if (!validate(x, s["properties"][k])) return false;
      } else if (s.contains("additionalProperties")) {
        if (!validate(x, s["additionalProperties"])) return false;
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    if (s.contains("items"))
      for (const auto& x : v)
        if (!validate(x, s["items"])) return false;
  }
  if (v.is_string()) {
    // code points
    size_t n = 0;
    for (unsigned char c : v.get<std::string>()) n += (c & 0xC0) != 0x80;
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return false;
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return false;
  }
  return true;
}

const char* kWeather = R"({
  "type": "object",
  "properties": {
    "city": {"type": "string", "description": "city name"},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer"},
    "detail": {"type": ["boolean", "null"]}
  },
  "required": ["city", "days"],
  "additionalProperties": false
})";

const char* kNested = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "minItems": 1, "maxItems": 3},
    "pos": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x", "y"]},
    "kind": {"anyOf": [{"const": "point"}, {"type": "integer"}, {"type": "null"}]},
    "meta": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "extra": {}
  },
  "required": ["name", "pos", "kind"]
})";

const JsonGrammar& grammar_of(const char* schema) {
  static std::map<const char*, JsonGrammar> cache;
  auto it = cache.find(schema);
  if (it == cache.end()) it = cache.emplace(schema, compile_json_schema_text(schema)).first;
  return it->second;
}

bool prefix_ok(const JsonGrammar& g, const std::string& text) {
  GrammarState s = g.initial();
  return g.feed(s, text);
}
bool complete(const JsonGrammar& g, const std::string& text) {
  GrammarState s = g.initial();
  return g.feed(s, text) && g.accepting(s);
}

// Shortest completion by breadth-first search over all 256 bytes (states deduplicated), up to `limit` bytes.
uint32_t bfs_shortest(const JsonGrammar& g, const GrammarState& start, uint32_t limit) {
  auto key = [](const GrammarState& s) {
    std::string k;
    for (const auto& f : s.frames) k.append(reinterpret_cast<const char*>(&f), sizeof f);
    for (auto e : s.ends) k.append(reinterpret_cast<const char*>(&e), sizeof e);
    return k;
  };
  std::vector<GrammarState> layer{start};
  std::set<std::string> seen{key(start)};
  for (uint32_t d = 0; d <= limit; ++d) {
    for (const auto& s : layer)
      if (g.accepting(s)) return d;
    std::vector<GrammarState> next;
    for (const auto& s : layer)
      for (int c = 0; c < 256; ++c) {
        GrammarState n;
        g.step(s, uint8_t(c), n);
        if (!n.dead() && seen.insert(key(n)).second) next.push_back(std::move(n));
      }
    layer = std::move(next);
    if (layer.size() > 20000) break;
  }
  return UINT32_MAX;
}

std::unique_ptr<Tokenizer> load_tok(const std::string& rel) {
  auto f = gguf::File::open(test::model_path(rel));
  return Tokenizer::from_gguf(*f);
}

// Brute force: a token is allowed when its bytes feed (control tokens: literal markup only), EOG when complete;
// with a budget of L tokens also only when the shortest completion after it fits in L - 2 bytes.
std::vector<bool> brute_mask(const JsonGrammar& g, const Tokenizer& tok, const GrammarState& s, int64_t budget) {
  std::vector<bool> m(size_t(tok.n_vocab()), false);
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_eog(id)) {
      m[size_t(id)] = g.accepting(s);
      continue;
    }
    TokenType ty = tok.type(id);
    if (ty == TokenType::Unknown || ty == TokenType::Unused) continue;
    std::string b = tok.token_bytes(id, true);
    if (b.empty()) continue;
    GrammarState a = s, n;
    bool ok = true;
    for (char c : b) {
      g.step(a, uint8_t(c), n, ty == TokenType::Control);
      if (n.dead()) {
        ok = false;
        break;
      }
      std::swap(a, n);
    }
    if (ok && budget != INT64_MAX) ok = int64_t(g.min_remaining(a)) <= budget - 2;
    m[size_t(id)] = ok;
  }
  return m;
}

// Walks random allowed tokens and compares the mask with brute force at every step. From step close_at on, the
// budget is set so that the document must be complete within `slack` more tokens than its shortest completion,
// then counts down; the walk must then end complete.
void check_masks(const Tokenizer& tok, std::shared_ptr<const JsonGrammar> g, uint64_t seed, int steps, int close_at,
                 int slack = 2) {
  auto v = std::make_shared<VocabIndex>(tok, true);
  TokenConstraint c(g, v);
  std::mt19937_64 rng(seed);
  GrammarState shadow = g->initial();
  int64_t budget = INT64_MAX;
  for (int step = 0; step < steps; ++step) {
    if (step == close_at) budget = int64_t(g->min_remaining(shadow)) + 1 + slack;
    c.set_budget(budget);
    const auto& bits = c.mask();
    auto brute = brute_mask(*g, tok, shadow, budget);
    std::vector<int32_t> allowed;
    int mismatches = 0;
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
      bool b = (bits[size_t(id) >> 6] >> (id & 63)) & 1;
      if (b != brute[size_t(id)] && mismatches++ < 3)
        FAIL_CHECK("step " << step << " token " << id << " '" << tok.token_bytes(id, true) << "' mask " << b
                           << " brute " << brute[size_t(id)]);
      if (b && !tok.is_eog(id)) allowed.push_back(id);
    }
    if (mismatches) return;
    if (allowed.empty()) {
      CHECK(g->accepting(shadow));
      return;
    }
    if (budget != INT64_MAX) {
      REQUIRE(budget > 1);  // room for this token and an EOG
      --budget;
    }
    int32_t pick = allowed[rng() % allowed.size()];
    REQUIRE(c.accept(pick));
    GrammarState a = shadow, n;
    for (char ch : tok.token_bytes(pick, true)) {
      g->step(a, uint8_t(ch), n, tok.type(pick) == TokenType::Control);
      std::swap(a, n);
    }
    shadow = a;
  }
}

std::shared_ptr<const Model> load_model(const std::string& rel) {
  ModelParams mp;
  mp.path = test::model_path(rel);
  return Model::load(mp);
}

}  // namespace

TEST_CASE("schema compile: the supported subset compiles, other keywords are refused by name") {
  for (const char* s : {kWeather, kNested, R"({})", R"(true)", R"({"type":"array"})", R"({"enum":[1,"a",null,{"b":[true]}]})",
                        R"({"type":"object","additionalProperties":false})", R"({"title":"t","type":"number"})",
                        R"({"type":["string","integer"]})", R"({"anyOf":[{"type":"string"},{"type":"object"}]})"})
    CHECK_NOTHROW(compile_json_schema_text(s));
  struct Bad {
    const char* schema;
    const char* needle;
  };
  for (const Bad& b : {Bad{R"({"type":"string","pattern":"^a"})", "'pattern' at /"},
                       Bad{R"({"type":"object","properties":{"d":{"type":"string","format":"date"}}})",
                           "'format' at /properties/d"},
                       Bad{R"({"type":"number","minimum":0})", "'minimum'"},
                       Bad{R"({"$ref":"#/$defs/x"})", "'$ref'"},
                       Bad{R"({"oneOf":[{"type":"string"}]})", "'oneOf'"},
                       Bad{R"({"allOf":[{"type":"string"}]})", "'allOf'"},
                       Bad{R"({"type":"array","items":[{"type":"string"}]})", "tuple"},
                       Bad{R"({"type":"date"})", "unknown type 'date'"},
                       Bad{R"({"type":"object","properties":{"a":{}},"required":["b"]})", "'b' is not in"},
                       Bad{R"({"anyOf":[{"type":"string"}],"type":"string"})", "beside 'type'"}}) {
    try {
      compile_json_schema_text(b.schema);
      FAIL_CHECK("accepted " << b.schema);
    } catch (const UnsupportedError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(b.needle) != std::string::npos, e.what());
    }
  }
  CHECK_THROWS_AS(compile_json_schema_text("{not json"), ArgumentError);
  CHECK_THROWS_AS(compile_json_schema_text(R"({"type":"string","minLength":5,"maxLength":2})"), ArgumentError);
  CHECK_THROWS_AS(compile_json_schema_text(R"({"enum":[]})"), ArgumentError);
  CHECK_THROWS_AS(compile_json_schema_text(R"({"type":"string","enum":[1,2]})"), ArgumentError);
}

TEST_CASE("recogniser: prefixes and complete documents") {
  const JsonGrammar& w = grammar_of(kWeather);
  for (const char* t : {"", "{", "{\"city\"", "{\"city\": \"Par", "{\"city\":\"Paris\",\"unit\":\"cel",
                        "{\"city\":\"\\u00e9\\n\",\"days\":1", "{\"city\":\"x\",\"days\":-0", "{\"city\":\"\xC3"})
    CHECK_MESSAGE(prefix_ok(w, t), t);
  for (const char* t : {"{\"city\":\"Paris\",\"days\":3}", "{\"city\":\"\",\"unit\":\"celsius\",\"days\":0}",
                        "{ \"city\" : \"a\" , \"days\" : 12 , \"detail\" : null }",
                        "{\"city\":\"\xE6\x97\xA5\",\"days\":7,\"detail\":true}"})
    CHECK_MESSAGE(complete(w, t), t);
  for (const char* t : {" {", "{}", "{\"days\":1,\"city\":\"a\"}", "{\"city\":\"a\"}", "{\"city\":1",
                        "{\"city\":\"a\",\"days\":1.5}", "{\"city\":\"a\",\"days\":01", "{\"city\":\"a\",\"unit\":\"kelvin\"",
                        "{\"city\":\"a\",\"days\":1,\"x\":1}", "{\"city\":\"a\nb\"", "{\"city\":\"\\x\"",
                        "{\"city\":\"\xC0\x80\"", "{\"city\":\"\xED\xA0\x80\"", "{\"city\":\"\xF4\x90\"",
                        "{\"city\":\"a\",\"days\":1}}", "{\"city\":\"a\",\"days\":1,}",
                        "{\"city\":\"a\",          \"days\":1}"})
    CHECK_MESSAGE(!complete(w, t), t);
  CHECK(!complete(w, "{\"city\":\"a\""));
  CHECK(!prefix_ok(w, "{\"city\":\"a\",          \"days\":1}"));  // 10 spaces > max_ws 8
  const JsonGrammar& n = grammar_of(kNested);
  CHECK(complete(n, R"({"name":"ab","pos":{"x":1.5e3,"y":-2},"kind":"point"})"));
  CHECK(complete(n, R"({"name":"ab","tags":["a","b"],"pos":{"x":0,"y":0},"kind":7,"meta":{"q":true},"extra":[{}]})"));
  CHECK(complete(n, R"({"name":"ab","pos":{"x":0,"y":0},"kind":null})"));
  CHECK(!prefix_ok(n, R"({"name":"")"));                              // minLength 1
  CHECK(!prefix_ok(n, R"({"name":"abcdefghijklm")"));                // maxLength 12
  CHECK(!prefix_ok(n, R"({"name":"a","tags":[])"));                  // minItems 1
  CHECK(!prefix_ok(n, R"({"name":"a","tags":["a","b","c",)"));       // maxItems 3
  CHECK(!prefix_ok(n, R"({"name":"a","pos":{"x":1}})"));             // y required
  CHECK(!prefix_ok(n, R"({"name":"a","pos":{"x":1,"y":2},"kind":"line")"));
  CHECK(!prefix_ok(n, R"({"name":"a","pos":{"x":1,"y":2},"kind":1,"meta":{"q":1)"));
  JsonGrammar o = json_object_grammar();
  CHECK(complete(o, R"({"a":[1,{"b":null}],"c":"d","e":-1.25E+2})"));
  CHECK(complete(o, "{}"));
  CHECK(!prefix_ok(o, "[1]"));
  CHECK(!prefix_ok(o, "{\"a\":tru }"));
  CHECK(!prefix_ok(o, "{\"a\":12345678901234567}"));  // numbers are at most 16 bytes
  // ...and no prefix may end in a dead end at that limit: a 16th byte must let the number end (CI once produced
  // "-29529842990275." and then no token could follow).
  CHECK(complete(o, "{\"a\":-2952984299027.5}"));
  CHECK(complete(o, "{\"a\":-29529842990275}"));
  for (const char* t : {"{\"a\":-29529842990275.", "{\"a\":29529842990275e-", "{\"a\":295298429902751e"})
    CHECK_MESSAGE(!prefix_ok(o, t), t);
  for (const char* t : {"{\"a\":-2952984299027.", "{\"a\":2952984299027e-", "{\"a\":-", "{\"a\":1.5e+"}) {
    GrammarState s = o.initial();
    REQUIRE_MESSAGE(o.feed(s, t), t);
    CHECK_MESSAGE(bfs_shortest(o, s, 4) == o.min_remaining(s), t);  // a completion exists and is as short as said
  }
}

TEST_CASE("recogniser: every prefix of a valid document is accepted; min_remaining equals the shortest completion") {
  const char* docs[] = {
      "{\"city\":\"Paris\",\"unit\":\"fahrenheit\",\"days\":31,\"detail\":false}",
      R"({"name":"q\"r","tags":["x"],"pos":{"x":-0.5,"y":2e-3},"kind":"point","meta":{},"extra":"s"})"};
  const char* schemas[] = {kWeather, kNested};
  for (int k = 0; k < 2; ++k) {
    const JsonGrammar& g = grammar_of(schemas[k]);
    std::string doc = docs[k];
    GrammarState s = g.initial();
    uint32_t prev = g.min_remaining(s);
    for (size_t i = 0; i < doc.size(); ++i) {
      REQUIRE_MESSAGE(g.feed(s, doc.substr(i, 1)), doc.substr(0, i + 1));
      uint32_t d = g.min_remaining(s);
      CHECK(d + 1 >= prev);  // one byte shortens the completion by at most one byte
      prev = d;
      if (d <= 10) CHECK_MESSAGE(bfs_shortest(g, s, 12) == d, doc.substr(0, i + 1));
    }
    CHECK(g.accepting(s));
    CHECK(g.min_remaining(s) == 0);
  }
  // From the start: {"city":"","days":0} is the shortest weather document (20 bytes).
  CHECK(grammar_of(kWeather).min_remaining(grammar_of(kWeather).initial()) == 20);
}

TEST_CASE("token mask equals brute force on the tiny vocabulary (normal and closing mode)") {
  auto tok = load_tok("tiny-dsv3/tiny-dsv3-q8_0.gguf");
  for (const char* s : {kWeather, kNested}) {
    auto g = std::make_shared<const JsonGrammar>(compile_json_schema_text(s));
    for (uint64_t seed = 1; seed <= 6; ++seed) check_masks(*tok, g, seed, 60, seed % 2 ? 25 : -1);
  }
  auto o = std::make_shared<const JsonGrammar>(json_object_grammar());
  for (uint64_t seed = 1; seed <= 4; ++seed) check_masks(*tok, o, seed, 60, 40);
  std::vector<ToolSchema> tools = {{"get_weather", ojson::parse(kWeather)}, {"get_time", ojson()}};
  auto t = std::make_shared<const JsonGrammar>(tool_call_grammar(ChatFormat::DeepSeekV3, tools, ""));
  for (uint64_t seed = 1; seed <= 4; ++seed) check_masks(*tok, t, seed, 60, seed % 2 ? 30 : -1);
}

TEST_CASE("token mask equals brute force on the DeepSeek-V3 vocabulary") {
  auto tok = load_tok("deepseek-v3-vocab.gguf");
  auto g = std::make_shared<const JsonGrammar>(compile_json_schema_text(kNested));
  check_masks(*tok, g, 7, 12, -1);
  check_masks(*tok, g, 8, 10, 5);
  std::vector<ToolSchema> tools = {{"get_weather", ojson::parse(kWeather)}};
  auto t = std::make_shared<const JsonGrammar>(tool_call_grammar(ChatFormat::DeepSeekV3, tools, "get_weather"));
  check_masks(*tok, t, 9, 14, 8);
}

TEST_CASE("constrained generation on the tiny models always parses and validates") {
  for (const char* rel : {"tiny-dsv3/tiny-dsv3-q4_k_m.gguf", "tiny-dsv2/tiny-dsv2-q8_0.gguf"}) {
    auto model = load_model(rel);
    const Tokenizer& tok = model->tokenizer();
    auto vocab = std::make_shared<const VocabIndex>(tok, true);
    SessionParams sp;
    sp.n_ctx = 512;
    sp.n_threads = 1;
    Session session(model, sp);
    std::vector<int32_t> prompt = tok.encode("The weather in Paris is", true, false);
    int n = 0;
    for (const char* schema : {kWeather, kNested, "{\"type\":\"object\"}"}) {
      auto g = std::make_shared<const JsonGrammar>(compile_json_schema_text(schema));
      const ojson js = ojson::parse(schema);
      for (int max_tokens : {200, 40, 24}) {
        for (uint64_t seed = 1; seed <= 3; ++seed) {
          TokenConstraint c(g, vocab);
          GenerateParams gp;
          gp.max_tokens = max_tokens;
          gp.sampler.temp = 1.0f;
          gp.sampler.top_k = 0;
          gp.sampler.top_p = 1.0f;
          gp.sampler.min_p = 0.0f;
          gp.sampler.seed = seed;
          gp.render_special = true;
          gp.constraint = &c;
          GenerateResult r = generate(session, prompt, gp);
          ++n;
          if (g->min_remaining(g->initial()) + 1 > uint32_t(max_tokens)) continue;  // cannot fit at all
          ojson v;
          try {
            v = ojson::parse(r.text);
          } catch (const std::exception& e) {
            FAIL_CHECK(std::string(rel) << " max_tokens " << max_tokens << ": not JSON: " << r.text);
            continue;
          }
          CHECK_MESSAGE(validate(v, js), std::string(rel) << ": " << r.text);
          CHECK(int(r.tokens.size()) <= max_tokens);
        }
      }
    }
    CHECK(n == 27);
  }
}

TEST_CASE("a forced tool call through the constraint parses back into one valid call") {
  auto model = load_model("tiny-dsv3/tiny-dsv3-q4_k_m.gguf");
  const Tokenizer& tok = model->tokenizer();
  auto vocab = std::make_shared<const VocabIndex>(tok, true);
  SessionParams sp;
  sp.n_ctx = 1024;
  sp.n_threads = 2;
  Session session(model, sp);
  std::vector<ToolSchema> tools = {{"get_weather", ojson::parse(kWeather)}, {"lookup", ojson::parse(kNested)}};
  std::vector<ChatMessage> msgs = {{"user", "What is the weather in Paris?"}};
  std::vector<ToolSpec> specs = {{"get_weather", "", ojson::parse(kWeather).dump()}, {"lookup", "", ojson::parse(kNested).dump()}};
  // V3 markup, and V4's DSML (parameters with JSON values) rendered for the same tiny model.
  for (int k = 0; k < 4; ++k) {
    const ChatFormat fmt = k < 2 ? ChatFormat::DeepSeekV3 : ChatFormat::DeepSeekV4;
    const char* name = k % 2 ? "get_weather" : "";
    CAPTURE(k);
    // (V4's tools block, ~1000 tiny-vocabulary tokens, is left out: the tiny model is not steered by it anyway)
    std::string text = render_chat(fmt, msgs, true, tok.token_bytes(tok.bos(), true),
                                   tok.token_bytes(tok.eos(), true),
                                   fmt == ChatFormat::DeepSeekV4 ? std::vector<ToolSpec>{} : specs);
    std::string forced = tool_call_prefix(fmt, name, false);
    text += forced;
    std::vector<int32_t> prompt = tok.encode(text, false, true);
    auto g = std::make_shared<const JsonGrammar>(tool_call_grammar(fmt, tools, name));
    for (uint64_t seed = 1; seed <= (fmt == ChatFormat::DeepSeekV4 ? 2u : 4u); ++seed) {
      TokenConstraint c(g, vocab);
      GenerateParams gp;
      gp.max_tokens = fmt == ChatFormat::DeepSeekV4 ? 480 : 160;  // DSML tags are many tiny-vocabulary tokens
      gp.sampler.temp = 1.0f;
      gp.sampler.seed = seed;
      gp.render_special = true;
      gp.constraint = &c;
      GenerateResult r = generate(session, prompt, gp);
      CHECK_MESSAGE(r.reason == StopReason::Eog, r.text);
      ToolCallParser parser(fmt, {"get_weather", "lookup"}, forced);
      auto out = parser.push(r.text);
      auto tail = parser.flush();
      out.insert(out.end(), tail.begin(), tail.end());
      std::vector<ParsedToolCall> calls;
      for (const auto& s : out)
        if (s.is_call) calls.push_back(s.call);
        else CHECK_MESSAGE(s.content.find_first_not_of(" \n") == std::string::npos, "content: " << s.content);
      REQUIRE_MESSAGE(calls.size() == 1, r.text);
      const ojson& schema = calls[0].name == "get_weather" ? ojson::parse(kWeather) : ojson::parse(kNested);
      CHECK_MESSAGE(validate(ojson::parse(calls[0].arguments), schema), calls[0].arguments);
      if (*name) CHECK(calls[0].name == name);
    }
  }
}
