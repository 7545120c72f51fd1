// HF DeepSeek-V4 -> deepseek4 GGUF (see convert_v4.h). Key order and tensor order follow the trial file that
// ik_llama.cpp was shown to load (shared/models/tiny-dsv4/gguf-dump-f32.txt); names are ik's.
#include "runtime/convert/convert_v4.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "formats/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/blocks.h"
#include "quant/types.h"
#include "runtime/convert/convert_rows.h"
#include "runtime/convert/hf_tokenizer.h"
#include "runtime/convert/v4_keys.h"

namespace latte::tools {

namespace {

namespace st = latte::safetensors;
using json = nlohmann::json;
using convert::ends_with;
using convert::OutTensor;
using convert::SrcMatrix;

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(path + ": not valid JSON: " + e.what());
  }
}

// ---- config.json (transformers fields, or the official release's legacy ones) ----

enum class Kind { Window, Csa, Hca };

struct V4Config : V4FileKeys {
  std::vector<Kind> kind;  // [L]
  int64_t nextn = 0;       // MTP blocks in the checkpoint (not converted)
  int64_t fp8_block[2] = {128, 128};
};

struct Fields {
  const json& j;
  const std::string& path;
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(path + ": " + what); }
  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t integer(const char* k, std::optional<int64_t> def = std::nullopt) const {
    if (!has(k)) {
      if (!def) fail("missing \"" + std::string(k) + "\"");
      return *def;
    }
    if (!j[k].is_number_integer() || j[k].get<int64_t>() < 0)
      fail("\"" + std::string(k) + "\" is not a non-negative integer");
    return j[k].get<int64_t>();
  }
  double number(const char* k, double def) const {
    if (!has(k)) return def;
    if (!j[k].is_number()) fail("\"" + std::string(k) + "\" is not a number");
    return j[k].get<double>();
  }
};

// "tiny-dsv4/hf" -> "tiny-dsv4": the model id's last component, or the directory (its parent if it is "hf").
std::string model_name(const json& j, const std::string& dir) {
  std::string id = j.contains("_name_or_path") && j["_name_or_path"].is_string() ? j["_name_or_path"].get<std::string>()
                                                                                  : std::string();
  if (!id.empty()) {
    while (!id.empty() && id.back() == '/') id.pop_back();
    if (auto slash = id.find_last_of('/'); slash != std::string::npos) id = id.substr(slash + 1);
    if (!id.empty()) return id;
  }
  std::filesystem::path p = std::filesystem::absolute(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  if (p.filename() == "hf" && p.has_parent_path()) p = p.parent_path();
  return p.filename().string();
}

V4Config read_v4_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  const json j = read_json_file(path);
  if (!j.is_object()) throw FormatError(path + ": not a JSON object");
  const Fields f{j, path};
  V4Config c;
  c.n_layer = f.integer("num_hidden_layers");
  c.n_embd = f.integer("hidden_size");
  c.n_head = f.integer("num_attention_heads");
  c.n_head_kv = f.integer("num_key_value_heads", 1);
  c.head_dim = f.integer("head_dim");
  if (f.has("qk_rope_head_dim")) c.n_rot = f.integer("qk_rope_head_dim");
  else c.n_rot = static_cast<int64_t>(std::lround(static_cast<double>(c.head_dim) * f.number("partial_rotary_factor", 0)));
  c.q_lora = f.integer("q_lora_rank");
  c.o_groups = f.integer("o_groups");
  c.o_lora = f.integer("o_lora_rank");
  c.n_expert = f.integer("n_routed_experts");
  c.n_used = f.integer("num_experts_per_tok");
  c.n_ff_exp = f.integer("moe_intermediate_size");
  c.n_shared = f.integer("n_shared_experts", 1);
  c.window = f.integer("sliding_window");
  c.idx_heads = f.integer("index_n_heads");
  c.idx_dim = f.integer("index_head_dim");
  c.idx_topk = f.integer("index_topk");
  c.hc = f.integer("hc_mult");
  c.sinkhorn = f.integer("hc_sinkhorn_iters", 20);
  c.hc_eps = f.number("hc_eps", 1e-6);
  c.n_vocab = f.integer("vocab_size");
  c.n_ctx = f.integer("max_position_embeddings");
  c.nextn = f.integer("num_nextn_predict_layers", 0);
  c.rms_eps = f.number("rms_norm_eps", 1e-6);
  c.routed_scale = f.number("routed_scaling_factor", 1.0);
  c.swiglu_limit = f.number("swiglu_limit", 0.0);
  if (f.has("norm_topk_prob")) {
    if (!j["norm_topk_prob"].is_boolean()) f.fail("\"norm_topk_prob\" is not a boolean");
    c.norm_topk = j["norm_topk_prob"].get<bool>();
  }
  if (f.has("scoring_func") && (!j["scoring_func"].is_string() || j["scoring_func"].get<std::string>() != "sqrtsoftplus"))
    throw UnsupportedError(path + ": scoring_func " + j["scoring_func"].dump() + " (deepseek4 routes with sqrtsoftplus)");
  if (c.n_layer == 0 || c.n_layer > 512 || c.n_used == 0 || c.n_used > c.n_expert || c.n_expert > 4096)
    f.fail("implausible layer / expert counts");
  if (c.head_dim == 0 || c.n_rot == 0 || c.n_rot % 2 != 0 || c.n_rot > c.head_dim)
    f.fail("head_dim / rope dimensions (qk_rope_head_dim or partial_rotary_factor) are inconsistent");
  if (c.o_groups == 0 || c.n_head % c.o_groups != 0) f.fail("o_groups does not divide num_attention_heads");

  // Layer kinds: layer_types (+ compress_rates) or the legacy compress_ratios list (first L entries).
  c.ratio.assign(static_cast<size_t>(c.n_layer), 0);
  c.kind.assign(static_cast<size_t>(c.n_layer), Kind::Window);
  if (f.has("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) < c.n_layer)
      f.fail("\"layer_types\" is not a list of num_hidden_layers entries");
    int64_t csa = 4, hca = 128;
    if (f.has("compress_rates")) {
      const json& cr = j["compress_rates"];
      if (!cr.is_object()) f.fail("\"compress_rates\" is not an object");
      const Fields g{cr, path};
      csa = g.integer("compressed_sparse_attention", 4);
      hca = g.integer("heavily_compressed_attention", 128);
    }
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const json& e = lt[static_cast<size_t>(il)];
      const std::string t = e.is_string() ? e.get<std::string>() : "";
      size_t i = static_cast<size_t>(il);
      if (t == "sliding_attention") c.kind[i] = Kind::Window, c.ratio[i] = 0;
      else if (t == "compressed_sparse_attention") c.kind[i] = Kind::Csa, c.ratio[i] = csa;
      else if (t == "heavily_compressed_attention") c.kind[i] = Kind::Hca, c.ratio[i] = hca;
      else f.fail("\"layer_types\" entry " + std::to_string(il) + " is " + e.dump());
    }
  } else if (f.has("compress_ratios")) {
    const json& cr = j["compress_ratios"];
    if (!cr.is_array() || static_cast<int64_t>(cr.size()) < c.n_layer)
      f.fail("\"compress_ratios\" is not a list of at least num_hidden_layers entries");
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const json& e = cr[static_cast<size_t>(il)];
      if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() == 1)
        f.fail("\"compress_ratios\" entry " + std::to_string(il) + " is " + e.dump());
      const int64_t r = e.get<int64_t>();
      c.ratio[static_cast<size_t>(il)] = r;
      c.kind[static_cast<size_t>(il)] = r == 0 ? Kind::Window : r == 4 ? Kind::Csa : Kind::Hca;
    }
  } else {
    f.fail("neither \"layer_types\" nor \"compress_ratios\": the layer kinds are unknown");
  }

  // Hash-routed layers: mlp_layer_types (a prefix of "hash_moe") or num_hash_layers.
  if (f.has("mlp_layer_types")) {
    const json& mt = j["mlp_layer_types"];
    if (!mt.is_array() || static_cast<int64_t>(mt.size()) < c.n_layer)
      f.fail("\"mlp_layer_types\" is not a list of num_hidden_layers entries");
    bool prefix = true;
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const json& e = mt[static_cast<size_t>(il)];
      const std::string t = e.is_string() ? e.get<std::string>() : "";
      if (t == "hash_moe") {
        if (!prefix) f.fail("\"mlp_layer_types\": hash_moe layer " + std::to_string(il) + " after a moe layer");
        ++c.n_hash;
      } else if (t == "moe") {
        prefix = false;
      } else {
        f.fail("\"mlp_layer_types\" entry " + std::to_string(il) + " is " + e.dump());
      }
    }
  } else {
    c.n_hash = f.integer("num_hash_layers", 0);
  }
  if (c.n_hash > c.n_layer) f.fail("more hash layers than layers");

  // RoPE: rope_parameters {main, compress} (transformers) or rope_theta + compress_rope_theta + rope_scaling.
  json rs;
  if (f.has("rope_parameters") && j["rope_parameters"].is_object() && j["rope_parameters"].contains("main")) {
    const json& rp = j["rope_parameters"];
    const json& m = rp["main"];
    if (!m.is_object()) f.fail("\"rope_parameters.main\" is not an object");
    c.theta_main = Fields{m, path}.number("rope_theta", f.number("rope_theta", 10000.0));
    if (rp.contains("compress") && rp["compress"].is_object()) {
      const json& cp = rp["compress"];
      c.theta_compress = Fields{cp, path}.number("rope_theta", f.number("compress_rope_theta", c.theta_main));
      rs = cp;
    }
  } else {
    c.theta_main = f.number("rope_theta", 10000.0);
    if (f.has("rope_scaling") && j["rope_scaling"].is_object()) rs = j["rope_scaling"];
  }
  if (c.theta_compress == 0) c.theta_compress = f.number("compress_rope_theta", c.theta_main);
  if (rs.is_object()) {
    const Fields g{rs, path};
    std::string type = rs.contains("rope_type") && rs["rope_type"].is_string() ? rs["rope_type"].get<std::string>()
                       : rs.contains("type") && rs["type"].is_string()        ? rs["type"].get<std::string>()
                                                                              : "";
    if (type == "yarn") {
      c.yarn_factor = g.number("factor", 1.0);
      c.yarn = c.yarn_factor != 1.0;
      c.yarn_orig = g.integer("original_max_position_embeddings", c.n_ctx);
      c.beta_fast = g.number("beta_fast", 32.0);
      c.beta_slow = g.number("beta_slow", 1.0);
      // The compressed layers use YaRN frequencies without a magnitude factor (DEEPSEEK_V4.md §6); a file cannot
      // say otherwise, so a config asking for one is refused rather than silently changed.
      if (rs.contains("attention_factor") && g.number("attention_factor", 1.0) != 1.0)
        throw UnsupportedError(path + ": rope attention_factor " + rs["attention_factor"].dump() + " (deepseek4: 1)");
    } else if (!type.empty() && type != "default") {
      throw UnsupportedError(path + ": rope type " + type + " (deepseek4 supports yarn)");
    }
  }

  if (f.has("quantization_config") && j["quantization_config"].is_object()) {
    const json& q = j["quantization_config"];
    if (q.contains("weight_block_size") && q["weight_block_size"].is_array() && q["weight_block_size"].size() == 2 &&
        q["weight_block_size"][0].is_number_integer() && q["weight_block_size"][1].is_number_integer()) {
      c.fp8_block[0] = q["weight_block_size"][0].get<int64_t>();
      c.fp8_block[1] = q["weight_block_size"][1].get<int64_t>();
      if (c.fp8_block[0] <= 0 || c.fp8_block[1] <= 0) f.fail("bad weight_block_size");
    }
  }
  c.name = model_name(j, dir);
  return c;
}

// ---- source naming ----

// Where the two layouts differ: the global tensors and the layer prefix. Per-layer suffixes are the same.
struct Layout {
  std::string layer_prefix;  // "model.layers." / "layers."
  std::string embed, norm, head, hc_fn, hc_base, hc_scale;
};

Layout detect_layout(const st::Checkpoint& ck, const std::string& dir) {
  if (ck.find("model.embed_tokens.weight"))
    return {"model.layers.", "model.embed_tokens.weight", "model.norm.weight",
            ck.find("lm_head.weight") ? "lm_head.weight" : "head.weight", "model.hc_head.hc_fn",
            "model.hc_head.hc_base", "model.hc_head.hc_scale"};
  if (ck.find("embed.weight"))
    return {"layers.", "embed.weight", "norm.weight", "head.weight", "hc_head_fn", "hc_head_base", "hc_head_scale"};
  throw FormatError(dir + ": no model.embed_tokens.weight (transformers layout) or embed.weight (official layout)");
}

// ---- output types ----

// v4_keeps_f32 tensors stay F32; others get `outtype` (F16 when a row does not fill whole blocks, as llama.cpp
// falls back).
uint32_t pick_type(const std::string& name, const std::vector<int64_t>& ne, DType outtype) {
  if (v4_keeps_f32(name, ne.size()) || outtype == DType::F32) return static_cast<uint32_t>(DType::F32);
  if (ne[0] % type_traits(outtype).block_elems != 0) return static_cast<uint32_t>(DType::F16);
  return static_cast<uint32_t>(outtype);
}

// E8M0 exponent byte of a scale element (E8M0 / U8 / I8 raw, or a float that must be an exact power of two).
uint8_t e8m0_at(const st::TensorInfo& s, int64_t i) {
  if (s.dtype == st::DType::F8_E8M0 || s.dtype == st::DType::U8 || s.dtype == st::DType::I8) return s.data[i];
  float v;
  st::to_f32(s, i, 1, &v);
  int e = 0;
  const float m = std::frexp(v, &e);  // v = m · 2^e, m in [0.5, 1)
  if (!(m == 0.5f) || e - 1 < -127 || e - 1 > 127)
    throw FormatError(s.file + ": tensor '" + s.name + "' element " + std::to_string(i) + " = " + std::to_string(v) +
                      " is not a power of two (an MXFP4 scale must be)");
  return static_cast<uint8_t>(e - 1 + 127);
}

// A packed-FP4 expert matrix: `w` [out, in/2] bytes (element 2i in the low nibble of byte i), `s` [out, in/32].
struct Fp4Matrix {
  const st::TensorInfo* w = nullptr;
  const st::TensorInfo* s = nullptr;
  int64_t rows = 0, in = 0;
};

// One MXFP4 row (in/32 blocks) of `m`'s row r: the E8M0 byte copied, nibbles moved from pair order (2i, 2i+1)
// to ggml's (j, j+16). Bit-exact: no value is decoded.
void fp4_row_to_mxfp4(const Fp4Matrix& m, int64_t r, uint8_t* dst) {
  const int64_t nb = m.in / QK_MXFP4;
  const uint8_t* src = m.w->data + static_cast<uint64_t>(r) * static_cast<uint64_t>(m.in / 2);
  auto* out = reinterpret_cast<BlockMXFP4*>(dst);
  for (int64_t b = 0; b < nb; ++b) {
    BlockMXFP4 blk;
    blk.e = e8m0_at(*m.s, r * nb + b);
    const uint8_t* p = src + b * (QK_MXFP4 / 2);
    auto code = [p](int k) { return static_cast<uint8_t>((p[k / 2] >> (4 * (k % 2))) & 0x0F); };
    for (int j = 0; j < QK_MXFP4 / 2; ++j) blk.qs[j] = static_cast<uint8_t>(code(j) | (code(j + 16) << 4));
    std::memcpy(out + b, &blk, sizeof blk);
  }
}

class Planner {
 public:
  Planner(const st::Checkpoint& ck, const V4Config& cfg, const Layout& lay, DType outtype)
      : ck_(ck), cfg_(cfg), lay_(lay), outtype_(outtype) {}

  std::vector<OutTensor> plan(size_t& skipped) {
    add_float("token_embd.weight", need(lay_.embed));
    add_float("output_norm.weight", need(lay_.norm));
    add_float("output.weight", need(lay_.head));
    add_float("output_hc_fn.weight", need(lay_.hc_fn));
    add_float("output_hc_base.weight", need(lay_.hc_base));
    add_float("output_hc_scale.weight", need(lay_.hc_scale));
    for (int64_t il = 0; il < cfg_.n_layer; ++il) layer(il);
    // Every source tensor must have been used, except MTP layers and rotary buffers.
    for (const st::TensorInfo* t : ck_.tensors()) {
      if (used_.count(t->name)) continue;
      if (t->name.rfind("mtp.", 0) == 0 || t->name.rfind("model.mtp.", 0) == 0 || beyond_layers(t->name)) {
        ++skipped;
        continue;
      }
      if (ends_with(t->name, "rotary_emb.inv_freq")) continue;
      throw UnsupportedError(t->file + ": cannot map tensor '" + t->name + "' to a deepseek4 GGUF name");
    }
    return std::move(out_);
  }

 private:
  const st::TensorInfo* find(const std::string& name) {
    const st::TensorInfo* t = ck_.find(name);
    if (t) used_.insert(name);
    return t;
  }
  const st::TensorInfo* need(const std::string& name) {
    const st::TensorInfo* t = find(name);
    if (!t) throw FormatError(ck_.files().front()->path() + ": missing tensor '" + name + "'");
    return t;
  }
  // First present of alternative names (the KV norm is `attn.kv_norm` officially, `attn.norm` in transformers).
  const st::TensorInfo* need_any(std::initializer_list<std::string> names) {
    for (const std::string& n : names)
      if (const st::TensorInfo* t = find(n)) return t;
    throw FormatError(ck_.files().front()->path() + ": missing tensor '" + *names.begin() + "'");
  }
  // A layer tensor of an MTP block ("layers.L..." with L >= num_hidden_layers, within num_nextn_predict_layers).
  bool beyond_layers(const std::string& name) const {
    if (name.rfind(lay_.layer_prefix, 0) != 0) return false;
    const size_t i = lay_.layer_prefix.size();
    size_t j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (j == i || j - i >= 7) return false;
    const int64_t il = std::stoll(name.substr(i, j - i));
    return il >= cfg_.n_layer && il < cfg_.n_layer + cfg_.nextn;  // MTP blocks numbered after the model's
  }

  // The block scales of an FP8 weight "X.weight": "X.scale" (official), "X.weight_scale_inv" (HF FP8 format).
  const st::TensorInfo* fp8_scale(const st::TensorInfo* t) {
    if (t->dtype != st::DType::F8_E4M3 && t->dtype != st::DType::F8_E5M2) return nullptr;
    const std::string base = ends_with(t->name, ".weight") ? t->name.substr(0, t->name.size() - 7) : t->name;
    for (const std::string& n : {base + ".scale", t->name + "_scale_inv", t->name + "_scale"})
      if (const st::TensorInfo* s = find(n)) return s;
    return nullptr;
  }
  SrcMatrix src(const st::TensorInfo* t) {
    const std::string base = ends_with(t->name, ".weight") ? t->name.substr(0, t->name.size() - 7) : t->name;
    return convert::src_matrix(t, fp8_scale(t), base + ".scale", cfg_.fp8_block[0], cfg_.fp8_block[1]);
  }

  void push(OutTensor o) {
    if (o.type == 0 && !o.raw) o.type = pick_type(o.name, o.ne, outtype_);
    out_.push_back(std::move(o));
  }

  // A float (or FP8) tensor; GGUF ne = the safetensors shape reversed.
  void add_float(const std::string& name, const st::TensorInfo* t) {
    SrcMatrix s = src(t);
    OutTensor o;
    o.name = name;
    o.ne = t->shape.size() == 2 ? std::vector<int64_t>{s.cols, s.rows} : std::vector<int64_t>{s.cols};
    o.rows = [s](int64_t r0, int64_t nr, float* dst) { convert::read_rows(s, r0, nr, dst); };
    push(std::move(o));
  }

  // tid2eid [V, K] (I64 or I32) -> I32 ne [K, V], every id checked against the expert count.
  void add_table(const std::string& name, const st::TensorInfo* t) {
    if ((t->dtype != st::DType::I64 && t->dtype != st::DType::I32) || t->shape.size() != 2 ||
        t->shape[0] != cfg_.n_vocab || t->shape[1] != cfg_.n_used)
      throw FormatError(t->file + ": tensor '" + t->name + "' is " + st::dtype_name(t->dtype) + " " +
                        t->shape_string() + ", expected I64/I32 [" + std::to_string(cfg_.n_vocab) + ", " +
                        std::to_string(cfg_.n_used) + "]");
    OutTensor o;
    o.name = name;
    o.ne = {t->shape[1], t->shape[0]};
    o.type = static_cast<uint32_t>(DType::I32);
    const int64_t K = t->shape[1], X = cfg_.n_expert;
    o.raw = [t, K, X](int64_t r0, int64_t nr, uint8_t* dst) {
      const size_t es = st::dtype_size(t->dtype);
      for (int64_t i = 0; i < nr * K; ++i) {
        const uint8_t* p = t->data + static_cast<uint64_t>(r0 * K + i) * es;
        int64_t v;
        if (es == 8) std::memcpy(&v, p, 8);
        else {
          int32_t w;
          std::memcpy(&w, p, 4);
          v = w;
        }
        if (v < 0 || v >= X)
          throw FormatError(t->file + ": tensor '" + t->name + "' holds expert id " + std::to_string(v) +
                            " (expert count " + std::to_string(X) + ")");
        const int32_t w = static_cast<int32_t>(v);
        std::memcpy(dst + 4 * i, &w, 4);
      }
    };
    push(std::move(o));
  }

  // Routed experts of one projection: HF per expert [out, in] -> GGUF [in, out, X]. Packed FP4 sources (I8/U8
  // weight + scale) become MXFP4 rows; float / FP8 sources become `outtype` rows.
  void add_experts(const std::string& name, const std::string& pfx, const char* w, int64_t in, int64_t out) {
    const int64_t X = cfg_.n_expert;
    const st::TensorInfo* t0 = need(pfx + "0." + w + ".weight");
    const bool fp4 = t0->dtype == st::DType::I8 || t0->dtype == st::DType::U8;
    OutTensor o;
    o.name = name;
    o.ne = {in, out, X};
    if (fp4) {
      std::vector<Fp4Matrix> ms(static_cast<size_t>(X));
      for (int64_t e = 0; e < X; ++e) {
        const std::string base = pfx + std::to_string(e) + "." + w;
        Fp4Matrix& m = ms[static_cast<size_t>(e)];
        m.w = need(base + ".weight");
        m.s = need(base + ".scale");
        m.rows = out;
        m.in = in;
        if (m.w->dtype != t0->dtype || m.w->shape != std::vector<int64_t>{out, in / 2} || in % QK_MXFP4 != 0)
          throw FormatError(m.w->file + ": FP4 expert tensor '" + m.w->name + "' is " + st::dtype_name(m.w->dtype) +
                            " " + m.w->shape_string() + ", expected " + st::dtype_name(t0->dtype) + " [" +
                            std::to_string(out) + ", " + std::to_string(in / 2) + "] (two FP4 values per byte)");
        const bool scale_ok = m.s->dtype == st::DType::F8_E8M0 || m.s->dtype == st::DType::U8 ||
                              m.s->dtype == st::DType::I8 || st::is_float(m.s->dtype);
        if (!scale_ok || m.s->shape != std::vector<int64_t>{out, in / QK_MXFP4})
          throw FormatError(m.s->file + ": FP4 scale tensor '" + m.s->name + "' is " + st::dtype_name(m.s->dtype) +
                            " " + m.s->shape_string() + ", expected F8_E8M0 [" + std::to_string(out) + ", " +
                            std::to_string(in / QK_MXFP4) + "]");
      }
      o.type = static_cast<uint32_t>(DType::MXFP4);
      const size_t rb = static_cast<size_t>(in / QK_MXFP4) * sizeof(BlockMXFP4);
      o.raw = [ms, out, rb](int64_t r0, int64_t nr, uint8_t* dst) {
        for (int64_t r = r0; r < r0 + nr; ++r, dst += rb) fp4_row_to_mxfp4(ms[static_cast<size_t>(r / out)], r % out, dst);
      };
    } else {
      std::vector<SrcMatrix> ss;
      for (int64_t e = 0; e < X; ++e) {
        const st::TensorInfo* t = need(pfx + std::to_string(e) + "." + w + ".weight");
        ss.push_back(src(t));
        if (t->shape != std::vector<int64_t>{out, in})
          throw FormatError(t->file + ": expert tensor '" + t->name + "' has shape " + t->shape_string() +
                            ", expected [" + std::to_string(out) + ", " + std::to_string(in) + "]");
      }
      o.rows = [ss, out, in](int64_t r0, int64_t nr, float* dst) {
        while (nr > 0) {
          const int64_t e = r0 / out, r = r0 % out, n = std::min(nr, out - r);
          convert::read_rows(ss[static_cast<size_t>(e)], r, n, dst);
          dst += n * in;
          r0 += n;
          nr -= n;
        }
      };
    }
    push(std::move(o));
  }

  void layer(int64_t il) {
    const std::string p = lay_.layer_prefix + std::to_string(il) + ".";
    const std::string b = "blk." + std::to_string(il) + ".";
    const Kind kind = cfg_.kind[static_cast<size_t>(il)];
    add_float(b + "attn_norm.weight", need(p + "attn_norm.weight"));
    add_float(b + "ffn_norm.weight", need(p + "ffn_norm.weight"));
    add_float(b + "attn_sinks.weight", need(p + "attn.attn_sink"));
    add_float(b + "attn_q_a.weight", need(p + "attn.wq_a.weight"));
    add_float(b + "attn_q_a_norm.weight", need(p + "attn.q_norm.weight"));
    add_float(b + "attn_q_b.weight", need(p + "attn.wq_b.weight"));
    add_float(b + "attn_kv.weight", need(p + "attn.wkv.weight"));
    add_float(b + "attn_kv_a_norm.weight", need_any({p + "attn.kv_norm.weight", p + "attn.norm.weight"}));
    add_float(b + "attn_output_a.weight", need(p + "attn.wo_a.weight"));
    add_float(b + "attn_output_b.weight", need(p + "attn.wo_b.weight"));
    for (const char* hc : {"hc_attn", "hc_ffn"})
      for (const char* part : {"fn", "base", "scale"})
        add_float(b + hc + "_" + part + ".weight", need(p + hc + "_" + part));
    if (kind != Kind::Window) {
      add_float(b + "attn_compressor_kv.weight", need(p + "attn.compressor.wkv.weight"));
      add_float(b + "attn_compressor_gate.weight", need(p + "attn.compressor.wgate.weight"));
      add_float(b + "attn_compressor_ape.weight", need(p + "attn.compressor.ape"));
      add_float(b + "attn_compressor_norm.weight", need(p + "attn.compressor.norm.weight"));
    }
    if (kind == Kind::Csa) {
      add_float(b + "indexer.attn_q_b.weight", need(p + "attn.indexer.wq_b.weight"));
      add_float(b + "indexer.proj.weight", need(p + "attn.indexer.weights_proj.weight"));
      add_float(b + "indexer_compressor_kv.weight", need(p + "attn.indexer.compressor.wkv.weight"));
      add_float(b + "indexer_compressor_gate.weight", need(p + "attn.indexer.compressor.wgate.weight"));
      add_float(b + "indexer_compressor_ape.weight", need(p + "attn.indexer.compressor.ape"));
      add_float(b + "indexer_compressor_norm.weight", need(p + "attn.indexer.compressor.norm.weight"));
    }
    add_float(b + "ffn_gate_inp.weight", need(p + "ffn.gate.weight"));
    if (il < cfg_.n_hash) add_table(b + "ffn_gate_tid2eid.weight", need(p + "ffn.gate.tid2eid"));
    else add_float(b + "exp_probs_b.bias", need(p + "ffn.gate.bias"));
    const std::string ex = p + "ffn.experts.";
    add_experts(b + "ffn_gate_exps.weight", ex, "w1", cfg_.n_embd, cfg_.n_ff_exp);
    add_experts(b + "ffn_up_exps.weight", ex, "w3", cfg_.n_embd, cfg_.n_ff_exp);
    add_experts(b + "ffn_down_exps.weight", ex, "w2", cfg_.n_ff_exp, cfg_.n_embd);
    if (cfg_.n_shared > 0) {
      add_float(b + "ffn_gate_shexp.weight", need(p + "ffn.shared_experts.w1.weight"));
      add_float(b + "ffn_up_shexp.weight", need(p + "ffn.shared_experts.w3.weight"));
      add_float(b + "ffn_down_shexp.weight", need(p + "ffn.shared_experts.w2.weight"));
    }
  }

  const st::Checkpoint& ck_;
  const V4Config& cfg_;
  const Layout& lay_;
  DType outtype_;
  std::vector<OutTensor> out_;
  std::set<std::string> used_;
};

}  // namespace

bool is_deepseek_v4_checkpoint(const std::string& hf_dir) {
  std::ifstream in(hf_dir + "/config.json");
  if (!in) return false;
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  if (j.contains("model_type") && j["model_type"] == "deepseek_v4") return true;
  return j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
         j["architectures"][0] == "DeepseekV4ForCausalLM";
}

ConvertSummary convert_v4(const ConvertOptions& opt) {
  DType outtype;
  if (!parse_type_name(opt.outtype, outtype) ||
      (outtype != DType::F32 && outtype != DType::F16 && outtype != DType::BF16 && outtype != DType::Q8_0))
    throw ArgumentError("--outtype " + opt.outtype + " (expected f32, f16, bf16 or q8_0)");
  const V4Config cfg = read_v4_config(opt.hf_dir);
  HfVocab vocab = load_hf_vocab(opt.hf_dir, cfg.n_vocab, opt.pre);
  auto ck = safetensors::Checkpoint::open_dir(opt.hf_dir);
  const Layout lay = detect_layout(*ck, opt.hf_dir);

  ConvertSummary sum;
  sum.architecture = "DeepseekV4ForCausalLM";
  std::vector<OutTensor> tensors = Planner(*ck, cfg, lay, outtype).plan(sum.skipped_mtp);

  gguf::Writer w;
  write_v4_keys(w, cfg, convert::file_type_of(outtype));
  write_vocab(w, vocab);
  for (const auto& t : tensors) {
    sum.n_params += static_cast<uint64_t>(t.n_elements());
    const OutTensor* p = &t;
    w.add_tensor_rows(t.name, t.type, t.ne,
                      [p](int64_t first, int64_t n, uint8_t* dst) { convert::encode_rows(*p, first, n, dst); });
  }
  w.write(opt.out_path, [&](size_t done, size_t n) {
    if (opt.progress) opt.progress(done, n, tensors[done - 1].name);
  });
  sum.n_tensors = tensors.size();
  std::error_code ec;
  sum.out_bytes = std::filesystem::file_size(opt.out_path, ec);
  return sum;
}

}  // namespace latte::tools
