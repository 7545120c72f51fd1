// Forward-pass primitives (see ops.h).
#include "runtime/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "quant/kernels.h"
#include "runtime/error.h"
#include "runtime/threads.h"

namespace latte {

void rmsnorm(const float* x, const float* g, float* y, int64_t n, float eps) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  if (g) {
    for (int64_t i = 0; i < n; ++i) y[i] = g[i] * (x[i] * scale);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float z = gate[i];
    gate[i] = z / (1.0f + std::exp(-z)) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

Ops::Ops(const KernelTable& kt, const ThreadPool& pool) : kt_(kt), pool_(pool) {}

float Ops::dot(int64_t n, const float* a, const float* b) const {
  if (kt_.dot_f32) return kt_.dot_f32(n, a, b);
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Ops::axpy(int64_t n, float a, const float* x, float* y) const {
  if (kt_.axpy_f32) {
    kt_.axpy_f32(n, a, x, y);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void Ops::matmul(const TensorView& W, const float* X, int64_t ldx, float* Y, int64_t ldy, int64_t n_tok) {
  if (n_tok <= 0) return;
  const int64_t n = W.ne[0], n_out = W.ne[1];
  const uint32_t wid = static_cast<uint32_t>(W.type());
  const VecDotFn vd = kt_.vec_dot[wid];
  const GemvFn gv = kt_.gemv[wid];
  if (!vd && !gv)
    throw UnsupportedError(std::string("no ") + isa_name(kt_.isa) + " kernel for weight type " + W.tt->name +
                           " (tensor " + W.name + ")");

  // Activations in the weight's partner format, converted once per token row.
  const DType at = W.tt->vec_dot_type;
  const uint8_t* act = nullptr;
  size_t act_stride = 0;
  if (at == DType::F32) {
    act = reinterpret_cast<const uint8_t*>(X);
    act_stride = static_cast<size_t>(ldx) * sizeof(float);
  } else {
    const QuantizeActFn q = kt_.quantize_act[static_cast<uint32_t>(at)];
    const TypeTraits& att = type_traits(at);
    act_stride = row_bytes(att, n);
    if (act_.size() < act_stride * static_cast<size_t>(n_tok)) act_.resize(act_stride * static_cast<size_t>(n_tok));
    uint8_t* dst = act_.data();
    auto conv = [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) {
        if (q) q(X + t * ldx, dst + static_cast<size_t>(t) * act_stride, n);
        else att.quantize_row(X + t * ldx, dst + static_cast<size_t>(t) * act_stride, n);
      }
    };
    if (n_tok >= 4) pool_.parallel_for(n_tok, conv);
    else conv(0, n_tok, 0);
    act = dst;
  }

  const size_t nb1 = W.nb1;
  constexpr int64_t kBlock = 16;  // weight rows kept hot while looping over the tokens
  auto body = [&](int64_t r0, int64_t r1, int) {
    for (int64_t rb = r0; rb < r1; rb += kBlock) {
      const int64_t nr = std::min(kBlock, r1 - rb);
      const uint8_t* w = W.row(rb);
      for (int64_t t = 0; t < n_tok; ++t) {
        const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
        float* y = Y + t * ldy + rb;
        if (gv) {
          gv(n, w, nb1, a, y, nr);
        } else {
          for (int64_t r = 0; r < nr; ++r) y[r] = vd(n, w + static_cast<size_t>(r) * nb1, a);
        }
      }
    }
  };
  const double work = static_cast<double>(n) * static_cast<double>(n_out) * static_cast<double>(n_tok);
  if (pool_.size() <= 1 || work < 32768.0) body(0, n_out, 0);
  else pool_.parallel_for(n_out, body, 4);
}

}  // namespace latte
