// GGUF reader/writer: the shared models open and match their gguf-dump listings; writer → reader round trips;
// a battery of malformed images each raises the right error kind (and nothing crashes).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "formats/gguf.h"
#include "quant/types.h"
#include "formats/error.h"
#include "tests/test_support.h"

using latte::gguf::File;
using latte::gguf::KeyValue;
using latte::gguf::ValueType;
using latte::gguf::Writer;

namespace {

// ---- a raw GGUF image builder (any content, including invalid) ----
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) { b.push_back(v); return *this; }
  template <class T>
  Bytes& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const Bytes& o) {
    b.insert(b.end(), o.b.begin(), o.b.end());
    return *this;
  }
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

// A GGUF image: header, the given encoded records (key+type+value), tensor infos, padding, `data_bytes` of data.
struct Image {
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count, kv_count;  // override the real counts
  std::vector<Bytes> kvs;
  std::vector<TensorSpec> tensors;
  uint64_t alignment = 32;
  uint64_t data_bytes = 0;

  Image& kv_u32(const std::string& k, uint32_t v) {
    kvs.push_back(Bytes().str(k).u32(4).u32(v));
    return *this;
  }
  Image& kv_str(const std::string& k, const std::string& v) {
    kvs.push_back(Bytes().str(k).u32(8).str(v));
    return *this;
  }
  // F32 tensor laid out sequentially after the previous one.
  Image& f32(const std::string& name, std::vector<uint64_t> ne) {
    uint64_t off = 0;
    if (!tensors.empty()) {
      const auto& t = tensors.back();
      uint64_t n = 4;
      for (auto d : t.ne) n *= d;
      off = t.offset + n;
      off += (alignment - off % alignment) % alignment;
    }
    uint64_t n = 4;
    for (auto d : ne) n *= d;
    tensors.push_back({name, std::move(ne), 0, off});
    data_bytes = std::max(data_bytes, off + n);
    return *this;
  }
  std::vector<uint8_t> build() const {
    Bytes out;
    out.b = {'G', 'G', 'U', 'F'};
    out.u32(version).u64(tensor_count.value_or(tensors.size())).u64(kv_count.value_or(kvs.size()));
    for (const auto& k : kvs) out.raw(k);
    for (const auto& t : tensors) {
      out.str(t.name).u32(static_cast<uint32_t>(t.ne.size()));
      for (auto d : t.ne) out.u64(d);
      out.u32(t.type).u64(t.offset);
    }
    while (out.b.size() % alignment) out.u8(0);
    out.b.resize(out.b.size() + data_bytes, 0);
    return out.b;
  }
};

std::shared_ptr<const File> parse(const std::vector<uint8_t>& img) {
  return File::parse(img.data(), img.size(), "test.gguf");
}

// Error kind raised by `fn`, and its message (kind Cancelled with "no error" if nothing was thrown).
struct Outcome {
  latte::ErrorKind kind = latte::ErrorKind::Cancelled;
  std::string msg = "no error";
  bool threw = false;
};
template <class F>
Outcome outcome(F&& fn) {
  Outcome o;
  try {
    fn();
  } catch (const latte::Error& e) {
    o.kind = e.kind();
    o.msg = e.what();
    o.threw = true;
  }
  return o;
}

void expect_format_error(const std::vector<uint8_t>& img, const std::string& needle) {
  Outcome o = outcome([&] { parse(img); });
  INFO("message: " << o.msg);
  CHECK(o.threw);
  CHECK(o.kind == latte::ErrorKind::Format);
  CHECK(o.msg.find(needle) != std::string::npos);
  CHECK(o.msg.find("test.gguf") != std::string::npos);
  CHECK(o.msg.find("byte") != std::string::npos);
}

// ---- gguf-dump listing parser ----
struct DumpKey {
  std::string type;  // "UINT32", "[STRING]", ...
  uint64_t count;
};
struct DumpTensor {
  std::string name, type;
  std::vector<int64_t> ne;
};
struct Dump {
  std::map<std::string, DumpKey> keys;
  std::vector<DumpTensor> tensors;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

Dump read_dump(const std::string& path) {
  Dump d;
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  bool in_tensors = false;
  while (std::getline(in, line)) {
    if (line.find("* Dumping") != std::string::npos) {
      in_tensors = line.find("tensor(s)") != std::string::npos;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos || line.find('|') == std::string::npos) continue;
    std::vector<std::string> parts;
    std::stringstream ss(line.substr(colon + 1));
    std::string part;
    while (std::getline(ss, part, '|')) parts.push_back(trim(part));
    if (!in_tensors && parts.size() >= 3) {
      std::string kv = parts[2];
      std::string key = trim(kv.substr(0, kv.find(" = ")));
      if (key.rfind("GGUF.", 0) == 0) continue;  // pseudo keys (version, counts)
      d.keys[key] = {parts[0], std::stoull(parts[1])};
    } else if (in_tensors && parts.size() == 4) {
      DumpTensor t;
      t.type = parts[2];
      t.name = parts[3];
      std::stringstream dims(parts[1]);
      std::string x;
      while (std::getline(dims, x, ',')) t.ne.push_back(std::stoll(trim(x)));
      d.tensors.push_back(t);
    }
  }
  return d;
}

std::string type_label(const KeyValue& kv) {
  if (kv.type == ValueType::ARRAY) return std::string("[") + value_type_name(kv.elem_type) + "]";
  return value_type_name(kv.type);
}

// f32 -> bf16 with round-to-nearest-even (what the converters do).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace

TEST_CASE("shared f32 GGUFs match their gguf-dump listings") {
  for (std::string m : {"tiny-dsv3", "tiny-dsv2"}) {
    CAPTURE(m);
    Dump d = read_dump(latte::test::model_path(m + "/gguf-dump-f32.txt"));
    auto f = File::open(latte::test::model_path(m + "/" + m + "-f32.gguf"));
    CHECK(f->version() == 3);
    CHECK(f->alignment() == 32);
    CHECK(f->data_offset() % 32 == 0);
    REQUIRE(d.keys.size() >= 38);
    for (const auto& entry : d.keys) {
      const auto& key = entry.first;  // not a structured binding: CAPTURE needs a capturable variable
      const auto& dk = entry.second;
      CAPTURE(key);
      const KeyValue* kv = f->find(key);
      REQUIRE(kv != nullptr);
      CHECK(type_label(*kv) == dk.type);
      CHECK(kv->count == dk.count);
    }
    REQUIRE(f->tensors().size() == d.tensors.size());
    for (size_t i = 0; i < d.tensors.size(); ++i) {
      const auto& t = f->tensors()[i];
      const auto& e = d.tensors[i];
      CAPTURE(e.name);
      CHECK(t.name == e.name);
      CHECK(std::string(latte::type_id_name(t.type)) == e.type);
      for (size_t k = 0; k < 4; ++k) CHECK(t.ne[k] == e.ne[k]);
      CHECK(t.file_offset % f->alignment() == 0);
      CHECK(t.data == f->base() + t.file_offset);
      CHECK(f->find_tensor(e.name) == &t);
    }
    CHECK(f->get_string("general.architecture").value() == "deepseek2");
    CHECK(f->get_uint("deepseek2.block_count").value() == 4);
    CHECK(f->get_uint("deepseek2.expert_count").value() == 16);
    CHECK(f->get_string_array("tokenizer.ggml.tokens").size() == 4096);
    CHECK(f->get_int_array("tokenizer.ggml.token_type").size() == 4096);
    CHECK(f->get_string_array("tokenizer.ggml.merges").size() == 3820);
    CHECK(f->get_float("deepseek2.rope.freq_base").value() == doctest::Approx(10000.0));
    CHECK(f->get_bool("tokenizer.ggml.add_bos_token").value() == true);
    const auto& emb = f->require_tensor("token_embd.weight", {256, 4096});
    CHECK(emb.nbytes == 256u * 4096u * 4u);
  }
}

TEST_CASE("every shared GGUF opens, with the expected tensor sets") {
  struct Case {
    std::string rel;
    size_t tensors;
  };
  const std::vector<Case> cases = {
      {"tiny-dsv3/tiny-dsv3-f32.gguf", 74},   {"tiny-dsv3/tiny-dsv3-bf16.gguf", 74},
      {"tiny-dsv3/tiny-dsv3-q8_0.gguf", 66},  {"tiny-dsv3/tiny-dsv3-q6_k.gguf", 66},
      {"tiny-dsv3/tiny-dsv3-q4_k_m.gguf", 66}, {"tiny-dsv3/tiny-dsv3-q4_0.gguf", 66},
      {"tiny-dsv2/tiny-dsv2-f32.gguf", 63},   {"tiny-dsv2/tiny-dsv2-bf16.gguf", 63},
      {"tiny-dsv2/tiny-dsv2-q8_0.gguf", 63},  {"tiny-dsv2/tiny-dsv2-q6_k.gguf", 63},
  };
  for (const auto& c : cases) {
    CAPTURE(c.rel);
    auto f = File::open(latte::test::model_path(c.rel));
    CHECK(f->tensors().size() == c.tensors);
    auto ref = File::open(latte::test::model_path(c.rel.substr(0, 9) + "/" + c.rel.substr(0, 9) + "-f32.gguf"));
    for (const auto& t : f->tensors()) {
      const auto* r = ref->find_tensor(t.name);
      REQUIRE(r != nullptr);
      CHECK(t.shape_string() == r->shape_string());
      // 1-D tensors and the router stay F32 in every file (models/README.md).
      if (t.n_dims == 1 || t.name.find("ffn_gate_inp") != std::string::npos) CHECK(t.type == 0);
      const auto* tt = latte::find_type(t.type);
      REQUIRE(tt != nullptr);
      CHECK(t.nbytes == latte::row_bytes(*tt, t.ne[0]) * static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3]));
    }
    // The quantized V3 files use MLA flavour 1 (no split k_b/v_b).
    bool flavour1 = c.tensors == 66;
    CHECK((f->find_tensor("blk.0.attn_k_b.weight") == nullptr) == flavour1);
    CHECK(f->find_tensor("blk.0.attn_kv_b.weight") != nullptr);
  }
}

TEST_CASE("bf16 file data equals the f32 file's data rounded to bf16") {
  auto f32 = File::open(latte::test::model_path("tiny-dsv2/tiny-dsv2-f32.gguf"));
  auto b16 = File::open(latte::test::model_path("tiny-dsv2/tiny-dsv2-bf16.gguf"));
  const auto& a = f32->require_tensor("blk.1.ffn_up_exps.weight", {256, 128, 16});
  const auto& b = b16->require_tensor("blk.1.ffn_up_exps.weight", {256, 128, 16});
  REQUIRE(b.type == static_cast<uint32_t>(latte::DType::BF16));
  int64_t n = a.n_elements(), mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    float x;
    uint16_t y;
    std::memcpy(&x, a.data + 4 * i, 4);
    std::memcpy(&y, b.data + 2 * i, 2);
    mismatches += to_bf16(x) != y;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("vocabulary-only GGUF") {
  auto f = File::open(latte::test::model_path("deepseek-v3-vocab.gguf"));
  CHECK(f->tensors().empty());
  CHECK(f->get_string_array("tokenizer.ggml.tokens").size() == 129280);
  CHECK(f->get_string_array("tokenizer.ggml.merges").size() == 127741);
  CHECK(f->get_string("tokenizer.ggml.pre").value() == "deepseek-v3");
  CHECK(f->get_string("tokenizer.chat_template").has_value());
  CHECK(f->find_tensor("token_embd.weight") == nullptr);
}

TEST_CASE("typed accessors and require_tensor") {
  Image im;
  im.kv_u32("a.u32", 7).kv_str("a.str", "hello");
  im.kvs.push_back(Bytes().str("a.i32neg").u32(5).put<int32_t>(-3));
  im.kvs.push_back(Bytes().str("a.u64big").u32(10).u64(~0ull));
  im.kvs.push_back(Bytes().str("a.f64").u32(12).put<double>(0.25));
  im.kvs.push_back(Bytes().str("a.u16arr").u32(9).u32(2).u64(3).put<uint16_t>(1).put<uint16_t>(2).put<uint16_t>(65535));
  im.f32("w", {8, 2});
  auto img = im.build();
  auto f = parse(img);
  CHECK(f->get_uint("a.u32").value() == 7);
  CHECK(f->get_int("a.u32").value() == 7);
  CHECK(f->get_int("a.i32neg").value() == -3);
  CHECK(f->get_uint("a.u64big").value() == ~0ull);
  CHECK(f->get_float("a.f64").value() == 0.25);
  CHECK(f->get_string("a.str").value() == "hello");
  CHECK(f->get_int_array("a.u16arr") == std::vector<int64_t>{1, 2, 65535});
  CHECK_FALSE(f->get_uint("missing").has_value());
  CHECK(f->get_string_array("missing").empty());
  CHECK(f->value_to_string(*f->find("a.u16arr"), 2) == "[1, 2, ... (3 items)]");
  CHECK(f->value_to_string(*f->find("a.str")) == "'hello'");
  // Wrong types and ranges are FormatErrors naming the key.
  for (auto fn : std::vector<std::function<void()>>{
           [&] { f->get_uint("a.i32neg"); }, [&] { f->get_int("a.u64big"); }, [&] { f->get_float("a.u32"); },
           [&] { f->get_bool("a.u32"); }, [&] { f->get_string("a.u32"); }, [&] { f->get_uint("a.str"); },
           [&] { f->get_string_array("a.u16arr"); }, [&] { f->get_float_array("a.u16arr"); }}) {
    Outcome o = outcome(fn);
    CHECK(o.kind == latte::ErrorKind::Format);
    CHECK(o.msg.find("key 'a.") != std::string::npos);
  }
  CHECK(f->require_tensor("w", {8, 2}).nbytes == 64);
  CHECK(f->require_tensor("w", {8, 2, 1}).nbytes == 64);
  Outcome o = outcome([&] { f->require_tensor("w", {2, 8}); });
  CHECK(o.kind == latte::ErrorKind::Format);
  CHECK(o.msg.find("'w'") != std::string::npos);
  CHECK(o.msg.find("[8, 2]") != std::string::npos);
  CHECK(o.msg.find("[2, 8]") != std::string::npos);
  CHECK(outcome([&] { f->require_tensor("w", {8}); }).kind == latte::ErrorKind::Format);
  CHECK(outcome([&] { f->require_tensor("nope", {8}); }).kind == latte::ErrorKind::Format);
}

TEST_CASE("writer -> reader round trip: every value type, arrays, tensors, alignment") {
  // Records of all 13 value types (and arrays of each non-array type), built raw, then copied through the Writer.
  Image im;
  im.kvs.push_back(Bytes().str("t.u8").u32(0).u8(200));
  im.kvs.push_back(Bytes().str("t.i8").u32(1).put<int8_t>(-100));
  im.kvs.push_back(Bytes().str("t.u16").u32(2).put<uint16_t>(60000));
  im.kvs.push_back(Bytes().str("t.i16").u32(3).put<int16_t>(-30000));
  im.kvs.push_back(Bytes().str("t.u32").u32(4).u32(4000000000u));
  im.kvs.push_back(Bytes().str("t.i32").u32(5).put<int32_t>(-2000000000));
  im.kvs.push_back(Bytes().str("t.f32").u32(6).put<float>(1.5f));
  im.kvs.push_back(Bytes().str("t.bool").u32(7).u8(1));
  im.kvs.push_back(Bytes().str("t.str").u32(8).str("héllo\nworld"));
  im.kvs.push_back(Bytes().str("t.u64").u32(10).u64(1ull << 60));
  im.kvs.push_back(Bytes().str("t.i64").u32(11).put<int64_t>(-(1ll << 60)));
  im.kvs.push_back(Bytes().str("t.f64").u32(12).put<double>(-2.75));
  for (uint32_t et : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 10u, 11u, 12u}) {
    static const int sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    Bytes b;
    b.str("arr." + std::to_string(et)).u32(9).u32(et).u64(3);
    for (int i = 0; i < 3 * sizes[et]; ++i) b.u8(et == 7 ? static_cast<uint8_t>(i % 2) : static_cast<uint8_t>(i + 1));
    im.kvs.push_back(b);
  }
  im.kvs.push_back(Bytes().str("arr.str").u32(9).u32(8).u64(3).str("").str("b").str("ccc"));
  im.kvs.push_back(Bytes().str("arr.empty").u32(9).u32(4).u64(0));
  auto src_img = im.build();
  auto src = parse(src_img);
  REQUIRE(src->metadata().size() == im.kvs.size());

  for (uint32_t alignment : {32u, 64u, 16u}) {
    CAPTURE(alignment);
    Writer w;
    w.set_alignment(alignment);
    for (const auto& kv : src->metadata()) w.copy_kv(*src, kv);
    w.set_u32("w.u32", 123);
    w.set_i32("w.i32", -5);
    w.set_u64("w.u64", 1ull << 40);
    w.set_f32("w.f32", 0.125f);
    w.set_bool("w.bool", false);
    w.set_string("w.str", "x");
    w.set_string_array("w.sarr", {"a", "", "bc"});
    w.set_i32_array("w.iarr", {1, -2, 3});
    w.set_f32_array("w.farr", {0.5f, -1.0f});
    w.set_u32("w.replaced", 1);
    w.set_u32("w.replaced", 2);
    w.set_u32("w.removed", 1);
    w.remove_key("w.removed");

    // Tensors: f32 [5,3] (60 bytes, not a multiple of the alignment), bf16 [7], q8_0 [64,2] from a pointer.
    std::vector<float> a(15);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f - 3.0f;
    w.add_tensor("a", 0, {5, 3}, [&](uint8_t* dst, uint64_t n) {
      REQUIRE(n == 60);
      std::memcpy(dst, a.data(), n);
    });
    w.add_tensor("b", static_cast<uint32_t>(latte::DType::BF16), {7},
                 [](uint8_t* dst, uint64_t n) { for (uint64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(i * 3); });
    std::vector<uint8_t> q(2 * 2 * 34);
    for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i ^ 0x5A);
    w.add_tensor("blk.0.q", static_cast<uint32_t>(latte::DType::Q8_0), {64, 2}, q.data(), q.size());
    CHECK(outcome([&] { w.add_tensor("a", 0, {1}, nullptr, 4); }).kind == latte::ErrorKind::Argument);
    CHECK(outcome([&] { w.add_tensor("bad", 8, {33}, [](uint8_t*, uint64_t) {}); }).kind == latte::ErrorKind::Argument);
    CHECK(outcome([&] { w.add_tensor("short", 0, {4}, q.data(), 3); }).kind == latte::ErrorKind::Argument);

    std::string path = latte::test::scratch_dir("gguf") + "/roundtrip.gguf";
    size_t last_progress = 0;
    w.write(path, [&](size_t done, size_t total) {
      CHECK(total == 3);
      last_progress = done;
    });
    CHECK(last_progress == 3);
    auto f = File::open(path);
    CHECK(f->alignment() == alignment);
    CHECK(f->data_offset() % alignment == 0);
    CHECK(f->has("general.alignment") == (alignment != 32));
    // Every copied record reads back with the same type, count and rendering.
    for (const auto& kv : src->metadata()) {
      CAPTURE(kv.key);
      const KeyValue* r = f->find(kv.key);
      REQUIRE(r != nullptr);
      CHECK(r->type == kv.type);
      CHECK(r->elem_type == kv.elem_type);
      CHECK(r->count == kv.count);
      CHECK(f->value_to_string(*r, 100) == src->value_to_string(kv, 100));
    }
    CHECK(f->get_uint("t.u8").value() == 200);
    CHECK(f->get_int("t.i64").value() == -(1ll << 60));
    CHECK(f->get_string("t.str").value() == "héllo\nworld");
    CHECK(f->get_float("t.f64").value() == -2.75);
    CHECK(f->get_uint("w.u32").value() == 123);
    CHECK(f->get_int("w.i32").value() == -5);
    CHECK(f->get_uint("w.u64").value() == (1ull << 40));
    CHECK(f->get_float("w.f32").value() == 0.125);
    CHECK(f->get_bool("w.bool").value() == false);
    CHECK(f->get_string("w.str").value() == "x");
    auto sarr = f->get_string_array("w.sarr");
    CHECK(std::vector<std::string>(sarr.begin(), sarr.end()) == std::vector<std::string>{"a", "", "bc"});
    CHECK(f->get_int_array("w.iarr") == std::vector<int64_t>{1, -2, 3});
    CHECK(f->get_float_array("w.farr") == std::vector<float>{0.5f, -1.0f});
    CHECK(f->get_uint("w.replaced").value() == 2);
    CHECK_FALSE(f->has("w.removed"));
    auto astr = f->get_string_array("arr.str");
    CHECK(std::vector<std::string>(astr.begin(), astr.end()) == std::vector<std::string>{"", "b", "ccc"});
    CHECK(f->get_int_array("arr.empty").empty());

    REQUIRE(f->tensors().size() == 3);
    const auto& ta = f->require_tensor("a", {5, 3});
    CHECK(std::memcmp(ta.data, a.data(), 60) == 0);
    const auto& tb = f->require_tensor("b", {7});
    CHECK(tb.nbytes == 14);
    for (int i = 0; i < 14; ++i) CHECK(tb.data[i] == static_cast<uint8_t>(i * 3));
    const auto& tq = f->require_tensor("blk.0.q", {64, 2});
    CHECK(tq.nbytes == q.size());
    CHECK(std::memcmp(tq.data, q.data(), q.size()) == 0);
    for (const auto& t : f->tensors()) CHECK(t.file_offset % alignment == 0);
    // Strict sequential layout and the last tensor padded to the alignment.
    CHECK(f->file_size() == f->data_offset() + tq.offset + ((q.size() + alignment - 1) / alignment) * alignment);
  }
}

TEST_CASE("writer copies a real model file bit-exactly (metadata and tensors)") {
  auto src = File::open(latte::test::model_path("tiny-dsv3/tiny-dsv3-q4_k_m.gguf"));
  Writer w;
  for (const auto& kv : src->metadata()) w.copy_kv(*src, kv);
  for (const auto& t : src->tensors())
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.data, t.nbytes);
  std::string path = latte::test::scratch_dir("gguf") + "/copy.gguf";
  w.write(path);
  auto a = latte::test::read_bytes(latte::test::model_path("tiny-dsv3/tiny-dsv3-q4_k_m.gguf"));
  auto b = latte::test::read_bytes(path);
  CHECK(a.size() == b.size());
  CHECK((a == b));
}

TEST_CASE("writer streams row chunks of at most 16 MiB") {
  Writer w;
  const int64_t ne0 = 1024, rows = 4200;  // 17.2 MB of f32: two chunks
  int64_t next = 0, calls = 0, max_rows = 0;
  w.add_tensor_rows("big", 0, {ne0, 600, 7}, [&](int64_t first, int64_t n, uint8_t* dst) {
    CHECK(first == next);
    next += n;
    ++calls;
    max_rows = std::max(max_rows, n);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < ne0; ++i) {
        float v = static_cast<float>(first + r) + static_cast<float>(i) * 1e-4f;
        std::memcpy(dst + (r * ne0 + i) * 4, &v, 4);
      }
  });
  // Q8_0 rows: 1024 / 32 blocks of 34 bytes.
  w.add_tensor_rows("q", static_cast<uint32_t>(latte::DType::Q8_0), {1024, 3}, [](int64_t first, int64_t n, uint8_t* dst) {
    CHECK(first == 0);
    CHECK(n == 3);
    std::memset(dst, 0x11, static_cast<size_t>(n) * 32 * 34);
  });
  std::string path = latte::test::scratch_dir("gguf") + "/rows.gguf";
  w.write(path);
  CHECK(next == rows);
  CHECK(calls == 2);
  CHECK(max_rows * ne0 * 4 <= (16 << 20));
  auto f = File::open(path);
  const auto& t = f->require_tensor("big", {ne0, 600, 7});
  int64_t bad = 0;
  for (int64_t r = 0; r < rows; r += 37)
    for (int64_t i = 0; i < ne0; i += 101) {
      float v;
      std::memcpy(&v, t.data + (r * ne0 + i) * 4, 4);
      bad += v != static_cast<float>(r) + static_cast<float>(i) * 1e-4f;
    }
  CHECK(bad == 0);
  const auto& q = f->require_tensor("q", {1024, 3});
  CHECK(q.nbytes == 3u * 32u * 34u);
  CHECK(std::all_of(q.data, q.data + q.nbytes, [](uint8_t b) { return b == 0x11; }));
  std::remove(path.c_str());
}

TEST_CASE("writer failure leaves no file behind") {
  Writer w;
  w.add_tensor("x", 0, {4}, [](uint8_t*, uint64_t) { throw latte::CancelledError(); });
  std::string path = latte::test::scratch_dir("gguf") + "/failed.gguf";
  std::remove(path.c_str());
  CHECK_THROWS_AS(w.write(path), latte::CancelledError);
  CHECK_FALSE(std::ifstream(path).good());
  CHECK_FALSE(std::ifstream(path + ".tmp").good());
  CHECK(outcome([&] { w.write("/nonexistent-dir/x.gguf"); }).kind == latte::ErrorKind::Io);
}

TEST_CASE("malformed images") {
  auto base = [] {
    Image im;
    im.kv_str("general.architecture", "test");
    im.f32("t0", {4, 2}).f32("t1", {8});
    return im;
  };
  SUBCASE("the base image is valid") {
    auto img = base().build();
    auto f = parse(img);
    CHECK(f->tensors().size() == 2);
  }
  SUBCASE("too small / bad magic / bad version") {
    expect_format_error({}, "header");
    expect_format_error({'G', 'G', 'U', 'F', 3, 0}, "header");
    auto img = base().build();
    img[0] = 'X';
    expect_format_error(img, "magic");
    for (uint32_t v : {0u, 1u, 4u, 0x03000000u}) {
      Image im = base();
      im.version = v;
      expect_format_error(im.build(), "version");
    }
  }
  SUBCASE("huge counts") {
    Image im = base();
    im.kv_count = 1ull << 62;
    expect_format_error(im.build(), "kv_count");
    im = base();
    im.tensor_count = ~0ull;
    expect_format_error(im.build(), "tensor_count");
    im = base();
    im.kv_count = 3;  // one more than present: runs into the tensor infos, then out of bytes
    CHECK(outcome([&] { parse(im.build()); }).kind == latte::ErrorKind::Format);
  }
  SUBCASE("huge string lengths and array counts") {
    Image im = base();
    im.kvs.push_back(Bytes().u64(1ull << 63));
    expect_format_error(im.build(), "key");
    im = base();
    im.kvs.push_back(Bytes().str("k").u32(8).u64(~0ull - 3));
    expect_format_error(im.build(), "key 'k'");
    im = base();
    im.kvs.push_back(Bytes().str("k").u32(9).u32(12).u64(1ull << 61));
    expect_format_error(im.build(), "array count");
    im = base();
    im.kvs.push_back(Bytes().str("k").u32(9).u32(8).u64(~0ull));
    expect_format_error(im.build(), "array count");
    im = base();
    im.kvs.push_back(Bytes().str("k").u32(9).u32(8).u64(2).str("a").u64(1000));
    expect_format_error(im.build(), "key 'k'");
    im = base();
    im.kvs.push_back(Bytes().str("").u32(4).u32(1));
    expect_format_error(im.build(), "empty key");
  }
  SUBCASE("bad value types, nested arrays, bad bools") {
    for (uint32_t t : {13u, 100u, 0xFFFFFFFFu}) {
      Image im = base();
      im.kvs.push_back(Bytes().str("k").u32(t).u32(0));
      expect_format_error(im.build(), "value type");
      im = base();
      im.kvs.push_back(Bytes().str("k").u32(9).u32(t).u64(0));
      expect_format_error(im.build(), "element type");
    }
    Image im = base();
    im.kvs.push_back(Bytes().str("k").u32(9).u32(9).u64(1).u32(4).u64(1).u32(5));
    expect_format_error(im.build(), "nested");
    im = base();
    im.kvs.push_back(Bytes().str("k").u32(7).u8(2));
    expect_format_error(im.build(), "bool");
  }
  SUBCASE("duplicate key") {
    Image im = base();
    im.kv_u32("general.architecture", 1);
    expect_format_error(im.build(), "duplicate key");
  }
  SUBCASE("alignment") {
    for (uint32_t a : {0u, 3u, 48u}) {
      Image im = base();
      im.kv_u32("general.alignment", a);
      expect_format_error(im.build(), "general.alignment");
    }
    Image im = base();
    im.kvs.push_back(Bytes().str("general.alignment").u32(10).u64(32));
    expect_format_error(im.build(), "general.alignment");
    im = base();
    im.alignment = 64;
    im.tensors.clear();
    im.kv_u32("general.alignment", 64);
    im.f32("t0", {4, 2}).f32("t1", {8});
    auto img = im.build();
    auto f = parse(img);
    CHECK(f->alignment() == 64);
    CHECK(f->tensors()[1].offset == 64);
  }
  SUBCASE("misaligned offset, out of bounds, overlap") {
    Image im = base();
    im.tensors[1].offset = 36;
    expect_format_error(im.build(), "not a multiple of the alignment");
    im = base();
    im.tensors[1].offset = 64;  // t1 is 32 bytes at 64 but the data section has 64 bytes
    expect_format_error(im.build(), "not within the file bounds");
    im = base();
    im.tensors[1].offset = 1ull << 63;
    expect_format_error(im.build(), "not within the file bounds");
    im = base();
    im.tensors[1].offset = 0;
    expect_format_error(im.build(), "overlaps");
    im = base();
    im.tensors[0].ne = {4, 4};  // t0 [0, 64) and t1 [32, 64)
    im.tensors[1].offset = 32;
    im.data_bytes = 96;
    expect_format_error(im.build(), "overlaps");
    im.tensors[1].offset = 64;  // adjacent is fine
    CHECK_NOTHROW(parse(im.build()));
  }
  SUBCASE("tensor infos") {
    Image im = base();
    im.f32("t0", {4});
    expect_format_error(im.build(), "duplicate tensor");
    im = base();
    im.tensors[0].ne = {4, 0};
    expect_format_error(im.build(), "dimension is 0");
    im = base();
    im.tensors[0].ne = {1, 1, 1, 1, 1};
    expect_format_error(im.build(), "n_dims");
    im = base();
    im.tensors[0].ne = {};
    expect_format_error(im.build(), "n_dims");
    im = base();
    im.tensors[0].ne = {1ull << 40, 1ull << 40};
    expect_format_error(im.build(), "overflow");
    im = base();
    im.tensors[0].ne = {1ull << 63};
    expect_format_error(im.build(), "overflow");
    im = base();
    im.tensors[0].ne = {1ull << 61};  // element count fits int64, byte size does not fit the file
    CHECK(outcome([&] { parse(im.build()); }).kind == latte::ErrorKind::Format);
    im = base();
    im.tensors[0].name = std::string(64, 'n');
    expect_format_error(im.build(), "limit 63");
    im = base();
    im.tensors[0].name = std::string(63, 'n');
    CHECK_NOTHROW(parse(im.build()));
    im = base();
    im.tensors[0].name = "\xff\xfe";
    expect_format_error(im.build(), "UTF-8");
    im = base();
    im.tensors[0].type = 8;  // Q8_0 with ne[0] = 4: not a multiple of 32
    expect_format_error(im.build(), "block size");
  }
  SUBCASE("unknown tensor type ids are UnsupportedError") {
    for (uint32_t id : {36u, 4u, 31u, 1000u}) {
      Image im = base();
      im.tensors[0].type = id;
      Outcome o = outcome([&] { parse(im.build()); });
      INFO(o.msg);
      CHECK(o.kind == latte::ErrorKind::Unsupported);
      CHECK(o.msg.find("unsupported tensor type " + std::to_string(id) + " (") != std::string::npos);
      CHECK(o.msg.find("'t0'") != std::string::npos);
    }
  }
}

TEST_CASE("truncations of a real file at many offsets are FormatErrors") {
  auto bytes = latte::test::read_bytes(latte::test::model_path("tiny-dsv3/tiny-dsv3-q4_0.gguf"));
  auto full = File::parse(bytes.data(), bytes.size(), "q4_0");
  uint64_t data_end = 0;
  for (const auto& t : full->tensors()) data_end = std::max(data_end, t.file_offset + t.nbytes);
  std::vector<uint64_t> cuts;
  for (uint64_t c = 0; c < 512; ++c) cuts.push_back(c);
  for (uint64_t c = 512; c < full->data_offset() + 64; c += 331) cuts.push_back(c);
  for (uint64_t c = full->data_offset(); c < data_end; c += 40009) cuts.push_back(c);
  cuts.push_back(data_end - 1);
  int failures = 0;
  for (uint64_t c : cuts) {
    // A fresh heap copy of exactly c bytes, so reading past the end would be caught by sanitizers.
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(c));
    Outcome o = outcome([&] { File::parse(part.data(), part.size(), "cut"); });
    if (o.kind != latte::ErrorKind::Format) {
      ++failures;
      INFO("cut at " << c << ": " << o.msg);
      CHECK(o.kind == latte::ErrorKind::Format);
    }
  }
  CHECK(failures == 0);
  CHECK(cuts.size() > 900);
}

TEST_CASE("random byte mutations never crash") {
  Image im;
  im.kv_str("general.architecture", "x").kv_u32("general.alignment", 32);
  im.kvs.push_back(Bytes().str("arr").u32(9).u32(8).u64(2).str("ab").str("c"));
  im.f32("t0", {4, 2}).f32("t1", {8});
  const auto img = im.build();
  std::mt19937 rng(1234);
  int ok = 0, errors = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto m = img;
    int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) {
      size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0: m[at] = static_cast<uint8_t>(rng()); break;
        case 1: m[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        default: m[at] = (rng() % 2) ? 0xFF : 0x00; break;
      }
    }
    if (rng() % 8 == 0) m.resize(rng() % m.size());
    try {
      auto f = File::parse(m.data(), m.size(), "mut");
      for (const auto& kv : f->metadata()) (void)f->value_to_string(kv);
      ++ok;
    } catch (const latte::Error&) {
      ++errors;
    }
  }
  CHECK(ok + errors == 20000);
  CHECK(errors > 1000);
}

TEST_CASE("open: missing, empty and directory paths") {
  CHECK(outcome([] { File::open("/nonexistent/model.gguf"); }).kind == latte::ErrorKind::Io);
  CHECK(outcome([] { File::open("/tmp"); }).kind == latte::ErrorKind::Io);
  std::string empty = latte::test::scratch_dir("gguf") + "/empty.gguf";
  { std::ofstream(empty, std::ios::trunc); }
  Outcome o = outcome([&] { File::open(empty); });
  CHECK(o.kind == latte::ErrorKind::Format);
  CHECK(o.msg.find(empty) != std::string::npos);
}
