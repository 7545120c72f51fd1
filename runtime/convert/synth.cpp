// Synthetic deepseek2 models: presets, tensor list, random fill (exact or block pool), streaming write.
#include "runtime/convert/synth.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"

namespace latte::synth {

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// splitmix64 finaliser: a stateless hash of a counter, good enough for random weights.
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Approximately N(0, 1): Irwin–Hall sum of four 16-bit uniforms (variance 1/3, rescaled). Tails end at ±3.46σ,
// which is harmless for benchmarking weights.
inline float normal_from(uint64_t r) {
  float s = float(r & 0xFFFF) + float((r >> 16) & 0xFFFF) + float((r >> 32) & 0xFFFF) + float(r >> 48);
  return ((s + 2.0f) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

void fill_normal(float* dst, int64_t n, float stddev, uint64_t stream) {
  uint64_t base = mix64(stream);
  for (int64_t i = 0; i < n; ++i) dst[i] = stddev * normal_from(mix64(base + uint64_t(i)));
}

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// A pool of quantized random blocks of one (type, stddev).
struct BlockPool {
  std::vector<uint8_t> bytes;
  int64_t n_blocks = 0;
  size_t block_bytes = 0;
};

BlockPool make_pool(DType t, float stddev, uint64_t seed, const ThreadPool& pool) {
  const TypeTraits& tr = type_traits(t);
  BlockPool p;
  p.block_bytes = tr.block_bytes;
  // ~1 M values: large enough that no two rows of a tensor look alike, small enough to quantize in a second.
  p.n_blocks = std::max<int64_t>(int64_t(1) << 12, (int64_t(1) << 20) / tr.block_elems);
  p.bytes.resize(size_t(p.n_blocks) * p.block_bytes);
  const int64_t per_row = 64;  // blocks per generated row
  const int64_t n_rows = p.n_blocks / per_row;
  const int64_t row_len = per_row * tr.block_elems;
  pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(row_len));
    for (int64_t r = r0; r < r1; ++r) {
      fill_normal(row.data(), row_len, stddev, seed * 1000003ull + uint64_t(r) * 0x10001ull);
      tr.quantize_row(row.data(), p.bytes.data() + size_t(r * per_row) * p.block_bytes, row_len);
    }
  });
  return p;
}

}  // namespace

// ---- presets ----------------------------------------------------------------------------------------------

Config preset(const std::string& name) {
  Config c;
  c.preset = name;
  if (name == "v2-lite") {
    // DeepSeek-V2-Lite (GGUF_DEEPSEEK.md §C.5, verified shapes), with the V3 tokenizer (V = 129280, as in the
    // V2-Lite-shaped file the doc inspected; the original V2-Lite vocabulary is 102400).
    c.display_name = "Synthetic DeepSeek-V2-Lite (random weights)";
    c.n_layer = 27, c.n_embd = 2048, c.n_head = 16, c.q_lora_rank = 0;
    c.n_ff = 10944, c.n_leading_dense = 1;
    c.n_expert = 64, c.n_expert_used = 6, c.n_ff_exp = 1408, c.n_expert_shared = 2;
    c.gating = 1, c.exp_probs_b = false, c.weights_norm = false, c.weights_scale = 1.0f;
    c.n_ctx_train = 163840, c.rms_eps = 1e-6f, c.rope_base = 10000.0f;
    c.yarn = true, c.rope_factor = 40.0f, c.n_ctx_orig = 4096, c.yarn_log_mul = 0.0707f;
  } else if (name == "moonlight") {
    // Moonlight-16B-A3B (moonshotai; DeepseekV3ForCausalLM). Public facts (llama.cpp load logs): E 2048,
    // 27 layers, 16 heads, dense FFN 11264, 64 experts top-6, rms eps 1e-5, rope base 50000, no rope scaling,
    // context 8192. From its HF config (recalled, not re-checked here): no q-LoRA, kv_lora 512, expert width
    // 1408, 2 shared experts, sigmoid scoring with e_score_correction_bias, norm_topk_prob true,
    // routed_scaling_factor 2.446, n_group 1 (no group limit), vocabulary 163840 (its own tiktoken vocabulary:
    // here the DeepSeek-V3 tokenizer padded with unused [PAD] entries to 163840 so the embedding and output
    // shapes are real).
    c.display_name = "Synthetic Moonlight-16B-A3B (random weights)";
    c.n_layer = 27, c.n_embd = 2048, c.n_head = 16, c.q_lora_rank = 0;
    c.n_ff = 11264, c.n_leading_dense = 1;
    c.n_expert = 64, c.n_expert_used = 6, c.n_ff_exp = 1408, c.n_expert_shared = 2;
    c.gating = 2, c.exp_probs_b = true, c.weights_norm = true, c.weights_scale = 2.446f;
    c.n_vocab = 163840, c.n_ctx_train = 8192, c.rms_eps = 1e-5f, c.rope_base = 50000.0f;
    c.yarn = false;
  } else if (name == "v3-slice") {
    // DeepSeek-V3 at full width (§C.5): E 7168, 128 heads, q_lora 1536, 256 experts top-8 of width 2048,
    // 1 shared, sigmoid + bias, 8 groups keep 4, scale 2.5, YaRN 40 over 4096 — but only 4 layers
    // (1 dense + 3 MoE; the real model has 3 dense + 58 MoE).
    c.display_name = "Synthetic DeepSeek-V3 slice (random weights)";
    c.n_layer = 4, c.n_embd = 7168, c.n_head = 128, c.q_lora_rank = 1536;
    c.n_ff = 18432, c.n_leading_dense = 1;
    c.n_expert = 256, c.n_expert_used = 8, c.n_ff_exp = 2048, c.n_expert_shared = 1;
    c.gating = 2, c.exp_probs_b = true, c.weights_norm = true, c.weights_scale = 2.5f;
    c.n_group = 8, c.n_group_used = 4;
    c.n_ctx_train = 163840, c.rms_eps = 1e-6f, c.rope_base = 10000.0f;
    c.yarn = true, c.rope_factor = 40.0f, c.n_ctx_orig = 4096, c.yarn_log_mul = 0.1f;
  } else if (name == "tiny") {
    // Small shapes for tests (row lengths exercise the K-quant fallbacks: 96, 160 are not multiples of 256).
    c.display_name = "Synthetic tiny deepseek2 (random weights)";
    c.n_layer = 3, c.n_embd = 256, c.n_head = 2, c.q_lora_rank = 96;
    c.kv_lora_rank = 64, c.qk_rope = 16, c.qk_nope = 32, c.v_dim = 32;
    c.n_ff = 512, c.n_leading_dense = 1;
    c.n_expert = 8, c.n_expert_used = 2, c.n_ff_exp = 160, c.n_expert_shared = 1;
    c.gating = 2, c.exp_probs_b = true, c.weights_norm = true, c.weights_scale = 2.5f;
    c.n_group = 4, c.n_group_used = 2;
    c.n_ctx_train = 4096, c.yarn = true, c.rope_factor = 4.0f, c.n_ctx_orig = 512, c.yarn_log_mul = 0.1f;
  } else if (name == "v4-flash" || name == "v4-flash-slice") {
    // DeepSeek-V4-Flash (DEEPSEEK_V4.md §1, §13): D 4096, 64 heads of 512 (one K = V head, RoPE on the last 64),
    // q-LoRA 1024, 8 output groups of rank 1024, 256 experts top-6 of width 2048 + 1 shared, sqrt-softplus with
    // a selection bias, weights normalised and scaled 1.5, 3 hash-routed layers, window 128, CSA ratio 4 with a
    // 64×128 indexer keeping 512 rows, HCA ratio 128, mHC with 4 streams and 20 Sinkhorn iterations, SwiGLU
    // clamp 10, θ 10000 (window layers) / 160000 + YaRN 16 over 65536 (compressed layers), 1M context.
    // The slice keeps the first 4 layers (window, window, CSA, HCA): every layer kind at full width.
    c.v4 = true;
    tools::V4FileKeys& k = c.v4keys;
    k.name = name == "v4-flash" ? "Synthetic DeepSeek-V4-Flash (random weights)"
                                : "Synthetic DeepSeek-V4-Flash slice (random weights)";
    k.n_ctx = 1048576, k.n_embd = 4096, k.n_vocab = 129280;
    k.n_head = 64, k.n_head_kv = 1, k.head_dim = 512, k.n_rot = 64;
    k.q_lora = 1024, k.o_groups = 8, k.o_lora = 1024;
    k.n_expert = 256, k.n_used = 6, k.n_ff_exp = 2048, k.n_shared = 1;
    k.window = 128, k.idx_heads = 64, k.idx_dim = 128, k.idx_topk = 512;
    k.hc = 4, k.sinkhorn = 20, k.rms_eps = 1e-6, k.hc_eps = 1e-6;
    k.routed_scale = 1.5, k.swiglu_limit = 10.0, k.norm_topk = true;
    k.theta_main = 10000.0, k.theta_compress = 160000.0;
    k.yarn = true, k.yarn_factor = 16.0, k.yarn_orig = 65536, k.beta_fast = 32.0, k.beta_slow = 1.0;
    c.display_name = k.name;
    c.n_head = k.n_head, c.q_lora_rank = k.q_lora, c.n_ff = 0, c.n_leading_dense = 0;
    c.n_expert_used = k.n_used, c.n_ff_exp = k.n_ff_exp, c.n_expert_shared = k.n_shared;
    c.gating = 4, c.exp_probs_b = true, c.weights_norm = true, c.weights_scale = 1.5f;
    c.n_vocab = k.n_vocab, c.n_ctx_train = k.n_ctx, c.rms_eps = 1e-6f;
    c.n_embd = k.n_embd;
    set_experts(c, 256);
    set_layers(c, name == "v4-flash" ? 43 : 4);
  } else {
    throw ArgumentError("synth: unknown preset '" + name + "' (presets: " + preset_names() + ")");
  }
  return c;
}

std::string preset_names() { return "v2-lite, moonlight, v3-slice, tiny, v4-flash, v4-flash-slice"; }

void set_layers(Config& c, int64_t n) {
  if (n <= 0) throw ArgumentError("synth: --layers must be > 0");
  c.n_layer = n;
  c.n_leading_dense = std::min<int64_t>(c.n_leading_dense, n);
  if (!c.v4) return;
  // V4-Flash's pattern: layers 0-1 window only, then CSA (ratio 4) on even and HCA (ratio 128) on odd layers;
  // the first 3 layers hash-routed.
  tools::V4FileKeys& k = c.v4keys;
  k.n_layer = n;
  k.ratio.assign(static_cast<size_t>(n), 0);
  for (int64_t il = 2; il < n; ++il) k.ratio[static_cast<size_t>(il)] = il % 2 == 0 ? 4 : 128;
  k.n_hash = std::min<int64_t>(3, n);
}

void set_experts(Config& c, int64_t n) {
  if (n < c.n_expert_used || n <= 0)
    throw ArgumentError("synth: --experts " + std::to_string(n) + " is below the experts per token (" +
                        std::to_string(c.n_expert_used) + ")");
  c.n_expert = n;
  if (c.v4) c.v4keys.n_expert = n;
}

// ---- tensors ----------------------------------------------------------------------------------------------

namespace {

// deepseek4 tensors in ik_llama.cpp's names (DEEPSEEK_V4.md §3), in `latte convert`'s order. Symbols as there:
// D, V, H, Dh, Rq, G, Ro, S streams, X experts, Fe expert width, Hi/Di indexer heads/width, m ratio.
std::vector<TensorSpec> v4_tensor_specs(const Config& c) {
  const tools::V4FileKeys& k = c.v4keys;
  std::vector<TensorSpec> v;
  auto mat = [&](const std::string& n, std::vector<int64_t> ne) {
    float sd = 1.0f / std::sqrt(float(ne[0]));
    v.push_back({n, std::move(ne), Init::Normal, sd});
  };
  auto fill = [&](const std::string& n, std::vector<int64_t> ne, Init init) { v.push_back({n, std::move(ne), init, 0}); };
  const int64_t D = k.n_embd, S = k.hc, Dh = k.head_dim, X = k.n_expert, Fe = k.n_ff_exp;
  v.push_back({"token_embd.weight", {D, k.n_vocab}, Init::Normal, 1.0f});
  fill("output_norm.weight", {D}, Init::Ones);
  mat("output.weight", {D, k.n_vocab});
  mat("output_hc_fn.weight", {S * D, S});
  fill("output_hc_base.weight", {S}, Init::Zeros);
  fill("output_hc_scale.weight", {1}, Init::Ones);
  for (int64_t il = 0; il < k.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    const int64_t m = k.ratio[static_cast<size_t>(il)];
    fill(b + "attn_norm.weight", {D}, Init::Ones);
    fill(b + "ffn_norm.weight", {D}, Init::Ones);
    fill(b + "attn_sinks.weight", {k.n_head}, Init::Zeros);
    mat(b + "attn_q_a.weight", {D, k.q_lora});
    fill(b + "attn_q_a_norm.weight", {k.q_lora}, Init::Ones);
    mat(b + "attn_q_b.weight", {k.q_lora, k.n_head * Dh});
    mat(b + "attn_kv.weight", {D, Dh});
    fill(b + "attn_kv_a_norm.weight", {Dh}, Init::Ones);
    mat(b + "attn_output_a.weight", {k.n_head * Dh / k.o_groups, k.o_groups * k.o_lora});
    mat(b + "attn_output_b.weight", {k.o_groups * k.o_lora, D});
    for (const char* hc : {"hc_attn_", "hc_ffn_"}) {
      mat(b + hc + "fn.weight", {S * D, (2 + S) * S});
      fill(b + hc + "base.weight", {(2 + S) * S}, Init::Zeros);
      fill(b + hc + "scale.weight", {3}, Init::Ones);
    }
    if (m > 0) {
      const int64_t w = m == 4 ? 2 * Dh : Dh;  // CSA: two overlapping series
      mat(b + "attn_compressor_kv.weight", {D, w});
      mat(b + "attn_compressor_gate.weight", {D, w});
      mat(b + "attn_compressor_ape.weight", {w, m});
      fill(b + "attn_compressor_norm.weight", {Dh}, Init::Ones);
    }
    if (m == 4) {
      mat(b + "indexer.attn_q_b.weight", {k.q_lora, k.idx_heads * k.idx_dim});
      mat(b + "indexer.proj.weight", {D, k.idx_heads});
      mat(b + "indexer_compressor_kv.weight", {D, 2 * k.idx_dim});
      mat(b + "indexer_compressor_gate.weight", {D, 2 * k.idx_dim});
      mat(b + "indexer_compressor_ape.weight", {2 * k.idx_dim, 4});
      fill(b + "indexer_compressor_norm.weight", {k.idx_dim}, Init::Ones);
    }
    mat(b + "ffn_gate_inp.weight", {D, X});
    if (il < k.n_hash) fill(b + "ffn_gate_tid2eid.weight", {k.n_used, k.n_vocab}, Init::ExpertIds);
    else fill(b + "exp_probs_b.bias", {X}, Init::Zeros);
    mat(b + "ffn_gate_exps.weight", {D, Fe, X});
    mat(b + "ffn_up_exps.weight", {D, Fe, X});
    mat(b + "ffn_down_exps.weight", {Fe, D, X});
    if (k.n_shared > 0) {
      mat(b + "ffn_gate_shexp.weight", {D, Fe * k.n_shared});
      mat(b + "ffn_up_shexp.weight", {D, Fe * k.n_shared});
      mat(b + "ffn_down_shexp.weight", {Fe * k.n_shared, D});
    }
  }
  return v;
}

}  // namespace

std::vector<TensorSpec> tensor_specs(const Config& c) {
  if (c.v4) return v4_tensor_specs(c);
  std::vector<TensorSpec> v;
  auto mat = [&](const std::string& n, std::vector<int64_t> ne) {
    float sd = 1.0f / std::sqrt(float(ne[0]));
    v.push_back({n, std::move(ne), Init::Normal, sd});
  };
  auto ones = [&](const std::string& n, int64_t len) { v.push_back({n, {len}, Init::Ones, 0}); };
  const int64_t E = c.n_embd, H = c.n_head, Dqk = c.qk_nope + c.qk_rope;
  v.push_back({"token_embd.weight", {E, c.n_vocab}, Init::Normal, 1.0f});
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    ones(b + "attn_norm.weight", E);
    if (c.q_lora_rank > 0) {
      mat(b + "attn_q_a.weight", {E, c.q_lora_rank});
      ones(b + "attn_q_a_norm.weight", c.q_lora_rank);
      mat(b + "attn_q_b.weight", {c.q_lora_rank, H * Dqk});
    } else {
      mat(b + "attn_q.weight", {E, H * Dqk});
    }
    mat(b + "attn_kv_a_mqa.weight", {E, c.kv_lora_rank + c.qk_rope});
    ones(b + "attn_kv_a_norm.weight", c.kv_lora_rank);
    mat(b + "attn_kv_b.weight", {c.kv_lora_rank, H * (c.qk_nope + c.v_dim)});
    mat(b + "attn_output.weight", {H * c.v_dim, E});
    ones(b + "ffn_norm.weight", E);
    if (i < c.n_leading_dense) {
      mat(b + "ffn_gate.weight", {E, c.n_ff});
      mat(b + "ffn_up.weight", {E, c.n_ff});
      mat(b + "ffn_down.weight", {c.n_ff, E});
    } else {
      mat(b + "ffn_gate_inp.weight", {E, c.n_expert});
      if (c.exp_probs_b) v.push_back({b + "exp_probs_b.bias", {c.n_expert}, Init::Zeros, 0});
      mat(b + "ffn_gate_exps.weight", {E, c.n_ff_exp, c.n_expert});
      mat(b + "ffn_up_exps.weight", {E, c.n_ff_exp, c.n_expert});
      mat(b + "ffn_down_exps.weight", {c.n_ff_exp, E, c.n_expert});
      if (c.n_expert_shared > 0) {
        mat(b + "ffn_gate_shexp.weight", {E, c.n_ff_exp * c.n_expert_shared});
        mat(b + "ffn_up_shexp.weight", {E, c.n_ff_exp * c.n_expert_shared});
        mat(b + "ffn_down_shexp.weight", {c.n_ff_exp * c.n_expert_shared, E});
      }
    }
  }
  ones("output_norm.weight", E);
  mat("output.weight", {E, c.n_vocab});
  return v;
}

uint64_t param_count(const Config& c) {
  uint64_t n = 0;
  for (const auto& t : tensor_specs(c)) {
    uint64_t k = 1;
    for (int64_t d : t.ne) k *= uint64_t(d);
    n += k;
  }
  return n;
}

DType tensor_type(const Config& c, const Options& opt, const TensorSpec& s) {
  if (s.init == Init::ExpertIds) return DType::I32;
  if (s.init != Init::Normal) return DType::F32;
  if (c.v4 && tools::v4_keeps_f32(s.name, s.ne.size())) return DType::F32;
  quantize::TensorDesc d{s.name, s.ne, quantize::layer_of(s.name), int(c.n_layer)};
  if (opt.experts_type && s.name.find("_exps.") != std::string::npos) {
    quantize::Target t = opt.target;
    t.base = *opt.experts_type;
    t.mix = quantize::Mix::Single;
    return quantize::choose_type(t, d);
  }
  return quantize::choose_type(opt.target, d);
}

// ---- writing ----------------------------------------------------------------------------------------------

namespace {

void set_model_keys(gguf::Writer& w, const Config& c, const quantize::Target& tg) {
  const std::string a = "deepseek2.";
  w.set_string("general.architecture", "deepseek2");
  w.set_string("general.type", "model");
  w.set_string("general.name", c.display_name);
  w.set_u32(a + "block_count", uint32_t(c.n_layer));
  w.set_u32(a + "context_length", uint32_t(c.n_ctx_train));
  w.set_u32(a + "embedding_length", uint32_t(c.n_embd));
  w.set_u32(a + "feed_forward_length", uint32_t(c.n_ff));
  w.set_u32(a + "attention.head_count", uint32_t(c.n_head));
  w.set_u32(a + "attention.head_count_kv", uint32_t(c.n_head));  // flavour 1 (classic)
  w.set_f32(a + "rope.freq_base", c.rope_base);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_u32(a + "expert_used_count", uint32_t(c.n_expert_used));
  w.set_u32(a + "leading_dense_block_count", uint32_t(c.n_leading_dense));
  w.set_u32(a + "vocab_size", uint32_t(c.n_vocab));
  if (c.q_lora_rank > 0) w.set_u32(a + "attention.q_lora_rank", uint32_t(c.q_lora_rank));
  w.set_u32(a + "attention.kv_lora_rank", uint32_t(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length", uint32_t(c.qk_nope + c.qk_rope));
  w.set_u32(a + "attention.value_length", uint32_t(c.v_dim));
  w.set_u32(a + "expert_feed_forward_length", uint32_t(c.n_ff_exp));
  w.set_u32(a + "expert_count", uint32_t(c.n_expert));
  w.set_u32(a + "expert_shared_count", uint32_t(c.n_expert_shared));
  w.set_f32(a + "expert_weights_scale", c.weights_scale);
  w.set_bool(a + "expert_weights_norm", c.weights_norm);
  w.set_u32(a + "expert_gating_func", c.gating);
  w.set_u32(a + "rope.dimension_count", uint32_t(c.qk_rope));
  if (c.yarn) {
    w.set_string(a + "rope.scaling.type", "yarn");
    w.set_f32(a + "rope.scaling.factor", c.rope_factor);
    w.set_u32(a + "rope.scaling.original_context_length", uint32_t(c.n_ctx_orig));
  } else {
    w.set_string(a + "rope.scaling.type", "none");
  }
  // Mainline llama.cpp reads this key unconditionally (§C.1); 0 where there is no YaRN.
  w.set_f32(a + "rope.scaling.yarn_log_multiplier", c.yarn ? c.yarn_log_mul : 0.0f);
  if (c.n_group > 0) {
    w.set_u32(a + "expert_group_count", uint32_t(c.n_group));
    w.set_u32(a + "expert_group_used_count", uint32_t(c.n_group_used));
  }
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.file_type", tg.file_type);
}

// Copies every tokenizer.* key of `vocab`; pads tokens/token_type with unused "[PAD<id>]" entries up to n_vocab.
void copy_tokenizer(gguf::Writer& w, const gguf::File& vocab, int64_t n_vocab) {
  auto tokens = vocab.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty()) throw FormatError(vocab.path() + ": no tokenizer.ggml.tokens");
  if (int64_t(tokens.size()) > n_vocab)
    throw ArgumentError("synth: vocabulary size " + std::to_string(n_vocab) + " is smaller than the tokenizer's " +
                        std::to_string(tokens.size()) + " tokens (" + vocab.path() + ")");
  for (const auto& kv : vocab.metadata())
    if (kv.key.rfind("tokenizer.", 0) == 0) w.copy_kv(vocab, kv);
  if (int64_t(tokens.size()) < n_vocab) {
    std::vector<std::string> t(tokens.begin(), tokens.end());
    auto types64 = vocab.get_int_array("tokenizer.ggml.token_type");
    std::vector<int32_t> types(types64.begin(), types64.end());
    types.resize(tokens.size(), 1);
    for (int64_t id = int64_t(t.size()); id < n_vocab; ++id) {
      t.push_back("[PAD" + std::to_string(id) + "]");
      types.push_back(5);  // UNUSED
    }
    w.set_string_array("tokenizer.ggml.tokens", t);
    w.set_i32_array("tokenizer.ggml.token_type", types);
  }
}

}  // namespace

Result write_model(const Config& c, const Options& opt, const std::string& out_path) {
  const double t0 = now_s();
  if (c.n_layer <= 0 || c.n_leading_dense > c.n_layer)
    throw ArgumentError("synth: bad layer counts (" + std::to_string(c.n_layer) + " layers, " +
                        std::to_string(c.n_leading_dense) + " dense)");
  ThreadPool pool(opt.threads);
  gguf::Writer w;
  if (c.v4)  // general.file_type 38 = llama.cpp's MOSTLY_MXFP4_MOE for native MXFP4 experts
    tools::write_v4_keys(w, c.v4keys, opt.experts_type == DType::MXFP4 ? 38u : opt.target.file_type);
  else
    set_model_keys(w, c, opt.target);
  if (!opt.vocab_path.empty()) {
    auto vocab = gguf::File::open(opt.vocab_path);
    copy_tokenizer(w, *vocab, c.n_vocab);
  }

  const auto specs = tensor_specs(c);
  struct Planned {
    const TensorSpec* spec;
    DType type;
    uint64_t bytes;
  };
  std::vector<Planned> planned;
  Result res;
  for (const auto& s : specs) {
    DType t = tensor_type(c, opt, s);
    int64_t rows = 1;
    for (size_t i = 1; i < s.ne.size(); ++i) rows *= s.ne[i];
    uint64_t bytes = uint64_t(row_bytes(t, s.ne[0])) * uint64_t(rows);
    planned.push_back({&s, t, bytes});
    res.tensor_bytes += bytes;
    res.n_params += uint64_t(rows) * uint64_t(s.ne[0]);
    res.tensors_per_type[type_id_name(uint32_t(t))]++;
  }
  res.n_tensors = planned.size();

  std::map<std::pair<int, float>, std::unique_ptr<BlockPool>> pools;  // (type, stddev) → pool
  const uint64_t total = res.tensor_bytes;
  uint64_t done_before = 0;
  for (size_t ti = 0; ti < planned.size(); ++ti) {
    const Planned p = planned[ti];
    w.add_tensor(p.spec->name, uint32_t(p.type), p.spec->ne, [&, p](uint8_t* out, uint64_t nbytes) {
      const TensorSpec& s = *p.spec;
      const int64_t row_len = s.ne[0];
      const int64_t rows = int64_t(nbytes / row_bytes(p.type, row_len));
      const uint64_t stream = name_hash(s.name) ^ mix64(opt.seed);
      auto report = [&](uint64_t b) {
        if (opt.progress) opt.progress(done_before + b, total, s.name);
      };
      if (s.init == Init::ExpertIds) {
        // Row r (a token id): ne[0] distinct expert ids in [0, n_expert), drawn from the stream.
        const int64_t X = c.n_expert;
        std::vector<int32_t> ids(static_cast<size_t>(row_len));
        for (int64_t r = 0; r < rows; ++r) {
          uint64_t z = stream + uint64_t(r) * 0x9E3779B1ull;
          for (int64_t j = 0; j < row_len; ++j) {
            int32_t e;
            bool dup;
            do {
              e = static_cast<int32_t>(mix64(z++) % uint64_t(X));
              dup = std::find(ids.begin(), ids.begin() + j, e) != ids.begin() + j;
            } while (dup);
            ids[static_cast<size_t>(j)] = e;
          }
          std::memcpy(out + size_t(r * row_len) * 4, ids.data(), ids.size() * 4);
        }
      } else if (s.init != Init::Normal) {
        float v = s.init == Init::Ones ? 1.0f : 0.0f;
        for (int64_t i = 0; i < rows * row_len; ++i) std::memcpy(out + size_t(i) * 4, &v, 4);
      } else if (p.type == DType::F32 || p.type == DType::F16 || p.type == DType::BF16 || opt.exact) {
        // Exact: draw every row, quantize it; chunks of rows so progress moves.
        const size_t rb = row_bytes(p.type, row_len);
        const TypeTraits* tr = p.type == DType::F32 ? nullptr : &type_traits(p.type);
        const int64_t chunk = std::max<int64_t>(int64_t(pool.size()) * 4, int64_t((16u << 20) / rb));
        for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
          const int64_t c1 = std::min(rows, c0 + chunk);
          pool.parallel_for(c1 - c0, [&](int64_t r0, int64_t r1, int) {
            std::vector<float> row(static_cast<size_t>(row_len));
            for (int64_t r = c0 + r0; r < c0 + r1; ++r) {
              fill_normal(row.data(), row_len, s.stddev, stream + uint64_t(r) * 0x9E3779B1ull);
              if (tr)
                tr->quantize_row(row.data(), out + size_t(r) * rb, row_len);
              else
                std::memcpy(out + size_t(r) * rb, row.data(), rb);
            }
          });
          report(uint64_t(c1) * rb);
        }
      } else {
        auto key = std::make_pair(int(p.type), s.stddev);
        auto& bp = pools[key];
        if (!bp) bp = std::make_unique<BlockPool>(make_pool(p.type, s.stddev, opt.seed ^ uint64_t(key.first), pool));
        const BlockPool& P = *bp;
        const int64_t n_blocks = int64_t(nbytes / P.block_bytes);
        const int64_t chunk = int64_t((32u << 20) / P.block_bytes);
        for (int64_t c0 = 0; c0 < n_blocks; c0 += chunk) {
          const int64_t c1 = std::min(n_blocks, c0 + chunk);
          pool.parallel_for(c1 - c0, [&](int64_t b0, int64_t b1, int) {
            for (int64_t b = c0 + b0; b < c0 + b1; ++b) {
              uint64_t idx = mix64(stream + uint64_t(b)) % uint64_t(P.n_blocks);
              std::memcpy(out + size_t(b) * P.block_bytes, P.bytes.data() + size_t(idx) * P.block_bytes,
                          P.block_bytes);
            }
          });
          report(uint64_t(c1) * P.block_bytes);
        }
      }
      done_before += nbytes;
    });
  }
  w.write(out_path);
  res.seconds = now_s() - t0;
  if (FILE* f = std::fopen(out_path.c_str(), "rb")) {
    std::fseek(f, 0, SEEK_END);
    res.file_bytes = uint64_t(std::ftell(f));
    std::fclose(f);
  }
  return res;
}

}  // namespace latte::synth
