// Mixture-of-experts block (GGUF_DEEPSEEK.md §D.3 step 10, §D.4): router (softmax or sigmoid scores, selection
// bias for choosing only, optional group-limited top-k, optional normalisation, routed scale), then only the
// selected experts are evaluated — batched per expert over the tokens that chose it — plus the shared experts.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/model/expert_cache.h"
#include "runtime/model/expert_queue.h"
#include "runtime/model/ffn.h"
#include "runtime/model/hparams.h"
#include "runtime/compute/ops.h"

namespace latte {
class Ops;
struct LayerWeights;

struct RouterParams {
  GatingFunc gating = GatingFunc::Softmax;
  int64_t n_expert = 0;       // X
  int64_t n_used = 0;         // K
  int64_t n_group = 0;        // 0 or 1: no group restriction
  int64_t n_group_used = 0;   // groups kept
  bool norm = false;          // normalise the K weights to sum 1
  float scale = 1.0f;         // routed scale, applied after normalisation
  float limit_exp = 0.0f;     // SwiGLU clamp of the routed experts (deepseek4; 0 = none), see ffn.h
  float limit_shexp = 0.0f;   // same for the shared experts
};

// Routes one token. logits: [X] router outputs; bias: [X] selection bias or nullptr. Writes the K chosen experts to
// idx (by descending selection score; ties -> lower index) and their weights to weight. Group rule: sigmoid gating
// scores a group by the sum of its top-2 biased scores (V3), softmax gating by its max (V2); experts of dropped
// groups get selection score 0. Pure; thread-safe.
void route(const RouterParams& p, const float* logits, const float* bias, int32_t* idx, float* weight);
// Hash routing (deepseek4's first layers): the K experts are given (`ids`, a row of ffn_gate_tid2eid); their
// weights are the gating scores at those ids, normalised and scaled as in route(). Pure; thread-safe.
void route_fixed(const RouterParams& p, const float* logits, const int32_t* ids, int32_t* idx, float* weight);

struct MoeScratch {
  std::vector<float> logits, xg, yg, wts, routed;
  std::vector<int32_t> idx, order;
  std::vector<GemvTask> tasks;  // decode: the step's gate/up, then down products
  std::vector<std::vector<std::pair<int32_t, float>>> by_expert;  // expert -> (token, weight)
  FfnScratch ffn;
  ExpertQueueScratch queue;  // prefill: routed experts as one work queue (expert_queue.h)
  // Expert cache (decode): the pinned experts, their ids ascending, and which were computed in the first pass.
  ExpertCache::Ticket ticket;
  std::vector<int32_t> ids;
  std::vector<char> early;
};

// y[n][E] = Σ_k w_k·Expert_k(x) + Shared(x) for each token row of x [n][E]. Adds the number of (token, expert)
// evaluations (n × K) to *expert_evals if given. `fixed` ([n][K], optional): hash-routed expert ids per token.
// `cache` (optional): the routed experts of layer `layer` come from this expert cache instead of w's stacked views
// (the resident ones are computed while the missing ones load); the result is bit-identical.
void moe_forward(Ops& ops, const RouterParams& rp, const LayerWeights& w, int64_t n_embd, const float* x, int64_t n,
                 float* y, MoeScratch& s, uint64_t* expert_evals, const int32_t* fixed = nullptr,
                 ExpertCache* cache = nullptr, int32_t layer = 0);

}  // namespace latte
