// deepseek2 hyper-parameters, read once from GGUF keys in the loader (GGUF_DEEPSEEK.md §C.1). Variants
// (V2, V2-Lite, V3, Kimi, Moonlight) differ only by these fields; generic code never checks model names.
#pragma once
#include <cstdint>
#include <string>

namespace latte {
namespace gguf { class File; }

enum class GatingFunc { Softmax = 1, Sigmoid = 2, SqrtSoftplus = 4 };  // 4: deepseek4, sqrt(softplus(logit))
enum class MlaFlavour { KvB, KvBAndSplit, Split3D };  // §C.2: classic, ik-converted, new-MLA

struct Hparams {
  std::string arch = "deepseek2";
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_ctx_train = 0;
  int64_t n_head = 0;
  int64_t q_lora_rank = 0;        // 0 = no q-LoRA (attn_q)
  int64_t kv_lora_rank = 0;       // Nkv
  int64_t qk_rope = 0, qk_nope = 0, v_dim = 0;  // R, P, Dv
  int64_t n_ff = 0;               // dense FFN width
  int64_t n_ff_exp = 0;           // expert width
  int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0;
  int64_t n_leading_dense = 0;
  int64_t n_group = 0, n_group_used = 0;  // 0 = no group-limited routing
  GatingFunc gating = GatingFunc::Softmax;
  bool expert_weights_norm = false;
  float expert_weights_scale = 1.0f;
  float rms_eps = 1e-6f;
  // RoPE / YaRN
  float rope_base = 10000.0f;
  bool yarn = false;
  float rope_factor = 1.0f;       // scaling factor (1 = none)
  int64_t n_ctx_orig = 0;
  float yarn_log_mul = 0.0f;
  float yarn_attn_factor = 1.0f;
  float beta_fast = 32.0f, beta_slow = 1.0f;
  float kq_scale = 0.0f;          // derived: mscale^2 / sqrt(P + R)
  MlaFlavour flavour = MlaFlavour::KvB;
  bool has_exp_probs_b = false;
  float freq_scale = 1.0f;        // derived: 1/rope_factor for yarn/linear scaling, else 1
  float ext_factor = 0.0f;        // derived: 1 for yarn (blend extrapolated/interpolated frequencies), else 0

  bool has_q_lora() const { return q_lora_rank > 0; }
  bool is_moe_layer(int64_t il) const { return il >= n_leading_dense; }

  int64_t qk_head_dim() const { return qk_nope + qk_rope; }
  int64_t latent_dim() const { return kv_lora_rank + qk_rope; }  // values cached per token and layer
};

// Reads the §C.1 keys of a `deepseek2` GGUF with their defaults, detects the MLA flavour (§C.2/§F) and whether
// q-LoRA is present (by tensors, never by layer count), derives kq_scale (§D.1) and the YaRN constants.
// Throws UnsupportedError ("unsupported architecture X", unknown gating func) or FormatError naming the key.
Hparams read_hparams(const gguf::File& f);

}  // namespace latte
