// The deepseek2 forward pass over a micro-batch of tokens of one sequence (GGUF_DEEPSEEK.md §D.3):
// embeddings -> per layer [RMSNorm -> MLA -> residual -> RMSNorm -> dense SwiGLU or MoE -> residual]
// -> RMSNorm -> output matrix. The latent rows of the new tokens are appended to the cache.
// One call at a time per ForwardState (the ops fan out over the pool internally).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/model/ffn.h"
#include "runtime/model/mla.h"
#include "runtime/model/moe.h"
#include "runtime/model/rope.h"

namespace latte {
class Model;
class LatentCache;
class Ops;

struct ForwardState {
  explicit ForwardState(const Model& m);
  const Model& model;
  Rope rope;
  RouterParams router;
  uint64_t expert_evals = 0;  // (token, routed expert) evaluations so far
  // scratch
  std::vector<float> x, h, a, xo;
  MlaScratch mla;
  MoeScratch moe;
  FfnScratch ffn;
};

// Evaluates tokens[0..n) at positions pos0..pos0+n-1 (cache rows [0, pos0) must be valid and pos0+n <= n_ctx).
// logits: [n][n_vocab] if all_rows, else [n_vocab] for the last token only; nullptr = no output head (cache only).
// Token ids must be in range.
void forward(ForwardState& st, Ops& ops, LatentCache& cache, const int32_t* tokens, int64_t n, int64_t pos0,
             float* logits, bool all_rows);

}  // namespace latte
