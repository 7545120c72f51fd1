// deepseek2 hyper-parameters from GGUF metadata (GGUF_DEEPSEEK.md §C.1 keys and defaults, §C.2 flavour
// detection, §D.1 derived constants). The only place that knows key names; everything else reads Hparams.
#include <cmath>
#include <string>

#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/model/hparams.h"

namespace latte {
namespace {

constexpr const char* kArch = "deepseek2";

std::string key(const char* suffix) { return std::string(kArch) + "." + suffix; }

[[noreturn]] void missing(const gguf::File& f, const std::string& k) {
  throw FormatError(f.path() + ": missing required key " + k);
}

int64_t req_uint(const gguf::File& f, const std::string& k) {
  auto v = f.get_uint(k);
  if (!v) missing(f, k);
  return static_cast<int64_t>(*v);
}

int64_t opt_uint(const gguf::File& f, const std::string& k, int64_t def) {
  auto v = f.get_uint(k);
  return v ? static_cast<int64_t>(*v) : def;
}

float opt_float(const gguf::File& f, const std::string& k, float def) {
  auto v = f.get_float(k);
  return v ? static_cast<float>(*v) : def;
}

// A count that may be stored as a scalar or as a per-layer array (§C.1). Arrays must be uniform over the layers
// where the value applies (`from` .. n_layer-1); returns `def` when absent.
int64_t uniform_count(const gguf::File& f, const std::string& k, int64_t def, int64_t from = 0) {
  const gguf::KeyValue* kv = f.find(k);
  if (!kv) return def;
  if (kv->type != gguf::ValueType::ARRAY) return static_cast<int64_t>(*f.get_uint(k));
  auto arr = f.get_int_array(k);
  if (arr.empty()) throw FormatError(f.path() + ": key " + k + " is an empty array");
  int64_t v = -1;
  for (size_t i = static_cast<size_t>(from); i < arr.size(); ++i) {
    if (arr[i] < 0) throw FormatError(f.path() + ": key " + k + " has a negative entry");
    if (v < 0) v = arr[i];
    else if (arr[i] != v) throw UnsupportedError(f.path() + ": key " + k + " varies per layer (not supported)");
  }
  return v < 0 ? arr[0] : v;
}

void require_positive(const gguf::File& f, const char* what, int64_t v) {
  if (v <= 0) throw FormatError(f.path() + ": " + what + " must be > 0 (got " + std::to_string(v) + ")");
}

}  // namespace

Hparams read_hparams(const gguf::File& f) {
  auto arch = f.get_string("general.architecture");
  if (!arch) throw FormatError(f.path() + ": missing required key general.architecture");
  if (*arch != kArch) throw UnsupportedError("unsupported architecture " + std::string(*arch) + " in " + f.path());

  Hparams h;
  h.n_ctx_train = req_uint(f, key("context_length"));
  h.n_embd = req_uint(f, key("embedding_length"));
  h.n_layer = req_uint(f, key("block_count"));
  require_positive(f, "embedding_length", h.n_embd);
  require_positive(f, "block_count", h.n_layer);
  h.n_leading_dense = req_uint(f, key("leading_dense_block_count"));
  if (h.n_leading_dense > h.n_layer) throw FormatError(f.path() + ": leading_dense_block_count > block_count");
  h.n_head = uniform_count(f, key("attention.head_count"), 0);
  require_positive(f, "attention.head_count", h.n_head);
  const int64_t n_head_kv = uniform_count(f, key("attention.head_count_kv"), h.n_head);
  h.n_ff = uniform_count(f, key("feed_forward_length"), 0);

  {
    auto eps = f.get_float(key("attention.layer_norm_rms_epsilon"));
    if (!eps) missing(f, key("attention.layer_norm_rms_epsilon"));
    h.rms_eps = static_cast<float>(*eps);
  }
  h.kv_lora_rank = req_uint(f, key("attention.kv_lora_rank"));
  require_positive(f, "attention.kv_lora_rank", h.kv_lora_rank);

  if (!f.find_tensor("token_embd.weight"))
    throw FormatError(f.path() + ": missing tensor token_embd.weight (a vocabulary-only file cannot be run)");

  // Flavour (§C.2, §F step 4): attn_kv_b present => classic / ik-converted; absent => new-MLA.
  const bool has_kv_b = f.find_tensor("blk.0.attn_kv_b.weight") != nullptr;
  const bool has_k_b = f.find_tensor("blk.0.attn_k_b.weight") != nullptr;
  const int64_t key_len = opt_uint(f, key("attention.key_length"), h.n_embd / h.n_head);
  const int64_t val_len = opt_uint(f, key("attention.value_length"), h.n_embd / h.n_head);
  h.qk_rope = opt_uint(f, key("rope.dimension_count"), key_len);
  int64_t d_qk = 0;
  if (has_kv_b) {
    h.flavour = has_k_b ? MlaFlavour::KvBAndSplit : MlaFlavour::KvB;
    d_qk = key_len;
    h.v_dim = val_len;
  } else {
    if (!has_k_b) throw FormatError(f.path() + ": neither blk.0.attn_kv_b.weight nor blk.0.attn_k_b.weight present");
    h.flavour = MlaFlavour::Split3D;
    d_qk = opt_uint(f, key("attention.key_length_mla"), 192);
    h.v_dim = opt_uint(f, key("attention.value_length_mla"), 128);
    (void)n_head_kv;  // 1 in new-MLA files; the real head count is head_count
  }
  h.qk_nope = d_qk - h.qk_rope;
  if (h.qk_rope <= 0 || h.qk_rope % 2 != 0 || h.qk_nope <= 0)
    throw FormatError(f.path() + ": inconsistent key_length " + std::to_string(d_qk) + " / rope.dimension_count " +
                      std::to_string(h.qk_rope));
  require_positive(f, "attention.value_length", h.v_dim);

  // q-LoRA by tensors/keys, not by layer count (§C.1 "lite").
  if (f.find_tensor("blk.0.attn_q_a.weight")) {
    h.q_lora_rank = opt_uint(f, key("attention.q_lora_rank"), 0);
    if (h.q_lora_rank <= 0) h.q_lora_rank = f.find_tensor("blk.0.attn_q_a.weight")->ne[1];
  } else {
    if (!f.find_tensor("blk.0.attn_q.weight"))
      throw FormatError(f.path() + ": neither blk.0.attn_q_a.weight nor blk.0.attn_q.weight present");
    h.q_lora_rank = 0;
  }

  // Vocabulary from the embedding matrix (the vocab_size key is only a label).
  if (const auto* emb = f.find_tensor("token_embd.weight")) h.n_vocab = emb->ne[1];
  else throw FormatError(f.path() + ": missing tensor token_embd.weight");

  // MoE (§C.1).
  const bool any_moe = h.n_leading_dense < h.n_layer;
  h.n_expert = opt_uint(f, key("expert_count"), 0);
  h.n_expert_used = opt_uint(f, key("expert_used_count"), 0);
  h.n_expert_shared = opt_uint(f, key("expert_shared_count"), 0);
  h.n_ff_exp = opt_uint(f, key("expert_feed_forward_length"), 0);
  h.expert_weights_scale = opt_float(f, key("expert_weights_scale"), 1.0f);
  h.expert_weights_norm = f.get_bool(key("expert_weights_norm")).value_or(false);
  if (any_moe) {
    require_positive(f, "expert_count", h.n_expert);
    require_positive(f, "expert_used_count", h.n_expert_used);
    require_positive(f, "expert_feed_forward_length", h.n_ff_exp);
    if (h.n_expert_used > h.n_expert) throw FormatError(f.path() + ": expert_used_count > expert_count");
    if (!f.has(key("expert_weights_scale"))) missing(f, key("expert_weights_scale"));
  }
  if (h.n_leading_dense > 0) require_positive(f, "feed_forward_length", h.n_ff);
  const int64_t gating = opt_uint(f, key("expert_gating_func"), 0);
  if (gating == 0 || gating == 1) h.gating = GatingFunc::Softmax;
  else if (gating == 2) h.gating = GatingFunc::Sigmoid;
  else throw UnsupportedError(f.path() + ": unsupported " + key("expert_gating_func") + " " + std::to_string(gating));
  h.n_group = opt_uint(f, key("expert_group_count"), 0);
  h.n_group_used = opt_uint(f, key("expert_group_used_count"), 0);
  if (h.n_group > 1) {
    if (h.n_expert % h.n_group != 0 || h.n_group_used <= 0 || h.n_group_used > h.n_group)
      throw FormatError(f.path() + ": inconsistent expert_group_count / expert_group_used_count");
  } else {
    h.n_group = h.n_group_used = 0;
  }
  if (any_moe) {
    const std::string first_moe = "blk." + std::to_string(h.n_leading_dense) + ".exp_probs_b.bias";
    h.has_exp_probs_b = f.find_tensor(first_moe) != nullptr;
  }

  // RoPE / YaRN (§D.1).
  h.rope_base = opt_float(f, key("rope.freq_base"), 10000.0f);
  const std::string scaling = std::string(f.get_string(key("rope.scaling.type")).value_or("linear"));
  if (scaling != "none" && scaling != "linear" && scaling != "yarn")
    throw UnsupportedError(f.path() + ": unsupported " + key("rope.scaling.type") + " '" + scaling + "'");
  float factor = opt_float(f, key("rope.scaling.factor"), 0.0f);
  if (factor == 0.0f) {
    const float lin = opt_float(f, key("rope.scale_linear"), 0.0f);
    factor = lin != 0.0f ? lin : 1.0f;
  }
  if (!(factor > 0.0f)) throw FormatError(f.path() + ": rope.scaling.factor must be > 0");
  h.rope_factor = scaling == "none" ? 1.0f : factor;
  h.freq_scale = 1.0f / h.rope_factor;
  h.yarn = scaling == "yarn";
  h.ext_factor = h.yarn ? 1.0f : 0.0f;
  h.n_ctx_orig = opt_uint(f, key("rope.scaling.original_context_length"), h.n_ctx_train);
  h.yarn_log_mul = opt_float(f, key("rope.scaling.yarn_log_multiplier"), 0.0f);
  h.yarn_attn_factor = opt_float(f, key("rope.scaling.attn_factor"), 1.0f);

  // kq_scale = mscale^2 / sqrt(Dqk), mscale = attn_factor * (1 + yarn_log_mul * ln(1/freq_scale)).
  const double mscale =
      static_cast<double>(h.yarn_attn_factor) * (1.0 + h.yarn_log_mul * std::log(1.0 / h.freq_scale));
  h.kq_scale = static_cast<float>(mscale * mscale / std::sqrt(static_cast<double>(h.qk_head_dim())));
  return h;
}

}  // namespace latte
