// Golden tests of the deepseek2 forward pass against the Hugging Face reference outputs in shared/models
// (README.md there states the tolerances used here), plus router, batching, cache and session checks.
// Every forward-pass golden runs with the scalar kernels and with the best ISA of this CPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "quant/kernels.h"
#include "formats/error.h"
#include "runtime/model/moe.h"
#include "runtime/session/perplexity.h"
#include "runtime/model/rope.h"
#include "runtime/session/session.h"
#include "test_support.h"

using namespace latte;
using latte::test::model_path;

namespace {

struct Prompt {
  std::string name;
  std::vector<int32_t> ids;
  std::vector<float> logits;  // [n][V]
  std::vector<int32_t> greedy;
  std::vector<double> margins;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return nlohmann::json::parse(in);
}

std::vector<Prompt> load_refs(const std::string& model_dir) {
  const std::string dir = model_path(model_dir + "/refs-A/");
  auto j = read_json(dir + "refs_A.json");
  std::vector<Prompt> out;
  for (const auto& p : j["prompts"]) {
    Prompt q;
    q.name = p["name"].get<std::string>();
    q.ids = p["ids"].get<std::vector<int32_t>>();
    q.logits = latte::test::read_f32(dir + p["logits_file"].get<std::string>());
    q.greedy = p["greedy_ids"].get<std::vector<int32_t>>();
    q.margins = p["greedy_margins"].get<std::vector<double>>();
    out.push_back(std::move(q));
  }
  return out;
}

std::vector<std::string> isas_to_test() {
  // The oracle and every SIMD table this CPU runs (AVX2 and AVX-512 here), so each fast path meets the reference.
  std::vector<std::string> v{"scalar"};
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) v.push_back(isa_name(isa));
  return v;
}

std::shared_ptr<const Model> load_model(const std::string& rel, const std::string& isa, int groups = -1) {
  ModelParams mp;
  mp.path = model_path(rel);
  mp.isa = isa;
  mp.expert_groups = groups;
  return Model::load(mp);
}

SessionParams session_params(CacheType ct = CacheType::F32, int n_batch = 512) {
  SessionParams sp;
  sp.n_ctx = 1024;
  sp.n_threads = 1;  // the CI box is shared; the threaded path is covered by the batching test below
  sp.n_batch = n_batch;
  sp.cache_type = ct;
  return sp;
}

std::pair<float, float> min_max(const float* x, int64_t n) {
  auto [a, b] = std::minmax_element(x, x + n);
  return {*a, *b};
}

int64_t argmax_row(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

// KL(p_ref || p_test) of two logit rows.
double kl_div(const float* ref, const float* got, int64_t n) {
  auto lse = [n](const float* x) {
    double m = *std::max_element(x, x + n), s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
    return m + std::log(s);
  };
  const double a = lse(ref), b = lse(got);
  double k = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double lp = ref[i] - a, lq = got[i] - b;
    k += std::exp(lp) * (lp - lq);
  }
  return k;
}

// Greedy decode with the cache: 32 tokens; compares with `ref`, stopping at the first divergence if the reference
// margin there is within `tol` of the spread (a fragile step); returns the number of compared tokens.
int check_greedy(const std::shared_ptr<const Model>& m, const Prompt& p, const std::vector<int32_t>& ref,
                 const std::vector<double>& margins, double tol, CacheType ct = CacheType::F32) {
  Session s(m, session_params(ct));
  s.eval(p.ids);
  const int64_t V = m->hparams().n_vocab;
  int matched = 0;
  for (size_t step = 0; step < ref.size(); ++step) {
    auto lg = s.logits();
    const int32_t tok = static_cast<int32_t>(argmax_row(lg.data(), V));
    if (tok != ref[step]) {
      auto [lo, hi] = min_max(lg.data(), V);
      CHECK_MESSAGE(margins[step] <= tol * (hi - lo), p.name << " greedy step " << step << ": got " << tok
                                                               << ", reference " << ref[step] << " (margin "
                                                               << margins[step] << ")");
      break;
    }
    ++matched;
    s.eval(std::vector<int32_t>{tok});
  }
  return matched;
}

void golden_f32(const std::string& dir, const std::string& file) {
  const auto prompts = load_refs(dir);
  for (const auto& isa : isas_to_test()) {
    auto m = load_model(dir + "/" + file, isa);
    const int64_t V = m->hparams().n_vocab;
    REQUIRE(V == 4096);
    double worst = 0;
    int positions = 0, greedy_tokens = 0;
    for (const auto& p : prompts) {
      Session s(m, session_params());
      std::vector<float> got(p.ids.size() * static_cast<size_t>(V));
      s.eval(p.ids, got.data());
      REQUIRE(p.logits.size() == got.size());
      for (size_t t = 0; t < p.ids.size(); ++t) {
        const float* r = p.logits.data() + t * V;
        const float* g = got.data() + t * V;
        const auto lohi = min_max(r, V);
        const double lo = lohi.first, hi = lohi.second;  // not a structured binding: doctest captures them
        double md = 0;
        for (int64_t i = 0; i < V; ++i) md = std::max(md, static_cast<double>(std::fabs(r[i] - g[i])));
        const double ratio = md / (hi - lo);
        worst = std::max(worst, ratio);
        CHECK_MESSAGE(ratio <= 1e-3, isa << " " << p.name << " pos " << t << ": max |diff| " << md << " spread "
                                         << (hi - lo));
        ++positions;
      }
      greedy_tokens += check_greedy(m, p, p.greedy, p.margins, 1e-3);
    }
    MESSAGE(dir << " f32 [" << isa << "]: " << positions << " positions, worst max|diff|/spread = " << worst
                << ", greedy tokens matched " << greedy_tokens << "/" << prompts.size() * 32);
  }
}

struct QuantTol {
  const char* file;
  double logit_tol;  // max |diff| / spread at a position, or 0 = not checked
  double argmax_min, kl_max;
};
// bf16 weights perturb the router input enough to flip near-tied expert choices at a few positions (verified: the
// outliers are exactly the positions whose selected expert set differs from the f32 model's), so the per-position
// logit bound is required at >= 98 % of the positions rather than all of them.
constexpr double kLogitTolFraction = 0.98;

void golden_quant(const std::string& dir, const QuantTol& q, const std::string& isa) {
  const auto prompts = load_refs(dir);
  auto m = load_model(dir + "/" + q.file, isa);
  const int64_t V = m->hparams().n_vocab;
  int positions = 0, agree = 0, within = 0;
  double kl = 0, worst = 0;
  for (const auto& p : prompts) {
    Session s(m, session_params(CacheType::F16));
    std::vector<float> got(p.ids.size() * static_cast<size_t>(V));
    s.eval(p.ids, got.data());
    for (size_t t = 0; t < p.ids.size(); ++t) {
      const float* r = p.logits.data() + t * V;
      const float* g = got.data() + t * V;
      auto [lo, hi] = min_max(r, V);
      double md = 0;
      for (int64_t i = 0; i < V; ++i) md = std::max(md, static_cast<double>(std::fabs(r[i] - g[i])));
      worst = std::max(worst, md / (hi - lo));
      within += md <= q.logit_tol * (hi - lo);
      agree += argmax_row(r, V) == argmax_row(g, V);
      kl += kl_div(r, g, V);
      ++positions;
    }
  }
  const double agreement = static_cast<double>(agree) / positions, mean_kl = kl / positions;
  const double frac_within = static_cast<double>(within) / positions;
  MESSAGE(std::string(q.file) << " [" << isa << "]: argmax agreement " << agreement * 100 << " %, mean KL "
                              << mean_kl << ", worst max|diff|/spread " << worst
                              << (q.logit_tol > 0 ? ", within logit tolerance " + std::to_string(frac_within * 100) + " %"
                                                  : std::string()));
  CHECK(agreement >= q.argmax_min);
  CHECK(mean_kl <= q.kl_max);
  if (q.logit_tol > 0) CHECK(frac_within >= kLogitTolFraction);
}

std::vector<int32_t> val_tokens(const Model& m) {
  std::ifstream in(model_path("validation/val.txt"), std::ios::binary);
  REQUIRE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return m.tokenizer().encode(text, /*add_bos=*/true, /*parse_special=*/false);
}

}  // namespace

TEST_CASE("golden f32: tiny-dsv3 (q-LoRA, sigmoid + bias + groups, YaRN) logits and greedy") {
  golden_f32("tiny-dsv3", "tiny-dsv3-f32.gguf");
}

TEST_CASE("golden f32: tiny-dsv2 (no q-LoRA, softmax routing, 2 shared experts) logits and greedy") {
  golden_f32("tiny-dsv2", "tiny-dsv2-f32.gguf");
}

TEST_CASE("golden f32: tiny-dsv3 with group-limited routing disabled reproduces the ungrouped reference") {
  auto j = read_json(model_path("tiny-dsv3/refs-A/ungrouped-routing_greedy_A.json"));
  for (const auto& isa : isas_to_test()) {
    auto m = load_model("tiny-dsv3/tiny-dsv3-f32.gguf", isa, /*groups=*/0);
    CHECK(m->hparams().n_group == 0);
    int matched = 0;
    for (const auto& jp : j["prompts"]) {
      Prompt p;
      p.name = jp["name"].get<std::string>();
      p.ids = jp["ids"].get<std::vector<int32_t>>();
      matched += check_greedy(m, p, jp["greedy_ids"].get<std::vector<int32_t>>(),
                              jp["greedy_margins"].get<std::vector<double>>(), 1e-3);
    }
    MESSAGE("ungrouped greedy [" << isa << "]: matched " << matched << " tokens");
    CHECK(matched > 200);
  }
}

TEST_CASE("golden bf16 / quantized files within the README tolerances") {
  const QuantTol v3[] = {{"tiny-dsv3-bf16.gguf", 2e-2, 0.98, 2e-3},
                         {"tiny-dsv3-q8_0.gguf", 0, 0.96, 5e-3},
                         {"tiny-dsv3-q6_k.gguf", 0, 0.93, 1e-2},
                         {"tiny-dsv3-q4_k_m.gguf", 0, 0.85, 5e-2},
                         {"tiny-dsv3-q4_0.gguf", 0, 0.85, 5e-2}};
  const QuantTol v2[] = {{"tiny-dsv2-bf16.gguf", 2e-2, 0.98, 2e-3},
                         {"tiny-dsv2-q8_0.gguf", 0, 0.96, 5e-3},
                         {"tiny-dsv2-q6_k.gguf", 0, 0.93, 1e-2}};
  // Every file with the best ISA (covers the SIMD kernels); the scalar kernels on one file (they are slow, and
  // are the oracle of the kernel unit tests anyway).
  const std::string best = isa_name(select_isa());
  for (const auto& q : v3) golden_quant("tiny-dsv3", q, best);
  for (const auto& q : v2) golden_quant("tiny-dsv2", q, best);
  if (best != "scalar") golden_quant("tiny-dsv3", v3[1], "scalar");
}

TEST_CASE("perplexity of the f32 models on the validation text (llama-perplexity protocol)") {
  struct Case {
    const char* file;
    const char* summary;
  } cases[] = {{"tiny-dsv3/tiny-dsv3-f32.gguf", "tiny-dsv3/refs-A/summary.json"},
               {"tiny-dsv2/tiny-dsv2-f32.gguf", "tiny-dsv2/refs-A/summary.json"}};
  for (const auto& c : cases) {
    const double ref = read_json(model_path(c.summary))["ppl_llama_protocol_c512_16chunks"]["ppl"].get<double>();
    auto m = load_model(c.file, "");
    const auto toks = val_tokens(*m);
    Session s(m, session_params());
    PerplexityParams pp;
    pp.n_ctx = 512;
    pp.n_chunks = 16;
    pp.bos = m->tokenizer().bos();
    const auto r = compute_perplexity(s, toks, pp);
    MESSAGE(std::string(c.file) << ": ppl " << r.ppl << " ± " << r.ppl_stderr << " (reference " << ref << "), "
                   << r.n_scored << " tokens");
    CHECK(r.n_scored == 4080);
    CHECK(std::fabs(r.ppl / ref - 1.0) <= 0.005);
  }
}

TEST_CASE("router: hand-computed cases") {
  auto sg = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  SUBCASE("sigmoid, selection bias, groups by top-2 sum, normalised and scaled") {
    RouterParams rp;
    rp.gating = GatingFunc::Sigmoid;
    rp.n_expert = 8;
    rp.n_used = 3;
    rp.n_group = 4;
    rp.n_group_used = 2;
    rp.norm = true;
    rp.scale = 2.0f;
    const float logits[8] = {2, -1, 0, 1, -2, 3, 0.5f, -0.5f};
    const float bias[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    // biased scores: .881 .269 | .500 .731 | 1.119 .953 | .622 .378 -> group sums 1.150, 1.231, 2.072, 1.000:
    // keep groups 2 and 1; top-3 of {e4 1.119, e5 .953, e3 .731, e2 .500} = e4, e5, e3.
    int32_t idx[3];
    float w[3];
    route(rp, logits, bias, idx, w);
    CHECK(idx[0] == 4);
    CHECK(idx[1] == 5);
    CHECK(idx[2] == 3);
    const double s4 = sg(-2), s5 = sg(3), s3 = sg(1), sum = s4 + s5 + s3;
    CHECK(w[0] == doctest::Approx(2 * s4 / sum).epsilon(1e-6));
    CHECK(w[1] == doctest::Approx(2 * s5 / sum).epsilon(1e-6));
    CHECK(w[2] == doctest::Approx(2 * s3 / sum).epsilon(1e-6));
    // Without groups e0 (.881) beats e3 (.731).
    rp.n_group = rp.n_group_used = 0;
    route(rp, logits, bias, idx, w);
    CHECK(idx[0] == 4);
    CHECK(idx[1] == 5);
    CHECK(idx[2] == 0);
    // Without the bias e4 drops out: e5 .953, e0 .881, e3 .731.
    route(rp, logits, nullptr, idx, w);
    CHECK(idx[0] == 5);
    CHECK(idx[1] == 0);
    CHECK(idx[2] == 3);
  }
  SUBCASE("softmax, groups by max, no normalisation") {
    RouterParams rp;
    rp.gating = GatingFunc::Softmax;
    rp.n_expert = 8;
    rp.n_used = 2;
    rp.n_group = 4;
    rp.n_group_used = 1;
    rp.scale = 1.0f;
    const float logits[8] = {0, 1, 3, -1, 2.5f, 2.4f, 0, 0};
    double z = 0;
    for (float l : logits) z += std::exp(l);
    int32_t idx[2];
    float w[2];
    route(rp, logits, nullptr, idx, w);  // group maxes: e1, e2 (3), e4, e6 -> keep group 1 = {e2, e3}
    CHECK(idx[0] == 2);
    CHECK(idx[1] == 3);
    CHECK(w[0] == doctest::Approx(std::exp(3.0) / z).epsilon(1e-6));
    CHECK(w[1] == doctest::Approx(std::exp(-1.0) / z).epsilon(1e-6));
    rp.n_group = rp.n_group_used = 0;
    route(rp, logits, nullptr, idx, w);
    CHECK(idx[0] == 2);
    CHECK(idx[1] == 4);
  }
}

TEST_CASE("MoE evaluates only the selected experts: n_tokens x top-k per MoE layer") {
  auto m = load_model("tiny-dsv3/tiny-dsv3-f32.gguf", "");
  const auto& hp = m->hparams();
  Session s(m, session_params(CacheType::F32, 7));
  const std::vector<int32_t> ids = {0, 358, 463, 1294, 641, 346, 280, 463, 1294, 642, 396};
  s.eval(ids);
  const uint64_t moe_layers = static_cast<uint64_t>(hp.n_layer - hp.n_leading_dense);
  CHECK(moe_layers == 3);
  CHECK(s.stats().expert_evals == ids.size() * hp.n_expert_used * moe_layers);
  s.eval(std::vector<int32_t>{5});
  CHECK(s.stats().expert_evals == (ids.size() + 1) * hp.n_expert_used * moe_layers);
}

TEST_CASE("batched prompt evaluation equals token-by-token for micro-batches 1, 7, 33, 64, 300, 512") {
  const auto prompts = load_refs("tiny-dsv3");
  const Prompt& p = prompts.back();  // A7_long, 594 tokens
  REQUIRE(p.ids.size() > 512);
  auto m = load_model("tiny-dsv3/tiny-dsv3-f32.gguf", "");
  const int64_t V = m->hparams().n_vocab;
  std::vector<float> base(p.ids.size() * V);
  {
    Session s(m, session_params(CacheType::F32, 1));
    s.eval(p.ids, base.data());
  }
  // gmin 0: row kernels only; 8 (the default): sgemm for these f32 weights from 8 rows (exact up to order).
  // 33 and 300: flash attention with ragged query blocks, a second micro-batch whose keys cross the 256-key block
  // boundary (pos0 = 300), and a final partial micro-batch.
  for (int gmin : {0, 8})
  for (int nb : {7, 33, 64, 300, 512}) {
    SessionParams sp = session_params(CacheType::F32, nb);
    sp.gemm_min_batch = gmin;
    if (nb == 64 || nb == 300) sp.n_threads = 2;  // also covers the threaded matmul / attention split
    Session s(m, sp);
    std::vector<float> got(base.size());
    s.eval(p.ids, got.data());
    double worst = 0;
    for (size_t t = 0; t < p.ids.size(); ++t) {
      auto [lo, hi] = min_max(base.data() + t * V, V);
      double md = 0;
      for (int64_t i = 0; i < V; ++i) md = std::max(md, static_cast<double>(std::fabs(base[t * V + i] - got[t * V + i])));
      worst = std::max(worst, md / (hi - lo));
    }
    MESSAGE("gemm_min_batch " << gmin << ", n_batch " << nb << ": worst max|diff|/spread vs token-by-token " << worst);
    CHECK(worst <= 1e-5);
  }
}

TEST_CASE("batched prompt evaluation through gemm() (Q4_K_M: int8/bf16 backends) stays close to token-by-token") {
  // Token-by-token runs every product on the row kernels (1 row < gemm_min_batch); micro-batches of 7, 64 and 512
  // send products over >= 8 rows to gemm() (oneDNN int8 for these low-bit weights where its table says so) and
  // attention through the chunked GEMM path, crossing micro-batch boundaries (594 tokens). Activation rounding can
  // flip near-tied expert choices, so the bound is on most positions (as for the gemm test below).
  const auto prompts = load_refs("tiny-dsv3");
  const Prompt& p = prompts.back();
  REQUIRE(p.ids.size() > 512);
  auto m = load_model("tiny-dsv3/tiny-dsv3-q4_k_m.gguf", "");
  const int64_t V = m->hparams().n_vocab;
  std::vector<float> base(p.ids.size() * V);
  {
    Session s(m, session_params(CacheType::F32, 1));
    s.eval(p.ids, base.data());
  }
  for (int nb : {7, 64, 512}) {
    SessionParams sp = session_params(CacheType::F32, nb);
    sp.gemm_min_batch = 8;
    if (nb == 64) sp.n_threads = 2;
    Session s(m, sp);
    std::vector<float> got(base.size());
    s.eval(p.ids, got.data());
    double worst = 0;
    int within = 0, agree = 0;
    for (size_t t = 0; t < p.ids.size(); ++t) {
      auto [lo, hi] = min_max(base.data() + t * V, V);
      double md = 0;
      for (int64_t i = 0; i < V; ++i) md = std::max(md, static_cast<double>(std::fabs(base[t * V + i] - got[t * V + i])));
      worst = std::max(worst, md / (hi - lo));
      within += md <= 2e-2 * (hi - lo);
      agree += argmax_row(base.data() + t * V, V) == argmax_row(got.data() + t * V, V);
    }
    const double n = static_cast<double>(p.ids.size());
    MESSAGE("q4_k_m n_batch " << nb << ": worst max|diff|/spread " << worst << ", within 2e-2: " << within << "/" << n
                              << ", argmax agreement " << agree << "/" << n);
    // Measured: 517/594 (int8) and 527/594 (bf16, LATTE_GEMM_INT8=0) within 2e-2, argmax 576 / 579 of 594: the
    // misses are expert flips that then propagate, alike for both backends.
    CHECK(within >= 0.85 * n);
    CHECK(agree >= 0.95 * n);
  }
}

TEST_CASE("prefill through gemm() (SessionParams.gemm_min_batch) matches the kernel-table path") {
  // The Auto backend may round activations to bf16 (oneDNN), so the bound is the bf16 one of the README.
  const auto prompts = load_refs("tiny-dsv3");
  const Prompt& p = prompts.back();  // 594 tokens: micro-batches of 512 + 82 rows reach the oneDNN backends
  auto m = load_model("tiny-dsv3/tiny-dsv3-q8_0.gguf", "");
  const int64_t V = m->hparams().n_vocab;
  std::vector<float> base(p.ids.size() * V), got(base.size());
  SessionParams sa = session_params();
  sa.gemm_min_batch = 0;
  Session a(m, sa);
  a.eval(p.ids, base.data());
  SessionParams sp = session_params();
  sp.gemm_min_batch = 4;
  Session b(m, sp);
  b.eval(p.ids, got.data());
  // bf16 activations can flip a near-tied expert choice (see kLogitTolFraction), so most positions, not all.
  double worst = 0;
  int within = 0, agree = 0;
  for (size_t t = 0; t < p.ids.size(); ++t) {
    auto [lo, hi] = min_max(base.data() + t * V, V);
    double md = 0;
    for (int64_t i = 0; i < V; ++i) md = std::max(md, static_cast<double>(std::fabs(base[t * V + i] - got[t * V + i])));
    worst = std::max(worst, md / (hi - lo));
    within += md <= 2e-2 * (hi - lo);
    agree += argmax_row(base.data() + t * V, V) == argmax_row(got.data() + t * V, V);
  }
  const double n = static_cast<double>(p.ids.size());
  MESSAGE("gemm prefill vs kernel rows: worst max|diff|/spread " << worst << ", within 2e-2: " << within << "/" << n
                                                                 << ", argmax agreement " << agree << "/" << n);
  CHECK(within >= 0.9 * n);
  CHECK(agree >= 0.95 * n);
}

TEST_CASE("latent cache types: f16 / bf16 / q8_0 stay close to f32") {
  const auto prompts = load_refs("tiny-dsv3");
  const Prompt& p = prompts[5];
  auto m = load_model("tiny-dsv3/tiny-dsv3-f32.gguf", "");
  const int64_t V = m->hparams().n_vocab;
  for (auto [ct, tol] : {std::pair{CacheType::F16, 5e-3}, std::pair{CacheType::BF16, 3e-2},
                         std::pair{CacheType::Q8_0, 6e-2}, std::pair{CacheType::Q4_H, 2e-1}}) {
    Session s(m, session_params(ct));
    std::vector<float> got(p.ids.size() * V);
    s.eval(p.ids, got.data());
    double worst = 0;
    for (size_t t = 0; t < p.ids.size(); ++t) {
      auto [lo, hi] = min_max(p.logits.data() + t * V, V);
      double md = 0;
      for (int64_t i = 0; i < V; ++i) md = std::max(md, static_cast<double>(std::fabs(p.logits[t * V + i] - got[t * V + i])));
      worst = std::max(worst, md / (hi - lo));
    }
    MESSAGE("cache " << std::string(cache_type_name(ct)) << ": worst max|diff|/spread " << worst << ", "
                     << s.stats().cache_bytes_per_token << " bytes/token");
    CHECK(worst <= tol);
  }
}

TEST_CASE("session: prefix reuse, truncate, save/load, errors") {
  auto m = load_model("tiny-dsv2/tiny-dsv2-f32.gguf", "");
  const int64_t V = m->hparams().n_vocab;
  const std::vector<int32_t> a = {0, 358, 463, 1294, 641, 346, 280};
  std::vector<int32_t> b = a;
  b.resize(5);
  b.push_back(999);
  b.push_back(17);

  Session fresh(m, session_params());
  fresh.eval(b);
  const std::vector<float> want(fresh.logits().begin(), fresh.logits().end());

  Session s(m, session_params());
  s.eval(a);
  s.eval_with_prefix_reuse(b);
  CHECK(s.n_past() == static_cast<int>(b.size()));
  CHECK(s.tokens() == b);
  for (int64_t i = 0; i < V; ++i) REQUIRE(s.logits()[i] == doctest::Approx(want[i]).epsilon(1e-5));

  const std::string dir = latte::test::scratch_dir("golden");
  s.save(dir + "/s.bin");
  Session r(m, session_params());
  r.load(dir + "/s.bin");
  CHECK(r.tokens() == b);
  s.eval(std::vector<int32_t>{42});
  r.eval(std::vector<int32_t>{42});
  for (int64_t i = 0; i < V; ++i) REQUIRE(r.logits()[i] == s.logits()[i]);

  // A session file of another model / cache type is refused.
  Session other(load_model("tiny-dsv3/tiny-dsv3-f32.gguf", ""), session_params());
  CHECK_THROWS_AS(other.load(dir + "/s.bin"), FormatError);
  Session f16(m, session_params(CacheType::F16));
  CHECK_THROWS_AS(f16.load(dir + "/s.bin"), FormatError);

  CHECK_THROWS_AS(s.eval(std::vector<int32_t>{static_cast<int32_t>(V)}), ArgumentError);
  CHECK_THROWS_AS(s.eval(std::vector<int32_t>{-1}), ArgumentError);
  SessionParams small = session_params();
  small.n_ctx = 8;
  Session tiny(m, small);
  CHECK(tiny.n_ctx() == 8);
  CHECK_THROWS_AS(tiny.eval(std::vector<int32_t>(9, 5)), ResourceError);
  CHECK(tiny.n_past() == 0);
  int calls = 0;
  SessionParams sp1 = session_params(CacheType::F32, 2);
  Session c(m, sp1);
  CHECK_THROWS_AS(c.eval(a, nullptr, [&] { return ++calls > 1; }), CancelledError);
  CHECK(c.n_past() == 2);
}

TEST_CASE("session: context shift re-rotates k_pe (layer-0 latents equal a fresh evaluation)") {
  // Layer 0's latent row depends only on the token and its position, so after dropping tokens the shifted rows
  // must equal those of a sequence that never had them; the logits then stay close to a fresh evaluation.
  auto m = load_model("tiny-dsv3/tiny-dsv3-f32.gguf", "");
  const std::vector<int32_t> full = {0, 100, 101, 102, 103, 358, 463, 1294, 641, 346};
  std::vector<int32_t> kept = {0, 358, 463, 1294, 641, 346};
  Session s(m, session_params());
  s.eval(full);
  s.shift(1, 4);
  CHECK(s.tokens() == kept);
  CHECK(s.stats().context_shifts == 1);
  CHECK(s.stats().tokens_discarded == 4);
  Session f(m, session_params());
  f.eval(kept);
  const std::string dir = latte::test::scratch_dir("golden");
  s.save(dir + "/shifted.bin");
  f.save(dir + "/fresh.bin");
  const auto A = latte::test::read_bytes(dir + "/shifted.bin"), B = latte::test::read_bytes(dir + "/fresh.bin");
  REQUIRE(A.size() == B.size());
  // Layout: 72-byte header, n_past int32 ids, then layer 0 rows [n_past][Nkv+R] f32.
  const size_t off = 72 + kept.size() * 4, W = static_cast<size_t>(m->hparams().latent_dim());
  double md = 0;
  for (size_t i = 0; i < kept.size() * W; ++i) {
    float x, y;
    std::memcpy(&x, A.data() + off + i * 4, 4);
    std::memcpy(&y, B.data() + off + i * 4, 4);
    md = std::max(md, static_cast<double>(std::fabs(x - y)));
  }
  MESSAGE("shift: layer-0 latent max |diff| " << md);
  CHECK(md < 1e-4);
  // The shifted session keeps generating.
  s.eval(std::vector<int32_t>{280});
  CHECK(s.n_past() == 7);
  // Every cache type shifts its own storage (k_pe re-rotated in place): next-token logits stay within the type's
  // tolerance of the f32 shifted session.
  const int64_t V = m->hparams().n_vocab;
  auto [lo, hi] = min_max(s.logits().data(), V);
  for (auto [ct, tol] : {std::pair{CacheType::F16, 5e-3}, std::pair{CacheType::BF16, 3e-2},
                         std::pair{CacheType::Q8_0, 6e-2}, std::pair{CacheType::Q4_H, 2e-1}}) {
    Session q(m, session_params(ct));
    q.eval(full);
    q.shift(1, 4);
    q.eval(std::vector<int32_t>{280});
    double d = 0;
    for (int64_t i = 0; i < V; ++i) d = std::max(d, static_cast<double>(std::fabs(q.logits()[i] - s.logits()[i])));
    MESSAGE("shift with cache " << std::string(cache_type_name(ct)) << ": max|diff|/spread " << d / (hi - lo));
    CHECK(d <= tol * (hi - lo));
  }
}

TEST_CASE("model load errors: another architecture is unsupported") {
  const std::string dir = latte::test::scratch_dir("golden");
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.write(dir + "/llama.gguf");
  ModelParams mp;
  mp.path = dir + "/llama.gguf";
  try {
    Model::load(mp);
    FAIL("expected UnsupportedError");
  } catch (const UnsupportedError& e) {
    CHECK(std::string(e.what()).find("unsupported architecture llama") != std::string::npos);
  }
  mp.path = dir + "/does-not-exist.gguf";
  CHECK_THROWS_AS(Model::load(mp), IoError);
}

TEST_CASE("model facts: flavours, kq_scale, active bytes") {
  auto v3 = load_model("tiny-dsv3/tiny-dsv3-f32.gguf", "");
  const auto& h = v3->hparams();
  CHECK(h.flavour == MlaFlavour::KvBAndSplit);
  CHECK(h.q_lora_rank == 96);
  CHECK(h.n_group == 4);
  CHECK(h.n_group_used == 2);
  CHECK(h.gating == GatingFunc::Sigmoid);
  CHECK(h.kq_scale == doctest::Approx(0.18713033519502428).epsilon(1e-6));
  // YaRN blended inverse frequencies of tiny-dsv3 (shared/models/README.md) and plain ones of tiny-dsv2.
  const double yarn[8] = {1.0, 0.25693506, 0.0625, 0.01383497, 0.0025, 0.00079057, 0.00025, 7.906e-05};
  Rope rope(h);
  for (int i = 0; i < 8; ++i) CHECK(rope.freq(i) == doctest::Approx(yarn[i]).epsilon(1e-5));
  // Rotating by p then by -p is the identity; rotation preserves pair norms.
  std::vector<float> x(16), cs(16);
  for (int i = 0; i < 16; ++i) x[i] = 0.1f * static_cast<float>(i) - 0.7f;
  const std::vector<float> x0 = x;
  rope.cos_sin(37, cs.data());
  rope.rotate(x.data(), cs.data());
  CHECK(std::hypot(x[2], x[3]) == doctest::Approx(std::hypot(x0[2], x0[3])).epsilon(1e-6));
  rope.cos_sin(-37, cs.data());
  rope.rotate(x.data(), cs.data());
  for (int i = 0; i < 16; ++i) CHECK(x[i] == doctest::Approx(x0[i]).epsilon(1e-5));
  auto v2 = load_model("tiny-dsv2/tiny-dsv2-f32.gguf", "");
  Rope rope2(v2->hparams());
  for (int i = 0; i < 8; ++i) CHECK(rope2.freq(i) == doctest::Approx(std::pow(10000.0, -2.0 * i / 16)).epsilon(1e-9));
  CHECK(v2->hparams().q_lora_rank == 0);
  CHECK(v2->hparams().kq_scale == doctest::Approx(0.14433756729740643).epsilon(1e-6));
  auto q4 = load_model("tiny-dsv3/tiny-dsv3-q4_0.gguf", "");
  CHECK(q4->hparams().flavour == MlaFlavour::KvB);
  CHECK(v3->active_bytes_per_token() < v3->weight_bytes());
  CHECK(v3->active_bytes_per_token() > v3->weight_bytes() / 4);
}

namespace {
// Rewrites the f32 tiny-dsv3 file into another MLA flavour (§C.2): "kvb" drops attn_k_b/attn_v_b (derived at load),
// "split3d" drops attn_kv_b and stores 3-D attn_k_b [P, Nkv, H] / attn_v_b [Nkv, Dv, H] with new-MLA head keys.
std::string make_flavour(const std::string& kind) {
  auto src = gguf::File::open(model_path("tiny-dsv3/tiny-dsv3-f32.gguf"));
  const int64_t H = 4, Nkv = 64, P = 32, R = 16, Dv = 32;
  gguf::Writer w;
  for (const auto& kv : src->metadata()) w.copy_kv(*src, kv);
  if (kind == "split3d") {
    w.set_u32("deepseek2.attention.head_count_kv", 1);
    w.set_u32("deepseek2.attention.key_length", static_cast<uint32_t>(Nkv + R));
    w.set_u32("deepseek2.attention.value_length", static_cast<uint32_t>(Nkv));
    w.set_u32("deepseek2.attention.key_length_mla", static_cast<uint32_t>(P + R));
    w.set_u32("deepseek2.attention.value_length_mla", static_cast<uint32_t>(Dv));
  }
  for (const auto& t : src->tensors()) {
    const bool kb = t.name.find("attn_k_b") != std::string::npos, vb = t.name.find("attn_v_b") != std::string::npos;
    const bool kvb = t.name.find("attn_kv_b") != std::string::npos;
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (kind == "kvb" && (kb || vb)) continue;
    if (kind == "split3d") {
      if (kvb) continue;
      if (kb) ne = {P, Nkv, H};
      if (vb) ne = {Nkv, Dv, H};
    }
    w.add_tensor(t.name, t.type, ne, t.data, t.nbytes);
  }
  const std::string path = latte::test::scratch_dir("golden") + "/tiny-dsv3-" + kind + ".gguf";
  w.write(path);
  return path;
}
}  // namespace

TEST_CASE("MLA flavours: attn_kv_b only and 3-D attn_k_b/attn_v_b give the reference logits") {
  const auto prompts = load_refs("tiny-dsv3");
  for (const std::string kind : {"kvb", "split3d"}) {
    ModelParams mp;
    mp.path = make_flavour(kind);
    auto m = Model::load(mp);
    CHECK(m->hparams().flavour == (kind == "kvb" ? MlaFlavour::KvB : MlaFlavour::Split3D));
    CHECK(m->hparams().qk_nope == 32);
    CHECK(m->hparams().v_dim == 32);
    CHECK(m->hparams().kq_scale == doctest::Approx(0.18713033519502428).epsilon(1e-6));
    const int64_t V = m->hparams().n_vocab;
    double worst = 0;
    for (size_t i = 0; i + 1 < prompts.size(); ++i) {  // all but the long prompt
      const Prompt& p = prompts[i];
      Session s(m, session_params());
      std::vector<float> got(p.ids.size() * V);
      s.eval(p.ids, got.data());
      for (size_t t = 0; t < p.ids.size(); ++t) {
        auto [lo, hi] = min_max(p.logits.data() + t * V, V);
        double md = 0;
        for (int64_t j = 0; j < V; ++j)
          md = std::max(md, static_cast<double>(std::fabs(p.logits[t * V + j] - got[t * V + j])));
        worst = std::max(worst, md / (hi - lo));
      }
    }
    MESSAGE("flavour " << kind << ": worst max|diff|/spread " << worst);
    CHECK(worst <= 1e-3);
  }
}

