// deepseek4 forward pass (see v4_forward.h).
#include "runtime/model/v4_forward.h"

#include <cstring>

#include "runtime/cache/v4_cache.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/profile.h"
#include "runtime/model/model.h"

namespace latte {

V4ForwardState::V4ForwardState(const Model& m)
    : model(m), rope_main(m.v4_hparams().rope_main), rope_compress(m.v4_hparams().rope_compress) {
  const V4Hparams& hp = m.v4_hparams();
  router.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    RouterParams& r = router[static_cast<size_t>(il)];
    r.gating = GatingFunc::SqrtSoftplus;
    r.n_expert = hp.n_expert;
    r.n_used = hp.n_expert_used;
    r.norm = hp.expert_weights_norm;
    r.scale = hp.expert_weights_scale;
    r.limit_exp = hp.clamp_exp[static_cast<size_t>(il)];
    r.limit_shexp = hp.clamp_shexp[static_cast<size_t>(il)];
  }
}

void v4_forward(V4ForwardState& st, Ops& ops, V4Cache& cache, const int32_t* tokens, int64_t n, int64_t pos0,
                float* logits, bool all_rows) {
  const V4Hparams& hp = st.model.v4_hparams();
  const V4Weights& W = st.model.v4_weights();
  const int64_t D = hp.n_embd, S = hp.hc, K = hp.n_expert_used;
  auto need = [](std::vector<float>& v, int64_t k) {
    if (v.size() < static_cast<size_t>(k)) v.resize(static_cast<size_t>(k));
    return v.data();
  };
  float* streams = need(st.streams, n * S * D);
  float* x = need(st.x, n * D);
  float* h = need(st.h, n * D);
  float* a = need(st.a, n * D);
  float* post = need(st.post, n * S);
  float* comb = need(st.comb, n * S * S);

  for (int64_t t = 0; t < n; ++t) {
    float* s0 = streams + t * S * D;
    W.token_embd.tt->dequantize_row(W.token_embd.row(tokens[t]), s0, D);
    for (int64_t i = 1; i < S; ++i) std::memcpy(s0 + i * D, s0, static_cast<size_t>(D) * sizeof(float));
  }

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const V4LayerWeights& L = W.layers[static_cast<size_t>(il)];
    const Rope& rope = L.kind == V4LayerKind::Window ? st.rope_main : st.rope_compress;
    mhc_pre(ops, hp, L.hc_attn, streams, n, x, post, comb, st.mix);
    for (int64_t t = 0; t < n; ++t) rmsnorm(x + t * D, L.attn_norm, h + t * D, D, hp.rms_eps);
    {
      profile::Scope pa(profile::Phase::Attention);  // V4: projections, compressors, indexer and attention
      v4_attention(ops, hp, il, L, rope, cache, h, n, pos0, a, st.attn);
    }
    mhc_post(hp, a, post, comb, streams, n);

    mhc_pre(ops, hp, L.hc_ffn, streams, n, x, post, comb, st.mix);
    for (int64_t t = 0; t < n; ++t) rmsnorm(x + t * D, L.ffn_norm, h + t * D, D, hp.rms_eps);
    const int32_t* fixed = nullptr;
    if (L.tid2eid) {
      st.fixed.resize(static_cast<size_t>(n * K));
      for (int64_t t = 0; t < n; ++t)
        std::memcpy(st.fixed.data() + t * K, L.tid2eid + static_cast<int64_t>(tokens[t]) * K,
                    static_cast<size_t>(K) * sizeof(int32_t));
      fixed = st.fixed.data();
    }
    moe_forward(ops, st.router[static_cast<size_t>(il)], L.moe, D, h, n, a, st.moe, &st.expert_evals, fixed);
    mhc_post(hp, a, post, comb, streams, n);
  }

  if (!logits) return;
  profile::Scope ph(profile::Phase::OutputHead);
  const int64_t first = all_rows ? 0 : n - 1;
  const int64_t rows = n - first;
  float* xo = need(st.xo, rows * D);
  mhc_head(ops, hp, W.output_hc, streams + first * S * D, rows, xo, st.mix);
  for (int64_t t = 0; t < rows; ++t) rmsnorm(xo + t * D, W.output_norm, xo + t * D, D, hp.rms_eps);
  ops.matmul(W.output, xo, D, logits, hp.n_vocab, rows);
}

}  // namespace latte
