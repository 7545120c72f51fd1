// `latte convert` (runtime/convert/convert_hf) and the safetensors reader: the shared HF checkpoints convert byte-identically
// to the shared bf16 GGUFs; sharded checkpoints with MTP layers give the same file; an FP8 (e4m3, 128×128 block
// scales) checkpoint built here converts exactly to fp8·scale and within FP8 error of the original; q8_0 output
// equals the reference quantizer; malformed inputs raise the right errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/types.h"
#include "formats/error.h"
#include "tests/st_writer.h"
#include "tests/test_support.h"
#include "runtime/convert/convert_hf.h"

namespace fs = std::filesystem;
namespace st = latte::safetensors;
using latte::gguf::File;

namespace {

using latte::test::StTensor;
using latte::test::write_safetensors;

std::string hf_dir(const std::string& model) { return latte::test::model_path(model + "/hf"); }

// All tensors of the shared model.safetensors, as StTensor copies.
std::vector<StTensor> load_source(const std::string& model) {
  auto f = st::File::open(hf_dir(model) + "/model.safetensors");
  std::vector<StTensor> out;
  for (const auto& t : f->tensors())
    out.push_back({t.name, st::dtype_name(t.dtype), t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
  return out;
}

// A fresh directory holding copies of the model's config/tokenizer files (config optionally edited).
std::string make_dir(const std::string& name, const std::string& model,
                     const std::function<void(nlohmann::json&)>& edit_config = {}) {
  std::string d = latte::test::scratch_dir("convert") + "/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(hf_dir(model) + "/" + f, d + "/" + f);
  std::ifstream in(hf_dir(model) + "/config.json");
  auto cfg = nlohmann::json::parse(in);
  if (edit_config) edit_config(cfg);
  std::ofstream(d + "/config.json") << cfg.dump(2);
  return d;
}

latte::tools::ConvertSummary convert(const std::string& dir, const std::string& out, const std::string& outtype) {
  latte::tools::ConvertOptions o;
  o.hf_dir = dir;
  o.out_path = out;
  o.outtype = outtype;
  return latte::tools::convert_hf(o);
}

template <class F>
latte::ErrorKind error_kind(F&& fn, std::string* msg = nullptr) {
  try {
    fn();
  } catch (const latte::Error& e) {
    if (msg) *msg = e.what();
    return e.kind();
  }
  return latte::ErrorKind::Cancelled;  // "no error"
}

float bf16_value(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The test's own float8 e4m3fn decoding: 1 sign, 4 exponent (bias 7), 3 mantissa bits; 0x7F/0xFF are NaN.
float e4m3_value(uint8_t c) {
  int e = (c >> 3) & 15, m = c & 7;
  float v = e == 0 ? m / 8.0f * std::pow(2.0f, -6) : (1 + m / 8.0f) * std::pow(2.0f, static_cast<float>(e - 7));
  return (c & 0x80) ? -v : v;
}

// Nearest e4m3 code (|x| ≤ 448 assumed).
uint8_t e4m3_encode(float x) {
  static const std::vector<float> pos = [] {
    std::vector<float> v;
    for (int c = 0; c < 0x7F; ++c) v.push_back(e4m3_value(static_cast<uint8_t>(c)));
    return v;
  }();
  float a = std::fabs(x);
  auto it = std::lower_bound(pos.begin(), pos.end(), a);
  size_t i = static_cast<size_t>(it - pos.begin());
  if (i == pos.size()) i = pos.size() - 1;
  else if (i > 0 && (a - pos[i - 1]) <= (pos[i] - a)) i = i - 1;
  return static_cast<uint8_t>(i | (x < 0 ? 0x80 : 0));
}

}  // namespace

TEST_CASE("bf16 conversion of the shared HF checkpoints is byte-identical to the shared bf16 GGUFs") {
  for (std::string m : {"tiny-dsv3", "tiny-dsv2"}) {
    CAPTURE(m);
    std::string out = latte::test::scratch_dir("convert") + "/" + m + "-bf16.gguf";
    auto s = convert(hf_dir(m), out, "bf16");
    auto ref = File::open(latte::test::model_path(m + "/" + m + "-bf16.gguf"));
    auto got = File::open(out);
    CHECK(s.n_tensors == ref->tensors().size());
    // Metadata: same keys in the same order with the same rendering.
    REQUIRE(got->metadata().size() == ref->metadata().size());
    for (size_t i = 0; i < ref->metadata().size(); ++i) {
      const auto& a = ref->metadata()[i];
      const auto& b = got->metadata()[i];
      CAPTURE(a.key);
      CHECK(b.key == a.key);
      CHECK(got->value_to_string(b, 1u << 20) == ref->value_to_string(a, 1u << 20));
    }
    // Tensors: same order, shapes, types and bytes.
    REQUIRE(got->tensors().size() == ref->tensors().size());
    for (size_t i = 0; i < ref->tensors().size(); ++i) {
      const auto& a = ref->tensors()[i];
      const auto& b = got->tensors()[i];
      CAPTURE(a.name);
      CHECK(b.name == a.name);
      CHECK(b.shape_string() == a.shape_string());
      CHECK(b.type == a.type);
      REQUIRE(b.nbytes == a.nbytes);
      CHECK(std::memcmp(a.data, b.data, a.nbytes) == 0);
    }
    auto x = latte::test::read_bytes(out);
    auto y = latte::test::read_bytes(latte::test::model_path(m + "/" + m + "-bf16.gguf"));
    CHECK((x == y));
  }
}

TEST_CASE("sharded checkpoint with an index, MTP layer and rotary buffers converts to the same file") {
  auto src = load_source("tiny-dsv3");
  // An MTP layer (layer index 4 = num_hidden_layers) and a rotary buffer: both must be skipped.
  std::vector<StTensor> extra;
  for (const auto& t : src)
    if (t.name.rfind("model.layers.1.", 0) == 0) {
      StTensor e = t;
      e.name = "model.layers.4." + t.name.substr(std::string("model.layers.1.").size());
      extra.push_back(e);
    }
  extra.push_back({"model.layers.4.embed_tokens.weight", "BF16", {4096, 256}, std::vector<uint8_t>(4096 * 256 * 2)});
  extra.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {8}, std::vector<uint8_t>(32)});
  std::string d = make_dir("sharded", "tiny-dsv3");
  std::vector<StTensor> a, b;
  // Contiguous halves of the name-sorted list (as HF shards are), so conversion order equals the single file's.
  for (size_t i = 0; i < src.size(); ++i) (i < src.size() / 2 ? a : b).push_back(src[i]);
  for (auto& e : extra) b.push_back(e);
  write_safetensors(d + "/model-00001-of-00002.safetensors", a);
  write_safetensors(d + "/model-00002-of-00002.safetensors", b);
  nlohmann::json idx;
  idx["metadata"] = {{"total_size", 0}};
  for (const auto& t : a) idx["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : b) idx["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  std::ofstream(d + "/model.safetensors.index.json") << idx.dump();

  std::string out = d + "/out.gguf";
  auto s = convert(d, out, "bf16");
  CHECK(s.skipped_mtp == extra.size() - 1);
  auto x = latte::test::read_bytes(out);
  auto y = latte::test::read_bytes(latte::test::model_path("tiny-dsv3/tiny-dsv3-bf16.gguf"));
  CHECK(x.size() == y.size());
  CHECK((x == y));

  // Interleaved shards: tensors come out in shard order (as llama.cpp's converter does), with the same contents.
  {
    std::string d2 = make_dir("interleaved", "tiny-dsv3");
    std::vector<StTensor> p, q;
    for (size_t i = 0; i < src.size(); ++i) (i % 2 ? p : q).push_back(src[i]);
    write_safetensors(d2 + "/part-a.safetensors", p);
    write_safetensors(d2 + "/part-b.safetensors", q);
    convert(d2, d2 + "/out.gguf", "bf16");
    auto g = File::open(d2 + "/out.gguf");
    auto ref = File::open(latte::test::model_path("tiny-dsv3/tiny-dsv3-bf16.gguf"));
    REQUIRE(g->tensors().size() == ref->tensors().size());
    for (const auto& r : ref->tensors()) {
      CAPTURE(r.name);
      const auto* t = g->find_tensor(r.name);
      REQUIRE(t != nullptr);
      CHECK(t->shape_string() == r.shape_string());
      REQUIRE(t->nbytes == r.nbytes);
      CHECK(std::memcmp(t->data, r.data, r.nbytes) == 0);
    }
  }

  // An index naming a tensor that is not in its shard is a FormatError.
  idx["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
  std::ofstream(d + "/model.safetensors.index.json") << idx.dump();
  CHECK(error_kind([&] { convert(d, out + ".2", "bf16"); }) == latte::ErrorKind::Format);
}

TEST_CASE("FP8 e4m3 checkpoint with 128x128 weight_scale_inv converts exactly to fp8 * scale") {
  auto src = load_source("tiny-dsv3");
  std::string d = make_dir("fp8", "tiny-dsv3", [](nlohmann::json& c) {
    c["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                                {"weight_block_size", {128, 128}}};
  });
  // Quantize every 2-D BF16 weight (not the router) per 128×128 tile: scale = amax / 448, code = e4m3(x / scale).
  std::map<std::string, std::vector<float>> expected, original;  // HF name -> f32 row-major
  std::vector<StTensor> out_ts;
  for (const auto& t : src) {
    if (t.dtype != "BF16" || t.shape.size() != 2) {
      out_ts.push_back(t);
      continue;
    }
    const int64_t R = t.shape[0], C = t.shape[1], sr = (R + 127) / 128, sc = (C + 127) / 128;
    std::vector<float> x(static_cast<size_t>(R * C));
    for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_value(t.bytes.data() + 2 * i);
    std::vector<float> scale(static_cast<size_t>(sr * sc), 0.0f);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        float& s = scale[static_cast<size_t>((r / 128) * sc + c / 128)];
        s = std::max(s, std::fabs(x[static_cast<size_t>(r * C + c)]));
      }
    for (float& s : scale) s = s > 0 ? s / 448.0f : 1.0f;
    StTensor q{t.name, "F8_E4M3", t.shape, std::vector<uint8_t>(x.size())};
    std::vector<float> e(x.size());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        size_t i = static_cast<size_t>(r * C + c);
        float s = scale[static_cast<size_t>((r / 128) * sc + c / 128)];
        q.bytes[i] = e4m3_encode(x[i] / s);
        e[i] = e4m3_value(q.bytes[i]) * s;
      }
    StTensor si{t.name + "_scale_inv", "F32", {sr, sc}, std::vector<uint8_t>(scale.size() * 4)};
    std::memcpy(si.bytes.data(), scale.data(), si.bytes.size());
    out_ts.push_back(std::move(q));
    out_ts.push_back(std::move(si));
    expected[t.name] = std::move(e);
    original[t.name] = std::move(x);
  }
  std::sort(out_ts.begin(), out_ts.end(), [](const StTensor& a, const StTensor& b) { return a.name < b.name; });
  write_safetensors(d + "/model.safetensors", out_ts);
  std::string out = d + "/out-f32.gguf";
  convert(d, out, "f32");
  auto f = File::open(out);
  auto ref = File::open(latte::test::model_path("tiny-dsv3/tiny-dsv3-bf16.gguf"));
  REQUIRE(f->tensors().size() == ref->tensors().size());

  auto check = [&](const std::string& gguf_name, const std::string& hf_name) {
    CAPTURE(gguf_name);
    const auto* t = f->find_tensor(gguf_name);
    REQUIRE(t != nullptr);
    REQUIRE(t->type == 0u);
    const auto& e = expected.at(hf_name);
    const auto& o = original.at(hf_name);
    REQUIRE(static_cast<size_t>(t->n_elements()) == e.size());
    size_t exact = 0;
    double max_rel = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      float v;
      std::memcpy(&v, t->data + 4 * i, 4);
      exact += v == e[i];
      if (std::fabs(o[i]) > 1e-3f) max_rel = std::max(max_rel, std::fabs(double(v) - o[i]) / std::fabs(o[i]));
    }
    CHECK(exact == e.size());
    CHECK(max_rel <= 0.0625 + 1e-6);  // e4m3: 3 mantissa bits, half-ulp relative error ≤ 2^-4 for normals
    CHECK(max_rel > 0.0);             // the checkpoint really was lossy
  };
  check("output.weight", "lm_head.weight");
  check("blk.0.attn_kv_a_mqa.weight", "model.layers.0.self_attn.kv_a_proj_with_mqa.weight");  // 80 rows: partial tile
  check("blk.2.attn_q_b.weight", "model.layers.2.self_attn.q_b_proj.weight");
  // Merged experts: slice e of ffn_up_exps is expert e's up_proj.
  {
    const auto* t = f->find_tensor("blk.3.ffn_up_exps.weight");
    REQUIRE(t != nullptr);
    const int64_t per = 256 * 128;
    size_t bad = 0;
    for (int e = 0; e < 16; ++e) {
      const auto& x = expected.at("model.layers.3.mlp.experts." + std::to_string(e) + ".up_proj.weight");
      for (int64_t i = 0; i < per; ++i) {
        float v;
        std::memcpy(&v, t->data + 4 * (e * per + i), 4);
        bad += v != x[static_cast<size_t>(i)];
      }
    }
    CHECK(bad == 0);
  }
  // attn_k_b is the per-head transpose of kv_b's k-part (GGUF_DEEPSEEK.md §C.4), H=4, P=32, Dv=32, Nkv=64.
  {
    const auto* kb = f->find_tensor("blk.1.attn_k_b.weight");
    const auto& kv = expected.at("model.layers.1.self_attn.kv_b_proj.weight");  // [H*(P+Dv), Nkv]
    REQUIRE(kb != nullptr);
    size_t bad = 0;
    for (int h = 0; h < 4; ++h)
      for (int c = 0; c < 64; ++c)
        for (int dd = 0; dd < 32; ++dd) {
          float v;
          std::memcpy(&v, kb->data + 4 * ((h * 64 + c) * 32 + dd), 4);
          bad += v != kv[static_cast<size_t>((h * 64 + dd) * 64 + c)];
        }
    CHECK(bad == 0);
  }
  // Non-FP8 tensors (norms, router, bias) are unchanged.
  const auto& a = f->require_tensor("blk.1.ffn_gate_inp.weight", {256, 16});
  const auto& b = ref->require_tensor("blk.1.ffn_gate_inp.weight", {256, 16});
  CHECK(std::memcmp(a.data, b.data, a.nbytes) == 0);

  // FP8 weight without its scale: FormatError naming the tensor.
  out_ts.erase(std::remove_if(out_ts.begin(), out_ts.end(),
                              [](const StTensor& t) { return t.name == "lm_head.weight_scale_inv"; }),
               out_ts.end());
  write_safetensors(d + "/model.safetensors", out_ts);
  std::string msg;
  CHECK(error_kind([&] { convert(d, d + "/bad.gguf", "f32"); }, &msg) == latte::ErrorKind::Format);
  CHECK(msg.find("lm_head.weight") != std::string::npos);
}

TEST_CASE("q8_0 and f32 outtypes") {
  std::string out = latte::test::scratch_dir("convert") + "/dsv2-q8_0.gguf";
  convert(hf_dir("tiny-dsv2"), out, "q8_0");
  auto f = File::open(out);
  auto ref = File::open(latte::test::model_path("tiny-dsv2/tiny-dsv2-bf16.gguf"));
  CHECK(f->get_uint("general.file_type").value() == 7);
  const auto& q8 = latte::type_traits(latte::DType::Q8_0);
  const auto& bf = latte::type_traits(latte::DType::BF16);
  for (const auto& r : ref->tensors()) {
    CAPTURE(r.name);
    const auto* t = f->find_tensor(r.name);
    REQUIRE(t != nullptr);
    if (r.type == 0) {  // 1-D, router: stay F32 and identical
      CHECK(t->type == 0u);
      CHECK(std::memcmp(t->data, r.data, r.nbytes) == 0);
      continue;
    }
    REQUIRE(t->type == static_cast<uint32_t>(latte::DType::Q8_0));
    // Equal to the reference quantizer applied to the bf16 values.
    std::vector<float> x(static_cast<size_t>(r.n_elements()));
    bf.dequantize_row(r.data, x.data(), r.n_elements());
    std::vector<uint8_t> q(t->nbytes);
    q8.quantize_row(x.data(), q.data(), r.n_elements());
    CHECK(std::memcmp(q.data(), t->data, t->nbytes) == 0);
  }
  std::string out32 = latte::test::scratch_dir("convert") + "/dsv2-f32.gguf";
  convert(hf_dir("tiny-dsv2"), out32, "f32");
  auto g = File::open(out32);
  CHECK(g->get_uint("general.file_type").value() == 0);
  const auto& e32 = g->require_tensor("token_embd.weight", {256, 4096});
  const auto& e16 = ref->require_tensor("token_embd.weight", {256, 4096});
  CHECK(e32.type == 0u);
  std::vector<float> x(256 * 4096);
  bf.dequantize_row(e16.data, x.data(), 256 * 4096);
  CHECK(std::memcmp(x.data(), e32.data, e32.nbytes) == 0);
}

TEST_CASE("convert error paths") {
  CHECK(error_kind([] { convert("/nonexistent-dir", "/tmp/x.gguf", "bf16"); }) == latte::ErrorKind::Io);
  CHECK(error_kind([] { convert(hf_dir("tiny-dsv3"), "/tmp/x.gguf", "q4_k"); }) == latte::ErrorKind::Argument);
  std::string d = make_dir("llama", "tiny-dsv3", [](nlohmann::json& c) { c["architectures"] = {"LlamaForCausalLM"}; });
  std::string msg;
  CHECK(error_kind([&] { convert(d, d + "/o.gguf", "bf16"); }, &msg) == latte::ErrorKind::Unsupported);
  CHECK(msg.find("LlamaForCausalLM") != std::string::npos);
  // A missing expert matrix is a FormatError naming the layer.
  auto src = load_source("tiny-dsv3");
  d = make_dir("missing-expert", "tiny-dsv3");
  src.erase(std::remove_if(src.begin(), src.end(),
                           [](const StTensor& t) { return t.name == "model.layers.2.mlp.experts.7.up_proj.weight"; }),
            src.end());
  write_safetensors(d + "/model.safetensors", src);
  CHECK(error_kind([&] { convert(d, d + "/o.gguf", "bf16"); }, &msg) == latte::ErrorKind::Format);
  CHECK(msg.find("layer 2") != std::string::npos);
  CHECK_FALSE(fs::exists(d + "/o.gguf"));
  // An unknown tensor name is refused.
  src = load_source("tiny-dsv3");
  src.push_back({"model.layers.0.mlp.mystery.weight", "F32", {4}, std::vector<uint8_t>(16)});
  write_safetensors(d + "/model.safetensors", src);
  CHECK(error_kind([&] { convert(d, d + "/o.gguf", "bf16"); }, &msg) == latte::ErrorKind::Unsupported);
  CHECK(msg.find("mystery") != std::string::npos);
  // No safetensors at all.
  fs::remove(d + "/model.safetensors");
  CHECK(error_kind([&] { convert(d, d + "/o.gguf", "bf16"); }) == latte::ErrorKind::Io);
}

TEST_CASE("safetensors reader validation") {
  auto good = [] {
    StTensor a{"a", "F32", {2, 3}, std::vector<uint8_t>(24, 1)};
    StTensor b{"b", "BF16", {4}, std::vector<uint8_t>(8, 2)};
    return std::vector<StTensor>{a, b};
  };
  std::string path = latte::test::scratch_dir("convert") + "/t.safetensors";
  write_safetensors(path, good());
  auto bytes = latte::test::read_bytes(path);
  auto f = st::File::parse(bytes.data(), bytes.size(), "t");
  REQUIRE(f->tensors().size() == 2);
  CHECK(f->find("a")->shape_string() == "[2, 3]");
  CHECK(f->find("b")->dtype == st::DType::BF16);
  CHECK(f->metadata().at("format") == "pt");
  std::vector<float> v(4);
  st::to_f32(*f->find("b"), 0, 4, v.data());
  CHECK(v[0] == bf16_value(bytes.data() + f->find("b")->file_offset));
  // e4m3 / e5m2 decoding spot checks (max normal, min subnormal, NaN).
  CHECK(st::f8_e4m3_to_f32(0x7E) == 448.0f);
  CHECK(st::f8_e4m3_to_f32(0x01) == std::ldexp(1.0f, -9));
  CHECK(st::f8_e4m3_to_f32(0xB8) == -1.0f);
  CHECK(std::isnan(st::f8_e4m3_to_f32(0x7F)));
  CHECK(st::f8_e5m2_to_f32(0x7B) == 57344.0f);
  CHECK(std::isinf(st::f8_e5m2_to_f32(0x7C)));
  for (int c = 0; c < 0x7F; ++c) CHECK(st::f8_e4m3_to_f32(static_cast<uint8_t>(c)) == e4m3_value(static_cast<uint8_t>(c)));

  // Every truncation is a FormatError.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    CAPTURE(cut);
    CHECK(error_kind([&] { st::File::parse(part.data(), part.size(), "cut"); }) == latte::ErrorKind::Format);
  }
  // Hand-made headers.
  auto image = [](const std::string& header, size_t data) {
    std::vector<uint8_t> b(8 + header.size() + data, 0);
    uint64_t n = header.size();
    std::memcpy(b.data(), &n, 8);
    std::memcpy(b.data() + 8, header.data(), header.size());
    return b;
  };
  const std::vector<std::pair<std::string, latte::ErrorKind>> cases = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", latte::ErrorKind::Cancelled},  // valid
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", latte::ErrorKind::Format},    // size mismatch
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", latte::ErrorKind::Format},    // out of bounds
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", latte::ErrorKind::Format},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", latte::ErrorKind::Format},
      {R"({"a":{"dtype":"F32","shape":[4611686018427387904, 8],"data_offsets":[0,8]}})", latte::ErrorKind::Format},
      {R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", latte::ErrorKind::Unsupported},
      {R"({"a":{"dtype":"F32","shape":[2]}})", latte::ErrorKind::Format},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
       latte::ErrorKind::Format},  // overlap
      {R"([1,2,3])", latte::ErrorKind::Format},
      {R"({"a":)", latte::ErrorKind::Format},
  };
  for (const auto& c : cases) {
    const std::string& h = c.first;  // not a structured binding: CAPTURE needs a capturable variable
    const latte::ErrorKind kind = c.second;
    CAPTURE(h);
    auto img = image(h, 8);
    CHECK(error_kind([&] { st::File::parse(img.data(), img.size(), "h"); }) == kind);
  }
  std::vector<uint8_t> huge(16, 0);
  uint64_t n = ~0ull;
  std::memcpy(huge.data(), &n, 8);
  CHECK(error_kind([&] { st::File::parse(huge.data(), huge.size(), "h"); }) == latte::ErrorKind::Format);
}
