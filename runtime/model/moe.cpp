// MoE router and expert dispatch (see moe.h).
#include "runtime/model/moe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <numeric>

#include "runtime/compute/ops.h"
#include "runtime/compute/profile.h"
#include "runtime/model/expert_queue.h"
#include "runtime/model/weights.h"

namespace latte {

namespace {
// LATTE_MOE_QUEUE=0 evaluates the routed experts of a micro-batch one at a time (the earlier path; measurement).
bool expert_queue_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("LATTE_MOE_QUEUE");
    return !(e && std::string(e) == "0");
  }();
  return on;
}

// sqrt(softplus(x)) with torch's softplus threshold (x > 20: x).
float sqrt_softplus(float x) { return std::sqrt(x > 20.0f ? x : std::log1p(std::exp(x))); }
}  // namespace

void route_fixed(const RouterParams& p, const float* logits, const int32_t* ids, int32_t* idx, float* weight) {
  double sum = 0.0;
  for (int64_t k = 0; k < p.n_used; ++k) {
    const float l = logits[ids[k]];
    idx[k] = ids[k];
    weight[k] = p.gating == GatingFunc::SqrtSoftplus ? sqrt_softplus(l)
                : p.gating == GatingFunc::Sigmoid    ? sigmoid(l)
                                                     : l;
    sum += weight[k];
  }
  const float norm = p.norm ? static_cast<float>(1.0 / (sum + 1e-20)) : 1.0f;
  for (int64_t k = 0; k < p.n_used; ++k) weight[k] *= norm * p.scale;
}

void route(const RouterParams& p, const float* logits, const float* bias, int32_t* idx, float* weight) {
  const int64_t X = p.n_expert, K = p.n_used;
  // Per-thread scratch: no allocation per routed token once grown (route() stays pure and thread-safe).
  thread_local std::vector<float> probs, sel, gscore;
  thread_local std::vector<int64_t> gorder;
  thread_local std::vector<char> keep;
  thread_local std::vector<int32_t> order;
  probs.assign(logits, logits + X);
  if (p.gating == GatingFunc::Sigmoid) {
    for (auto& v : probs) v = sigmoid(v);
  } else if (p.gating == GatingFunc::SqrtSoftplus) {
    for (auto& v : probs) v = sqrt_softplus(v);
  } else {
    softmax(probs.data(), X);
  }
  sel.assign(probs.begin(), probs.end());
  if (bias)
    for (int64_t e = 0; e < X; ++e) sel[static_cast<size_t>(e)] += bias[e];

  if (p.n_group > 1 && p.n_group_used < p.n_group) {
    const int64_t G = p.n_group, gs = X / G;
    gscore.resize(static_cast<size_t>(G));
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
    gorder.resize(static_cast<size_t>(G));
    std::iota(gorder.begin(), gorder.end(), 0);
    std::stable_sort(gorder.begin(), gorder.end(),
                     [&](int64_t a, int64_t b) { return gscore[static_cast<size_t>(a)] > gscore[static_cast<size_t>(b)]; });
    keep.assign(static_cast<size_t>(G), 0);
    for (int64_t i = 0; i < p.n_group_used; ++i) keep[static_cast<size_t>(gorder[static_cast<size_t>(i)])] = 1;
    for (int64_t e = 0; e < X; ++e)
      if (!keep[static_cast<size_t>(e / gs)]) sel[static_cast<size_t>(e)] = 0.0f;
  }

  order.resize(static_cast<size_t>(X));
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

namespace {

// Decode (one token): the shared experts and the K selected experts share the input x, so every gate and up
// projection runs in one parallel region, then every down projection in a second; the routed outputs are summed
// in ascending expert order (like the batched path) and added to the shared output. s.idx / s.wts hold the route.
void moe_decode_step(Ops& ops, const RouterParams& rp, const LayerWeights& w, int64_t E, const float* x, float* y,
                     MoeScratch& s, int64_t K, ExpertCache* cache, int32_t layer) {
  const bool shared = w.ffn_gate_shexp.valid();
  const int64_t Fe = w.ffn_gate_exps.ne[1], Fs = shared ? w.ffn_gate_shexp.ne[1] : 0;
  s.order.resize(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) s.order[static_cast<size_t>(k)] = static_cast<int32_t>(k);
  std::sort(s.order.begin(), s.order.end(),
            [&](int32_t a, int32_t b) { return s.idx[static_cast<size_t>(a)] < s.idx[static_cast<size_t>(b)]; });
  // Hidden buffers: g/u [Fs + K·Fe] (shared first), outputs yg [(1 + K)·E].
  const size_t hid = static_cast<size_t>(Fs + K * Fe);
  if (s.ffn.g.size() < hid) s.ffn.g.resize(hid);
  if (s.ffn.u.size() < hid) s.ffn.u.resize(hid);
  if (s.yg.size() < static_cast<size_t>((K + 1) * E)) s.yg.resize(static_cast<size_t>((K + 1) * E));
  float* g = s.ffn.g.data();
  float* u = s.ffn.u.data();
  float* yg = s.yg.data();
  if (cache) {
    // Experts from the cache: pin the K (ascending ids; misses start loading), compute the shared experts and the
    // resident routed ones, then the rest as they arrive. Each product is the same call on the same bytes as
    // below, so the sum (same order) is bit-identical.
    s.ids.resize(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) s.ids[static_cast<size_t>(k)] = s.idx[static_cast<size_t>(s.order[static_cast<size_t>(k)])];
    cache->acquire(layer, s.ids.data(), nullptr, K, s.ticket);
    s.early.assign(static_cast<size_t>(K), 0);
    for (int64_t k = 0; k < K; ++k) s.early[static_cast<size_t>(k)] = cache->ready(s.ticket, k);
    try {
      for (int pass = 0; pass < 2; ++pass) {
        s.tasks.clear();
        if (shared && pass == 0) {
          s.tasks.push_back({&w.ffn_gate_shexp, 0, x, g});
          s.tasks.push_back({&w.ffn_up_shexp, 0, x, u});
        }
        for (int64_t k = 0; k < K; ++k) {
          if (s.early[static_cast<size_t>(k)] != (pass == 0)) continue;
          const ExpertViews& v = pass == 0 ? cache->views(s.ticket, k) : cache->wait(s.ticket, k);
          s.tasks.push_back({&v.gate, 0, x, g + Fs + k * Fe});
          s.tasks.push_back({&v.up, 0, x, u + Fs + k * Fe});
        }
        if (s.tasks.empty()) continue;
        ops.gemv_batch(s.tasks.data(), static_cast<int64_t>(s.tasks.size()));
        if (shared && pass == 0) silu_mul_limited(g, u, Fs, rp.limit_shexp);
        for (int64_t k = 0; k < K; ++k)
          if (s.early[static_cast<size_t>(k)] == (pass == 0))
            silu_mul_limited(g + Fs + k * Fe, u + Fs + k * Fe, Fe, rp.limit_exp);
        s.tasks.clear();
        if (shared && pass == 0) s.tasks.push_back({&w.ffn_down_shexp, 0, g, yg});
        for (int64_t k = 0; k < K; ++k)
          if (s.early[static_cast<size_t>(k)] == (pass == 0))
            s.tasks.push_back({&cache->views(s.ticket, k).down, 0, g + Fs + k * Fe, yg + (k + 1) * E});
        ops.gemv_batch(s.tasks.data(), static_cast<int64_t>(s.tasks.size()));
      }
    } catch (...) {
      cache->release(s.ticket);
      throw;
    }
    cache->release(s.ticket);
  } else {
  s.tasks.clear();
  if (shared) {
    s.tasks.push_back({&w.ffn_gate_shexp, 0, x, g});
    s.tasks.push_back({&w.ffn_up_shexp, 0, x, u});
  }
  for (int64_t k = 0; k < K; ++k) {
    const int64_t e = s.idx[static_cast<size_t>(s.order[static_cast<size_t>(k)])];
    s.tasks.push_back({&w.ffn_gate_exps, e, x, g + Fs + k * Fe});
    s.tasks.push_back({&w.ffn_up_exps, e, x, u + Fs + k * Fe});
  }
  ops.gemv_batch(s.tasks.data(), static_cast<int64_t>(s.tasks.size()));
  silu_mul_limited(g, u, Fs, rp.limit_shexp);
  silu_mul_limited(g + Fs, u + Fs, K * Fe, rp.limit_exp);
  s.tasks.clear();
  if (shared) s.tasks.push_back({&w.ffn_down_shexp, 0, g, yg});
  for (int64_t k = 0; k < K; ++k) {
    const int64_t e = s.idx[static_cast<size_t>(s.order[static_cast<size_t>(k)])];
    s.tasks.push_back({&w.ffn_down_exps, e, g + Fs + k * Fe, yg + (k + 1) * E});
  }
  ops.gemv_batch(s.tasks.data(), static_cast<int64_t>(s.tasks.size()));
  }
  for (int64_t j = 0; j < E; ++j) {
    float r = 0.0f;
    for (int64_t k = 0; k < K; ++k) r += s.wts[static_cast<size_t>(s.order[static_cast<size_t>(k)])] * yg[(k + 1) * E + j];
    y[j] = (shared ? yg[j] : 0.0f) + r;
  }
}

}  // namespace

void moe_forward(Ops& ops, const RouterParams& rp, const LayerWeights& w, int64_t E, const float* x, int64_t n,
                 float* y, MoeScratch& s, uint64_t* expert_evals, const int32_t* fixed, ExpertCache* cache,
                 int32_t layer) {
  const int64_t X = rp.n_expert, K = rp.n_used;
  {
    profile::Scope prof_router(profile::Phase::Router);
    // Router logits [n][X] (F32 weights in practice), then per-token routing.
    s.logits.resize(static_cast<size_t>(n * X));
    ops.matmul(w.ffn_gate_inp, x, E, s.logits.data(), X, n);
    s.idx.resize(static_cast<size_t>(n * K));
    s.wts.resize(static_cast<size_t>(n * K));
    for (int64_t t = 0; t < n; ++t) {
      if (fixed) route_fixed(rp, s.logits.data() + t * X, fixed + t * K, s.idx.data() + t * K, s.wts.data() + t * K);
      else route(rp, s.logits.data() + t * X, w.exp_probs_b, s.idx.data() + t * K, s.wts.data() + t * K);
    }

    // Group the (token, weight) pairs by expert.
    s.by_expert.resize(static_cast<size_t>(X));
    for (auto& v : s.by_expert) v.clear();
    for (int64_t t = 0; t < n; ++t)
      for (int64_t k = 0; k < K; ++k)
        s.by_expert[static_cast<size_t>(s.idx[static_cast<size_t>(t * K + k)])].push_back(
            {static_cast<int32_t>(t), s.wts[static_cast<size_t>(t * K + k)]});
  }
  if (n == 1) {
    profile::Scope ps(profile::Phase::RoutedExperts);  // decode: shared and routed products share regions
    moe_decode_step(ops, rp, w, E, x, y, s, K, cache, layer);
    if (expert_evals) *expert_evals += static_cast<uint64_t>(K);
    return;
  }
  // Shared experts first (overwrites y), then each selected expert once over its gathered tokens.
  if (w.ffn_gate_shexp.valid()) {
    profile::Scope ps(profile::Phase::SharedExperts);
    swiglu(ops, w.ffn_gate_shexp, w.ffn_up_shexp, w.ffn_down_shexp, x, E, n, y, E, s.ffn, rp.limit_shexp);
  } else {
    std::fill(y, y + n * E, 0.0f);
  }
  profile::Scope pr(profile::Phase::RoutedExperts);
  // Routed sum accumulated separately so that y = routed + shared is summed in the reference order.
  s.routed.resize(static_cast<size_t>(n * E));
  float* routed = s.routed.data();
  if (expert_queue_enabled() && expert_queue_supported(ops, w.ffn_gate_exps, w.ffn_up_exps, w.ffn_down_exps)) {
    expert_queue_forward(ops, w.ffn_gate_exps, w.ffn_up_exps, w.ffn_down_exps, x, n, E, s.idx.data(), s.wts.data(),
                         K, rp.limit_exp, routed, s.queue, expert_evals, cache, layer);
    for (int64_t i = 0; i < n * E; ++i) y[i] += routed[i];
    return;
  }
  std::fill(routed, routed + n * E, 0.0f);
  for (int64_t e = 0; e < X; ++e) {
    const auto& list = s.by_expert[static_cast<size_t>(e)];
    const int64_t m = static_cast<int64_t>(list.size());
    if (m == 0) continue;
    s.xg.resize(static_cast<size_t>(m * E));
    s.yg.resize(static_cast<size_t>(m * E));
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(s.xg.data() + i * E, x + list[static_cast<size_t>(i)].first * E, static_cast<size_t>(E) * 4);
    if (cache) {
      const int32_t id = static_cast<int32_t>(e), nt = static_cast<int32_t>(m);
      cache->acquire(layer, &id, &nt, 1, s.ticket);
      try {
        const ExpertViews& v = cache->wait(s.ticket, 0);
        swiglu(ops, v.gate, v.up, v.down, s.xg.data(), E, m, s.yg.data(), E, s.ffn, rp.limit_exp);
      } catch (...) {
        cache->release(s.ticket);
        throw;
      }
      cache->release(s.ticket);
    } else {
      swiglu(ops, w.ffn_gate_exps.matrix(e), w.ffn_up_exps.matrix(e), w.ffn_down_exps.matrix(e), s.xg.data(), E, m,
             s.yg.data(), E, s.ffn, rp.limit_exp);
    }
    for (int64_t i = 0; i < m; ++i) {
      const auto [t, wt] = list[static_cast<size_t>(i)];
      float* dst = routed + static_cast<int64_t>(t) * E;
      const float* src = s.yg.data() + i * E;
      for (int64_t j = 0; j < E; ++j) dst[j] += wt * src[j];
    }
    if (expert_evals) *expert_evals += static_cast<uint64_t>(m);
  }
  for (int64_t i = 0; i < n * E; ++i) y[i] += routed[i];
}

}  // namespace latte
