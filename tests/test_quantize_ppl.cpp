// Quality of `latte quantize` output: perplexity, KL divergence and top-1 agreement against the f32 model on the
// shared validation text (llama-perplexity protocol, fewer chunks than the golden test to stay fast).
// Tolerances: the README's table for q8_0 / q6_k / q4_k_m / q4_0 (perplexity vs f32, mean KL, argmax agreement);
// the other types get bounds in the same spirit, ordered by bits per weight.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "runtime/perplexity.h"
#include "runtime/session.h"
#include "test_support.h"
#include "tools/quantize.h"

using namespace latte;

namespace {

struct Tol {
  const char* type;
  int n_chunks;       // chunks of 512 (255 scored tokens each)
  double ppl_rel;     // max (ppl / ppl_f32 - 1)
  double kl_max;      // max mean KL(f32 || quantized)
  double top1_min;    // min argmax agreement
};

std::shared_ptr<const Model> load(const std::string& path) {
  ModelParams mp;
  mp.path = path;
  return Model::load(mp);
}

SessionParams sparams() {
  SessionParams sp;
  sp.n_ctx = 512;
  sp.n_threads = std::getenv("LATTE_PPL_THREADS") ? std::atoi(std::getenv("LATTE_PPL_THREADS")) : 2;
  sp.cache_type = CacheType::F32;
  return sp;
}

}  // namespace

TEST_CASE("quantize: perplexity / KL / top-1 of each type vs the f32 model (tiny-dsv3)") {
  const std::string dir = test::scratch_dir("quantize_ppl");
  const std::string f32 = test::model_path("tiny-dsv3/tiny-dsv3-f32.gguf");
  const Tol tols[] = {
      // README table
      {"q8_0", 2, 0.005, 5e-3, 0.96},
      {"q6_k", 2, 0.010, 1e-2, 0.93},
      {"q4_k_m", 3, 0.025, 5e-2, 0.85},
      {"q4_0", 3, 0.025, 5e-2, 0.85},
      // ours
      {"q5_k_m", 2, 0.015, 2e-2, 0.90},
      {"q5_k", 2, 0.015, 2e-2, 0.90},
      {"q4_k", 2, 0.030, 5e-2, 0.85},
      {"iq4_xs", 2, 0.030, 5e-2, 0.85},
      {"q3_k", 2, 0.080, 1.2e-1, 0.75},
      {"q2_k", 2, 0.250, 3.5e-1, 0.60},
  };
  auto base = load(f32);
  std::ifstream in(test::model_path("validation/val.txt"), std::ios::binary);
  REQUIRE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto toks = base->tokenizer().encode(text, true, false);
  Session bs(base, sparams());
  std::map<int, PerplexityResult> base_ppl;  // by chunk count

  // LATTE_PPL_TYPES="q8_0,q4_0" / LATTE_PPL_CHUNKS=16 narrow or lengthen the run (for measuring, not for CI).
  const char* only = std::getenv("LATTE_PPL_TYPES");
  const char* chunks_env = std::getenv("LATTE_PPL_CHUNKS");
  const std::string ref_dir = std::getenv("LATTE_PPL_REF") ? std::getenv("LATTE_PPL_REF") : "";
  for (Tol t : tols) {
    if (only && ("," + std::string(only) + ",").find("," + std::string(t.type) + ",") == std::string::npos) continue;
    if (chunks_env) t.n_chunks = std::atoi(chunks_env);
    CAPTURE(t.type);
    std::string out = dir + "/tiny-dsv3-" + t.type + ".gguf";
    if (!ref_dir.empty()) {
      out = ref_dir + "/tiny-dsv3-" + t.type + ".gguf";  // measure llama.cpp's file instead
    } else {
      quantize::Options opt;
      opt.threads = 2;
      quantize::quantize_file(f32, out, quantize::parse_target(t.type), opt);
    }
    auto m = load(out);
    Session s(m, sparams());
    PerplexityParams pp;
    pp.n_ctx = 512;
    pp.n_chunks = t.n_chunks;
    pp.bos = m->tokenizer().bos();
    if (!base_ppl.count(t.n_chunks)) base_ppl[t.n_chunks] = compute_perplexity(bs, toks, pp);
    const auto& rb = base_ppl[t.n_chunks];
    pp.kld_base = &bs;
    const auto r = compute_perplexity(s, toks, pp);
    const double rel = r.ppl / rb.ppl - 1.0;
    MESSAGE(t.type << ": ppl " << r.ppl << " vs f32 " << rb.ppl << " (" << 100.0 * rel << " %), mean KL "
                   << r.mean_kld << ", top-1 " << 100.0 * r.top1_agreement << " %, " << r.n_scored << " tokens");
    CHECK(r.n_scored == rb.n_scored);
    CHECK(rel <= t.ppl_rel);
    CHECK(r.mean_kld <= t.kl_max);
    CHECK(r.top1_agreement >= t.top1_min);
    if (ref_dir.empty()) std::remove(out.c_str());
  }
}
