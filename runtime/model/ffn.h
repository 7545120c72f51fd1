// SwiGLU feed-forward: y = down · (silu(gate · x) ⊙ (up · x)). Used by the dense layers, the shared experts and
// each routed expert (with 2-D slices of the stacked expert tensors). GGUF_DEEPSEEK.md §D.3 steps 9, 10.8-10.9.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/compute/tensor_view.h"

namespace latte {
class Ops;

struct FfnScratch {
  std::vector<float> g, u;
};

// x: [n][ldx] (first gate.ne[0] values used); y: [n][ldy] receives down.ne[1] values per token (overwritten).
// limit > 0 (deepseek4's clamped SwiGLU): gate clamped to at most limit, up to [-limit, limit], before the product.
void swiglu(Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down, const float* x,
            int64_t ldx, int64_t n, float* y, int64_t ldy, FfnScratch& s, float limit = 0.0f);
// gate[i] = silu(min(gate[i], limit)) · clamp(up[i], -limit, limit); limit 0 = plain silu_mul.
void silu_mul_limited(float* gate, const float* up, int64_t n, float limit);

}  // namespace latte
