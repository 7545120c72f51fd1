// The C API (include/latte.h) on the shared tiny-dsv3 Q4_K_M model: loading, tokenizing, greedy generation equal
// to the C++ path (runtime/session/generate.h) and to a hand-written eval/argmax loop over the C API, streaming,
// cancellation, stop strings, session save/load, chat formatting, error statuses with thread-local messages, and
// one model shared by two sessions on two threads.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "latte.h"
#include "runtime/session/generate.h"
#include "runtime/session/session.h"
#include "tests/test_support.h"

namespace {

const std::string kModel = latte::test::model_path("tiny-dsv3/tiny-dsv3-q4_k_m.gguf");
constexpr int kThreads = 2;
constexpr int kGen = 24;

struct Model {
  latte_model* m = nullptr;
  Model() {
    latte_model_params p = latte_model_default_params();
    latte_status s = latte_model_load(kModel.c_str(), &p, &m);
    REQUIRE_MESSAGE(s == LATTE_OK, latte_last_error());
  }
  ~Model() { latte_model_free(m); }
};

struct Session {
  latte_session* s = nullptr;
  explicit Session(latte_model* m, int n_ctx = 256) {
    latte_session_params p = latte_session_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = kThreads;
    latte_status st = latte_session_create(m, &p, &s);
    REQUIRE_MESSAGE(st == LATTE_OK, latte_last_error());
  }
  ~Session() { latte_session_free(s); }
};

std::vector<int32_t> tokenize(latte_model* m, const std::string& text, bool bos = true) {
  size_t n = 0;
  latte_status s = latte_tokenize(m, text.data(), text.size(), bos, false, nullptr, 0, &n);
  REQUIRE(s == LATTE_ERR_BUFFER_TOO_SMALL);
  std::vector<int32_t> ids(n);
  s = latte_tokenize(m, text.data(), text.size(), bos, false, ids.data(), ids.size(), &n);
  REQUIRE_MESSAGE(s == LATTE_OK, latte_last_error());
  REQUIRE(n == ids.size());
  return ids;
}

struct Collected {
  std::string content, reasoning;
  int pieces = 0;
  int stop_after = -1;  // return false after this many pieces
};

bool collect(const char* text, size_t len, latte_piece_kind kind, void* ud) {
  auto* c = static_cast<Collected*>(ud);
  (kind == LATTE_PIECE_REASONING ? c->reasoning : c->content).append(text, len);
  ++c->pieces;
  return c->stop_after < 0 || c->pieces < c->stop_after;
}

// Greedy generation through the C API; returns the text and fills the generated ids from the session history.
std::string generate_greedy(latte_session* s, const std::vector<int32_t>& prompt, int n,
                            latte_generate_result* r_out = nullptr) {
  Collected c;
  latte_generate_params gp = latte_generate_default_params();
  gp.max_tokens = n;
  gp.sampler.temperature = 0.0f;
  gp.split_reasoning = false;
  gp.on_piece = collect;
  gp.user_data = &c;
  latte_generate_result r;
  latte_status st = latte_generate(s, prompt.data(), prompt.size(), &gp, &r);
  REQUIRE_MESSAGE(st == LATTE_OK, latte_last_error());
  if (r_out) *r_out = r;
  return c.content;
}

int32_t argmax(const float* v, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

}  // namespace

TEST_CASE("capi: model info, tokenize, detokenize") {
  Model m;
  CHECK(latte_model_n_vocab(m.m) == 4096);
  CHECK(latte_model_n_layer(m.m) == 4);
  CHECK(latte_model_n_embd(m.m) == 256);
  CHECK(latte_model_bos(m.m) == 0);
  CHECK(latte_model_eos(m.m) == 1);
  CHECK(latte_model_is_eog(m.m, 1));
  CHECK_FALSE(latte_model_is_eog(m.m, 358));
  CHECK_FALSE(latte_model_is_eog(m.m, 99999));
  CHECK(std::strlen(latte_model_name(m.m)) > 0);

  // refs-A summary: "The" -> [BOS, 358]
  auto ids = tokenize(m.m, "The");
  CHECK(ids == std::vector<int32_t>{0, 358});
  CHECK(tokenize(m.m, "The", false) == std::vector<int32_t>{358});

  // Too-small buffer: status + the size needed, with a message.
  int32_t one[1];
  size_t n = 0;
  CHECK(latte_tokenize(m.m, "The", 3, true, false, one, 1, &n) == LATTE_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 2);
  CHECK(std::strlen(latte_last_error()) > 0);

  const std::string text = "The quick brown fox, 1234 times.";
  auto t = tokenize(m.m, text, false);
  char buf[256];
  REQUIRE(latte_detokenize(m.m, t.data(), t.size(), false, buf, sizeof buf, &n) == LATTE_OK);
  CHECK(std::string(buf, n) == text);
  CHECK(buf[n] == '\0');
  // Capacity must include the NUL.
  CHECK(latte_detokenize(m.m, t.data(), t.size(), false, buf, text.size(), &n) == LATTE_ERR_BUFFER_TOO_SMALL);
  CHECK(n == text.size());
}

TEST_CASE("capi: greedy generation equals the C++ path and a manual eval/argmax loop") {
  Model m;
  auto prompt = tokenize(m.m, "The");

  // C API generate
  Session a(m.m);
  latte_generate_result r;
  std::string text = generate_greedy(a.s, prompt, kGen, &r);
  CHECK(r.n_prompt == int(prompt.size()));
  CHECK(r.n_generated > 0);
  CHECK(r.n_generated <= kGen);
  CHECK(!text.empty());

  // C++ path on a fresh session of the same model file
  latte::ModelParams mp;
  mp.path = kModel;
  auto model = latte::Model::load(mp);
  latte::SessionParams sp;
  sp.n_ctx = 256;
  sp.n_threads = kThreads;
  latte::Session cs(model, sp);
  latte::GenerateParams gp;
  gp.max_tokens = kGen;
  gp.sampler.temp = 0.0f;
  auto cr = latte::generate(cs, prompt, gp);
  CHECK(cr.text == text);
  CHECK(int(cr.tokens.size()) == r.n_generated);

  // Manual loop: eval the prompt, then argmax + eval one token at a time, over the C API only.
  Session b(m.m);
  REQUIRE(latte_session_logits(b.s) == nullptr);  // nothing evaluated yet
  REQUIRE(latte_session_eval(b.s, prompt.data(), prompt.size()) == LATTE_OK);
  std::vector<int32_t> out;
  const int V = latte_model_n_vocab(m.m);
  for (int i = 0; i < int(cr.tokens.size()); ++i) {
    const float* logits = latte_session_logits(b.s);
    REQUIRE(logits != nullptr);
    int32_t next = argmax(logits, V);
    out.push_back(next);
    REQUIRE(latte_session_eval(b.s, &next, 1) == LATTE_OK);
  }
  CHECK(out == cr.tokens);
  CHECK(latte_session_n_past(b.s) == int(prompt.size() + out.size()));
  size_t n_hist = 0;
  const int32_t* hist = latte_session_tokens(b.s, &n_hist);
  REQUIRE(n_hist == prompt.size() + out.size());
  CHECK(std::equal(prompt.begin(), prompt.end(), hist));

  // The sampler object at temperature 0 picks the same argmax.
  latte_sampler_params spp = latte_sampler_default_params();
  spp.temperature = 0.0f;
  latte_sampler* sampler = nullptr;
  REQUIRE(latte_sampler_create(&spp, &sampler) == LATTE_OK);
  int32_t tok = -1;
  REQUIRE(latte_sampler_sample(sampler, b.s, &tok) == LATTE_OK);
  CHECK(tok == argmax(latte_session_logits(b.s), V));
  latte_sampler_free(sampler);

  // Generating again on session a with the same prompt reuses the cache and gives the same text.
  latte_generate_result r2;
  CHECK(generate_greedy(a.s, prompt, kGen, &r2) == text);
  CHECK(r2.n_prompt_evaluated <= 1);
}

TEST_CASE("capi: two sessions on one model in two threads match one alone") {
  Model m;
  auto p1 = tokenize(m.m, "The");
  auto p2 = tokenize(m.m, "In the morning the");
  std::string ref1, ref2;
  {
    Session s(m.m);
    ref1 = generate_greedy(s.s, p1, kGen);
  }
  {
    Session s(m.m);
    ref2 = generate_greedy(s.s, p2, kGen);
  }
  REQUIRE(ref1 != ref2);
  std::string got1, got2;
  Session s1(m.m), s2(m.m);
  latte_model_free(m.m);  // the sessions keep the model alive
  m.m = nullptr;
  std::thread t1([&] {
    for (int i = 0; i < 2; ++i) got1 = generate_greedy(s1.s, p1, kGen);
  });
  std::thread t2([&] {
    for (int i = 0; i < 2; ++i) got2 = generate_greedy(s2.s, p2, kGen);
  });
  t1.join();
  t2.join();
  CHECK(got1 == ref1);
  CHECK(got2 == ref2);
}

TEST_CASE("capi: streaming, cancellation and stop strings") {
  Model m;
  Session s(m.m);
  auto prompt = tokenize(m.m, "The");
  std::string full = generate_greedy(s.s, prompt, kGen);
  REQUIRE(full.size() > 8);

  // Cancel from the callback after 3 pieces: not an error, reason CANCELLED.
  Collected c;
  c.stop_after = 3;
  latte_generate_params gp = latte_generate_default_params();
  gp.max_tokens = kGen;
  gp.sampler.temperature = 0.0f;
  gp.split_reasoning = false;
  gp.on_piece = collect;
  gp.user_data = &c;
  latte_generate_result r;
  REQUIRE(latte_generate(s.s, prompt.data(), prompt.size(), &gp, &r) == LATTE_OK);
  CHECK(r.reason == LATTE_STOP_CANCELLED);
  CHECK(c.pieces == 3);
  CHECK(r.n_generated < kGen);
  CHECK(full.rfind(c.content, 0) == 0);  // a prefix of the full answer

  // Stop string: a word from the middle of the full answer; the output ends right before it.
  size_t cut = full.find(' ', full.size() / 2);
  REQUIRE(cut != std::string::npos);
  std::string stop_word = full.substr(cut, std::min<size_t>(4, full.size() - cut));
  const char* stops[] = {stop_word.c_str()};
  Collected c2;
  gp.user_data = &c2;
  gp.stop = stops;
  gp.n_stop = 1;
  REQUIRE(latte_generate(s.s, prompt.data(), prompt.size(), &gp, &r) == LATTE_OK);
  CHECK(r.reason == LATTE_STOP_STRING);
  CHECK(c2.content == full.substr(0, full.find(stop_word)));

  // latte_session_cancel before the call does not leak into the next generation (flag cleared at start).
  latte_session_cancel(s.s);
  CHECK(generate_greedy(s.s, prompt, kGen) == full);
}

TEST_CASE("capi: session save and load") {
  Model m;
  auto prompt = tokenize(m.m, "In the morning the");
  std::string path = latte::test::scratch_dir("capi") + "/session.bin";
  std::string cont_ref;
  {
    Session s(m.m);
    REQUIRE(latte_session_eval(s.s, prompt.data(), prompt.size()) == LATTE_OK);
    REQUIRE_MESSAGE(latte_session_save(s.s, path.c_str()) == LATTE_OK, latte_last_error());
    cont_ref = generate_greedy(s.s, prompt, 8);
  }
  Session t(m.m);
  REQUIRE_MESSAGE(latte_session_load(t.s, path.c_str()) == LATTE_OK, latte_last_error());
  CHECK(latte_session_n_past(t.s) == int(prompt.size()));
  latte_generate_result r;
  CHECK(generate_greedy(t.s, prompt, 8, &r) == cont_ref);
  CHECK(r.n_prompt_evaluated <= 1);  // the loaded cache was reused
  CHECK(latte_session_truncate(t.s, 0) == LATTE_OK);
  CHECK(latte_session_n_past(t.s) == 0);
  CHECK(latte_session_truncate(t.s, 5) == LATTE_ERR_ARGUMENT);
  CHECK(latte_session_load(t.s, "/nonexistent/dir/session.bin") != LATTE_OK);
}

TEST_CASE("capi: errors are statuses with thread-local messages, never crashes") {
  latte_model* m = reinterpret_cast<latte_model*>(0x1);
  latte_status s = latte_model_load("/nonexistent/model.gguf", nullptr, &m);
  CHECK(s == LATTE_ERR_IO);
  CHECK(m == nullptr);
  std::string msg = latte_last_error();
  CHECK(msg.find("/nonexistent/model.gguf") != std::string::npos);
  CHECK(std::string(latte_status_name(s)) == "io");

  // A file that is not a GGUF.
  std::string junk = latte::test::scratch_dir("capi") + "/junk.gguf";
  {
    FILE* f = std::fopen(junk.c_str(), "wb");
    REQUIRE(f);
    std::fputs("this is not a gguf file at all, just text", f);
    std::fclose(f);
  }
  CHECK(latte_model_load(junk.c_str(), nullptr, &m) == LATTE_ERR_FORMAT);

  // Another thread's failure does not overwrite this thread's message.
  std::thread([] {
    latte_model* x = nullptr;
    latte_model_load(nullptr, nullptr, &x);
    CHECK(std::string(latte_last_error()).find("NULL") != std::string::npos);
  }).join();
  CHECK(std::string(latte_last_error()).find("junk.gguf") != std::string::npos);

  CHECK(latte_model_load(kModel.c_str(), nullptr, nullptr) == LATTE_ERR_ARGUMENT);
  CHECK(latte_session_create(nullptr, nullptr, nullptr) == LATTE_ERR_ARGUMENT);
  CHECK(latte_session_eval(nullptr, nullptr, 0) == LATTE_ERR_ARGUMENT);
  CHECK(latte_generate(nullptr, nullptr, 0, nullptr, nullptr) == LATTE_ERR_ARGUMENT);
  latte_model_free(nullptr);
  latte_session_free(nullptr);
  latte_sampler_free(nullptr);

  Model mm;
  Session ss(mm.m);
  int32_t bad = 100000;
  CHECK(latte_session_eval(ss.s, &bad, 1) == LATTE_ERR_ARGUMENT);
  CHECK(std::string(latte_last_error()).find("100000") != std::string::npos);
  latte_sampler* sampler = nullptr;
  REQUIRE(latte_sampler_create(nullptr, &sampler) == LATTE_OK);
  int32_t tok = 0;
  CHECK(latte_sampler_sample(sampler, ss.s, &tok) == LATTE_ERR_ARGUMENT);  // nothing evaluated yet
  latte_sampler_free(sampler);

  // A prompt longer than the context: a status, not a crash.
  Session small(mm.m, 16);
  std::vector<int32_t> longp(40, 358);
  latte_generate_params gp = latte_generate_default_params();
  gp.max_tokens = 4;
  CHECK(latte_generate(small.s, longp.data(), longp.size(), &gp, nullptr) == LATTE_ERR_RESOURCE);
  latte_session_params sp = latte_session_default_params();
  sp.n_ctx = -5;
  latte_session* sx = nullptr;
  CHECK(latte_session_create(mm.m, &sp, &sx) == LATTE_ERR_ARGUMENT);
  CHECK(sx == nullptr);
}

TEST_CASE("capi: reasoning is reported apart from content") {
  Model m;
  Session s(m.m);
  // A prompt that ends inside an open <think> (like the R1 generation prompt): the reply starts as reasoning, and
  // the tiny model never writes </think>, so every piece is reasoning; without splitting the same text is content.
  auto prompt = tokenize(m.m, "The river<think>\n");
  Collected split, plain;
  latte_generate_params gp = latte_generate_default_params();
  gp.max_tokens = 12;
  gp.sampler.temperature = 0.0f;
  gp.on_piece = collect;
  gp.user_data = &split;
  REQUIRE(latte_generate(s.s, prompt.data(), prompt.size(), &gp, nullptr) == LATTE_OK);
  gp.split_reasoning = false;
  gp.user_data = &plain;
  REQUIRE(latte_generate(s.s, prompt.data(), prompt.size(), &gp, nullptr) == LATTE_OK);
  CHECK(split.content.empty());
  CHECK(!split.reasoning.empty());
  CHECK(plain.reasoning.empty());
  // The splitter drops whitespace right after <think>; otherwise the texts agree.
  size_t lead = plain.content.find_first_not_of(" \t\r\n");
  REQUIRE(lead != std::string::npos);
  CHECK(split.reasoning == plain.content.substr(lead));

  // Without an open <think> in the prompt, the same model output is content.
  auto p2 = tokenize(m.m, "The river");
  Collected c;
  gp.split_reasoning = true;
  gp.user_data = &c;
  REQUIRE(latte_generate(s.s, p2.data(), p2.size(), &gp, nullptr) == LATTE_OK);
  CHECK(c.reasoning.empty());
  CHECK(!c.content.empty());
}

TEST_CASE("capi: chat formatting") {
  Model m;
  latte_chat_message msgs[] = {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};
  char buf[512];
  size_t n = 0;
  // The tiny model has no chat template: DeepSeek-V3 is the default (GGUF_DEEPSEEK.md §E.8 rendered example).
  REQUIRE_MESSAGE(latte_chat_format(m.m, msgs, 4, nullptr, true, buf, sizeof buf, &n) == LATTE_OK, latte_last_error());
  CHECK(std::string(buf, n) ==
        "<｜begin▁of▁sentence｜>S<｜User｜>U1<｜Assistant｜>A1<｜end▁of▁sentence｜><｜User｜>U2<｜Assistant｜>");
  REQUIRE(latte_chat_format(m.m, msgs, 4, "deepseek-r1", true, buf, sizeof buf, &n) == LATTE_OK);
  CHECK(n > 8);
  CHECK(std::string(buf, n).substr(n - 8) == "<think>\n");
  CHECK(latte_chat_format(m.m, msgs, 4, "chatml-nope", true, buf, sizeof buf, &n) == LATTE_ERR_UNSUPPORTED);
  CHECK(std::string(latte_last_error()).find("chatml-nope") != std::string::npos);
  latte_chat_message bad[] = {{"user", nullptr}};
  CHECK(latte_chat_format(m.m, bad, 1, nullptr, true, buf, sizeof buf, &n) == LATTE_ERR_ARGUMENT);
  // The resolved format's name.
  REQUIRE(latte_chat_format_name(m.m, nullptr) != nullptr);
  CHECK(std::string(latte_chat_format_name(m.m, nullptr)) == "deepseek-v3");
  CHECK(std::string(latte_chat_format_name(m.m, "r1")) == "deepseek-r1");
  CHECK(latte_chat_format_name(m.m, "chatml-nope") == nullptr);
  CHECK(std::string(latte_last_error()).find("chatml-nope") != std::string::npos);

  // latte_chat_tokenize == tokenizing the rendered text with specials and no extra BOS.
  REQUIRE(latte_chat_format(m.m, msgs, 4, nullptr, true, buf, sizeof buf, &n) == LATTE_OK);
  std::vector<int32_t> want(256), got(256);
  size_t nw = 0, ng = 0;
  REQUIRE(latte_tokenize(m.m, buf, n, false, true, want.data(), want.size(), &nw) == LATTE_OK);
  REQUIRE(latte_chat_tokenize(m.m, msgs, 4, nullptr, true, got.data(), got.size(), &ng) == LATTE_OK);
  want.resize(nw);
  got.resize(ng);
  CHECK(got == want);
  CHECK(got.front() == 0);  // BOS once
  CHECK(got[1] != 0);
}

TEST_CASE("capi: empty outputs need no buffer") {
  Model m;
  size_t n = 7;
  CHECK(latte_tokenize(m.m, "", 0, false, false, nullptr, 0, &n) == LATTE_OK);
  CHECK(n == 0);
  // Detokenizing nothing still writes the NUL, so it needs one byte.
  char c = 'x';
  CHECK(latte_detokenize(m.m, nullptr, 0, false, nullptr, 0, &n) == LATTE_ERR_BUFFER_TOO_SMALL);
  CHECK(latte_detokenize(m.m, nullptr, 0, false, &c, 1, &n) == LATTE_OK);
  CHECK(n == 0);
  CHECK(c == '\0');
}

TEST_CASE("capi: structured output (latte_set_json_schema / json_object / tool call schema)") {
  Model m;
  Session s(m.m, 512);
  const char* schema = R"({"type":"object","properties":{"city":{"type":"string","maxLength":20},)"
                       R"("days":{"type":"integer"}},"required":["city","days"],"additionalProperties":false})";
  // Refusals keep the previous constraint and name the keyword.
  CHECK(latte_set_json_schema(s.s, R"({"type":"string","pattern":"a+"})") == LATTE_ERR_UNSUPPORTED);
  CHECK(std::string(latte_last_error()).find("'pattern'") != std::string::npos);
  CHECK(latte_set_json_schema(s.s, "{oops") == LATTE_ERR_ARGUMENT);
  CHECK(latte_set_json_schema(nullptr, schema) == LATTE_ERR_ARGUMENT);
  REQUIRE_MESSAGE(latte_set_json_schema(s.s, schema) == LATTE_OK, latte_last_error());
  auto prompt = tokenize(m.m, "The weather report:");
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Collected c;
    latte_generate_params gp = latte_generate_default_params();
    gp.max_tokens = 48;
    gp.sampler.temperature = 1.0f;
    gp.sampler.seed = seed;
    gp.on_piece = collect;
    gp.user_data = &c;
    latte_generate_result r;
    REQUIRE_MESSAGE(latte_generate(s.s, prompt.data(), prompt.size(), &gp, &r) == LATTE_OK, latte_last_error());
    auto v = nlohmann::json::parse(c.content);  // throws (fails the test) when not JSON
    CHECK(v.size() == 2);
    CHECK(v["city"].is_string());
    CHECK(v["days"].is_number_integer());
    CHECK(r.constraint_seconds >= 0.0);
    CHECK(r.constraint_seconds <= r.gen_seconds);
  }
  REQUIRE(latte_set_json_object(s.s) == LATTE_OK);
  std::string obj = generate_greedy(s.s, prompt, 40);
  CHECK(nlohmann::json::parse(obj).is_object());
  REQUIRE(latte_set_json_schema(s.s, nullptr) == LATTE_OK);  // cleared: the same text as a never-constrained session
  Session fresh(m.m, 512);
  CHECK(generate_greedy(s.s, prompt, kGen) == generate_greedy(fresh.s, prompt, kGen));
  CHECK(latte_set_tool_call_schema(s.s, nullptr, "[]", nullptr) == LATTE_ERR_ARGUMENT);
  CHECK(latte_set_tool_call_schema(s.s, "deepseek-v2", R"([{"name":"f"}])", nullptr) == LATTE_ERR_ARGUMENT);
  CHECK(latte_set_tool_call_schema(s.s, nullptr, R"([{"type":"function","function":{"name":"f","parameters":)"
                                                 R"({"type":"object"}}}])", "g") == LATTE_ERR_ARGUMENT);
  CHECK(latte_set_tool_call_schema(s.s, nullptr, R"([{"name":"f","parameters":{"type":"object"}}])", "f") == LATTE_OK);
}
