// Hugging Face DeepSeek-V4 checkpoint -> `deepseek4` GGUF in ik_llama.cpp's tensor names and keys
// (DEEPSEEK_V4.md §1-§3, §12, §14). Two source layouts:
//  * transformers (save_pretrained of DeepseekV4ForCausalLM): `model.layers.N.attn.wq_a.weight`, `head.weight`,
//    `model.hc_head.hc_fn`, float weights, config with layer_types / compress_rates / rope_parameters;
//  * the official release: `layers.N.attn.wq_a.weight` + `.scale` (FP8 e4m3 with 128×128 block scales, scales
//    f32/bf16/E8M0), routed experts `layers.N.ffn.experts.E.w1.weight` as packed FP4 (I8/U8 [out, in/2], low
//    nibble = even element) + `.scale` (E8M0 [out, in/32]), `embed.weight`, `hc_head_fn`, `mtp.*` (skipped), and a
//    config with the legacy compress_ratios / num_hash_layers / rope_scaling fields.
// FP8 weights are dequantized (fp8 · scale) into the output type; FP4 experts are repacked into MXFP4 blocks bit
// for bit (no dequantization), whatever --outtype says. Every key whose absence ik_llama.cpp would fill with a
// default other than the checkpoint's is written (Sinkhorn iterations, expert-weight normalisation, hash layers,
// compress ratios, ...). MTP layers are not converted (nextn_predict_layers = 0).
#pragma once
#include <string>

#include "runtime/convert/convert_hf.h"

namespace latte::tools {

// True if `hf_dir`/config.json names DeepseekV4ForCausalLM or model_type deepseek_v4 (false if unreadable).
bool is_deepseek_v4_checkpoint(const std::string& hf_dir);

// The conversion; called by convert_hf() for V4 checkpoints. Throws latte::Error subclasses naming the file,
// tensor or config field; the output is written to "<out>.tmp" and renamed only on success.
ConvertSummary convert_v4(const ConvertOptions& opt);

}  // namespace latte::tools
