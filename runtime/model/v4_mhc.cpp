// Manifold-constrained hyper-connections of deepseek4 (DEEPSEEK_V4.md §7), in f32 like the reference.
#include <cmath>

#include "runtime/compute/ops.h"
#include "runtime/model/v4_parts.h"

namespace latte {
namespace {

// y [n][outs] = fn · weightless-RMSNorm(streams[t]) for each token.
void mix_inputs(Ops& ops, const V4Hparams& hp, const TensorView& fn, const float* streams, int64_t n, float* y,
                std::vector<float>& scratch) {
  const int64_t SD = hp.hc * hp.n_embd;
  if (scratch.size() < static_cast<size_t>(n * SD)) scratch.resize(static_cast<size_t>(n * SD));
  for (int64_t t = 0; t < n; ++t) rmsnorm(streams + t * SD, nullptr, scratch.data() + t * SD, SD, hp.rms_eps);
  ops.matmul(fn, scratch.data(), SD, y, fn.ne[1], n);
}

}  // namespace

void mhc_pre(Ops& ops, const V4Hparams& hp, const V4Mhc& w, const float* streams, int64_t n, float* collapsed,
             float* post, float* comb, std::vector<float>& scratch) {
  const int64_t S = hp.hc, D = hp.n_embd, outs = (2 + S) * S;
  std::vector<float> y(static_cast<size_t>(n * outs));
  mix_inputs(ops, hp, w.fn, streams, n, y.data(), scratch);
  const float eps = hp.hc_eps;
  for (int64_t t = 0; t < n; ++t) {
    const float* yt = y.data() + t * outs;
    float pre[16];
    for (int64_t i = 0; i < S; ++i) {
      pre[i] = sigmoid(yt[i] * w.scale[0] + w.base[i]) + eps;
      post[t * S + i] = 2.0f * sigmoid(yt[S + i] * w.scale[1] + w.base[S + i]);
    }
    float* M = comb + t * S * S;
    for (int64_t r = 0; r < S; ++r) {
      for (int64_t c = 0; c < S; ++c) M[r * S + c] = yt[2 * S + r * S + c] * w.scale[2] + w.base[2 * S + r * S + c];
      softmax(M + r * S, S);
      for (int64_t c = 0; c < S; ++c) M[r * S + c] += eps;
    }
    auto cols = [&] {
      for (int64_t c = 0; c < S; ++c) {
        float sum = 0;
        for (int64_t r = 0; r < S; ++r) sum += M[r * S + c];
        for (int64_t r = 0; r < S; ++r) M[r * S + c] /= sum + eps;
      }
    };
    cols();
    for (int64_t it = 1; it < hp.sinkhorn_iters; ++it) {
      for (int64_t r = 0; r < S; ++r) {
        float sum = 0;
        for (int64_t c = 0; c < S; ++c) sum += M[r * S + c];
        for (int64_t c = 0; c < S; ++c) M[r * S + c] /= sum + eps;
      }
      cols();
    }
    const float* st = streams + t * S * D;
    float* x = collapsed + t * D;
    for (int64_t d = 0; d < D; ++d) {
      float acc = 0;
      for (int64_t i = 0; i < S; ++i) acc += pre[i] * st[i * D + d];
      x[d] = acc;
    }
  }
}

void mhc_post(const V4Hparams& hp, const float* out, const float* post, const float* comb, float* streams,
              int64_t n) {
  const int64_t S = hp.hc, D = hp.n_embd;
  std::vector<float> old(static_cast<size_t>(S * D));
  for (int64_t t = 0; t < n; ++t) {
    float* st = streams + t * S * D;
    std::copy(st, st + S * D, old.begin());
    const float* M = comb + t * S * S;
    const float* o = out + t * D;
    for (int64_t k = 0; k < S; ++k) {
      const float pk = post[t * S + k];
      float* dst = st + k * D;
      for (int64_t d = 0; d < D; ++d) {
        float acc = pk * o[d];
        for (int64_t j = 0; j < S; ++j) acc += M[j * S + k] * old[static_cast<size_t>(j * D + d)];
        dst[d] = acc;
      }
    }
  }
}

void mhc_head(Ops& ops, const V4Hparams& hp, const V4Mhc& w, const float* streams, int64_t n, float* h,
              std::vector<float>& scratch) {
  const int64_t S = hp.hc, D = hp.n_embd;
  std::vector<float> y(static_cast<size_t>(n * S));
  mix_inputs(ops, hp, w.fn, streams, n, y.data(), scratch);
  for (int64_t t = 0; t < n; ++t) {
    float pre[16];
    for (int64_t i = 0; i < S; ++i) pre[i] = sigmoid(y[static_cast<size_t>(t * S + i)] * w.scale[0] + w.base[i]) + hp.hc_eps;
    const float* st = streams + t * S * D;
    for (int64_t d = 0; d < D; ++d) {
      float acc = 0;
      for (int64_t i = 0; i < S; ++i) acc += pre[i] * st[i * D + d];
      h[t * D + d] = acc;
    }
  }
}

}  // namespace latte
