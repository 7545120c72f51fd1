// Routed experts of a prompt micro-batch as one work queue per MoE layer (prefill; decode uses Ops::gemv_batch).
//
// For n tokens routed to K experts each, with m_e tokens on expert e (Σ m_e = n·K "slots", expert-major, tokens
// ascending inside an expert):
//   1. x is quantized once to the gate/up weights' activation type (per distinct type) and gathered into slot order;
//   2. one parallel region over (expert, row tile of gate/up) items: both products of the tile for the expert's m_e
//      tokens with the multi-token tile kernel, then (clamped) SwiGLU into the hidden rows h[slot][F];
//   3. the hidden rows are quantized once to the down weights' activation type (parallel over slots);
//   4. one parallel region over (expert, row tile of down) items: d[slot][E];
//   5. routed[t] = Σ_k w_tk · d[slot(t, k)], summed in ascending expert order (parallel over tokens).
// Items are sorted by cost (m_e × rows) and taken from an atomic counter (ThreadPool::parallel_items), with row
// tiles small enough that every thread gets several items even when tokens are spread thinly over 64 experts.
// No fork/join per expert, no activation conversion per expert or per thread.
// Thread-safety: one call at a time per scratch; fans out over ops.pool().
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/compute/tensor_view.h"

namespace latte {
class Ops;
class ExpertCache;

struct ExpertQueueScratch {
  std::vector<int32_t> count, offset, slot_tok, slot_of;  // per expert; per slot; per (token, k)
  std::vector<uint8_t> actx, actg, acth;                  // quantized x [n], gathered [slots], hidden [slots]
  std::vector<float> h, d;                                // hidden [slots][F], down outputs [slots][E]
  std::vector<int64_t> items;                             // packed (expert, row tile) work items
  std::vector<std::vector<float>> up;                     // per thread: up outputs of one item [m_e][tile]
  std::vector<TensorView> mats;                           // per expert: gate, up, down 2-D views [3X]
  std::vector<int32_t> round_count, active, ids, tokens;  // experts of one round / of the cache's tickets
  std::vector<char> done;
};

// True if the queue can run these expert tensors (3-D views of one row length each, kernels present); otherwise
// the caller evaluates the experts one by one.
bool expert_queue_supported(const Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down);

// routed[t][0..E) = Σ_k wts[t·K+k] · down_e(silu(gate_e x_t) ⊙ up_e x_t) with e = idx[t·K+k], for x [n][E] (rows E
// floats apart). limit > 0: clamped SwiGLU (ffn.h). routed is overwritten. Adds n·K to *evals if given.
// cache (optional): the experts of layer `layer` come from the expert cache: the used experts are pinned (at most
// cache->max_pin() at a time, each loaded once per call), and steps 2-4 run in rounds over the experts that are
// ready, resident ones first, while the others load. Tiles are chosen from the whole batch, so rounds do not
// change any product: the result is bit-identical to the call without a cache.
void expert_queue_forward(Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down,
                          const float* x, int64_t n, int64_t E, const int32_t* idx, const float* wts, int64_t K,
                          float limit, float* routed, ExpertQueueScratch& s, uint64_t* evals,
                          ExpertCache* cache = nullptr, int32_t layer = 0);

}  // namespace latte
