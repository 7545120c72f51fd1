// deepseek4 (DeepSeek-V4) hyper-parameters, read once from GGUF keys in the loader (DEEPSEEK_V4.md §1, §2, §14),
// inferred from tensor shapes where ik_llama.cpp infers them. Layer kinds (window / CSA / HCA) and hash-routed
// layers are decided here; generic code reads V4Hparams and never checks model names.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/hparams.h"

namespace latte {
namespace gguf { class File; }

// Attention kind of a layer by its compression ratio: 0 = raw window only, m = 4-style two-series pooling with a
// lightning indexer (CSA), otherwise one-series pooling with every row visible (HCA).
enum class V4LayerKind { Window, Csa, Hca };
const char* v4_layer_kind_name(V4LayerKind k);

struct V4Hparams {
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_ctx_train = 0;  // V, D, L
  int64_t n_head = 0, head_dim = 0, n_rot = 0;  // H, Dh (K = V width of the single KV head), Dr (last Dr dims roped)
  int64_t q_lora_rank = 0;                     // Rq
  int64_t o_groups = 0, o_lora_rank = 0;       // G, Ro
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_expert_shared = 0;
  float expert_weights_scale = 1.0f;
  bool expert_weights_norm = false;
  int64_t window = 0;                          // W raw tokens seen by a query (including itself)
  std::vector<int64_t> ratio;                  // [L] compression ratio per layer (0 = window only)
  std::vector<V4LayerKind> kind;               // [L]
  std::vector<bool> hash;                      // [L] experts from ffn_gate_tid2eid
  std::vector<float> clamp_exp, clamp_shexp;   // [L] SwiGLU limits (0 = none)
  int64_t idx_heads = 0, idx_dim = 0, idx_topk = 0;  // Hi, Di, Ki
  int64_t hc = 0;                              // S residual streams
  int64_t sinkhorn_iters = 0;                  // T
  float hc_eps = 1e-6f;
  float rms_eps = 1e-6f;
  // RoPE: window layers use `rope_main` (θm, no scaling); CSA/HCA layers, their compressors and the indexer use
  // `rope_compress` (θc + YaRN, no magnitude factor). Both as deepseek2 Hparams so runtime/model/rope.h serves them.
  Hparams rope_main, rope_compress;

  bool compressed(int64_t il) const { return ratio[static_cast<size_t>(il)] > 0; }
  // Compressed rows per context token of a layer (values), for cache accounting.
  int64_t csa_ratio() const;   // the CSA ratio (0 if no CSA layer)
};

// Reads a `deepseek4` GGUF's keys (general.architecture must be deepseek4). Throws FormatError naming the key or
// tensor that is missing or inconsistent, UnsupportedError for a gating function other than sqrt-softplus.
V4Hparams read_v4_hparams(const gguf::File& f);

// The deepseek2-shaped summary of a V4 file that generic code (session sizes, inspect, perplexity) reads.
Hparams v4_summary_hparams(const V4Hparams& v);

}  // namespace latte
