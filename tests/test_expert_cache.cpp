// Expert cache (runtime/model/expert_cache.h, expert_policy.h; issue 18):
//  - replacement policies: LRU evicts the oldest use, decayed LFU the lowest decayed frequency (a frequent expert
//    survives one-off ones; old frequency decays away); on a skewed (Zipf) routing stream, decayed LFU's hit rate
//    beats LRU's at a quarter of the keys;
//  - a model loaded with a --mem budget that holds only a few experts (10 slots of 48, so every layer evicts and a
//    16-expert prefill is pinned in chunks) gives logits bit-identical (memcmp) to the fully resident model, for a
//    40-token prefill and then token-by-token decode, for every tiny model file (tiny-dsv3 f32/bf16/q8_0/q6_k/
//    q4_k_m/q4_0: V3 style, flavours 1 and 2; tiny-dsv2 f32/bf16/q8_0/q6_k: V2 style), with the repacked
//    (interleaved slots) and the --no-repack (plain slots) layouts, both replacement policies;
//  - two sessions on two threads sharing one cached model get the same bit-identical logits;
//  - the cache really missed and read (hits, misses, bytes > 0); a budget below the resident weights is refused;
//  - --mem parsing (cli/mem_option.h).
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/mem_option.h"
#include "formats/error.h"
#include "formats/gguf.h"
#include "runtime/model/expert_cache.h"
#include "runtime/model/expert_policy.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"
#include "runtime/session/session.h"
#include "test_support.h"

using namespace latte;

namespace {

// Hit rate of `policy` with `cap` slots on a key stream (one token per access).
double simulate(const std::string& policy, const std::vector<int32_t>& trace, int64_t n_keys, int64_t cap) {
  auto p = make_policy(policy, n_keys, 64.0);
  std::vector<int32_t> resident;
  int64_t hits = 0;
  for (int32_t k : trace) {
    p->advance(1);
    const bool hit = std::find(resident.begin(), resident.end(), k) != resident.end();
    p->touch(k);
    if (hit) {
      ++hits;
      continue;
    }
    if (static_cast<int64_t>(resident.size()) < cap) {
      resident.push_back(k);
      continue;
    }
    std::vector<int32_t> cand = resident;
    const int32_t v = p->victim(cand.data(), static_cast<int64_t>(cand.size()));
    *std::find(resident.begin(), resident.end(), v) = k;
  }
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

struct Run {
  std::vector<float> prefill;               // [n][V]
  std::vector<std::vector<float>> decode;   // per step [V]
  ExpertCacheStats stats;
  int64_t slots = 0;
};

Run run_model(const std::shared_ptr<const Model>& m, const std::vector<int32_t>& prompt,
              const std::vector<int32_t>& gen) {
  SessionParams sp;
  sp.n_ctx = 128;
  sp.n_threads = 2;
  Session s(m, sp);
  Run r;
  const size_t V = static_cast<size_t>(m->hparams().n_vocab);
  r.prefill.resize(prompt.size() * V);
  s.eval(prompt, r.prefill.data());
  for (int32_t t : gen) {
    s.eval(std::span<const int32_t>(&t, 1));
    r.decode.emplace_back(s.logits().begin(), s.logits().end());
  }
  if (const ExpertCache* c = m->expert_cache()) {
    r.stats = c->stats();
    r.slots = c->n_slots();
  }
  return r;
}

// A budget that leaves exactly `slots` expert slots (reserve 1 MiB).
uint64_t budget_for(const Model& m, int64_t slots) {
  uint64_t routed = 0;
  std::vector<std::array<TensorView, 3>> layers;
  for (const auto& L : m.weights().layers)
    if (L.moe) {
      for (const TensorView* v : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps}) routed += v->bytes();
      layers.push_back({L.ffn_gate_exps, L.ffn_up_exps, L.ffn_down_exps});
    }
  const uint64_t slot = ExpertCache::slot_bytes_for(layers);
  return m.file().file_size() - routed + (uint64_t{1} << 20) + static_cast<uint64_t>(slots) * slot + slot / 2;
}

}  // namespace

TEST_CASE("replacement policies: LRU, decayed LFU") {
  for (const char* name : {"lru", "lfu"}) {
    auto p = make_policy(name, 8, 4.0);
    CHECK(std::string(p->name()) == name);
    for (int i = 0; i < 10; ++i) {
      p->advance(1);
      p->touch(0);
    }
    p->advance(1);
    p->touch(1);
    p->advance(1);
    p->touch(2);
    const int32_t c[] = {0, 1, 2};
    // LRU: key 0's last use is the oldest. LFU: key 1 has the lowest score (used once, before key 2).
    CHECK(p->victim(c, 3) == (std::string(name) == "lru" ? 0 : 1));
  }
  // Decay: after 10 half-lives key 0's ten uses weigh less than one fresh use.
  auto p = make_policy("lfu", 8, 4.0);
  for (int i = 0; i < 10; ++i) p->touch(0);
  p->advance(40);
  p->touch(3);
  const int32_t c[] = {3, 0};
  CHECK(p->victim(c, 2) == 0);
  CHECK_THROWS_AS(make_policy("fifo", 8), ArgumentError);

  // Skewed routing (Zipf s = 1 over 64 keys), a quarter of them cached.
  std::mt19937 rng(7);
  std::vector<double> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 1.0 / static_cast<double>(i + 1);
  std::discrete_distribution<int32_t> zipf(w.begin(), w.end());
  std::vector<int32_t> trace(20000);
  for (auto& k : trace) k = zipf(rng);
  const double lru = simulate("lru", trace, 64, 16), lfu = simulate("lfu", trace, 64, 16);
  MESSAGE("zipf hit rate: lru " << lru << ", lfu " << lfu);
  CHECK(lfu > lru + 0.02);
}

TEST_CASE("expert cache: logits bit-identical to the resident model") {
  const std::vector<std::string> files = {
      "tiny-dsv3/tiny-dsv3-q4_k_m.gguf", "tiny-dsv3/tiny-dsv3-q4_0.gguf", "tiny-dsv3/tiny-dsv3-q6_k.gguf",
      "tiny-dsv3/tiny-dsv3-q8_0.gguf",   "tiny-dsv3/tiny-dsv3-bf16.gguf", "tiny-dsv3/tiny-dsv3-f32.gguf",
      "tiny-dsv2/tiny-dsv2-f32.gguf",    "tiny-dsv2/tiny-dsv2-bf16.gguf", "tiny-dsv2/tiny-dsv2-q8_0.gguf",
      "tiny-dsv2/tiny-dsv2-q6_k.gguf"};
  std::vector<int32_t> prompt(40), gen(12);
  std::mt19937 rng(42);
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % 4000) + 10;
  for (auto& t : gen) t = static_cast<int32_t>(rng() % 4000) + 10;
  prompt[0] = 0;
  for (const std::string& rel : files) {
    for (const bool repack : {true, false}) {
      ModelParams mp;
      mp.path = test::model_path(rel);
      mp.repack = repack;
      auto full = Model::load(mp);
      REQUIRE(full->expert_cache() == nullptr);
      const Run ref = run_model(full, prompt, gen);
      for (const char* policy : {"lfu", "lru"}) {
        if (!repack && std::string(policy) == "lru") continue;  // one policy is enough for the plain layout
        ModelParams cp = mp;
        cp.mem_budget = budget_for(*full, 10);
        cp.mem_reserve = uint64_t{1} << 20;
        cp.expert_policy = policy;
        cp.io_threads = 3;
        auto cached = Model::load(cp);
        const std::string what = rel + (repack ? " repacked " : " plain ") + policy;
        REQUIRE_MESSAGE(cached->expert_cache() != nullptr, what);
        const Run got = run_model(cached, prompt, gen);
        CHECK_MESSAGE(got.slots == 10, what);
        CHECK_MESSAGE(got.stats.misses > 0, what);
        CHECK_MESSAGE(got.stats.hits > 0, what);
        CHECK_MESSAGE(got.stats.bytes_read > 0, what);
        CHECK_MESSAGE(got.stats.tokens == static_cast<int64_t>(prompt.size() + gen.size()), what);
        REQUIRE(got.prefill.size() == ref.prefill.size());
        CHECK_MESSAGE(std::memcmp(got.prefill.data(), ref.prefill.data(), ref.prefill.size() * sizeof(float)) == 0,
                      (what + ": prefill logits differ"));
        REQUIRE(got.decode.size() == ref.decode.size());
        for (size_t i = 0; i < ref.decode.size(); ++i)
          CHECK_MESSAGE(std::memcmp(got.decode[i].data(), ref.decode[i].data(), ref.decode[i].size() * sizeof(float)) == 0,
                        (what + ": decode step " + std::to_string(i) + " logits differ"));
      }
    }
  }
}

TEST_CASE("expert cache: concurrent sessions share it") {
  // Two sessions on two threads over one cached model (10 slots: their pins compete, one waits for the other's
  // releases) give the resident model's logits, bit for bit.
  ModelParams mp;
  mp.path = test::model_path("tiny-dsv3/tiny-dsv3-q4_k_m.gguf");
  mp.repack = true;
  auto full = Model::load(mp);
  ModelParams cp = mp;
  cp.mem_budget = budget_for(*full, 10);
  cp.mem_reserve = uint64_t{1} << 20;
  auto cached = Model::load(cp);
  REQUIRE(cached->expert_cache() != nullptr);
  std::vector<std::vector<int32_t>> prompts(2, std::vector<int32_t>(24)), gens(2, std::vector<int32_t>(16));
  std::mt19937 rng(5);
  for (auto* set : {&prompts, &gens})
    for (auto& v : *set)
      for (auto& t : v) t = static_cast<int32_t>(rng() % 4000) + 10;
  std::vector<Run> ref(2), got(2);
  for (size_t i = 0; i < 2; ++i) ref[i] = run_model(full, prompts[i], gens[i]);
  std::vector<std::thread> th;
  for (size_t i = 0; i < 2; ++i) th.emplace_back([&, i] { got[i] = run_model(cached, prompts[i], gens[i]); });
  for (auto& t : th) t.join();
  for (size_t i = 0; i < 2; ++i) {
    CHECK(std::memcmp(got[i].prefill.data(), ref[i].prefill.data(), ref[i].prefill.size() * sizeof(float)) == 0);
    bool same = got[i].decode.size() == ref[i].decode.size();
    for (size_t k = 0; same && k < ref[i].decode.size(); ++k)
      same = std::memcmp(got[i].decode[k].data(), ref[i].decode[k].data(), ref[i].decode[k].size() * sizeof(float)) == 0;
    CHECK(same);
  }
}

TEST_CASE("expert cache: budgets") {
  ModelParams mp;
  mp.path = test::model_path("tiny-dsv3/tiny-dsv3-q8_0.gguf");
  auto full = Model::load(mp);
  // Fits: no cache, a note saying so.
  ModelParams big = mp;
  big.mem_budget = uint64_t{8} << 30;
  auto m = Model::load(big);
  CHECK(m->expert_cache() == nullptr);
  CHECK(m->memory_note().find("fits") != std::string::npos);
  // Too small for the resident weights plus 2K slots: refused with one line.
  ModelParams tiny = mp;
  tiny.mem_budget = budget_for(*full, 3);
  tiny.mem_reserve = uint64_t{1} << 20;
  CHECK_THROWS_AS(Model::load(tiny), ResourceError);
  // Does not fit: the note names the cache.
  ModelParams some = tiny;
  some.mem_budget = budget_for(*full, 12);
  auto c = Model::load(some);
  REQUIRE(c->expert_cache() != nullptr);
  CHECK(c->expert_cache()->n_slots() == 12);
  CHECK(c->memory_note().find("does not fit") != std::string::npos);
}

TEST_CASE("--mem parsing") {
  using latte::cli::parse_mem_bytes;
  CHECK(parse_mem_bytes("") == 0);
  CHECK(parse_mem_bytes("auto") == ModelParams::kMemAuto);
  CHECK(parse_mem_bytes("6G") == (uint64_t{6} << 30));
  CHECK(parse_mem_bytes("6GiB") == (uint64_t{6} << 30));
  CHECK(parse_mem_bytes("6g") == (uint64_t{6} << 30));
  CHECK(parse_mem_bytes("6GB") == uint64_t{6000000000});
  CHECK(parse_mem_bytes("512M") == (uint64_t{512} << 20));
  CHECK(parse_mem_bytes("1.5G") == (uint64_t{3} << 29));
  CHECK(parse_mem_bytes("123456") == 123456);
  for (const char* bad : {"x", "6Q", "-1G", "0", "6GiBs", "G"}) CHECK_THROWS_AS(parse_mem_bytes(bad), ArgumentError);
}
