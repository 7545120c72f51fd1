// deepseek2 forward pass (see forward.h).
#include "runtime/model/forward.h"

#include <cstring>

#include "runtime/cache/latent_cache.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/profile.h"
#include "runtime/session/session.h"
#include "runtime/model/weights.h"

namespace latte {

ForwardState::ForwardState(const Model& m) : model(m), rope(m.hparams()) {
  const Hparams& hp = m.hparams();
  router.gating = hp.gating;
  router.n_expert = hp.n_expert;
  router.n_used = hp.n_expert_used;
  router.n_group = hp.n_group;
  router.n_group_used = hp.n_group_used;
  router.norm = hp.expert_weights_norm;
  router.scale = hp.expert_weights_scale;
}

void forward(ForwardState& st, Ops& ops, LatentCache& cache, const int32_t* tokens, int64_t n, int64_t pos0,
             float* logits, bool all_rows) {
  const Hparams& hp = st.model.hparams();
  const ModelWeights& W = st.model.weights();
  const int64_t E = hp.n_embd;
  auto need = [](std::vector<float>& v, int64_t k) {
    if (v.size() < static_cast<size_t>(k)) v.resize(static_cast<size_t>(k));
    return v.data();
  };
  float* x = need(st.x, n * E);
  float* h = need(st.h, n * E);
  float* a = need(st.a, n * E);

  for (int64_t t = 0; t < n; ++t) W.token_embd.tt->dequantize_row(W.token_embd.row(tokens[t]), x + t * E, E);
  ExpertCache* experts = st.model.expert_cache();  // routed experts from the cache (model larger than its budget)
  if (experts) experts->advance(n);

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& L = W.layers[static_cast<size_t>(il)];
    for (int64_t t = 0; t < n; ++t) rmsnorm(x + t * E, L.attn_norm, h + t * E, E, hp.rms_eps);
    mla_forward(ops, hp, st.rope, L, cache, il, h, n, pos0, a, st.mla);
    for (int64_t i = 0; i < n * E; ++i) x[i] += a[i];
    for (int64_t t = 0; t < n; ++t) rmsnorm(x + t * E, L.ffn_norm, h + t * E, E, hp.rms_eps);
    if (L.moe)
      moe_forward(ops, st.router, L, E, h, n, a, st.moe, &st.expert_evals, nullptr, experts, static_cast<int32_t>(il));
    else {
      profile::Scope pd(profile::Phase::Dense);
      swiglu(ops, L.ffn_gate, L.ffn_up, L.ffn_down, h, E, n, a, E, st.ffn);
    }
    for (int64_t i = 0; i < n * E; ++i) x[i] += a[i];
  }

  // Output head: every row, or only the last token's; none when the caller needs no logits (logits == nullptr).
  if (!logits) return;
  profile::Scope ph(profile::Phase::OutputHead);
  const int64_t first = all_rows ? 0 : n - 1;
  const int64_t rows = n - first;
  float* xo = need(st.xo, rows * E);
  for (int64_t t = 0; t < rows; ++t) rmsnorm(x + (first + t) * E, W.output_norm, xo + t * E, E, hp.rms_eps);
  ops.matmul(W.output, xo, E, logits, hp.n_vocab, rows);
}

}  // namespace latte
