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
  } else {
    throw ArgumentError("synth: unknown preset '" + name + "' (presets: " + preset_names() + ")");
  }
  return c;
}

std::string preset_names() { return "v2-lite, moonlight, v3-slice, tiny"; }

// ---- tensors ----------------------------------------------------------------------------------------------

std::vector<TensorSpec> tensor_specs(const Config& c) {
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
    quantize::TensorDesc d{s.name, s.ne, quantize::layer_of(s.name), int(c.n_layer)};
    DType t = s.init == Init::Normal ? quantize::choose_type(opt.target, d) : DType::F32;
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
      if (s.init != Init::Normal) {
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
