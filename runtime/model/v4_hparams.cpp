// deepseek4 hyper-parameters from GGUF metadata (see v4_hparams.h). The only place that knows deepseek4 key names.
#include "runtime/model/v4_hparams.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "formats/error.h"
#include "formats/gguf.h"

namespace latte {
namespace {

constexpr const char* kArch = "deepseek4";

std::string key(const char* suffix) { return std::string(kArch) + "." + suffix; }

struct Keys {
  const gguf::File& f;
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(f.path() + ": " + what); }
  int64_t req(const char* k) const {
    auto v = f.get_uint(key(k));
    if (!v) fail("missing required key " + key(k));
    return static_cast<int64_t>(*v);
  }
  int64_t opt(const char* k, int64_t def) const {
    auto v = f.get_uint(key(k));
    return v ? static_cast<int64_t>(*v) : def;
  }
  float optf(const char* k, float def) const {
    auto v = f.get_float(key(k));
    return v ? static_cast<float>(*v) : def;
  }
  bool has(const char* k) const { return f.has(key(k)); }
  // ne[d] of a tensor, or -1 if absent.
  int64_t ne(const std::string& t, int d) const {
    const gguf::TensorInfo* ti = f.find_tensor(t);
    return ti ? ti->ne[d] : -1;
  }
  bool tensor(const std::string& t) const { return f.find_tensor(t) != nullptr; }
  void positive(const char* what, int64_t v) const {
    if (v <= 0) fail(std::string(what) + " must be > 0 (got " + std::to_string(v) + ")");
  }
  // Per-layer float (scalar or array of >= L entries); `def` when absent.
  std::vector<float> per_layer(const char* k, int64_t L, float def) const {
    std::vector<float> out(static_cast<size_t>(L), def);
    const gguf::KeyValue* kv = f.find(key(k));
    if (!kv) return out;
    if (kv->type != gguf::ValueType::ARRAY) {
      std::fill(out.begin(), out.end(), static_cast<float>(*f.get_float(key(k))));
      return out;
    }
    auto a = f.get_float_array(key(k));
    if (static_cast<int64_t>(a.size()) < L)
      fail("key " + key(k) + " has " + std::to_string(a.size()) + " entries, fewer than block_count " +
           std::to_string(L));
    std::copy(a.begin(), a.begin() + L, out.begin());
    return out;
  }
};

std::string blk(int64_t il, const char* name) { return "blk." + std::to_string(il) + "." + name; }

// First present name of a tensor among its alternates (DEEPSEEK_V4.md §3), or "".
std::string first_of(const Keys& k, int64_t il, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (k.tensor(blk(il, n))) return blk(il, n);
  return "";
}

}  // namespace

const char* v4_layer_kind_name(V4LayerKind k) {
  switch (k) {
    case V4LayerKind::Window: return "window";
    case V4LayerKind::Csa: return "CSA";
    case V4LayerKind::Hca: return "HCA";
  }
  return "?";
}

int64_t V4Hparams::csa_ratio() const {
  for (size_t i = 0; i < kind.size(); ++i)
    if (kind[i] == V4LayerKind::Csa) return ratio[i];
  return 0;
}

V4Hparams read_v4_hparams(const gguf::File& f) {
  auto arch = f.get_string("general.architecture");
  if (!arch) throw FormatError(f.path() + ": missing required key general.architecture");
  if (*arch != kArch) throw UnsupportedError("unsupported architecture " + std::string(*arch) + " in " + f.path());
  const Keys k{f};
  V4Hparams h;
  h.n_embd = k.req("embedding_length");
  h.n_layer = k.req("block_count");
  k.positive("embedding_length", h.n_embd);
  k.positive("block_count", h.n_layer);
  // nextn (MTP) blocks are not run: drop them from the layer count (ik: block_count = L + nextn).
  const int64_t nextn = k.opt("nextn_predict_layers", 0);
  if (nextn > 0 && nextn < h.n_layer && k.tensor(blk(h.n_layer - nextn, "nextn.eh_proj.weight"))) h.n_layer -= nextn;
  h.n_ctx_train = k.opt("context_length", 0);
  h.n_head = k.req("attention.head_count");
  k.positive("attention.head_count", h.n_head);
  h.head_dim = k.opt("attention.key_length", 0);
  if (h.head_dim <= 0) h.head_dim = k.ne("blk.0.attn_kv_a_norm.weight", 0);
  k.positive("attention.key_length", h.head_dim);
  if (k.has("attention.value_length") && k.opt("attention.value_length", 0) != h.head_dim)
    k.fail("attention.value_length " + std::to_string(k.opt("attention.value_length", 0)) +
           " differs from attention.key_length " + std::to_string(h.head_dim) + " (V4 uses K = V)");
  const int64_t kv_rank = k.opt("attention.kv_lora_rank", k.ne("blk.0.attn_kv_a_norm.weight", 0));
  if (kv_rank != h.head_dim)
    k.fail("attention.kv_lora_rank / attn_kv_a_norm width " + std::to_string(kv_rank) + " differs from head width " +
           std::to_string(h.head_dim));
  h.n_rot = k.req("rope.dimension_count");
  if (h.n_rot <= 0 || h.n_rot % 2 != 0 || h.n_rot > h.head_dim)
    k.fail("rope.dimension_count " + std::to_string(h.n_rot) + " must be even and at most the head width");
  h.q_lora_rank = k.opt("attention.q_lora_rank", k.ne("blk.0.attn_q_a.weight", 1));
  k.positive("attention.q_lora_rank", h.q_lora_rank);
  {
    auto eps = f.get_float(key("attention.layer_norm_rms_epsilon"));
    if (!eps) k.fail("missing required key " + key("attention.layer_norm_rms_epsilon"));
    h.rms_eps = static_cast<float>(*eps);
  }
  // Grouped output (§1: inferred from attn_output_a / attn_output_b when the keys are absent).
  const int64_t oa_in = k.ne("blk.0.attn_output_a.weight", 0), ob_in = k.ne("blk.0.attn_output_b.weight", 0);
  if (oa_in <= 0 || ob_in <= 0) k.fail("missing tensor blk.0.attn_output_a.weight / attn_output_b.weight");
  h.o_groups = k.opt("attention.output_group_count", h.n_head * h.head_dim / oa_in);
  k.positive("attention.output_group_count", h.o_groups);
  h.o_lora_rank = k.opt("attention.output_lora_rank", ob_in / h.o_groups);
  k.positive("attention.output_lora_rank", h.o_lora_rank);
  if (h.n_head % h.o_groups != 0)
    k.fail("attention.output_group_count " + std::to_string(h.o_groups) + " does not divide head_count " +
           std::to_string(h.n_head));

  // MoE (§8). Every layer is MoE.
  h.n_expert = k.req("expert_count");
  h.n_expert_used = k.req("expert_used_count");
  h.n_ff_exp = k.req("expert_feed_forward_length");
  h.n_expert_shared = k.opt("expert_shared_count", 0);
  k.positive("expert_count", h.n_expert);
  k.positive("expert_used_count", h.n_expert_used);
  k.positive("expert_feed_forward_length", h.n_ff_exp);
  if (h.n_expert_used > h.n_expert) k.fail("expert_used_count > expert_count");
  if (!k.has("expert_weights_scale")) k.fail("missing required key " + key("expert_weights_scale"));
  h.expert_weights_scale = k.optf("expert_weights_scale", 1.0f);
  h.expert_weights_norm = f.get_bool(key("expert_weights_norm")).value_or(false);  // ik's default (§14.2)
  const int64_t gating = k.opt("expert_gating_func", 4);
  if (gating != 4)
    throw UnsupportedError(f.path() + ": " + key("expert_gating_func") + " " + std::to_string(gating) +
                           " (deepseek4 routes with sqrt-softplus, 4)");
  h.clamp_exp = k.per_layer("swiglu_clamp_exp", h.n_layer, 0.0f);
  h.clamp_shexp = k.per_layer("swiglu_clamp_shexp", h.n_layer, 0.0f);
  if (!k.has("swiglu_clamp_shexp")) h.clamp_shexp = h.clamp_exp;  // ik: shexp defaults to exp

  // Hash-routed layers: hash_layer_count when present (ik); without it, the layers that carry ffn_gate_tid2eid
  // (a table only hash layers have, so routing them by the router would run them without their bias).
  h.hash.assign(static_cast<size_t>(h.n_layer), false);
  const int64_t n_hash = k.opt("hash_layer_count", -1);
  for (int64_t il = 0; il < h.n_layer; ++il) {
    const bool has_table = k.tensor(blk(il, "ffn_gate_tid2eid.weight"));
    const bool is_hash = n_hash >= 0 ? il < n_hash : has_table;
    if (is_hash && !has_table) k.fail("missing tensor " + blk(il, "ffn_gate_tid2eid.weight") + " of a hash layer");
    h.hash[static_cast<size_t>(il)] = is_hash;
  }

  // Layer kinds (§2): attention.compress_ratios, else from the tensors present.
  h.window = k.opt("attention.sliding_window", 0);
  k.positive("attention.sliding_window", h.window);
  h.ratio.assign(static_cast<size_t>(h.n_layer), 0);
  if (k.has("attention.compress_ratios")) {
    auto a = f.get_int_array(key("attention.compress_ratios"));
    if (static_cast<int64_t>(a.size()) < h.n_layer)
      k.fail("key " + key("attention.compress_ratios") + " has " + std::to_string(a.size()) +
             " entries, fewer than block_count " + std::to_string(h.n_layer));
    for (int64_t il = 0; il < h.n_layer; ++il) {
      if (a[static_cast<size_t>(il)] < 0 || a[static_cast<size_t>(il)] == 1)
        k.fail("key " + key("attention.compress_ratios") + " entry " + std::to_string(il) + " is " +
               std::to_string(a[static_cast<size_t>(il)]));
      h.ratio[static_cast<size_t>(il)] = a[static_cast<size_t>(il)];
    }
  }
  h.idx_heads = k.opt("attention.indexer.head_count", 0);
  h.idx_dim = k.opt("attention.indexer.key_length", 0);
  h.idx_topk = k.opt("attention.indexer.top_k", 0);
  h.kind.assign(static_cast<size_t>(h.n_layer), V4LayerKind::Window);
  for (int64_t il = 0; il < h.n_layer; ++il) {
    const bool comp = !first_of(k, il, {"attn_compressor_kv.weight", "attn_compress_kv.weight"}).empty();
    const bool idx = k.tensor(blk(il, "indexer.attn_q_b.weight"));
    if (idx && !comp) k.fail("tensor " + blk(il, "indexer.attn_q_b.weight") + " present without a compressor");
    int64_t& r = h.ratio[static_cast<size_t>(il)];
    if (!k.has("attention.compress_ratios")) r = idx ? 4 : comp ? 128 : 0;  // ik's inference (§2)
    if (r > 0 && !comp) k.fail("missing tensor " + blk(il, "attn_compressor_kv.weight") + " (compress ratio " +
                               std::to_string(r) + ")");
    if (r == 0 && comp) k.fail("layer " + std::to_string(il) + " has compressor tensors but compress ratio 0");
    h.kind[static_cast<size_t>(il)] = r == 0 ? V4LayerKind::Window : idx ? V4LayerKind::Csa : V4LayerKind::Hca;
    if (idx) {
      k.positive("attention.indexer.head_count", h.idx_heads);
      k.positive("attention.indexer.key_length", h.idx_dim);
      k.positive("attention.indexer.top_k", h.idx_topk);
      if (h.idx_dim < h.n_rot) k.fail("attention.indexer.key_length smaller than rope.dimension_count");
    }
  }

  // mHC (§7).
  h.hc = k.opt("hyper_connection.count", k.ne("output_hc_base.weight", 0));
  k.positive("hyper_connection.count", h.hc);
  h.sinkhorn_iters = k.opt("hyper_connection.sinkhorn_iterations", 3);  // ik's default when missing (§14.1)
  k.positive("hyper_connection.sinkhorn_iterations", h.sinkhorn_iters);
  h.hc_eps = k.optf("hyper_connection.epsilon", h.rms_eps);

  // Vocabulary from the embedding matrix.
  h.n_vocab = k.ne("token_embd.weight", 1);
  if (h.n_vocab <= 0) k.fail("missing tensor token_embd.weight");

  // RoPE (§6): main θm without scaling; compressed layers θc with YaRN frequencies, no magnitude factor.
  Hparams& m = h.rope_main;
  m.qk_rope = h.n_rot;
  m.rope_base = k.optf("rope.freq_base", 10000.0f);
  Hparams& c = h.rope_compress;
  c.qk_rope = h.n_rot;
  c.rope_base = k.optf("attention.compress_rope_freq_base", k.optf("rope.freq_base_swa", m.rope_base));
  const std::string scaling = std::string(f.get_string(key("rope.scaling.type")).value_or("none"));
  if (scaling != "none" && scaling != "yarn")
    throw UnsupportedError(f.path() + ": unsupported " + key("rope.scaling.type") + " '" + scaling + "'");
  const float factor = k.optf("rope.scaling.factor", 1.0f);
  if (!(factor > 0.0f)) k.fail("rope.scaling.factor must be > 0");
  if (scaling == "yarn" && factor != 1.0f) {
    c.yarn = true;
    c.rope_factor = factor;
    c.freq_scale = 1.0f / factor;
    c.ext_factor = 1.0f;
    c.n_ctx_orig = k.opt("rope.scaling.original_context_length", h.n_ctx_train);
    k.positive("rope.scaling.original_context_length", c.n_ctx_orig);
    c.beta_fast = k.optf("rope.scaling.yarn_beta_fast", 32.0f);
    c.beta_slow = k.optf("rope.scaling.yarn_beta_slow", 1.0f);
  }
  return h;
}

Hparams v4_summary_hparams(const V4Hparams& v) {
  Hparams h;
  h.arch = "deepseek4";
  h.n_vocab = v.n_vocab;
  h.n_embd = v.n_embd;
  h.n_layer = v.n_layer;
  h.n_ctx_train = v.n_ctx_train;
  h.n_head = v.n_head;
  h.q_lora_rank = v.q_lora_rank;
  h.kv_lora_rank = v.head_dim;
  h.qk_rope = v.n_rot;
  h.qk_nope = v.head_dim - v.n_rot;
  h.v_dim = v.head_dim;
  h.n_ff_exp = v.n_ff_exp;
  h.n_expert = v.n_expert;
  h.n_expert_used = v.n_expert_used;
  h.n_expert_shared = v.n_expert_shared;
  h.expert_weights_norm = v.expert_weights_norm;
  h.expert_weights_scale = v.expert_weights_scale;
  h.rms_eps = v.rms_eps;
  h.rope_base = v.rope_main.rope_base;
  return h;
}

}  // namespace latte
