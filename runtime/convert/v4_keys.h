// The deepseek4 hyper-parameter keys of a GGUF, written the way `latte convert` writes them (ik_llama.cpp's key
// names and types, DEEPSEEK_V4.md §1): every key whose absence ik would fill with a default other than the
// model's is written (Sinkhorn iterations, expert-weight normalisation, hash layers, compress ratios, ...).
// Shared by the HF converter (convert_v4.cpp) and the synthetic-model generator (synth.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace latte::gguf { class Writer; }

namespace latte::tools {

struct V4FileKeys {
  std::string name;                        // general.name
  int64_t n_layer = 0, n_ctx = 0, n_embd = 0, n_vocab = 0;
  int64_t n_head = 0, n_head_kv = 1, head_dim = 0, n_rot = 0;  // H, K = V width, RoPE'd tail
  int64_t q_lora = 0, o_groups = 0, o_lora = 0;
  int64_t n_expert = 0, n_used = 0, n_ff_exp = 0, n_shared = 0, n_hash = 0;
  int64_t window = 0, idx_heads = 0, idx_dim = 0, idx_topk = 0;
  int64_t hc = 0, sinkhorn = 0;
  double rms_eps = 1e-6, hc_eps = 1e-6, routed_scale = 1.0, swiglu_limit = 0;
  bool norm_topk = true;
  double theta_main = 10000.0, theta_compress = 0;  // window layers / compressed layers
  bool yarn = false;                                // YaRN on the compressed layers
  double yarn_factor = 1.0, beta_fast = 32.0, beta_slow = 1.0;
  int64_t yarn_orig = 0;
  std::vector<int64_t> ratio;                       // [L] compress ratio per layer (0 = window only)
};

// general.* (architecture, name, file_type, quantization_version, alignment) and deepseek4.* keys, in the order of
// shared/models/tiny-dsv4/gguf-dump-f32.txt. Tokenizer keys are the caller's.
void write_v4_keys(gguf::Writer& w, const V4FileKeys& k, uint32_t file_type);

// Tensors that `latte convert` and synth_model keep in f32 whatever the output type: vectors, norms, the router,
// the selection bias, sinks, mHC, the compressor / indexer projections and position biases (as in the file that
// ik_llama.cpp was shown to load, shared/models/tiny-dsv4/gguf-dump-f32.txt and its bf16 twin).
bool v4_keeps_f32(const std::string& gguf_name, size_t n_dims);

}  // namespace latte::tools
