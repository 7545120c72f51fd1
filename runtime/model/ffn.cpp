// SwiGLU feed-forward (see ffn.h).
#include "runtime/model/ffn.h"

#include "runtime/compute/ops.h"

namespace latte {

void swiglu(Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down, const float* x,
            int64_t ldx, int64_t n, float* y, int64_t ldy, FfnScratch& s) {
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
  for (int64_t t = 0; t < n; ++t) silu_mul(s.g.data() + t * F, s.u.data() + t * F, F);
  ops.matmul(down, s.g.data(), F, y, ldy, n);
}

}  // namespace latte
