// Synthetic `deepseek2` GGUFs in the exact shapes of real models, with random weights, for benchmarking
// (bench/synth_model). Presets: v2-lite (DeepSeek-V2-Lite), moonlight (Moonlight-16B-A3B), v3-slice (a few
// DeepSeek-V3 layers at full width). Files use MLA flavour 1 (attn_kv_b only) and carry every key llama.cpp
// requires (GGUF_DEEPSEEK.md §C.1) plus the real DeepSeek-V3 tokenizer, so llama.cpp can load them too.
// `deepseek4` presets (DEEPSEEK_V4.md §1, §13): v4-flash (all 43 layers of DeepSeek-V4-Flash) and v4-flash-slice
// (its first 4 layers: window, window, CSA, HCA, with the real ratios 4 and 128 and 3 hash-routed layers), in
// ik_llama.cpp's names and keys as `latte convert` writes them (runtime/convert/v4_keys.h).
//
// Weights: matrices N(0, 1/sqrt(ne[0])) (token_embd N(0, 1)), norms 1, router N(0, 1/sqrt(E)), exp_probs_b 0,
// so activations stay O(1) through the residual stream. Per-tensor types follow runtime/convert/quantize's rules.
// Two ways to fill a quantized tensor:
//  * exact: every row is drawn and quantized (reference quantizers, rows over threads) — slow for K-quants;
//  * pool (default): a pool of random blocks per (type, stddev) is drawn and quantized once; each block of the
//    tensor is a copy of a randomly chosen pool block. Same value distribution, no structure a kernel could
//    exploit, and generation runs at memory/disk speed.
// Deterministic for a given seed and options (independent of the thread count).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/convert/quantize.h"
#include "runtime/convert/v4_keys.h"

namespace latte::synth {

struct Config {
  std::string preset;         // "v2-lite"
  std::string display_name;   // general.name
  int64_t n_layer = 0, n_embd = 0, n_head = 0;
  int64_t q_lora_rank = 0;    // 0 = no q-LoRA (attn_q)
  int64_t kv_lora_rank = 512, qk_rope = 64, qk_nope = 128, v_dim = 128;
  int64_t n_ff = 0;           // dense FFN width
  int64_t n_leading_dense = 1;
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_expert_shared = 0;
  uint32_t gating = 1;        // 1 softmax, 2 sigmoid
  bool exp_probs_b = false;   // selection bias tensor
  bool weights_norm = false;
  float weights_scale = 1.0f;
  int64_t n_group = 0, n_group_used = 0;  // written only when > 0
  int64_t n_vocab = 129280;
  int64_t n_ctx_train = 163840;
  float rms_eps = 1e-6f;
  float rope_base = 10000.0f;
  bool yarn = false;
  float rope_factor = 1.0f;
  int64_t n_ctx_orig = 0;
  float yarn_log_mul = 0.0f;  // 0.1 · mscale_all_dim
  // deepseek4 presets: `v4` set and every shape in `v4keys` (n_layer, n_embd, n_vocab, n_expert* mirrored above).
  bool v4 = false;
  tools::V4FileKeys v4keys;
};

// A preset by name; throws ArgumentError listing the names.
Config preset(const std::string& name);
std::string preset_names();
// Overrides (bench files that fit a disk): the layer count (deepseek2: leading dense layers capped; deepseek4: the
// V4-Flash layer pattern and hash layers cut to N) and the routed-expert count (≥ experts per token; bytes read
// per token are unchanged). Throw ArgumentError on bad values.
void set_layers(Config& c, int64_t n);
void set_experts(Config& c, int64_t n);

// One tensor of the file, in writing order.
enum class Init { Normal, Ones, Zeros, ExpertIds };  // ExpertIds: I32 rows of distinct random expert ids
struct TensorSpec {
  std::string name;
  std::vector<int64_t> ne;
  Init init = Init::Normal;
  float stddev = 0;
};
std::vector<TensorSpec> tensor_specs(const Config& c);
uint64_t param_count(const Config& c);

struct Options {
  quantize::Target target;                 // per-tensor rules of runtime/convert/quantize
  std::optional<DType> experts_type;       // routed experts (*_exps) in this type when set (V4's native MXFP4)
  int threads = 0;                         // 0 = physical cores
  uint64_t seed = 1;
  bool exact = false;                      // quantize every row instead of sampling a block pool
  std::string vocab_path;                  // GGUF holding tokenizer.* keys (deepseek-v3-vocab.gguf)
  std::function<void(uint64_t, uint64_t, const std::string&)> progress;  // (bytes done, total, tensor)
};

// The type a tensor gets under `opt` (quantize's rules; deepseek4's f32 tensors; experts_type; I32 id tables).
DType tensor_type(const Config& c, const Options& opt, const TensorSpec& s);

struct Result {
  uint64_t tensor_bytes = 0;  // data section payload
  uint64_t file_bytes = 0;
  uint64_t n_params = 0;
  size_t n_tensors = 0;
  double seconds = 0;
  std::map<std::string, size_t> tensors_per_type;
};

// Writes the model to `out_path` (via "<out>.tmp" + rename). Throws latte::Error subclasses.
Result write_model(const Config& c, const Options& opt, const std::string& out_path);

}  // namespace latte::synth
