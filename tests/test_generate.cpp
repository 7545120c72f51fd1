// generate() on the shared tiny model: streaming equals the result text and the decoded tokens; prefix reuse;
// stop strings; max tokens; cancellation; context shift and the context-full policy; prompt errors.
// Greedy decoding with a fixed thread count is deterministic, so runs can be compared exactly.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/session/generate.h"
#include "runtime/session/session.h"
#include "tests/test_support.h"

using namespace latte;

namespace {

std::shared_ptr<const Model> tiny() {
  static std::shared_ptr<const Model> m = [] {
    ModelParams mp;
    mp.path = test::model_path("tiny-dsv3/tiny-dsv3-q8_0.gguf");
    return Model::load(mp);
  }();
  return m;
}

SessionParams sp(int n_ctx) {
  SessionParams p;
  p.n_ctx = n_ctx;
  p.n_threads = 2;
  return p;
}

GenerateParams greedy(int n) {
  GenerateParams g;
  g.max_tokens = n;
  g.sampler.temp = 0.0f;
  return g;
}

std::vector<int32_t> prompt_of(const std::string& text) { return tiny()->tokenizer().encode(text, true, false); }

}  // namespace

TEST_CASE("generate: streamed pieces concatenate to the text, which decodes the tokens") {
  Session s(tiny(), sp(256));
  std::string streamed;
  int calls = 0;
  auto r = generate(s, prompt_of("The history of"), greedy(20), [&](const std::string& p) {
    streamed += p;
    ++calls;
    return true;
  });
  CHECK(r.reason == StopReason::MaxTokens);
  CHECK(r.tokens.size() == 20);
  CHECK(streamed == r.text);
  CHECK(r.text == tiny()->tokenizer().decode(r.tokens));
  CHECK(calls > 0);
  CHECK(r.n_prompt == int(prompt_of("The history of").size()));
  CHECK(r.n_prompt_evaluated == r.n_prompt);
  CHECK(r.prompt_seconds > 0);
  CHECK(r.gen_seconds > 0);
  // 20 tokens: the last one is sampled but not evaluated
  CHECK(s.n_past() == r.n_prompt + 19);
}

TEST_CASE("generate: prefix reuse evaluates only the new part and gives the same tokens") {
  auto p = prompt_of("The history of");
  Session a(tiny(), sp(256));
  auto r1 = generate(a, p, greedy(8));
  // Same prompt again: only the last prompt token is re-evaluated.
  auto r2 = generate(a, p, greedy(8));
  CHECK(r2.n_prompt_evaluated == 1);
  CHECK(r2.tokens == r1.tokens);
  // Continue: prompt + generated. The cache holds prompt + 7 of them; the 8th is new.
  auto p2 = p;
  p2.insert(p2.end(), r1.tokens.begin(), r1.tokens.end());
  auto r3 = generate(a, p2, greedy(4));
  CHECK(r3.n_prompt_evaluated == 1);
  Session fresh(tiny(), sp(256));
  auto r4 = generate(fresh, p2, greedy(4));
  CHECK(r4.n_prompt_evaluated == int(p2.size()));
  CHECK(r4.tokens == r3.tokens);
}

TEST_CASE("generate: stop string cuts the text and is not streamed") {
  Session s(tiny(), sp(256));
  auto p = prompt_of("The history of");
  auto full = generate(s, p, greedy(24));
  REQUIRE(full.text.size() > 8);
  // A stop string taken from the middle of the greedy text (first occurrence at k).
  size_t k = full.text.size() / 2;
  std::string stop = full.text.substr(k, 3);
  k = full.text.find(stop);
  auto g = greedy(24);
  g.stop = {stop};
  std::string streamed;
  auto r = generate(s, p, g, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  CHECK(r.reason == StopReason::StopString);
  CHECK(r.text == full.text.substr(0, k));
  CHECK(streamed == r.text);
}

TEST_CASE("generate: cancellation from the callback") {
  Session s(tiny(), sp(256));
  int calls = 0;
  auto r = generate(s, prompt_of("Once upon a time"), greedy(50), [&](const std::string&) { return ++calls < 3; });
  CHECK(r.reason == StopReason::Cancelled);
  CHECK(calls == 3);
  CHECK(r.tokens.size() < 50);
}

TEST_CASE("generate: cancellation through GenerateParams::cancel, during the prompt and while decoding") {
  auto p = prompt_of("Once upon a time");
  {
    Session s(tiny(), sp(256));
    auto g = greedy(50);
    g.cancel = [] { return true; };  // before the first prompt micro-batch
    auto r = generate(s, p, g);
    CHECK(r.reason == StopReason::Cancelled);
    CHECK(r.tokens.empty());
    CHECK(s.n_past() == 0);
  }
  {
    Session s(tiny(), sp(256));
    auto g = greedy(50);
    int polls = 0;
    g.cancel = [&] { return ++polls > 6; };  // 1 poll for the prompt's only micro-batch, then one per token
    auto r = generate(s, p, g);
    CHECK(r.reason == StopReason::Cancelled);
    CHECK(r.tokens.size() == 5);
  }
}

TEST_CASE("generate: context shift keeps going; without it, ContextFull") {
  auto p = prompt_of("The history of");
  const int n_ctx = 24;
  {
    Session s(tiny(), sp(n_ctx));
    auto g = greedy(60);
    g.n_keep = 1;
    auto r = generate(s, p, g);
    CHECK(r.reason == StopReason::MaxTokens);
    CHECK(r.tokens.size() == 60);
    CHECK(s.stats().context_shifts > 0);
    CHECK(s.n_past() <= n_ctx);
    CHECK(s.tokens().front() == p.front());  // BOS kept
  }
  {
    Session s(tiny(), sp(n_ctx));
    auto g = greedy(60);
    g.context_shift = false;
    auto r = generate(s, p, g);
    CHECK(r.reason == StopReason::ContextFull);
    CHECK(s.n_past() == n_ctx);
    CHECK(int(r.tokens.size()) == n_ctx - int(p.size()) + 1);  // the last sampled token found no room
  }
}

TEST_CASE("generate: sampling with a seed is reproducible") {
  auto p = prompt_of("Once upon a time");
  GenerateParams g;
  g.max_tokens = 16;
  g.sampler.temp = 1.0f;
  g.sampler.seed = 99;
  Session a(tiny(), sp(128)), b(tiny(), sp(128));
  CHECK(generate(a, p, g).tokens == generate(b, p, g).tokens);
}

TEST_CASE("generate: bad prompts") {
  Session s(tiny(), sp(16));
  CHECK_THROWS_AS(generate(s, {}, greedy(4)), ArgumentError);
  std::vector<int32_t> long_prompt(17, 5);
  CHECK_THROWS_AS(generate(s, long_prompt, greedy(4)), ResourceError);
  std::vector<int32_t> bad = {0, 1 << 30};
  CHECK_THROWS_AS(generate(s, bad, greedy(4)), ArgumentError);
  auto r = generate(s, prompt_of("Hi"), greedy(0));
  CHECK(r.tokens.empty());
  CHECK(r.reason == StopReason::MaxTokens);
}
