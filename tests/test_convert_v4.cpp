// `latte convert` for DeepSeek-V4 (runtime/convert/convert_v4): the transformers layout of shared/models/tiny-dsv4
// converts to f32 with exactly the keys, tensor names, shapes and types of the reference dump (gguf-dump-f32.txt:
// the file ik_llama.cpp loads), with tensors copied in the right orientation; bf16 / f16 / q8_0 follow the type
// policy; an official-layout checkpoint built here from tiny-dsv4 (FP8 e4m3 + 128×128 block scales, packed FP4
// experts + E8M0 scales, BF16 projections, legacy config fields, an MTP layer) converts to FP8-dequantized values
// bit for bit and to MXFP4 expert blocks identical to the blocks it was packed from; bad inputs give one-line errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/types.h"
#include "runtime/convert/convert_hf.h"
#include "tests/st_writer.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
namespace st = latte::safetensors;
using latte::DType;
using latte::gguf::File;
using latte::test::StTensor;

namespace {

std::string tiny_dir() { return latte::test::model_path("tiny-dsv4"); }

latte::tools::ConvertSummary convert(const std::string& dir, const std::string& out, const std::string& outtype) {
  latte::tools::ConvertOptions o;
  o.hf_dir = dir;
  o.out_path = out;
  o.outtype = outtype;
  return latte::tools::convert_hf(o);
}

std::string scratch() { return latte::test::scratch_dir("convert-v4"); }

// The converted tiny-dsv4 in `outtype`, made once per process.
const std::string& converted(const std::string& outtype) {
  static std::map<std::string, std::string> done;
  auto it = done.find(outtype);
  if (it != done.end()) return it->second;
  const std::string out = scratch() + "/tiny-dsv4-" + outtype + ".gguf";
  convert(tiny_dir() + "/hf", out, outtype);
  return done[outtype] = out;
}

// ---- gguf-dump-f32.txt ----
struct DumpKey {
  std::string key, value;
};
struct DumpTensor {
  std::string name, type;
  std::vector<int64_t> ne;
};
struct Dump {
  size_t n_tensors = 0, n_keys = 0;
  std::vector<DumpKey> keys;
  std::vector<DumpTensor> tensors;
};

std::vector<int64_t> parse_ints(const std::string& list) {  // "256, 64, 16"
  std::vector<int64_t> v;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoll(item));
  return v;
}

Dump read_dump(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  Dump d;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("wrote ", 0) == 0) {
      const size_t c = line.find(": ");
      std::sscanf(line.c_str() + c + 2, "%zu tensors, %zu keys", &d.n_tensors, &d.n_keys);
    } else if (line.rfind("  kv ", 0) == 0) {
      const size_t eq = line.find(" = ");
      d.keys.push_back({line.substr(5, eq - 5), line.substr(eq + 3)});
    } else if (line.rfind("  tensor ", 0) == 0) {
      std::istringstream ls(line.substr(9));
      DumpTensor t;
      std::string ne, type;
      ls >> t.name;
      std::getline(ls, ne);
      const size_t a = ne.find("ne=["), b = ne.find("]", a), ty = ne.find("type=");
      t.ne = parse_ints(ne.substr(a + 4, b - a - 4));
      t.type = ne.substr(ty + 5);
      while (!t.type.empty() && std::isspace(static_cast<unsigned char>(t.type.back()))) t.type.pop_back();
      d.tensors.push_back(t);
    }
  }
  return d;
}

// One dump value against the file's record: strings ('…' exact, "…" a prefix: the dump truncates long strings),
// True/False, numbers (integers must be U32 scalars, reals F32, as gguf-py writes them), arrays "[N x type T][…]".
void check_value(const File& f, const latte::gguf::KeyValue& kv, const std::string& want) {
  using latte::gguf::ValueType;
  INFO("key " << kv.key << " = " << want);
  if (want.rfind("[", 0) == 0 && want.find(" x type ") != std::string::npos) {
    uint64_t n = 0;
    unsigned type = 0;
    REQUIRE(std::sscanf(want.c_str(), "[%lu x type %u]", &n, &type) == 2);
    CHECK(kv.type == ValueType::ARRAY);
    CHECK(kv.count == n);
    CHECK(static_cast<unsigned>(kv.elem_type) == type);
    const size_t open = want.find("][");
    if (open != std::string::npos) {
      const std::string list = want.substr(open + 2, want.size() - open - 3);
      std::vector<double> exp;
      std::stringstream ss(list);
      std::string item;
      while (std::getline(ss, item, ',')) exp.push_back(std::stod(item));
      std::vector<double> got;
      if (kv.elem_type == ValueType::F32)
        for (float x : f.get_float_array(kv.key)) got.push_back(x);
      else
        for (int64_t x : f.get_int_array(kv.key)) got.push_back(static_cast<double>(x));
      CHECK(got == exp);
    }
  } else if (want.rfind("'", 0) == 0) {
    REQUIRE(kv.type == ValueType::STRING);
    CHECK(std::string(*f.get_string(kv.key)) == want.substr(1, want.size() - 2));
  } else if (want.rfind("\"", 0) == 0) {
    REQUIRE(kv.type == ValueType::STRING);
    std::string prefix = want.substr(1);
    if (!prefix.empty() && prefix.back() == '"') prefix.pop_back();
    CHECK(std::string(*f.get_string(kv.key)).rfind(prefix, 0) == 0);
  } else if (want == "True" || want == "False") {
    REQUIRE(kv.type == ValueType::BOOL);
    CHECK(*f.get_bool(kv.key) == (want == "True"));
  } else if (want.find_first_of(".e") != std::string::npos) {
    CHECK(kv.type == ValueType::F32);
    CHECK(*f.get_float(kv.key) == doctest::Approx(std::stod(want)).epsilon(1e-6));
  } else {
    CHECK(kv.type == ValueType::U32);
    CHECK(*f.get_uint(kv.key) == std::stoull(want));
  }
}

std::vector<uint8_t> bytes_of(const latte::gguf::TensorInfo& t) { return {t.data, t.data + t.nbytes}; }
std::vector<uint8_t> bytes_of(const st::TensorInfo& t) { return {t.data, t.data + t.nbytes}; }

}  // namespace

TEST_CASE("tiny-dsv4 -> f32: the keys, tensor names, shapes and types of gguf-dump-f32.txt, in its order") {
  const Dump d = read_dump(tiny_dir() + "/gguf-dump-f32.txt");
  REQUIRE(d.n_keys == 57);
  REQUIRE(d.n_tensors == 178);
  REQUIRE(d.keys.size() == d.n_keys);
  REQUIRE(d.tensors.size() == d.n_tensors);
  auto f = File::open(converted("f32"));
  REQUIRE(f->metadata().size() == d.keys.size());
  for (size_t i = 0; i < d.keys.size(); ++i) {
    const auto& kv = f->metadata()[i];
    CHECK_MESSAGE(kv.key == d.keys[i].key, "key #" << i);
    if (kv.key == d.keys[i].key) check_value(*f, kv, d.keys[i].value);
  }
  REQUIRE(f->tensors().size() == d.tensors.size());
  for (size_t i = 0; i < d.tensors.size(); ++i) {
    const auto& t = f->tensors()[i];
    const DumpTensor& w = d.tensors[i];
    INFO("tensor #" << i << " " << w.name);
    CHECK(t.name == w.name);
    CHECK(std::vector<int64_t>(t.ne, t.ne + t.n_dims) == w.ne);
    CHECK(std::string(latte::type_id_name(t.type)) == w.type);
  }
}

TEST_CASE("tiny-dsv4 -> f32: tensors are the checkpoint's, transposed to ne order and experts stacked") {
  auto f = File::open(converted("f32"));
  auto src = st::File::open(tiny_dir() + "/hf/model.safetensors");
  auto same = [&](const char* gguf_name, const char* st_name) {
    INFO(gguf_name << " <- " << st_name);
    const auto* t = f->find_tensor(gguf_name);
    const auto* s = src->find(st_name);
    REQUIRE(t);
    REQUIRE(s);
    CHECK(bytes_of(*t) == bytes_of(*s));
  };
  same("token_embd.weight", "model.embed_tokens.weight");
  same("output.weight", "head.weight");
  same("output_hc_fn.weight", "model.hc_head.hc_fn");
  same("blk.2.attn_kv_a_norm.weight", "model.layers.2.attn.norm.weight");
  same("blk.2.attn_q_a_norm.weight", "model.layers.2.attn.q_norm.weight");
  same("blk.3.attn_compressor_ape.weight", "model.layers.3.attn.compressor.ape");
  same("blk.4.indexer_compressor_kv.weight", "model.layers.4.attn.indexer.compressor.wkv.weight");
  same("blk.5.exp_probs_b.bias", "model.layers.5.ffn.gate.bias");
  // Experts: row e·out + r of the stacked tensor is row r of expert e (w1 gate, w3 up, w2 down).
  for (const auto& kv : std::map<std::string, std::string>{
           {"ffn_gate_exps", "w1"}, {"ffn_up_exps", "w3"}, {"ffn_down_exps", "w2"}}) {
    // Named copies, not structured bindings: clang 14 cannot capture a binding in CHECK_MESSAGE's lambda.
    const std::string name = kv.first, w = kv.second;
    const auto* t = f->find_tensor("blk.4." + name + ".weight");
    REQUIRE(t);
    std::vector<uint8_t> stacked;
    for (int e = 0; e < 16; ++e) {
      const auto* s = src->find("model.layers.4.ffn.experts." + std::to_string(e) + "." + w + ".weight");
      REQUIRE(s);
      stacked.insert(stacked.end(), s->data, s->data + s->nbytes);
    }
    CHECK_MESSAGE(bytes_of(*t) == stacked, name);
  }
  // tid2eid: I64 [V, K] -> I32 ne [K, V], same values.
  const auto* t = f->find_tensor("blk.1.ffn_gate_tid2eid.weight");
  const auto* s = src->find("model.layers.1.ffn.gate.tid2eid");
  REQUIRE(t);
  REQUIRE(s);
  REQUIRE(s->n_elements() == t->n_elements());
  int bad = 0;
  for (int64_t i = 0; i < s->n_elements(); ++i) {
    int64_t a;
    int32_t b;
    std::memcpy(&a, s->data + 8 * i, 8);
    std::memcpy(&b, t->data + 4 * i, 4);
    bad += a != b;
  }
  CHECK(bad == 0);
}

TEST_CASE("tiny-dsv4 -> bf16 / f16 / q8_0: weight matrices in the output type, vectors, router, mHC and compressor "
          "projections f32") {
  auto f32 = File::open(converted("f32"));
  for (const char* ot : {"bf16", "f16", "q8_0"}) {
    auto f = File::open(converted(ot));
    DType want;
    REQUIRE(latte::parse_type_name(ot, want));
    std::map<std::string, int> count;
    for (size_t i = 0; i < f->tensors().size(); ++i) {
      const auto& t = f->tensors()[i];
      const auto& r = f32->tensors()[i];
      CHECK(t.name == r.name);
      ++count[latte::type_id_name(t.type)];
      const bool heavy = t.n_dims >= 2 && t.name.find("hc_") == std::string::npos &&
                         t.name.find("_ape.") == std::string::npos && t.name.find("compressor_") == std::string::npos &&
                         t.name.find("ffn_gate_inp") == std::string::npos &&
                         t.name.find("indexer.proj") == std::string::npos && t.name.find("tid2eid") == std::string::npos;
      if (heavy) {
        CHECK_MESSAGE(t.type == static_cast<uint32_t>(want), t.name);
        // Same values up to the type's rounding: the row's reference quantization of the f32 file.
        const auto& tt = latte::type_traits(want);
        std::vector<uint8_t> q(t.nbytes);
        std::vector<float> row(static_cast<size_t>(r.ne[0]));
        const size_t rb = latte::row_bytes(tt, r.ne[0]);
        for (int64_t k = 0; k < r.n_elements() / r.ne[0]; ++k) {
          std::memcpy(row.data(), r.data + k * r.ne[0] * 4, row.size() * 4);
          tt.quantize_row(row.data(), q.data() + k * rb, r.ne[0]);
        }
        CHECK_MESSAGE(std::memcmp(q.data(), t.data, t.nbytes) == 0, t.name);
      } else {
        CHECK(t.type == r.type);
        CHECK(bytes_of(t) == bytes_of(r));
      }
    }
    MESSAGE(std::string(ot) << ": " << count[latte::type_id_name(static_cast<uint32_t>(want))] << " tensors " << std::string(ot));
    CHECK(count[latte::type_id_name(static_cast<uint32_t>(want))] == 70);  // tiny-dsv4 README: 70 BF16 tensors
    CHECK(*f->get_uint("general.file_type") == (std::string(ot) == "bf16" ? 32u : std::string(ot) == "f16" ? 1u : 7u));
  }
}

// ---- the official checkpoint layout, built from tiny-dsv4 ----
namespace {

float e4m3(uint8_t v) { return st::f8_e4m3_to_f32(v); }

// Nearest float8 e4m3fn code of x (|x| ≤ 448).
uint8_t to_e4m3(float x) {
  const float a = std::fabs(x);
  uint8_t best = 0;
  float err = INFINITY;
  for (int c = 0; c < 0x7F; ++c) {
    const float d = std::fabs(e4m3(static_cast<uint8_t>(c)) - a);
    if (d < err) err = d, best = static_cast<uint8_t>(c);
  }
  return static_cast<uint8_t>(best | (x < 0 ? 0x80 : 0));
}

template <class T>
std::vector<uint8_t> raw_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> floats_of(const st::TensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  st::to_f32(t, 0, t.n_elements(), v.data());
  return v;
}

// FP8 e4m3 with 128×128 power-of-two block scales (E8M0 bytes or f32): weight, scale, and the dequantized values.
struct Fp8 {
  StTensor w, s;
  std::vector<float> deq;
};
Fp8 to_fp8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& x, bool e8m0) {
  const int64_t R = shape[0], C = shape[1], sr = (R + 127) / 128, sc = (C + 127) / 128;
  Fp8 f;
  f.w = {name + ".weight", "F8_E4M3", shape, std::vector<uint8_t>(static_cast<size_t>(R * C))};
  std::vector<int> k(static_cast<size_t>(sr * sc));
  for (int64_t bi = 0; bi < sr; ++bi)
    for (int64_t bj = 0; bj < sc; ++bj) {
      float amax = 0;
      for (int64_t r = bi * 128; r < std::min(R, bi * 128 + 128); ++r)
        for (int64_t c = bj * 128; c < std::min(C, bj * 128 + 128); ++c) amax = std::max(amax, std::fabs(x[r * C + c]));
      k[bi * sc + bj] = amax > 0 ? static_cast<int>(std::ceil(std::log2(amax / 448.0f))) : 0;
    }
  f.deq.resize(x.size());
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const float scale = std::ldexp(1.0f, k[(r / 128) * sc + c / 128]);
      const uint8_t q = to_e4m3(x[r * C + c] / scale);
      f.w.bytes[r * C + c] = q;
      f.deq[r * C + c] = e4m3(q) * scale;
    }
  if (e8m0) {
    std::vector<uint8_t> b;
    for (int e : k) b.push_back(static_cast<uint8_t>(e + 127));
    f.s = {name + ".scale", "F8_E8M0", {sr, sc}, b};
  } else {
    std::vector<float> v;
    for (int e : k) v.push_back(std::ldexp(1.0f, e));
    f.s = {name + ".scale", "F32", {sr, sc}, raw_bytes(v)};
  }
  return f;
}

// Packed FP4 in the release's order (element 2i in the low nibble of byte i) + E8M0 scales, from MXFP4 blocks.
std::pair<StTensor, StTensor> to_fp4(const std::string& name, int64_t rows, int64_t in, const std::vector<uint8_t>& mx) {
  const int64_t nb = in / 32;
  StTensor w{name + ".weight", "I8", {rows, in / 2}, std::vector<uint8_t>(static_cast<size_t>(rows * in / 2))};
  StTensor s{name + ".scale", "F8_E8M0", {rows, nb}, std::vector<uint8_t>(static_cast<size_t>(rows * nb))};
  for (int64_t b = 0; b < rows * nb; ++b) {
    latte::BlockMXFP4 blk;
    std::memcpy(&blk, mx.data() + b * sizeof blk, sizeof blk);
    s.bytes[b] = blk.e;
    auto code = [&](int j) { return j < 16 ? blk.qs[j] & 0x0F : blk.qs[j - 16] >> 4; };
    for (int i = 0; i < 16; ++i) w.bytes[b * 16 + i] = static_cast<uint8_t>(code(2 * i) | (code(2 * i + 1) << 4));
  }
  return {w, s};
}

struct Fixture {
  std::string official, lossy;  // checkpoint directories
  size_t n_mtp = 0;             // MTP tensors in the official one
  std::map<std::string, std::vector<uint8_t>> mxfp4;  // "blk.N.ffn_up_exps.weight" -> expected blocks
};

void copy_tokenizer(const std::string& dir) {
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tiny_dir() + "/hf/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
}

// Writes `official` (the release layout and config) and `lossy` (the transformers layout holding exactly the values
// the official one encodes: FP8-dequantized weights, bf16-rounded projections, MXFP4-dequantized experts).
Fixture make_fixture() {
  Fixture fx;
  fx.official = scratch() + "/official";
  fx.lossy = scratch() + "/lossy";
  for (const auto& d : {fx.official, fx.lossy}) {
    fs::remove_all(d);
    fs::create_directories(d);
    copy_tokenizer(d);
  }
  std::ifstream cin(tiny_dir() + "/hf/config.json");
  nlohmann::json cfg = nlohmann::json::parse(cin);
  std::ofstream(fx.lossy + "/config.json") << cfg.dump(2);
  // The release's config: legacy fields (one compress ratio per layer + the MTP layer), FP8 quantization.
  for (const char* k : {"layer_types", "compress_rates", "mlp_layer_types", "rope_parameters"}) cfg.erase(k);
  cfg["compress_ratios"] = {0, 0, 4, 16, 4, 16, 0};
  cfg["num_hash_layers"] = 2;
  cfg["rope_theta"] = 10000.0;
  cfg["compress_rope_theta"] = 160000.0;
  cfg["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 512},
                         {"beta_fast", 32}, {"beta_slow", 1}};
  cfg["quantization_config"] = {{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"scale_fmt", "ue8m0"},
                                {"weight_block_size", {128, 128}}};
  cfg["expert_dtype"] = "fp4";
  cfg["num_nextn_predict_layers"] = 1;
  std::ofstream(fx.official + "/config.json") << cfg.dump(2);

  auto src = st::File::open(tiny_dir() + "/hf/model.safetensors");
  std::vector<StTensor> off, los;
  const auto& mx = latte::type_traits(DType::MXFP4);
  for (const auto& t : src->tensors()) {
    std::string n = t.name;  // official name: no "model." prefix, embed/norm/hc_head renamed, kv norm spelled out
    if (n == "model.embed_tokens.weight") n = "embed.weight";
    else if (n == "model.norm.weight") n = "norm.weight";
    else if (n.rfind("model.hc_head.hc_", 0) == 0) n = "hc_head_" + n.substr(17);
    else if (n.rfind("model.", 0) == 0) n = n.substr(6);
    const std::string kvn = ".attn.norm.weight";
    if (n.size() > kvn.size() && n.compare(n.size() - kvn.size(), kvn.size(), kvn) == 0)
      n = n.substr(0, n.size() - kvn.size()) + ".attn.kv_norm.weight";
    auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
    const std::string base = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 ? n.substr(0, n.size() - 7) : n;
    StTensor raw{t.name, st::dtype_name(t.dtype), t.shape, bytes_of(t)};
    if (has(".ffn.experts.")) {  // packed FP4 from the reference MXFP4 quantizer's blocks
      const auto x = floats_of(t);
      const int64_t rows = t.shape[0], in = t.shape[1];
      std::vector<uint8_t> blocks(latte::row_bytes(mx, in) * static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) mx.quantize_row(x.data() + r * in, blocks.data() + r * latte::row_bytes(mx, in), in);
      auto [w, s] = to_fp4(base, rows, in, blocks);
      off.push_back(w);
      off.push_back(s);
      std::vector<float> deq(x.size());
      for (int64_t r = 0; r < rows; ++r) mx.dequantize_row(blocks.data() + r * latte::row_bytes(mx, in), deq.data() + r * in, in);
      los.push_back({t.name, "F32", t.shape, raw_bytes(deq)});
      // GGUF tensor and expert: blk.L.ffn_{gate,up,down}_exps, rows of expert e at e·rows.
      const size_t l0 = 7, l1 = n.find('.', l0);
      const std::string layer = n.substr(l0, l1 - l0);
      const size_t e0 = n.find(".experts.") + 9, e1 = n.find('.', e0);
      const int e = std::stoi(n.substr(e0, e1 - e0));
      const std::string proj = n.substr(e1 + 1, 2);
      const std::string g = "blk." + layer + "." + (proj == "w1" ? "ffn_gate_exps" : proj == "w3" ? "ffn_up_exps" : "ffn_down_exps") + ".weight";
      auto& dst = fx.mxfp4[g];
      dst.resize(std::max(dst.size(), blocks.size() * static_cast<size_t>(e + 1)));
      std::memcpy(dst.data() + blocks.size() * static_cast<size_t>(e), blocks.data(), blocks.size());
    } else if (has(".attn.wq_a.") || has(".attn.wq_b.") || has(".attn.wkv.") || has(".attn.wo_a.") ||
               has(".attn.wo_b.") || has(".indexer.wq_b.") || has(".shared_experts.")) {
      Fp8 f = to_fp8(base, t.shape, floats_of(t), /*e8m0=*/!has(".shared_experts."));
      off.push_back(f.w);
      off.push_back(f.s);
      los.push_back({t.name, "F32", t.shape, raw_bytes(f.deq)});
    } else if (has("compressor.wkv") || has("compressor.wgate") || has("weights_proj") || n == "embed.weight") {
      const auto x = floats_of(t);
      std::vector<uint16_t> h;
      std::vector<float> back;
      for (float v : x) h.push_back(latte::f32_to_bf16(v)), back.push_back(latte::bf16_to_f32(h.back()));
      off.push_back({n, "BF16", t.shape, raw_bytes(h)});
      los.push_back({t.name, "F32", t.shape, raw_bytes(back)});
    } else {
      raw.name = n;
      off.push_back(raw);
      los.push_back({t.name, st::dtype_name(t.dtype), t.shape, bytes_of(t)});
    }
  }
  // An MTP block (not converted) and its FP8 scale.
  std::vector<float> one(256, 1.0f);
  off.push_back({"mtp.0.enorm.weight", "F32", {256}, raw_bytes(one)});
  off.push_back({"mtp.0.hnorm.weight", "F32", {256}, raw_bytes(one)});
  fx.n_mtp = 2;
  // Two shards with an index, as the release ships.
  std::vector<StTensor> a(off.begin(), off.begin() + static_cast<long>(off.size() / 2)), b(off.begin() + static_cast<long>(off.size() / 2), off.end());
  latte::test::write_safetensors(fx.official + "/model-00001-of-00002.safetensors", a);
  latte::test::write_safetensors(fx.official + "/model-00002-of-00002.safetensors", b);
  nlohmann::json idx;
  idx["metadata"] = {{"total_size", 0}};
  for (const auto& t : a) idx["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : b) idx["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  std::ofstream(fx.official + "/model.safetensors.index.json") << idx.dump();
  latte::test::write_safetensors(fx.lossy + "/model.safetensors", los);
  return fx;
}

}  // namespace

TEST_CASE("official V4 layout (FP8 + block scales, packed FP4 experts + E8M0, legacy config, MTP): FP8 dequantized "
          "exactly, experts MXFP4 bit for bit, same keys as the transformers layout") {
  const Fixture fx = make_fixture();
  const std::string out_off = scratch() + "/official-f32.gguf", out_los = scratch() + "/lossy-f32.gguf";
  const auto s = convert(fx.official, out_off, "f32");
  CHECK(s.skipped_mtp == fx.n_mtp);
  convert(fx.lossy, out_los, "f32");
  auto a = File::open(out_off), b = File::open(out_los);
  // Keys: the legacy config fields give the transformers config's keys (general.name aside: the directory's).
  REQUIRE(a->metadata().size() == b->metadata().size());
  for (size_t i = 0; i < a->metadata().size(); ++i) {
    const auto &ka = a->metadata()[i], &kb = b->metadata()[i];
    CHECK(ka.key == kb.key);
    if (ka.key == "general.name") continue;
    CHECK_MESSAGE(a->value_to_string(ka, 1u << 20) == b->value_to_string(kb, 1u << 20), ka.key);
  }
  REQUIRE(a->tensors().size() == 178);
  REQUIRE(b->tensors().size() == 178);
  int n_mx = 0;
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const auto &ta = a->tensors()[i], &tb = b->tensors()[i];
    INFO(ta.name);
    CHECK(ta.name == tb.name);
    CHECK(std::vector<int64_t>(ta.ne, ta.ne + 4) == std::vector<int64_t>(tb.ne, tb.ne + 4));
    auto it = fx.mxfp4.find(ta.name);
    if (it != fx.mxfp4.end()) {
      ++n_mx;
      CHECK(ta.type == static_cast<uint32_t>(DType::MXFP4));
      CHECK(bytes_of(ta) == it->second);  // the blocks the FP4 source was packed from
    } else {
      CHECK(ta.type == tb.type);
      CHECK(bytes_of(ta) == bytes_of(tb));  // fp8·scale, bf16 and f32 values exactly
    }
  }
  CHECK(n_mx == 18);
  // bf16 output of the official layout: FP8 weights rounded once, experts still MXFP4.
  convert(fx.official, scratch() + "/official-bf16.gguf", "bf16");
  auto c = File::open(scratch() + "/official-bf16.gguf");
  CHECK(latte::type_id_name(c->find_tensor("blk.3.ffn_down_exps.weight")->type) == std::string("MXFP4"));
  CHECK(latte::type_id_name(c->find_tensor("blk.3.attn_q_b.weight")->type) == std::string("BF16"));
}

TEST_CASE("V4 convert error paths: one-line errors naming the tensor or field, no output left behind") {
  const std::string dir = scratch() + "/bad";
  auto fresh = [&](const std::function<void(nlohmann::json&)>& edit) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    copy_tokenizer(dir);
    std::ifstream in(tiny_dir() + "/hf/config.json");
    auto cfg = nlohmann::json::parse(in);
    edit(cfg);
    std::ofstream(dir + "/config.json") << cfg.dump(2);
    fs::create_symlink(tiny_dir() + "/hf/model.safetensors", dir + "/model.safetensors");
  };
  auto expect = [&](const std::string& what, const std::string& needle) {
    const std::string out = dir + "/out.gguf";
    try {
      convert(dir, out, "f32");
      FAIL(what << ": converted");
    } catch (const latte::Error& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find(needle) != std::string::npos, what << ": " << msg);
      CHECK(msg.find('\n') == std::string::npos);
    }
    CHECK(!fs::exists(out));
  };
  fresh([](nlohmann::json& c) { c.erase("layer_types"); });
  expect("no layer kinds", "layer_types");
  fresh([](nlohmann::json& c) { c["scoring_func"] = "softmax"; });
  expect("softmax routing", "scoring_func");
  fresh([](nlohmann::json& c) { c["layer_types"][1] = "compressed_sparse_attention"; });
  expect("CSA layer without compressor tensors", "model.layers.1.attn.compressor.wkv.weight");
  fresh([](nlohmann::json& c) { c["mlp_layer_types"][2] = "hash_moe"; });
  expect("hash layer without tid2eid", "model.layers.2.ffn.gate.tid2eid");
  fresh([](nlohmann::json& c) { c["num_hidden_layers"] = 5; c["layer_types"].erase(5); });
  expect("unmapped tensors are refused, not dropped", "model.layers.5");
}
