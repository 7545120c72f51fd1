// deepseek4 keys (see v4_keys.h).
#include "runtime/convert/v4_keys.h"

#include "formats/gguf.h"

namespace latte::tools {

void write_v4_keys(gguf::Writer& w, const V4FileKeys& c, uint32_t file_type) {
  const std::string a = "deepseek4.";
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  w.set_string("general.architecture", "deepseek4");
  w.set_string("general.name", c.name);
  w.set_u32("general.file_type", file_type);
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.alignment", 32);  // written although it is the default, as in the reference dump
  w.set_u32(a + "block_count", u32(c.n_layer));
  w.set_u32(a + "context_length", u32(c.n_ctx));
  w.set_u32(a + "embedding_length", u32(c.n_embd));
  w.set_u32(a + "feed_forward_length", u32(c.n_ff_exp));  // every layer is MoE: no dense FFN width
  w.set_u32(a + "attention.head_count", u32(c.n_head));
  w.set_u32(a + "attention.head_count_kv", u32(c.n_head_kv));
  w.set_u32(a + "attention.key_length", u32(c.head_dim));
  w.set_u32(a + "attention.value_length", u32(c.head_dim));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_eps));
  w.set_u32(a + "rope.dimension_count", u32(c.n_rot));
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.theta_main));
  w.set_f32(a + "rope.freq_base_swa", static_cast<float>(c.theta_main));
  if (c.yarn) {
    w.set_string(a + "rope.scaling.type", "yarn");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.yarn_factor));
    w.set_u32(a + "rope.scaling.original_context_length", u32(c.yarn_orig));
    // ik's and Latte's defaults are 32 / 1; other values must be said.
    if (c.beta_fast != 32.0) w.set_f32(a + "rope.scaling.yarn_beta_fast", static_cast<float>(c.beta_fast));
    if (c.beta_slow != 1.0) w.set_f32(a + "rope.scaling.yarn_beta_slow", static_cast<float>(c.beta_slow));
  }
  w.set_u32(a + "vocab_size", u32(c.n_vocab));
  w.set_u32(a + "expert_feed_forward_length", u32(c.n_ff_exp));
  w.set_u32(a + "expert_count", u32(c.n_expert));
  w.set_u32(a + "expert_used_count", u32(c.n_used));
  w.set_u32(a + "expert_shared_count", u32(c.n_shared));
  w.set_f32(a + "expert_weights_scale", static_cast<float>(c.routed_scale));
  w.set_bool(a + "expert_weights_norm", c.norm_topk);  // ik: false when missing (§14.2)
  w.set_u32(a + "expert_gating_func", 4);                // sqrt-softplus
  w.set_u32(a + "leading_dense_block_count", 0);
  const std::vector<float> clamp(static_cast<size_t>(c.n_layer), static_cast<float>(c.swiglu_limit));
  w.set_f32_array(a + "swiglu_clamp_exp", clamp);
  w.set_f32_array(a + "swiglu_clamp_shexp", clamp);
  w.set_u32(a + "attention.q_lora_rank", u32(c.q_lora));
  w.set_u32(a + "attention.kv_lora_rank", u32(c.head_dim));
  w.set_u32(a + "attention.indexer.head_count", u32(c.idx_heads));
  w.set_u32(a + "attention.indexer.key_length", u32(c.idx_dim));
  w.set_u32(a + "attention.indexer.top_k", u32(c.idx_topk));
  w.set_u32(a + "attention.sliding_window", u32(c.window));
  w.set_u32(a + "attention.output_group_count", u32(c.o_groups));
  w.set_u32(a + "attention.output_lora_rank", u32(c.o_lora));
  std::vector<int32_t> ratios(c.ratio.begin(), c.ratio.end());
  w.set_i32_array(a + "attention.compress_ratios", ratios);
  w.set_f32(a + "attention.compress_rope_freq_base", static_cast<float>(c.theta_compress));
  w.set_u32(a + "hyper_connection.count", u32(c.hc));
  w.set_u32(a + "hyper_connection.sinkhorn_iterations", u32(c.sinkhorn));  // ik: 3 when missing (§14.1)
  w.set_f32(a + "hyper_connection.epsilon", static_cast<float>(c.hc_eps));
  w.set_u32(a + "hash_layer_count", u32(c.n_hash));  // ik: 0 when missing (§14.3)
  w.set_u32(a + "nextn_predict_layers", 0);          // MTP layers are not converted
}


bool v4_keeps_f32(const std::string& name, size_t n_dims) {
  static const char* keep[] = {"_norm.", "ffn_gate_inp.",   "exp_probs_b.",     "attn_sinks.",  "hc_",
                               "_ape.",  "compressor_kv.", "compressor_gate.", "indexer.proj."};
  if (n_dims <= 1) return true;
  for (const char* k : keep)
    if (name.find(k) != std::string::npos) return true;
  return false;
}

}  // namespace latte::tools
