// Multi-head latent attention (GGUF_DEEPSEEK.md §D.3 steps 1-6), absorbed form over the latent cache:
//   q_lat[h] = Kb_hᵀ q_nope[h];  score[h,s] = kq_scale·(q_lat[h]·c_kv[s] + q_pe[h]·k_pe[s]);  p = softmax_s;
//   o_lat[h] = Σ_s p[h,s] c_kv[s];  o[h] = Vb_h o_lat[h];  out = W_o concat_h o[h].
// Thread-safety: uses the Ops' pool internally; one call at a time per scratch/cache.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/cache/cache_codec.h"
#include "runtime/model/mla_flash.h"

namespace latte {
struct Hparams;
struct LayerWeights;
class LatentCache;
class Ops;
class Rope;

// Micro-batches of at least this many tokens (32: short prompts and continuations keep the decode path's exact
// arithmetic, so re-evaluating a short prompt from scratch reproduces a prefix-reused one bit for bit; the
// generate/C-API tests rely on that) run attention flash style (mla_flash.h: online softmax over key blocks,
// parallel over head × query-block items, single-threaded sgemm per item) over the cache rows converted to f32:
// absorbed (all heads share K) or expanded (per head K_nope/V expanded from c_kv, then standard attention),
// whichever needs fewer multiply-adds (use_expanded; LATTE_MLA_FLASH=0 keeps the earlier chunked form;
// measured on the V2-Lite-shaped Q4_K_M synthetic, 2 threads: pp512 @ depth 4096 133 tok/s expanded vs 65
// absorbed, at depth 0 equal within noise). Score memory is bounded (16 MiB chunks, never n x n_ctx). Smaller
// batches (decode) read the encoded rows directly (cache_attention). LATTE_MLA_FORM=absorbed|expanded forces a form.
constexpr int64_t kMlaGemmMinTokens = 32;

struct MlaScratch {
  std::vector<float> cq, q, kv, qcat, olat, o, kv_f32, scores;
  std::vector<float> kb, vb, kexp, vexp;  // expanded prefill: f32 Kb/Vb [H][..], one head's K_nope [m][P], V [m][Dv]
  std::vector<float> cs;        // rope cos/sin of one position [R]
  std::vector<int64_t> limits;  // decode: rows visible to each (token, head) query
  CacheAttnScratch attn;        // decode: attention over the encoded cache rows
  FlashScratch flash;           // prefill: flash-style attention (mla_flash.h)
};

// Attention block for n tokens at positions pos0 .. pos0+n-1 of one sequence, causal over the cache rows [0, pos0)
// plus the new tokens. x: [n][E] input after attn_norm. out: [n][E] (attn_output applied, no residual).
// Writes the n new latent rows into `cache` at pos0.. .
void mla_forward(Ops& ops, const Hparams& hp, const Rope& rope, const LayerWeights& w, LatentCache& cache,
                 int64_t layer, const float* x, int64_t n, int64_t pos0, float* out, MlaScratch& s);

}  // namespace latte
