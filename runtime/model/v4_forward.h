// The deepseek4 forward pass over a micro-batch of one sequence (DEEPSEEK_V4.md §4–§8): embeddings copied into
// S streams -> per layer [mHC collapse -> attn_norm -> V4 attention -> mHC expand; mHC collapse -> ffn_norm -> MoE
// (sqrt-softplus or hash routing, clamped SwiGLU) -> mHC expand] -> mHC head -> output_norm -> output matrix.
// The layers' raw rows, compressed rows, indexer keys and compressor state are updated in the V4Cache.
// One call at a time per V4ForwardState (the ops fan out over the pool internally).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/model/moe.h"
#include "runtime/model/rope.h"
#include "runtime/model/v4_parts.h"

namespace latte {
class Model;
class V4Cache;
class Ops;

struct V4ForwardState {
  explicit V4ForwardState(const Model& m);
  const Model& model;
  Rope rope_main, rope_compress;
  std::vector<RouterParams> router;  // [L] (clamps differ per layer)
  uint64_t expert_evals = 0;
  // scratch
  std::vector<float> streams, x, h, a, post, comb, mix, xo;
  std::vector<int32_t> fixed;
  V4AttnScratch attn;
  MoeScratch moe;
};

// Evaluates tokens[0..n) at positions pos0..pos0+n-1 (the cache holds the state after pos0 tokens).
// logits: [n][V] if all_rows, else [V] of the last token; nullptr = no output head. Token ids must be in range.
void v4_forward(V4ForwardState& st, Ops& ops, V4Cache& cache, const int32_t* tokens, int64_t n, int64_t pos0,
                float* logits, bool all_rows);

}  // namespace latte
