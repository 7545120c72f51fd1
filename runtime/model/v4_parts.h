// The pieces of the deepseek4 layer (DEEPSEEK_V4.md §4–§8), used by runtime/model/v4_forward.cpp:
// mHC (v4_mhc.cpp), the compressors' pooling (v4_compressor.cpp), attention with the indexer (v4_attention.cpp).
// All activations f32, row-major [tokens][width]. Not thread-safe per scratch object.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/compute/ops.h"
#include "runtime/model/rope.h"
#include "runtime/model/v4_hparams.h"
#include "runtime/model/v4_weights.h"

namespace latte {
class Ops;
class V4Cache;

// ---- mHC (§7) ----
// streams [n][S][D] -> collapsed [n][D] = Σ_i pre_i·stream_i, post [n][S], comb [n][S][S] (Sinkhorn-normalised).
void mhc_pre(Ops& ops, const V4Hparams& hp, const V4Mhc& w, const float* streams, int64_t n, float* collapsed,
             float* post, float* comb, std::vector<float>& scratch);
// streams'[k] = post_k·out + Σ_j comb[j][k]·streams[j], in place. out [n][D].
void mhc_post(const V4Hparams& hp, const float* out, const float* post, const float* comb, float* streams, int64_t n);
// Final head: h [n][D] = Σ_i (sigmoid(y_i·scale + base_i) + eps)·stream_i, y = fn·rmsnorm(flat streams).
void mhc_head(Ops& ops, const V4Hparams& hp, const V4Mhc& w, const float* streams, int64_t n, float* h,
              std::vector<float>& scratch);

// ---- compressor pooling (§5.1–§5.3) ----
struct CompressorShape {
  int64_t ratio = 0;     // m
  int64_t width = 0;     // Dc: values of one pooled row (Dh main, Di indexer)
  bool overlap = false;  // CSA: two series (channels 0..Dc-1 = a, Dc..2Dc-1 = b), row j pools a of block j-1 + b of j
  int64_t slots() const { return overlap ? 2 * ratio : ratio; }
  int64_t channels() const { return overlap ? 2 * width : width; }  // w: values of C and Z per token
  int64_t state_floats() const { return slots() * 2 * channels(); }
};
// Adds token `pos` (C, Z: w values; ape[pos mod m] is added to Z here) to the partial state [slots][2w]. When pos
// completes block j = pos / m, writes the pooled row, RMS-normed with `norm` and rotated at j·m, to `row` (Dc) and
// returns true.
bool compressor_push(const CompressorShape& cs, float* state, const float* ape, const float* norm, float eps,
                     const Rope& rope, int64_t pos, const float* C, const float* Z, float* row);

// ---- attention (§4, §5.4) ----
struct V4AttnScratch {
  std::vector<float> cq, q, kv, c, z, ic, iz, iq, iw, o, u, row, key, keys;
  std::vector<GemvTask> tasks;   // decode: the products that share an input, in one region
  std::vector<TensorView> groups;  // [G] row blocks of attn_output_a
};
// out [n][D] = attention of the attn-normed inputs h [n][D] at positions pos0.. of layer il; appends the layer's
// completed compressed rows / indexer keys and the raw rows to `cache`.
void v4_attention(Ops& ops, const V4Hparams& hp, int64_t il, const V4LayerWeights& L, const Rope& rope,
                  V4Cache& cache, const float* h, int64_t n, int64_t pos0, float* out, V4AttnScratch& s);

}  // namespace latte
