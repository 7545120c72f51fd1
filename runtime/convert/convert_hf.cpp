// HF DeepSeek-V2/V3 -> deepseek2 GGUF. The key set, key order, tensor order and tensor contents follow llama.cpp's
// converter (plus ik_llama.cpp's split attn_k_b/attn_v_b and the expert-group keys of the shared tiny models), so a
// BF16 checkpoint converted with --outtype bf16 is byte-identical to the reference files.
#include "runtime/convert/convert_hf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/types.h"
#include "formats/error.h"
#include "runtime/convert/convert_rows.h"
#include "runtime/convert/convert_v4.h"
#include "runtime/convert/hf_tokenizer.h"

namespace latte::tools {

namespace {

namespace st = latte::safetensors;
using json = nlohmann::json;
using convert::ends_with;
using convert::encode_rows;
using convert::file_type_of;
using convert::OutTensor;
using convert::read_rows;
using convert::rounded_count;
using Src = convert::SrcMatrix;

// ---- config.json ----
struct Config {
  std::string arch;
  int64_t n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_vocab = 0, n_ctx = 0;
  int64_t q_lora = 0, kv_lora = 0, nope = 0, rope = 0, v_dim = 0;
  int64_t n_ff_exp = 0, n_expert = 0, n_used = 0, n_shared = 0, first_dense = 0, n_group = 0, topk_group = 0;
  double rms_eps = 1e-6, rope_theta = 10000.0, routed_scale = 1.0;
  bool norm_topk = false;
  std::string scoring = "softmax";
  json rope_scaling;
  int64_t fp8_block[2] = {128, 128};
  std::string name;  // for general.name
};

Config read_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path + ": not a JSON object");
  Config c;
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty() ||
      !j["architectures"][0].is_string())
    throw FormatError(path + ": no \"architectures\" list");
  c.arch = j["architectures"][0].get<std::string>();
  if (c.arch != "DeepseekV2ForCausalLM" && c.arch != "DeepseekV3ForCausalLM")
    throw UnsupportedError(path + ": architecture " + c.arch +
                           " (supported: DeepseekV2ForCausalLM, DeepseekV3ForCausalLM, DeepseekV4ForCausalLM)");
  auto get_int = [&](const char* key, bool required, int64_t def = 0) -> int64_t {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) throw FormatError(path + ": missing \"" + std::string(key) + "\"");
      return def;
    }
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0)
      throw FormatError(path + ": \"" + std::string(key) + "\" is not a non-negative integer");
    return j[key].get<int64_t>();
  };
  auto get_num = [&](const char* key, double def) -> double {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number()) throw FormatError(path + ": \"" + std::string(key) + "\" is not a number");
    return j[key].get<double>();
  };
  c.n_layer = get_int("num_hidden_layers", true);
  c.n_embd = get_int("hidden_size", true);
  c.n_ff = get_int("intermediate_size", true);
  c.n_head = get_int("num_attention_heads", true);
  c.n_head_kv = get_int("num_key_value_heads", false, c.n_head);
  c.n_vocab = get_int("vocab_size", true);
  c.n_ctx = get_int("max_position_embeddings", true);
  c.q_lora = get_int("q_lora_rank", false, 0);
  c.kv_lora = get_int("kv_lora_rank", true);
  c.nope = get_int("qk_nope_head_dim", true);
  c.rope = get_int("qk_rope_head_dim", true);
  c.v_dim = get_int("v_head_dim", true);
  c.n_ff_exp = get_int("moe_intermediate_size", true);
  c.n_expert = get_int("n_routed_experts", true);
  c.n_used = get_int("num_experts_per_tok", true);
  c.n_shared = get_int("n_shared_experts", false, 0);
  c.first_dense = get_int("first_k_dense_replace", false, 0);
  c.n_group = get_int("n_group", false, 0);
  c.topk_group = get_int("topk_group", false, 0);
  c.rms_eps = get_num("rms_norm_eps", 1e-6);
  c.rope_theta = get_num("rope_theta", 10000.0);
  c.routed_scale = get_num("routed_scaling_factor", 1.0);
  if (j.contains("norm_topk_prob") && j["norm_topk_prob"].is_boolean()) c.norm_topk = j["norm_topk_prob"].get<bool>();
  if (j.contains("scoring_func") && j["scoring_func"].is_string()) c.scoring = j["scoring_func"].get<std::string>();
  if (c.scoring != "softmax" && c.scoring != "sigmoid")
    throw UnsupportedError(path + ": scoring_func " + c.scoring + " (supported: softmax, sigmoid)");
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) c.rope_scaling = j["rope_scaling"];
  if (c.n_used > c.n_expert || c.n_expert > 256 || c.n_layer == 0 || c.n_layer > 512)
    throw FormatError(path + ": implausible expert / layer counts");
  if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
    const auto& q = j["quantization_config"];
    if (q.contains("weight_block_size") && q["weight_block_size"].is_array() && q["weight_block_size"].size() == 2 &&
        q["weight_block_size"][0].is_number_integer() && q["weight_block_size"][1].is_number_integer()) {
      c.fp8_block[0] = q["weight_block_size"][0].get<int64_t>();
      c.fp8_block[1] = q["weight_block_size"][1].get<int64_t>();
      if (c.fp8_block[0] <= 0 || c.fp8_block[1] <= 0) throw FormatError(path + ": bad weight_block_size");
    }
  }
  // general.name: the model id's last component, title-cased word by word ("tiny-dsv3" -> "Tiny Dsv3").
  std::string id = j.contains("_name_or_path") && j["_name_or_path"].is_string() ? j["_name_or_path"].get<std::string>()
                                                                                  : std::string();
  if (id.empty()) id = std::filesystem::path(dir).lexically_normal().filename().string();
  if (auto slash = id.find_last_of('/'); slash != std::string::npos) id = id.substr(slash + 1);
  bool prev_cased = false;
  for (char& ch : id) {
    if (ch == '-' || ch == '_') ch = ' ';
    bool alpha = std::isalpha(static_cast<unsigned char>(ch)) != 0;
    if (alpha) ch = static_cast<char>(prev_cased ? std::tolower(static_cast<unsigned char>(ch))
                                                : std::toupper(static_cast<unsigned char>(ch)));
    prev_cased = alpha;
  }
  c.name = id;
  return c;
}

// ---- source rows ----

// An HF source tensor; FP8 weights carry their block-wise inverse scales `<name>_scale_inv`.
Src make_src(const st::TensorInfo* t, const st::Checkpoint& ck, const Config& cfg) {
  return convert::src_matrix(t, ck.find(t->name + "_scale_inv"), t->name + "_scale_inv", cfg.fp8_block[0],
                             cfg.fp8_block[1]);
}

uint32_t pick_type(const std::string& name, const std::vector<int64_t>& ne, DType outtype) {
  if (ne.size() == 1 || ends_with(name, "_norm.weight") || name.find("ffn_gate_inp") != std::string::npos ||
      !ends_with(name, ".weight"))
    return static_cast<uint32_t>(DType::F32);
  const TypeTraits& t = type_traits(outtype);
  if (ne[0] % t.block_elems != 0) return static_cast<uint32_t>(DType::F16);  // llama.cpp's fallback
  return static_cast<uint32_t>(outtype);
}

// Per-layer HF suffix -> GGUF name (without "blk.N.").
const std::map<std::string, std::string>& layer_names() {
  static const std::map<std::string, std::string> m = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
      {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
      {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
  };
  return m;
}

// Parses "model.layers.<b>.<rest>"; false if the name is not a layer tensor.
bool split_layer(const std::string& name, int64_t& b, std::string& rest) {
  static const std::string pfx = "model.layers.";
  if (name.rfind(pfx, 0) != 0) return false;
  size_t i = pfx.size(), j = i;
  while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i || j >= name.size() || name[j] != '.' || j - i > 6) return false;
  b = std::stoll(name.substr(i, j - i));
  rest = name.substr(j + 1);
  return true;
}

// Parses "mlp.experts.<e>.<proj>_proj.weight" -> (e, proj index 0 down / 1 gate / 2 up).
bool split_expert(const std::string& rest, int64_t& e, int& proj) {
  static const std::string pfx = "mlp.experts.";
  if (rest.rfind(pfx, 0) != 0) return false;
  size_t i = pfx.size(), j = i;
  while (j < rest.size() && std::isdigit(static_cast<unsigned char>(rest[j]))) ++j;
  if (j == i || j >= rest.size() || rest[j] != '.' || j - i > 6) return false;
  e = std::stoll(rest.substr(i, j - i));
  std::string p = rest.substr(j + 1);
  if (p == "down_proj.weight") proj = 0;
  else if (p == "gate_proj.weight") proj = 1;
  else if (p == "up_proj.weight") proj = 2;
  else return false;
  return true;
}

class Planner {
 public:
  Planner(const st::Checkpoint& ck, const Config& cfg, DType outtype, bool split_kv_b)
      : ck_(ck), cfg_(cfg), outtype_(outtype), split_(split_kv_b) {}

  std::vector<OutTensor> plan(size_t& skipped_mtp) {
    for (const st::TensorInfo* t : ck_.tensors()) {
      const std::string& n = t->name;
      if (ends_with(n, "_scale_inv")) continue;  // consumed with its FP8 weight
      int64_t b = -1;
      std::string rest;
      if (split_layer(n, b, rest)) {
        if (b >= cfg_.n_layer) {  // MTP (next-token prediction) layers are not part of the model
          ++skipped_mtp;
          continue;
        }
        if (ends_with(rest, "rotary_emb.inv_freq")) continue;
        layer_tensor(t, b, rest);
        continue;
      }
      if (n == "model.embed_tokens.weight") add_2d(t, "token_embd.weight");
      else if (n == "model.norm.weight") add_2d(t, "output_norm.weight");
      else if (n == "lm_head.weight") add_2d(t, "output.weight");
      else throw UnsupportedError(t->file + ": cannot map tensor '" + n + "' to a deepseek2 GGUF name");
    }
    for (const auto& [b, ex] : experts_)
      if (ex.seen != 3 * cfg_.n_expert)
        throw FormatError(ck_.files().front()->path() + ": layer " + std::to_string(b) + " has " +
                          std::to_string(ex.seen) + " of " + std::to_string(3 * cfg_.n_expert) +
                          " routed-expert matrices");
    return std::move(out_);
  }

 private:
  struct LayerExperts {
    std::vector<Src> proj[3];  // down, gate, up; index = expert
    int64_t seen = 0;
  };

  void add(OutTensor t) {
    t.type = pick_type(t.name, t.ne, outtype_);
    out_.push_back(std::move(t));
  }

  void add_2d(const st::TensorInfo* t, const std::string& name) {
    Src s = make_src(t, ck_, cfg_);
    OutTensor o;
    o.name = name;
    o.ne = t->shape.size() == 2 ? std::vector<int64_t>{s.cols, s.rows} : std::vector<int64_t>{s.cols};
    o.rows = [s](int64_t r0, int64_t nr, float* dst) { read_rows(s, r0, nr, dst); };
    add(std::move(o));
  }

  void layer_tensor(const st::TensorInfo* t, int64_t b, const std::string& rest) {
    const std::string blk = "blk." + std::to_string(b) + ".";
    int64_t e;
    int proj;
    if (split_expert(rest, e, proj)) {
      if (e >= cfg_.n_expert)
        throw FormatError(t->file + ": tensor '" + t->name + "': expert index beyond n_routed_experts = " +
                          std::to_string(cfg_.n_expert));
      auto& ex = experts_[b];
      for (auto& p : ex.proj) p.resize(static_cast<size_t>(cfg_.n_expert));
      Src s = make_src(t, ck_, cfg_);
      if (ex.proj[proj][e].t) throw FormatError(t->file + ": duplicate expert tensor '" + t->name + "'");
      ex.proj[proj][e] = s;
      if (++ex.seen == 3 * cfg_.n_expert) emit_experts(blk, ex);
      return;
    }
    auto it = layer_names().find(rest);
    if (it == layer_names().end())
      throw UnsupportedError(t->file + ": cannot map tensor '" + t->name + "' to a deepseek2 GGUF name");
    add_2d(t, blk + it->second);
    if (it->second == "attn_kv_b.weight" && split_) emit_kv_b_split(t, blk);
  }

  // Stacks the experts of each projection: HF (X, out, in) -> GGUF [in, out, X], emitted down, gate, up.
  void emit_experts(const std::string& blk, const LayerExperts& ex) {
    static const char* names[3] = {"ffn_down_exps.weight", "ffn_gate_exps.weight", "ffn_up_exps.weight"};
    for (int p = 0; p < 3; ++p) {
      std::vector<Src> srcs = ex.proj[p];
      for (const Src& s : srcs)
        if (s.rows != srcs[0].rows || s.cols != srcs[0].cols || s.t->shape.size() != 2)
          throw FormatError(s.t->file + ": expert tensor '" + s.t->name + "' has shape " + s.t->shape_string() +
                            ", unlike expert 0's " + srcs[0].t->shape_string());
      const int64_t out = srcs[0].rows;
      OutTensor o;
      o.name = blk + names[p];
      o.ne = {srcs[0].cols, out, cfg_.n_expert};
      o.rows = [srcs, out](int64_t r0, int64_t nr, float* dst) {
        while (nr > 0) {
          const int64_t e = r0 / out, r = r0 % out, n = std::min(nr, out - r);
          read_rows(srcs[static_cast<size_t>(e)], r, n, dst);
          dst += n * srcs[0].cols;
          r0 += n;
          nr -= n;
        }
      };
      add(std::move(o));
    }
  }

  // attn_k_b [P, H·Nkv]: row h·Nkv + c holds kv_b[h·(P+Dv) + d][c] for d < P (k-part transposed per head);
  // attn_v_b [Nkv, H·Dv]: row h·Dv + d is kv_b row h·(P+Dv) + P + d (GGUF_DEEPSEEK.md §C.4).
  void emit_kv_b_split(const st::TensorInfo* t, const std::string& blk) {
    Src s = make_src(t, ck_, cfg_);
    const int64_t H = cfg_.n_head, P = cfg_.nope, Dv = cfg_.v_dim, Nkv = cfg_.kv_lora;
    if (s.rows != H * (P + Dv) || s.cols != Nkv)
      throw FormatError(t->file + ": tensor '" + t->name + "' has shape " + t->shape_string() + ", expected [" +
                        std::to_string(H * (P + Dv)) + ", " + std::to_string(Nkv) + "]");
    OutTensor k;
    k.name = blk + "attn_k_b.weight";
    k.ne = {P, H * Nkv};
    k.rows = [s, P, Dv, Nkv](int64_t r0, int64_t nr, float* dst) {
      std::vector<float> head(static_cast<size_t>(P * Nkv));
      int64_t loaded = -1;
      for (int64_t r = r0; r < r0 + nr; ++r) {
        const int64_t h = r / Nkv, c = r % Nkv;
        if (h != loaded) {
          read_rows(s, h * (P + Dv), P, head.data());  // P rows of Nkv
          loaded = h;
        }
        float* row = dst + (r - r0) * P;
        for (int64_t d = 0; d < P; ++d) row[d] = head[static_cast<size_t>(d * Nkv + c)];
      }
    };
    add(std::move(k));
    OutTensor v;
    v.name = blk + "attn_v_b.weight";
    v.ne = {Nkv, H * Dv};
    v.rows = [s, P, Dv](int64_t r0, int64_t nr, float* dst) {
      while (nr > 0) {
        const int64_t h = r0 / Dv, d = r0 % Dv, n = std::min(nr, Dv - d);
        read_rows(s, h * (P + Dv) + P + d, n, dst);
        dst += n * s.cols;
        r0 += n;
        nr -= n;
      }
    };
    add(std::move(v));
  }

  const st::Checkpoint& ck_;
  const Config& cfg_;
  DType outtype_;
  bool split_;
  std::vector<OutTensor> out_;
  std::map<int64_t, LayerExperts> experts_;
};

}  // namespace

ConvertSummary convert_hf(const ConvertOptions& opt) {
  if (is_deepseek_v4_checkpoint(opt.hf_dir)) return convert_v4(opt);
  DType outtype;
  if (!parse_type_name(opt.outtype, outtype) ||
      (outtype != DType::F32 && outtype != DType::F16 && outtype != DType::BF16 && outtype != DType::Q8_0))
    throw ArgumentError("--outtype " + opt.outtype + " (expected f32, f16, bf16 or q8_0)");
  if (!type_traits(outtype).quantize_row && outtype != DType::F32)
    throw UnsupportedError("--outtype " + opt.outtype + ": no quantizer available");

  std::error_code ec;
  if (!std::filesystem::is_directory(opt.hf_dir, ec)) throw IoError(opt.hf_dir + ": not a directory");
  Config cfg = read_config(opt.hf_dir);
  HfVocab vocab = load_hf_vocab(opt.hf_dir, cfg.n_vocab, opt.pre);
  auto ck = st::Checkpoint::open_dir(opt.hf_dir);

  ConvertSummary sum;
  sum.architecture = cfg.arch;
  std::vector<OutTensor> tensors = Planner(*ck, cfg, outtype, opt.split_kv_b).plan(sum.skipped_mtp);
  if (tensors.empty()) throw FormatError(opt.hf_dir + ": no tensors to convert");

  // Parameter counts for general.size_label: shared + one routed expert (gguf-py's convention).
  uint64_t total = 0, expert = 0;
  for (const auto& t : tensors) {
    total += static_cast<uint64_t>(t.n_elements());
    if (t.name.find("_exps.") != std::string::npos) expert += static_cast<uint64_t>(t.n_elements());
  }
  sum.n_params = total;
  std::string size_label =
      cfg.n_expert > 0 ? std::to_string(cfg.n_expert) + "x" +
                             rounded_count(static_cast<double>(total - expert) + static_cast<double>(expert) / cfg.n_expert)
                       : rounded_count(static_cast<double>(total));

  gguf::Writer w;
  const std::string a = "deepseek2.";
  w.set_string("general.architecture", "deepseek2");
  w.set_string("general.type", "model");
  w.set_string("general.name", cfg.name);
  w.set_string("general.size_label", size_label);
  w.set_u32(a + "block_count", static_cast<uint32_t>(cfg.n_layer));
  w.set_u32(a + "context_length", static_cast<uint32_t>(cfg.n_ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(cfg.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(cfg.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(cfg.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(cfg.n_head_kv));
  w.set_f32(a + "rope.freq_base", static_cast<float>(cfg.rope_theta));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(cfg.rms_eps));
  w.set_u32(a + "expert_used_count", static_cast<uint32_t>(cfg.n_used));
  w.set_u32("general.file_type", file_type_of(outtype));
  w.set_u32(a + "leading_dense_block_count", static_cast<uint32_t>(cfg.first_dense));
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(cfg.n_vocab));
  if (cfg.q_lora > 0) w.set_u32(a + "attention.q_lora_rank", static_cast<uint32_t>(cfg.q_lora));
  w.set_u32(a + "attention.kv_lora_rank", static_cast<uint32_t>(cfg.kv_lora));
  w.set_u32(a + "attention.key_length", static_cast<uint32_t>(cfg.nope + cfg.rope));
  w.set_u32(a + "attention.value_length", static_cast<uint32_t>(cfg.v_dim));
  w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(cfg.n_ff_exp));
  w.set_u32(a + "expert_count", static_cast<uint32_t>(cfg.n_expert));
  w.set_u32(a + "expert_shared_count", static_cast<uint32_t>(cfg.n_shared));
  w.set_f32(a + "expert_weights_scale", static_cast<float>(cfg.routed_scale));
  w.set_bool(a + "expert_weights_norm", cfg.norm_topk);
  w.set_u32(a + "expert_gating_func", cfg.scoring == "sigmoid" ? 2 : 1);
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(cfg.rope));
  if (cfg.rope_scaling.is_object()) {
    const json& rs = cfg.rope_scaling;
    std::string type = rs.contains("type") && rs["type"].is_string()           ? rs["type"].get<std::string>()
                       : rs.contains("rope_type") && rs["rope_type"].is_string() ? rs["rope_type"].get<std::string>()
                                                                                 : "";
    auto num = [&](const char* k) -> std::optional<double> {
      if (rs.contains(k) && rs[k].is_number()) return rs[k].get<double>();
      return std::nullopt;
    };
    if (type == "yarn") {
      w.set_string(a + "rope.scaling.type", "yarn");
      if (auto f = num("factor")) w.set_f32(a + "rope.scaling.factor", static_cast<float>(*f));
      if (auto o = num("original_max_position_embeddings"))
        w.set_u32(a + "rope.scaling.original_context_length", static_cast<uint32_t>(*o));
      if (auto m = num("mscale_all_dim")) w.set_f32(a + "rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * *m));
    } else if (type == "linear") {
      w.set_string(a + "rope.scaling.type", "linear");
      if (auto f = num("factor")) w.set_f32(a + "rope.scaling.factor", static_cast<float>(*f));
    } else if (!type.empty() && type != "default") {
      throw UnsupportedError(opt.hf_dir + "/config.json: rope_scaling type " + type);
    }
  }
  write_vocab(w, vocab);
  w.set_u32("general.quantization_version", 2);
  if (cfg.n_group > 1 && cfg.topk_group > 0) {
    w.set_u32(a + "expert_group_count", static_cast<uint32_t>(cfg.n_group));
    w.set_u32(a + "expert_group_used_count", static_cast<uint32_t>(cfg.topk_group));
  }

  for (const auto& t : tensors) {
    const OutTensor* p = &t;
    w.add_tensor_rows(t.name, t.type, t.ne,
                      [p](int64_t first, int64_t n, uint8_t* dst) { encode_rows(*p, first, n, dst); });
  }
  w.write(opt.out_path, [&](size_t done, size_t n) {
    if (opt.progress) opt.progress(done, n, tensors[done - 1].name);
  });
  sum.n_tensors = tensors.size();
  sum.out_bytes = std::filesystem::file_size(opt.out_path, ec);
  return sum;
}

}  // namespace latte::tools
