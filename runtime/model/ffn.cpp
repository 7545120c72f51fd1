// SwiGLU feed-forward (see ffn.h).
#include "runtime/model/ffn.h"

#include <algorithm>
#include <cmath>

#include "runtime/compute/ops.h"

namespace latte {

void silu_mul_limited(float* gate, const float* up, int64_t n, float limit) {
  if (!(limit > 0.0f)) {
    silu_mul(gate, up, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float g = std::min(gate[i], limit), u = std::clamp(up[i], -limit, limit);
    gate[i] = g / (1.0f + std::exp(-g)) * u;
  }
}

void swiglu(Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down, const float* x,
            int64_t ldx, int64_t n, float* y, int64_t ldy, FfnScratch& s, float limit) {
  const int64_t F = gate.ne[1];
  const size_t need = static_cast<size_t>(n * F);
  if (s.g.size() < need) s.g.resize(need);
  if (s.u.size() < need) s.u.resize(need);
  if (n == 1) {  // decode: both projections of x in one parallel region
    const GemvTask tasks[2] = {{&gate, 0, x, s.g.data()}, {&up, 0, x, s.u.data()}};
    ops.gemv_batch(tasks, 2);
  } else {
    ops.matmul(gate, x, ldx, s.g.data(), F, n);
    ops.matmul(up, x, ldx, s.u.data(), F, n);
  }
  for (int64_t t = 0; t < n; ++t) silu_mul_limited(s.g.data() + t * F, s.u.data() + t * F, F, limit);
  ops.matmul(down, s.g.data(), F, y, ldy, n);
}

}  // namespace latte
