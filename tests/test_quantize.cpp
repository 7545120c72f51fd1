// latte quantize (runtime/convert/quantize.h): type rules, every target on the shared tiny f32 models, the GGUF layout
// llama.cpp requires, dequantized data close to the source, and byte equality with llama.cpp's own quantizer on
// the tensors where both chose the same type.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "quant/types.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"
#include "test_support.h"
#include "runtime/convert/quantize.h"

using namespace latte;
using namespace latte::quantize;

namespace {

std::string f32_model(const char* which) {
  return test::model_path(std::string(which) + "/" + which + "-f32.gguf");
}

std::vector<float> dequant(const gguf::TensorInfo& t) {
  const TypeTraits* tr = find_type(t.type);
  REQUIRE(tr != nullptr);
  std::vector<float> out(size_t(t.n_elements()));
  const int64_t rows = t.n_elements() / t.ne[0];
  const size_t rb = row_bytes(*tr, t.ne[0]);
  for (int64_t r = 0; r < rows; ++r) tr->dequantize_row(t.data + size_t(r) * rb, out.data() + r * t.ne[0], t.ne[0]);
  return out;
}

// Relative RMS error bound per output type for roughly Gaussian weights: the step of each format over the
// typical block range / sqrt(12), divided by the data's RMS, with ~2x headroom for heavy-tailed trained weights.
double rmse_bound(uint32_t type) {
  switch (DType(type)) {
    case DType::F32: return 0.0;
    case DType::F16: return 1e-3;
    case DType::BF16: return 8e-3;
    case DType::Q8_0: return 0.012;
    case DType::Q6_K: return 0.04;
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q5_K: return 0.07;
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q4_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS: return 0.14;
    case DType::Q3_K: return 0.28;
    case DType::Q2_K: return 0.55;
    case DType::MXFP4: return 0.16;  // power-of-two block scales: between Q4_0 and Q3_K
    case DType::IQ3_XXS: return 0.30;
    case DType::IQ2_XXS: return 0.55;
    case DType::IQ1_S: return 0.75;
    default: return 0.0;
  }
}

// The strict layout of mainline llama.cpp: offsets are the running sum of padded sizes, the data section starts
// aligned, the file ends with the padded last tensor.
void check_layout(const gguf::File& f) {
  uint64_t off = 0;
  const uint64_t a = f.alignment();
  CHECK(f.data_offset() % a == 0);
  for (const auto& t : f.tensors()) {
    CHECK_MESSAGE(t.offset == off, t.name);
    off += (t.nbytes + a - 1) / a * a;
  }
  CHECK(f.file_size() == f.data_offset() + off);
}

}  // namespace

TEST_CASE("quantize: targets and per-tensor rules") {
  CHECK(parse_target("Q4_K_M").mix == Mix::Q4_K_M);
  CHECK(parse_target("q4_k_m").file_type == 15);
  CHECK(parse_target("q8_0").base == DType::Q8_0);
  CHECK(parse_target("IQ4_XS").file_type == 30);
  CHECK(parse_target("MXFP4").base == DType::MXFP4);
  CHECK_THROWS_AS(parse_target("q7_k"), ArgumentError);

  CHECK(layer_of("blk.12.ffn_up.weight") == 12);
  CHECK(layer_of("output.weight") == -1);
  CHECK(layer_of("blk.x.ffn_up.weight") == -1);

  TensorDesc norm{"blk.0.attn_norm.weight", {2048}, 0, 27};
  TensorDesc router{"blk.1.ffn_gate_inp.weight", {2048, 64}, 1, 27};
  TensorDesc bias{"blk.1.exp_probs_b.bias", {64}, 1, 27};
  TensorDesc up{"blk.1.ffn_up_exps.weight", {2048, 1408, 64}, 1, 27};
  CHECK(keeps_f32(norm));
  CHECK(keeps_f32(router));
  CHECK(keeps_f32(bias));
  CHECK_FALSE(keeps_f32(up));

  // use_more_bits(i, 27): first/last eighth (i < 3, i >= 23) and i = 5, 8, 11, ...
  std::vector<int> more;
  for (int i = 0; i < 27; ++i)
    if (use_more_bits(i, 27)) more.push_back(i);
  CHECK(more == std::vector<int>{0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26});

  // Row-length fallbacks (§B.9).
  CHECK(fit_row(DType::Q4_K, 2048) == DType::Q4_K);
  CHECK(fit_row(DType::Q4_K, 1408) == DType::Q5_0);
  CHECK(fit_row(DType::Q5_K, 1408) == DType::Q5_1);
  CHECK(fit_row(DType::Q6_K, 1408) == DType::Q8_0);
  CHECK(fit_row(DType::Q2_K, 128) == DType::IQ4_NL);
  CHECK(fit_row(DType::IQ4_XS, 96) == DType::IQ4_NL);
  for (DType t : {DType::IQ1_S, DType::IQ2_XXS, DType::IQ3_XXS}) {
    CHECK(fit_row(t, 2048) == t);
    CHECK(fit_row(t, 1408) == DType::IQ4_NL);  // V2-Lite's expert rows (§B.9)
    CHECK(fit_row(t, 100) == DType::F16);
  }
  CHECK(fit_row(DType::MXFP4, 1408) == DType::MXFP4);
  CHECK(fit_row(DType::MXFP4, 100) == DType::F16);
  CHECK(parse_target("iq2_xxs").file_type == 19);
  CHECK(parse_target("IQ3_XXS").file_type == 23);
  CHECK(parse_target("iq1_s").file_type == 24);
  CHECK(fit_row(DType::Q8_0, 100) == DType::F16);
  CHECK(fit_row(DType::Q4_K, 100) == DType::F16);

  // Q4_K_M on V2-Lite shapes: down_exps (rows 1408) are Q8_0 (from Q6_K) in more-bits layers, else Q5_0.
  Target m = parse_target("q4_k_m");
  TensorDesc down5{"blk.5.ffn_down_exps.weight", {1408, 2048, 64}, 5, 27};
  TensorDesc down6{"blk.6.ffn_down_exps.weight", {1408, 2048, 64}, 6, 27};
  CHECK(choose_type(m, down5) == DType::Q8_0);
  CHECK(choose_type(m, down6) == DType::Q5_0);
  CHECK(choose_type(m, up) == DType::Q4_K);
  CHECK(choose_type(m, TensorDesc{"output.weight", {2048, 129280}, -1, 27}) == DType::Q6_K);
  CHECK(choose_type(m, TensorDesc{"token_embd.weight", {2048, 129280}, -1, 27}) == DType::Q4_K);
  CHECK(choose_type(m, TensorDesc{"blk.3.attn_kv_b.weight", {512, 4096}, 3, 27}) == DType::Q6_K);
  CHECK(choose_type(m, TensorDesc{"blk.3.ffn_up_shexp.weight", {2048, 2816}, 3, 27}) == DType::Q5_K);
  CHECK(choose_type(m, TensorDesc{"blk.3.ffn_down_shexp.weight", {2816, 2048}, 3, 27}) == DType::Q6_K);
  CHECK(choose_type(m, norm) == DType::F32);
  CHECK(choose_type(m, router) == DType::F32);
  // Single types: output.weight promoted to Q6_K below 8 bits unless pure; Q8_0 keeps Q8_0.
  Target q40 = parse_target("q4_0");
  CHECK(choose_type(q40, TensorDesc{"output.weight", {2048, 129280}, -1, 27}) == DType::Q6_K);
  q40.pure = true;
  CHECK(choose_type(q40, TensorDesc{"output.weight", {2048, 129280}, -1, 27}) == DType::Q4_0);
  CHECK(choose_type(parse_target("q8_0"), TensorDesc{"output.weight", {2048, 129280}, -1, 27}) == DType::Q8_0);
}

TEST_CASE("quantize: every target on the tiny f32 models") {
  const std::string dir = test::scratch_dir("quantize");
  const char* targets[] = {"q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q2_k", "q3_k", "iq4_xs", "q4_k_m", "q5_k_m", "mxfp4",
                           "iq3_xxs", "iq2_xxs", "iq1_s"};
  for (const char* model : {"tiny-dsv3", "tiny-dsv2"}) {
    auto src = gguf::File::open(f32_model(model));
    for (const char* tname : targets) {
      // tiny-dsv2 only for the mixes and one legacy type, to keep the suite fast.
      if (std::string(model) == "tiny-dsv2" && std::string(tname) != "q4_k_m" && std::string(tname) != "q4_0")
        continue;
      CAPTURE(model);
      CAPTURE(tname);
      Target tg = parse_target(tname);
      Options opt;
      opt.threads = 2;
      std::string out = dir + "/" + model + "-" + tname + ".gguf";
      uint64_t last_done = 0, calls = 0;
      opt.progress = [&](uint64_t d, uint64_t t, const std::string&) {
        CHECK(d <= t);
        CHECK(d >= last_done);
        last_done = d;
        ++calls;
      };
      Summary s = quantize_file(f32_model(model), out, tg, opt);
      CHECK(calls > 0);
      CHECK(s.n_tensors == src->tensors().size());
      CHECK(s.out_bytes < s.in_bytes);

      auto q = gguf::File::open(out);
      check_layout(*q);
      CHECK(q->get_uint("general.file_type") == tg.file_type);
      CHECK(q->get_uint("general.quantization_version") == 2u);
      // Every other key copied verbatim.
      for (const auto& kv : src->metadata()) {
        if (kv.key == "general.file_type" || kv.key == "general.quantization_version") continue;
        const gguf::KeyValue* o = q->find(kv.key);
        REQUIRE_MESSAGE(o != nullptr, kv.key);
        CHECK(o->type == kv.type);
        CHECK(o->count == kv.count);
        CHECK(q->value_to_string(*o, 4) == src->value_to_string(kv, 4));
      }
      CHECK(q->get_string_array("tokenizer.ggml.merges").size() ==
            src->get_string_array("tokenizer.ggml.merges").size());

      REQUIRE(q->tensors().size() == src->tensors().size());
      uint64_t out_bytes = 0;
      for (size_t i = 0; i < src->tensors().size(); ++i) {
        const auto& a = src->tensors()[i];
        const auto& b = q->tensors()[i];
        CAPTURE(a.name);
        CHECK(a.name == b.name);
        CHECK(a.shape_string() == b.shape_string());
        out_bytes += b.nbytes;
        TensorDesc d{a.name, std::vector<int64_t>(a.ne, a.ne + a.n_dims), layer_of(a.name), 4};
        if (keeps_f32(d)) CHECK(b.type == uint32_t(DType::F32));
        CHECK(b.type == uint32_t(choose_type(tg, d)));
        const TypeTraits* bt = find_type(b.type);
        REQUIRE(bt != nullptr);
        CHECK(a.ne[0] % bt->block_elems == 0);
        // Dequantized close to the source.
        std::vector<float> x = dequant(a), y = dequant(b);
        double num = 0, den = 0;
        for (size_t k = 0; k < x.size(); ++k) {
          num += double(y[k] - x[k]) * double(y[k] - x[k]);
          den += double(x[k]) * double(x[k]);
        }
        double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
        CAPTURE(type_id_name(b.type));
        CHECK(rel <= rmse_bound(b.type));
      }
      CHECK(out_bytes == s.out_bytes);
      if (std::string(tname) == "q4_k_m") {
        // The mix at work: some Q6_K (or its Q8_0 fallback), mostly Q4_K (or its Q5_0 fallback).
        CHECK(s.tensors_per_type.count("Q4_K") == 1);
        CHECK(s.out_bpw() > 4.5);
        CHECK(s.out_bpw() < 7.0);
      }
      std::remove(out.c_str());
    }
  }
}

// llama.cpp's quantizer uses the same reference quantizers (no importance matrix), so wherever our plan picks
// the type llama.cpp picked, the bytes must be identical. The shared q8_0 / q6_k / q4_0 files are pure types;
// the q4_k_m file differs from our mix on some tensors (compared only where types agree).
TEST_CASE("quantize: byte-identical to llama.cpp's quantizer where the types agree") {
  const std::string dir = test::scratch_dir("quantize");
  struct Case {
    const char* file;
    const char* target;
    size_t min_same;  // tensors expected to have the same type (the types must agree on all for pure types)
  };
  for (Case c : {Case{"tiny-dsv3-q8_0.gguf", "q8_0", 0}, Case{"tiny-dsv3-q6_k.gguf", "q6_k", 0},
                 Case{"tiny-dsv3-q4_0.gguf", "q4_0", 0}, Case{"tiny-dsv3-q4_k_m.gguf", "q4_k_m", 20}}) {
    CAPTURE(c.file);
    auto ref = gguf::File::open(test::model_path(std::string("tiny-dsv3/") + c.file));
    std::string out = dir + "/ref-" + c.target + ".gguf";
    Options opt;
    opt.threads = 2;
    opt.drop_split_kv = true;  // the shared quantized files are MLA flavour 1
    quantize_file(f32_model("tiny-dsv3"), out, parse_target(c.target), opt);
    auto q = gguf::File::open(out);
    CHECK(q->tensors().size() == ref->tensors().size());
    size_t same_type = 0, identical = 0;
    for (const auto& r : ref->tensors()) {
      CAPTURE(r.name);
      const gguf::TensorInfo* t = q->find_tensor(r.name);
      REQUIRE(t != nullptr);
      if (c.min_same == 0) CHECK(t->type == r.type);
      if (t->type != r.type) continue;
      ++same_type;
      REQUIRE(t->nbytes == r.nbytes);
      bool eq = std::memcmp(t->data, r.data, r.nbytes) == 0;
      CHECK_MESSAGE(eq, type_id_name(r.type));
      identical += eq;
    }
    CHECK(same_type >= std::max<size_t>(c.min_same, 1));
    CHECK(identical == same_type);
    std::remove(out.c_str());
  }
}

TEST_CASE("quantize: already-quantized input is dequantized, with a warning") {
  const std::string dir = test::scratch_dir("quantize");
  std::string out = dir + "/requant-q4_k.gguf";
  Options opt;
  opt.threads = 2;
  std::vector<std::string> warnings;
  opt.warn = [&](const std::string& w) { warnings.push_back(w); };
  Summary s = quantize_file(test::model_path("tiny-dsv3/tiny-dsv3-q8_0.gguf"), out, parse_target("q4_k"), opt);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("already quantized") != std::string::npos);
  CHECK(s.n_requantized > 0);
  auto q = gguf::File::open(out);
  auto f = gguf::File::open(f32_model("tiny-dsv3"));
  check_layout(*q);
  // Still close to the f32 original (Q8_0 error + Q4_K error).
  const gguf::TensorInfo* a = f->find_tensor("blk.1.ffn_up_exps.weight");
  const gguf::TensorInfo* b = q->find_tensor("blk.1.ffn_up_exps.weight");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(b->type == uint32_t(DType::Q4_K));
  std::vector<float> x = dequant(*a), y = dequant(*b);
  double num = 0, den = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    num += double(y[k] - x[k]) * double(y[k] - x[k]);
    den += double(x[k]) * double(x[k]);
  }
  CHECK(std::sqrt(num / den) < 0.14);
  // Same type in and out: bytes copied, no warning.
  warnings.clear();
  std::string out2 = dir + "/requant-q8_0.gguf";
  Summary s2 = quantize_file(test::model_path("tiny-dsv3/tiny-dsv3-q8_0.gguf"), out2, parse_target("q8_0"), opt);
  CHECK(warnings.empty());
  auto q2 = gguf::File::open(out2);
  auto src2 = gguf::File::open(test::model_path("tiny-dsv3/tiny-dsv3-q8_0.gguf"));
  for (const auto& t : src2->tensors()) {
    const gguf::TensorInfo* u = q2->find_tensor(t.name);
    REQUIRE(u);
    if (u->type == t.type) CHECK(std::memcmp(u->data, t.data, t.nbytes) == 0);
  }
  (void)s2;
  std::remove(out.c_str());
  std::remove(out2.c_str());
}

TEST_CASE("quantize: convert_rows matches per-row reference calls and is thread-count independent") {
  const int64_t row_len = 512, rows = 37;
  std::vector<float> x(size_t(row_len * rows));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i)) * (1.0f + float(i % 7));
  const TypeTraits& q = type_traits(DType::Q4_K);
  std::vector<uint8_t> a(row_bytes(q, row_len) * rows), b(a.size()), ref(a.size());
  for (int64_t r = 0; r < rows; ++r) q.quantize_row(x.data() + r * row_len, ref.data() + r * row_bytes(q, row_len), row_len);
  convert_rows(x.data(), uint32_t(DType::F32), a.data(), DType::Q4_K, rows, row_len, ThreadPool(1));
  convert_rows(x.data(), uint32_t(DType::F32), b.data(), DType::Q4_K, rows, row_len, ThreadPool(2));
  CHECK(a == ref);
  CHECK(b == ref);
}

TEST_CASE("quantize: bad input is reported, not crashed on") {
  const std::string dir = test::scratch_dir("quantize");
  CHECK_THROWS_AS(quantize_file(dir + "/no-such-file.gguf", dir + "/x.gguf", parse_target("q8_0")), IoError);
  std::string junk = dir + "/junk.gguf";
  if (FILE* f = std::fopen(junk.c_str(), "wb")) {
    std::fputs("GGUF this is not a gguf file", f);
    std::fclose(f);
  }
  CHECK_THROWS_AS(quantize_file(junk, dir + "/x.gguf", parse_target("q8_0")), FormatError);
  // A failed write leaves no partial output.
  FILE* f = std::fopen((dir + "/x.gguf").c_str(), "rb");
  CHECK(f == nullptr);
  if (f) std::fclose(f);
}
