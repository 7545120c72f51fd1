// Latent cache types end to end on the shared tiny-dsv2 f32 model: perplexity (llama-perplexity protocol, the first
// chunks of val.txt), KL divergence and top-1 agreement against an f32-cache session, per cache type. Sessions
// with n_batch 1 evaluate one token per micro-batch, so every token's attention runs the decode path that reads the
// encoded rows directly (cache_attention) for f32, q8_0 and q4_h; f16 and bf16 use the batched prompt path (rows
// converted per micro-batch; same stored values) to keep the test near 30 s. The f32 base uses the batched path.
// Tolerances (issue 7 targets, ppl increase vs f32): f32 1e-4 (same math, other summation order), f16 0.1 %,
// bf16 0.3 %, q8_0 0.1 %, q4_h 0.5 %; KL and top-1 bounds per type below. Measured on all 16 chunks (07:30 UTC):
// f16 +0.014 %, q8_0 -0.040 %, q4_h +0.105 % (KL 0.0039, top-1 95.9 %); on the 2 chunks here q4_h +0.05 %.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "runtime/session/perplexity.h"
#include "runtime/session/session.h"
#include "test_support.h"

using namespace latte;

namespace {

struct Tol {
  CacheType type;
  double ppl_rel;   // max ppl / ppl_f32 - 1
  double kld;       // max mean KL(f32 cache || this cache), nats
  double top1;      // min top-1 agreement
  int n_batch;      // 1: decode path (encoded rows read directly); 512: batched prompt path
};

SessionParams sparams(CacheType t, int n_batch) {
  SessionParams sp;
  sp.n_ctx = 512;
  sp.n_threads = 2;
  sp.n_batch = n_batch;
  sp.cache_type = t;
  return sp;
}

}  // namespace

TEST_CASE("cache types: perplexity, KL and top-1 vs the f32 cache (tiny-dsv2, decode path)") {
  ModelParams mp;
  mp.path = test::model_path("tiny-dsv2/tiny-dsv2-f32.gguf");
  auto model = Model::load(mp);
  std::ifstream in(test::model_path("validation/val.txt"), std::ios::binary);
  REQUIRE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto toks = model->tokenizer().encode(text, true, false);
  PerplexityParams pp;
  pp.n_ctx = 512;
  pp.bos = model->tokenizer().bos();
  pp.n_chunks = std::getenv("LATTE_CACHE_CHUNKS") ? std::atoi(std::getenv("LATTE_CACHE_CHUNKS")) : 2;

  Session base(model, sparams(CacheType::F32, 512));
  const Tol tols[] = {
      {CacheType::F32, 1e-4, 1e-6, 0.995, 1},
      {CacheType::F16, 1e-3, 5e-4, 0.98, 512},
      {CacheType::BF16, 3e-3, 2e-3, 0.97, 512},
      {CacheType::Q8_0, 1e-3, 1e-3, 0.98, 1},
      {CacheType::Q4_H, 5e-3, 1e-2, 0.93, 1},
  };
  const double ppl_f32 = compute_perplexity(base, toks, pp).ppl;  // f32 cache, batched path, same chunks
  uint64_t q8_bytes = 0, q4_bytes = 0;
  for (const Tol& t : tols) {
    const std::string name = cache_type_name(t.type);
    CAPTURE(name);
    Session s(model, sparams(t.type, t.n_batch));
    pp.kld_base = &base;
    const PerplexityResult r = compute_perplexity(s, toks, pp);
    const double rel = r.ppl / ppl_f32 - 1.0;
    const auto st = s.stats();
    MESSAGE(name << ": " << st.cache_bytes_per_token << " B/token, ppl " << r.ppl << " vs " << ppl_f32 << " ("
                 << 100.0 * rel << " %), KL " << r.mean_kld << ", top-1 " << r.top1_agreement);
    // Increase bounded by the target; a decrease (quantization noise can lower the perplexity of 510 tokens a
    // little: q8_0 -0.10 % on 2 chunks, -0.04 % on 16) only bounded at twice the target.
    CHECK(rel <= t.ppl_rel);
    CHECK(rel >= -2.0 * t.ppl_rel);
    CHECK(r.mean_kld <= t.kld);
    CHECK(r.top1_agreement >= t.top1);
    if (t.type == CacheType::Q8_0) q8_bytes = st.cache_bytes_per_token;
    if (t.type == CacheType::Q4_H) q4_bytes = st.cache_bytes_per_token;
  }
  // The <= 5-bit scheme: at most 0.55x the q8_0 cache's bytes per token (k_pe included).
  CHECK(q4_bytes > 0);
  CHECK(double(q4_bytes) <= 0.55 * double(q8_bytes));
}
