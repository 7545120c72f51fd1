// MoE router and expert dispatch (see moe.h).
#include "runtime/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/ops.h"
#include "runtime/weights.h"

namespace latte {

void route(const RouterParams& p, const float* logits, const float* bias, int32_t* idx, float* weight) {
  const int64_t X = p.n_expert, K = p.n_used;
  std::vector<float> probs(logits, logits + X);
  if (p.gating == GatingFunc::Sigmoid) {
    for (auto& v : probs) v = sigmoid(v);
  } else {
    softmax(probs.data(), X);
  }
  std::vector<float> sel(probs);
  if (bias)
    for (int64_t e = 0; e < X; ++e) sel[static_cast<size_t>(e)] += bias[e];

  if (p.n_group > 1 && p.n_group_used < p.n_group) {
    const int64_t G = p.n_group, gs = X / G;
    std::vector<float> gscore(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      const float* b = sel.data() + g * gs;
      if (p.gating == GatingFunc::Sigmoid) {
        // sum of the top-2 scores of the group
        float t1 = -INFINITY, t2 = -INFINITY;
        for (int64_t i = 0; i < gs; ++i) {
          if (b[i] > t1) { t2 = t1; t1 = b[i]; }
          else if (b[i] > t2) t2 = b[i];
        }
        gscore[static_cast<size_t>(g)] = gs >= 2 ? t1 + t2 : t1;
      } else {
        gscore[static_cast<size_t>(g)] = *std::max_element(b, b + gs);
      }
    }
    std::vector<int64_t> gorder(static_cast<size_t>(G));
    std::iota(gorder.begin(), gorder.end(), 0);
    std::stable_sort(gorder.begin(), gorder.end(),
                     [&](int64_t a, int64_t b) { return gscore[static_cast<size_t>(a)] > gscore[static_cast<size_t>(b)]; });
    std::vector<bool> keep(static_cast<size_t>(G), false);
    for (int64_t i = 0; i < p.n_group_used; ++i) keep[static_cast<size_t>(gorder[static_cast<size_t>(i)])] = true;
    for (int64_t e = 0; e < X; ++e)
      if (!keep[static_cast<size_t>(e / gs)]) sel[static_cast<size_t>(e)] = 0.0f;
  }

  std::vector<int32_t> order(static_cast<size_t>(X));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int32_t a, int32_t b) {
    const float sa = sel[static_cast<size_t>(a)], sb = sel[static_cast<size_t>(b)];
    return sa > sb || (sa == sb && a < b);
  });
  double sum = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    idx[k] = order[static_cast<size_t>(k)];
    weight[k] = probs[static_cast<size_t>(idx[k])];
    sum += weight[k];
  }
  const float norm = p.norm ? static_cast<float>(1.0 / (sum + 1e-20)) : 1.0f;
  for (int64_t k = 0; k < K; ++k) weight[k] *= norm * p.scale;
}

void moe_forward(Ops& ops, const RouterParams& rp, const LayerWeights& w, int64_t E, const float* x, int64_t n,
                 float* y, MoeScratch& s, uint64_t* expert_evals) {
  const int64_t X = rp.n_expert, K = rp.n_used;
  // Router logits [n][X] (F32 weights in practice), then per-token routing.
  s.logits.resize(static_cast<size_t>(n * X));
  ops.matmul(w.ffn_gate_inp, x, E, s.logits.data(), X, n);
  s.idx.resize(static_cast<size_t>(n * K));
  s.wts.resize(static_cast<size_t>(n * K));
  for (int64_t t = 0; t < n; ++t)
    route(rp, s.logits.data() + t * X, w.exp_probs_b, s.idx.data() + t * K, s.wts.data() + t * K);

  // Group the (token, weight) pairs by expert.
  s.by_expert.resize(static_cast<size_t>(X));
  for (auto& v : s.by_expert) v.clear();
  for (int64_t t = 0; t < n; ++t)
    for (int64_t k = 0; k < K; ++k)
      s.by_expert[static_cast<size_t>(s.idx[static_cast<size_t>(t * K + k)])].push_back(
          {static_cast<int32_t>(t), s.wts[static_cast<size_t>(t * K + k)]});

  // Shared experts first (overwrites y), then each selected expert once over its gathered tokens.
  if (w.ffn_gate_shexp.valid()) swiglu(ops, w.ffn_gate_shexp, w.ffn_up_shexp, w.ffn_down_shexp, x, E, n, y, E, s.ffn);
  else std::fill(y, y + n * E, 0.0f);
  // Routed sum accumulated separately so that y = routed + shared is summed in the reference order.
  std::vector<float> routed(static_cast<size_t>(n * E), 0.0f);
  if (n == 1) {
    // Decode: the K selected experts share the input; each projection runs as one product over K matrices
    // (one parallel region instead of K), in ascending expert order like the batched path.
    std::vector<int32_t> sel(s.idx.begin(), s.idx.begin() + K);
    std::vector<float> wsel(static_cast<size_t>(K));
    std::vector<int64_t> order(static_cast<size_t>(K));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sel[a] < sel[b]; });
    std::vector<int32_t> mats(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      mats[static_cast<size_t>(k)] = sel[static_cast<size_t>(order[static_cast<size_t>(k)])];
      wsel[static_cast<size_t>(k)] = s.wts[static_cast<size_t>(order[static_cast<size_t>(k)])];
    }
    const int64_t Fe = w.ffn_gate_exps.ne[1];
    s.ffn.g.resize(static_cast<size_t>(K * Fe));
    s.ffn.u.resize(static_cast<size_t>(K * Fe));
    s.yg.resize(static_cast<size_t>(K * E));
    ops.matmul_3d(w.ffn_gate_exps, x, E, 0, s.ffn.g.data(), Fe, Fe, 1, mats.data(), K);
    ops.matmul_3d(w.ffn_up_exps, x, E, 0, s.ffn.u.data(), Fe, Fe, 1, mats.data(), K);
    silu_mul(s.ffn.g.data(), s.ffn.u.data(), K * Fe);
    ops.matmul_3d(w.ffn_down_exps, s.ffn.g.data(), Fe, Fe, s.yg.data(), E, E, 1, mats.data(), K);
    for (int64_t k = 0; k < K; ++k) {
      const float wt = wsel[static_cast<size_t>(k)];
      const float* src = s.yg.data() + k * E;
      for (int64_t j = 0; j < E; ++j) routed[static_cast<size_t>(j)] += wt * src[j];
    }
    if (expert_evals) *expert_evals += static_cast<uint64_t>(K);
    for (int64_t i = 0; i < E; ++i) y[i] += routed[static_cast<size_t>(i)];
    return;
  }
  for (int64_t e = 0; e < X; ++e) {
    const auto& list = s.by_expert[static_cast<size_t>(e)];
    const int64_t m = static_cast<int64_t>(list.size());
    if (m == 0) continue;
    s.xg.resize(static_cast<size_t>(m * E));
    s.yg.resize(static_cast<size_t>(m * E));
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(s.xg.data() + i * E, x + list[static_cast<size_t>(i)].first * E, static_cast<size_t>(E) * 4);
    swiglu(ops, w.ffn_gate_exps.matrix(e), w.ffn_up_exps.matrix(e), w.ffn_down_exps.matrix(e), s.xg.data(), E, m,
           s.yg.data(), E, s.ffn);
    for (int64_t i = 0; i < m; ++i) {
      const auto [t, wt] = list[static_cast<size_t>(i)];
      float* dst = routed.data() + static_cast<int64_t>(t) * E;
      const float* src = s.yg.data() + i * E;
      for (int64_t j = 0; j < E; ++j) dst[j] += wt * src[j];
    }
    if (expert_evals) *expert_evals += static_cast<uint64_t>(m);
  }
  for (int64_t i = 0; i < n * E; ++i) y[i] += routed[static_cast<size_t>(i)];
}

}  // namespace latte
