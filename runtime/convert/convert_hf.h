// Hugging Face DeepSeek-V2/V3 checkpoint directory -> deepseek2 GGUF (GGUF_DEEPSEEK.md §C.6), in C++.
// Reads config.json, tokenizer.json + tokenizer_config.json and *.safetensors (single file or sharded index),
// merges routed experts into 3-D tensors, writes attn_kv_b and the split attn_k_b / attn_v_b, skips MTP layers,
// dequantizes FP8 e4m3 weights with block-wise weight_scale_inv on the fly. DeepSeek-V4 checkpoints (config names
// DeepseekV4ForCausalLM) go to runtime/convert/convert_v4.h and give deepseek4 files. Tensors are streamed in row chunks:
// memory stays at ~16 MiB of output plus ~4 MiB of f32 scratch. The output is written to "<out>.tmp" and renamed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace latte::tools {

struct ConvertOptions {
  std::string hf_dir;
  std::string out_path;
  std::string outtype = "bf16";  // f32 | f16 | bf16 | q8_0 (2-D weights; norms, router and biases stay f32)
  bool split_kv_b = true;        // also write attn_k_b / attn_v_b (MLA flavour 2)
  std::string pre;               // tokenizer.ggml.pre override (empty = detect)
  // Called after each tensor is written: (done, total, tensor name).
  std::function<void(size_t, size_t, const std::string&)> progress;
};

struct ConvertSummary {
  std::string architecture;  // "DeepseekV3ForCausalLM"
  size_t n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t out_bytes = 0;   // size of the written file
  size_t skipped_mtp = 0;   // source tensors of MTP layers that were dropped
};

ConvertSummary convert_hf(const ConvertOptions& opt);

}  // namespace latte::tools
