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
void swiglu(Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down, const float* x,
            int64_t ldx, int64_t n, float* y, int64_t ldy, FfnScratch& s);

}  // namespace latte
