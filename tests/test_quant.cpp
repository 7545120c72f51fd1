// Quant block types: traits, fp16/bf16 conversions, hand-built blocks, quantize->dequantize round trips,
// scalar vec_dot against dequantized dot products, and the shared quantized GGUFs against the f32 GGUF.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <vector>

#include "formats/gguf.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/iq_grids.h"
#include "quant/kernels.h"
#include "quant/types.h"
#include "formats/error.h"
#include "test_support.h"

using namespace latte;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

double rel_rmse(const std::vector<float>& ref, const std::vector<float>& b) {
  double e = 0, s = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += (double(ref[i]) - b[i]) * (double(ref[i]) - b[i]);
    s += double(ref[i]) * ref[i];
  }
  return s > 0 ? std::sqrt(e / s) : std::sqrt(e);
}

std::vector<float> dequant(DType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> out(n);
  type_traits(t).dequantize_row(q.data(), out.data(), n);
  return out;
}

std::vector<uint8_t> quant(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_bytes(t, static_cast<int64_t>(x.size())));
  type_traits(t).quantize_row(x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

double dot_d(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}
double dot_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(double(a[i]) * b[i]);
  return s;
}

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0,   DType::Q4_1,  DType::Q5_0,
                              DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,   DType::Q4_K,  DType::Q5_K,
                              DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4, DType::IQ3_XXS,
                              DType::IQ2_XXS, DType::IQ1_S};

// Upper bound of the relative RMS error of quantize -> dequantize on N(0,1) data (measured values are ~70-85 %
// of these: Q8_0 0.0054, Q4_0 0.087, Q4_K 0.071, Q6_K 0.018, Q3_K 0.15, Q2_K 0.30, IQ4_XS 0.078).
double roundtrip_bound(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 0.0;  // I32: integer tables, never quantized
    case DType::F16: return 3e-4;
    case DType::BF16: return 2.5e-3;
    case DType::Q8_0: case DType::Q8_1: return 0.0065;
    case DType::Q8_K: return 0.009;
    case DType::Q6_K: return 0.022;
    case DType::Q5_0: case DType::Q5_1: return 0.06;
    case DType::Q5_K: return 0.04;
    case DType::Q4_0: return 0.12;
    case DType::Q4_1: return 0.11;
    case DType::Q4_K: return 0.09;
    case DType::IQ4_NL: case DType::IQ4_XS: return 0.1;
    case DType::Q3_K: return 0.2;
    case DType::Q2_K: return 0.36;
    // measured: MXFP4 0.113 (power-of-two scales), IQ3_XXS 0.183, IQ2_XXS 0.348, IQ1_S 0.488 (no importance
    // matrix; grid codebooks of 3.06 / 2.06 / 1.56 bits per weight)
    case DType::MXFP4: return 0.13;
    case DType::IQ3_XXS: return 0.21;
    case DType::IQ2_XXS: return 0.39;
    case DType::IQ1_S: return 0.55;
  }
  return 0;
}

}  // namespace

TEST_CASE("traits: sizes, names, partners") {
  struct Row { DType t; int64_t blck; size_t bytes; const char* name; DType partner; bool weight; };
  const Row rows[] = {
      {DType::F32, 1, 4, "F32", DType::F32, true},          {DType::F16, 1, 2, "F16", DType::F32, true},
      {DType::BF16, 1, 2, "BF16", DType::F32, true},        {DType::Q4_0, 32, 18, "Q4_0", DType::Q8_0, true},
      {DType::Q4_1, 32, 20, "Q4_1", DType::Q8_1, true},     {DType::Q5_0, 32, 22, "Q5_0", DType::Q8_0, true},
      {DType::Q5_1, 32, 24, "Q5_1", DType::Q8_1, true},     {DType::Q8_0, 32, 34, "Q8_0", DType::Q8_0, true},
      {DType::Q8_1, 32, 36, "Q8_1", DType::Q8_1, false},    {DType::Q2_K, 256, 84, "Q2_K", DType::Q8_K, true},
      {DType::Q3_K, 256, 110, "Q3_K", DType::Q8_K, true},   {DType::Q4_K, 256, 144, "Q4_K", DType::Q8_K, true},
      {DType::Q5_K, 256, 176, "Q5_K", DType::Q8_K, true},   {DType::Q6_K, 256, 210, "Q6_K", DType::Q8_K, true},
      {DType::Q8_K, 256, 292, "Q8_K", DType::Q8_K, false},  {DType::IQ4_NL, 32, 18, "IQ4_NL", DType::Q8_0, true},
      {DType::IQ4_XS, 256, 136, "IQ4_XS", DType::Q8_K, true},  {DType::MXFP4, 32, 17, "MXFP4", DType::Q8_0, true},
      {DType::IQ2_XXS, 256, 66, "IQ2_XXS", DType::Q8_K, true}, {DType::IQ3_XXS, 256, 98, "IQ3_XXS", DType::Q8_K, true},
      {DType::IQ1_S, 256, 50, "IQ1_S", DType::Q8_K, true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    const TypeTraits* t = find_type(static_cast<uint32_t>(r.t));
    REQUIRE(t != nullptr);
    CHECK(t->type == r.t);
    CHECK(t->block_elems == r.blck);
    CHECK(t->block_bytes == r.bytes);
    CHECK(std::string(t->name) == r.name);
    CHECK(std::string(type_id_name(static_cast<uint32_t>(r.t))) == r.name);
    CHECK(t->vec_dot_type == r.partner);
    CHECK(t->is_weight_type == r.weight);
    CHECK(bool(t->dequantize_row));
    CHECK(bool(t->quantize_row));
    DType parsed{};
    std::string lower = r.name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(parse_type_name(lower, parsed));
    CHECK(parsed == r.t);
    CHECK(parse_type_name(r.name, parsed));
  }
  CHECK(row_bytes(DType::Q4_K, 512) == 288);
  CHECK(row_bytes(DType::BF16, 7) == 14);
  DType dummy{};
  CHECK(!parse_type_name("q4_k_m", dummy));
  CHECK(!parse_type_name("", dummy));
}

TEST_CASE("type ids Latte does not support: named, no traits, no crash") {
  struct Row { uint32_t id; const char* name; };
  const Row rows[] = {{4, "Q4_2"},      {17, "IQ2_XS"},   {21, "IQ3_S"},  {24, "I8"},      {28, "F64"},
                      {29, "IQ1_M"},    {31, "Q4_0_4_4"}, {34, "TQ1_0"},  {36, "I2_S"},    {40, "NVFP4"},
                      {133, "Q6_0"},    {139, "IQ4_K"},   {144, "IQ4_KS"}, {155, "IQ4_KT"}, {202, "Q4_0_R8"},
                      {223, "IQ4_XS_R8"}, {399, "Q8_K_R8"}};
  for (const auto& r : rows) {
    CAPTURE(r.id);
    CHECK(find_type(r.id) == nullptr);
    CHECK(std::string(type_id_name(r.id)) == r.name);
  }
  for (uint32_t id : {42u, 96u, 100u, 1000u, 0xFFFFFFFFu}) {
    CHECK(find_type(id) == nullptr);
    CHECK(std::string(type_id_name(id)) == "unknown");
  }
  CHECK_THROWS_AS(type_traits(static_cast<DType>(17)), UnsupportedError);  // IQ2_XS
}

TEST_CASE("fp16: exact decode, round trip of every code, round-to-nearest-even") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(fp16_to_f32(f32_to_fp16(f))));
      continue;
    }
    if (f32_to_fp16(f) != h) FAIL("fp16 code " << h << " does not round-trip");
  }
  CHECK(fp16_to_f32(0x3C00) == 1.0f);
  CHECK(fp16_to_f32(0xC000) == -2.0f);
  CHECK(fp16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(fp16_to_f32(0x7BFF) == 65504.0f);
  CHECK(std::isinf(fp16_to_f32(0x7C00)));
  // Ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 -> even (1); 1 + 3*2^-11 -> 1 + 2^-9.
  CHECK(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
  CHECK(f32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);
  CHECK(f32_to_fp16(65519.0f) == 0x7BFF);
  CHECK(f32_to_fp16(65520.0f) == 0x7C00);
  CHECK(f32_to_fp16(-1e10f) == 0xFC00);
  CHECK(f32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // halfway to the smallest subnormal: even = 0
  CHECK(f32_to_fp16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(f32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 ulp -> tie -> even (2)
#ifdef __FLT16_MAX__
  // Independent check against the compiler's _Float16 conversion on random bit patterns.
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t hb;
    std::memcpy(&hb, &h, 2);
    if (f32_to_fp16(f) != hb) FAIL("fp16 mismatch for bits " << u);
  }
#endif
}

TEST_CASE("bf16: decode exact, encode round-to-nearest-even, NaN stays NaN") {
  CHECK(bf16_to_f32(0x3F80) == 1.0f);
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(bits_f32(0x3F808000u)) == 0x3F80);  // tie, even stays
  CHECK(f32_to_bf16(bits_f32(0x3F818000u)) == 0x3F82);  // tie, odd rounds up
  CHECK(f32_to_bf16(bits_f32(0x3F808001u)) == 0x3F81);
  const uint16_t nan = f32_to_bf16(bits_f32(0x7F800001u));  // signalling NaN with payload only in the low half
  CHECK(std::isnan(bf16_to_f32(nan)));
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(f) && f32_to_bf16(f) != b) FAIL("bf16 code " << b << " does not round-trip");
  }
}

TEST_CASE("i-quant grids: sizes, alphabets (§B.5), order, uniqueness, known entries, sign rule") {
  // Alphabets of GGUF_DEEPSEEK.md §B.5; the tables are sorted (IQ2_XXS/IQ3_XXS as integers, IQ1_S by its bytes
  // from the last element down with -1 < 0 < 1), so a transcription slip breaks order, alphabet or uniqueness.
  std::set<int> a2, a3, a1;
  for (int e = 0; e < 256; ++e) {
    for (int j = 0; j < 8; ++j) a2.insert(int((kIq2xxsGrid[e] >> (8 * j)) & 0xFF));
    for (int j = 0; j < 4; ++j) a3.insert(int((kIq3xxsGrid[e] >> (8 * j)) & 0xFF));
    if (e) CHECK(kIq2xxsGrid[e - 1] < kIq2xxsGrid[e]);
    if (e) CHECK(kIq3xxsGrid[e - 1] < kIq3xxsGrid[e]);
  }
  CHECK(a2 == std::set<int>{8, 25, 43});
  CHECK(a3 == std::set<int>{4, 12, 20, 28, 36, 44, 52, 62});
  auto key = [](uint64_t v) {  // base-3 number, most significant = element 7, digit = value + 1
    uint64_t k = 0;
    for (int j = 7; j >= 0; --j) k = 3 * k + uint64_t(int8_t((v >> (8 * j)) & 0xFF) + 1);
    return k;
  };
  for (int e = 0; e < 2048; ++e) {
    for (int j = 0; j < 8; ++j) a1.insert(int(int8_t((kIq1sGrid[e] >> (8 * j)) & 0xFF)));
    if (e) CHECK(key(kIq1sGrid[e - 1]) < key(kIq1sGrid[e]));
  }
  CHECK(a1 == std::set<int>{-1, 0, 1});
  // First, last and a few middle entries as printed in ggml-common.h.
  CHECK(kIq2xxsGrid[0] == 0x0808080808080808ull);
  CHECK(kIq2xxsGrid[1] == 0x080808080808082bull);
  CHECK(kIq2xxsGrid[255] == 0x2b2b2b1908081908ull);
  CHECK(kIq3xxsGrid[0] == 0x04040404u);
  CHECK(kIq3xxsGrid[255] == 0x3e341c04u);
  CHECK(kIq1sGrid[0] == 0xffffffffffffffffull);
  CHECK(kIq1sGrid[1] == 0xffffffffffffff01ull);
  CHECK(kIq1sGrid[1024] == 0x0000000000ff0100ull);
  CHECK(kIq1sGrid[2047] == 0x0101010101010101ull);
  // ksigns_iq2xs: the 7-bit index plus a parity bit (first row of ggml's table).
  const uint8_t ks[16] = {0, 129, 130, 3, 132, 5, 6, 135, 136, 9, 10, 139, 12, 141, 142, 15};
  for (uint32_t i = 0; i < 16; ++i) CHECK(iq_signs8(i) == ks[i]);
  for (uint32_t i = 0; i < 128; ++i) CHECK(__builtin_popcount(iq_signs8(i)) % 2 == 0);
}

TEST_CASE("hand-built blocks dequantize to hand-computed values") {
  SUBCASE("IQ2_XXS: grid magnitudes, 4-bit scale, 7-bit sign indices with parity") {
    BlockIQ2_XXS b{};
    b.d = f32_to_fp16(2.0f);
    b.qs[0] = 1;  // entry 1: 43, 8, 8, 8, 8, 8, 8, 8
    b.qs[1] = 0;  // all 8
    const uint32_t aux = (3u << 28) | (1u << 7);  // ls = 3 -> db = 2 * 3.5 / 4 = 1.75; sub-group 1: signs 0x81
    std::memcpy(b.qs + 4, &aux, 4);
    float y[256];
    type_traits(DType::IQ2_XXS).dequantize_row(&b, y, 256);
    CHECK(y[0] == 1.75f * 43);
    CHECK(y[1] == 1.75f * 8);
    CHECK(y[8] == -1.75f * 8);   // sign bit 0 of sub-group 1
    CHECK(y[15] == -1.75f * 8);  // parity bit 7
    CHECK(y[14] == 1.75f * 8);
    CHECK(y[32] == 2.0f * 0.5f * 0.25f * 8);  // group 1: ls = 0, entry 0, no signs
  }
  SUBCASE("IQ3_XXS: two 4-entries per 8, scale from the top nibble of the group word") {
    BlockIQ3_XXS b{};
    b.d = f32_to_fp16(1.0f);
    b.qs[0] = 255;  // 0x3e341c04: 4, 28, 52, 62
    b.qs[1] = 0;    // 4, 4, 4, 4
    const uint32_t aux = (1u << 28) | 2u;  // ls = 1 -> db = 1.5 * 0.5 = 0.75; signs of sub-group 0: 0x82
    std::memcpy(b.qs + 64, &aux, 4);
    float y[256];
    type_traits(DType::IQ3_XXS).dequantize_row(&b, y, 256);
    CHECK(y[0] == 0.75f * 4);
    CHECK(y[1] == -0.75f * 28);
    CHECK(y[3] == 0.75f * 62);
    CHECK(y[4] == 0.75f * 4);
    CHECK(y[7] == -0.75f * 4);
  }
  SUBCASE("IQ1_S: 11-bit index, odd 3-bit scale, signed delta") {
    BlockIQ1_S b{};
    b.d = f32_to_fp16(0.5f);
    b.qs[0] = 0xFF;  // index 0x7FF (high bits 7 from qh): entry 2047 = all +1
    b.qs[1] = 1;     // index 1: -1 x 7 then +1 at element 0
    b.qh[0] = static_cast<uint16_t>(7 | (2 << 12) | 0x8000);  // dl = 0.5 * 5 = 2.5, delta = -0.125
    float y[256];
    type_traits(DType::IQ1_S).dequantize_row(&b, y, 256);
    CHECK(y[0] == 2.5f * (1 - 0.125f));
    CHECK(y[8] == 2.5f * (1 - 0.125f));
    CHECK(y[9] == 2.5f * (-1 - 0.125f));
    CHECK(y[32] == 0.5f * (-1 + 0.125f));  // group 1: qh 0 -> dl = d, +delta, entry 0 = all -1
  }
  SUBCASE("Q4_0") {
    BlockQ4_0 b{};
    b.d = f32_to_fp16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    type_traits(DType::Q4_0).dequantize_row(&b, y, 32);
    for (int j = 0; j < 16; ++j) {
      CHECK(y[j] == 0.5f * (j - 8));
      CHECK(y[j + 16] == 0.5f * (7 - j));
    }
  }
  SUBCASE("Q4_1 / Q5_1") {
    BlockQ4_1 b{};
    b.d = f32_to_fp16(2.0f);
    b.m = f32_to_fp16(-1.0f);
    b.qs[3] = 0xA5;
    float y[32];
    type_traits(DType::Q4_1).dequantize_row(&b, y, 32);
    CHECK(y[0] == -1.0f);
    CHECK(y[3] == 2.0f * 5 - 1);
    CHECK(y[19] == 2.0f * 10 - 1);
    BlockQ5_1 c{};
    c.d = f32_to_fp16(1.0f);
    c.m = f32_to_fp16(0.25f);
    c.qs[1] = 0x21;
    c.qh[0] = 0x02;  // bit 1 -> element 1 gets +16
    c.qh[2] = 0x02;  // bit 17 -> element 17 gets +16
    type_traits(DType::Q5_1).dequantize_row(&c, y, 32);
    CHECK(y[1] == 17.25f);
    CHECK(y[17] == 18.25f);
    CHECK(y[0] == 0.25f);
  }
  SUBCASE("Q5_0") {
    BlockQ5_0 b{};
    b.d = f32_to_fp16(1.0f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
    const uint32_t qh = 0x8000'0001u;  // element 0 and element 31 get their fifth bit
    std::memcpy(b.qh, &qh, 4);
    float y[32];
    type_traits(DType::Q5_0).dequantize_row(&b, y, 32);
    CHECK(y[0] == 0 + 16 - 16);
    CHECK(y[1] == 1 - 16);
    CHECK(y[16] == 0 - 16);
    CHECK(y[31] == 15 + 16 - 16);
  }
  SUBCASE("Q8_0 and IQ4_NL") {
    BlockQ8_0 b{};
    b.d = f32_to_fp16(0.25f);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
    float y[32];
    type_traits(DType::Q8_0).dequantize_row(&b, y, 32);
    for (int j = 0; j < 32; ++j) CHECK(y[j] == 0.25f * (j * 8 - 128));
    BlockIQ4_NL c{};
    c.d = f32_to_fp16(1.0f);
    for (int j = 0; j < 16; ++j) c.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    type_traits(DType::IQ4_NL).dequantize_row(&c, y, 32);
    CHECK(y[0] == -127);
    CHECK(y[8] == 1);
    CHECK(y[16] == 113);
    CHECK(y[31] == -127);
  }
  SUBCASE("Q4_K: 6-bit scale/min packing, sub-blocks 0..7") {
    BlockQ4_K b{};
    b.d = f32_to_fp16(1.0f);
    b.dmin = f32_to_fp16(0.5f);
    // sc = {1,2,3,4, 33,34,35,63}, m = {0,1,2,3, 40,41,42,43}
    const int sc[8] = {1, 2, 3, 4, 33, 34, 35, 63}, mm[8] = {0, 1, 2, 3, 40, 41, 42, 43};
    for (int j = 0; j < 4; ++j) {
      b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
      b.scales[j + 4] = static_cast<uint8_t>(mm[j] | ((mm[j + 4] >> 4) << 6));
      b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mm[j + 4] & 0xF) << 4));
    }
    for (int l = 0; l < 128; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
    float y[256];
    type_traits(DType::Q4_K).dequantize_row(&b, y, 256);
    for (int e = 0; e < 256; ++e) {
      const int s = e / 32, r = e % 64;
      const int q = r < 32 ? (r % 16) : (15 - (r - 32) % 16);
      CHECK(y[e] == float(sc[s]) * q - 0.5f * mm[s]);
    }
  }
  SUBCASE("Q6_K: q - 32 with per-16 scales") {
    BlockQ6_K b{};
    b.d = f32_to_fp16(0.5f);
    for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(s - 8);
    // all low nibbles 0xF, high bits 2 -> q = (15 | 2<<4) - 32 = 15
    std::memset(b.ql, 0xFF, sizeof(b.ql));
    std::memset(b.qh, 0xAA, sizeof(b.qh));
    float y[256];
    type_traits(DType::Q6_K).dequantize_row(&b, y, 256);
    for (int e = 0; e < 256; ++e) CHECK(y[e] == 0.5f * (e / 16 - 8) * 15);
  }
  SUBCASE("Q3_K: inverted hmask sense, signed 6-bit scales") {
    BlockQ3_K b{};
    b.d = f32_to_fp16(1.0f);
    // every sub-block scale = 33 (-> S = 1): low nibble 1, high bits 2
    for (int s = 0; s < 8; ++s) b.scales[s] = 0x11;
    for (int k = 8; k < 12; ++k) b.scales[k] = 0xAA;
    std::memset(b.qs, 0xFF, sizeof(b.qs));  // q2 = 3 everywhere
    b.hmask[0] = 0x01;                      // element 0: bit set -> no -4 -> 3; others 3 - 4 = -1
    float y[256];
    type_traits(DType::Q3_K).dequantize_row(&b, y, 256);
    CHECK(y[0] == 3.0f);
    for (int e = 1; e < 256; ++e) CHECK(y[e] == -1.0f);
  }
  SUBCASE("Q2_K") {
    BlockQ2_K b{};
    b.d = f32_to_fp16(1.0f);
    b.dmin = f32_to_fp16(1.0f);
    for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<uint8_t>((s & 0xF) | (1 << 4));
    for (int l = 0; l < 64; ++l) b.qs[l] = 0xE4;  // j=0 ->0, j=1 ->1, j=2 ->2, j=3 ->3
    float y[256];
    type_traits(DType::Q2_K).dequantize_row(&b, y, 256);
    for (int e = 0; e < 256; ++e) CHECK(y[e] == float((e / 16) * ((e / 32) % 4)) - 1.0f);
  }
  SUBCASE("MXFP4: E2M1 codes times 2^(e-127), e = 0 subnormal, code 8 (-0) decodes as 0") {
    BlockMXFP4 b[2]{};
    b[0].e = 127;  // scale 1: codes decode to 0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, ..., -6
    b[1].e = 0;    // 2^-127
    for (int j = 0; j < 16; ++j) b[0].qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    b[1].qs[0] = 0x07;  // element 0: code 7 (6.0)
    const float e2m1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
    float y[64];
    type_traits(DType::MXFP4).dequantize_row(b, y, 64);
    for (int j = 0; j < 16; ++j) {
      CHECK(y[j] == e2m1[j]);
      CHECK(y[j + 16] == e2m1[15 - j]);
    }
    CHECK(y[32] == std::ldexp(6.0f, -127));
    CHECK(y[33] == 0.f);
    b[0].e = 130;  // 2^3
    type_traits(DType::MXFP4).dequantize_row(b, y, 32);
    CHECK(y[7] == 48.f);
    CHECK(y[16 + 2] == -3.f * 8);  // high nibble of qs[2] is 13 -> -3
  }
  SUBCASE("IQ4_XS") {
    BlockIQ4_XS b{};
    b.d = f32_to_fp16(1.0f);
    // sub-block k gets ls = 32 + k (scale k): low nibble k, high bits 2
    for (int k = 0; k < 8; ++k) {
      b.scales_l[k / 2] |= static_cast<uint8_t>(((32 + k) & 0xF) << (4 * (k % 2)));
      b.scales_h = static_cast<uint16_t>(b.scales_h | (2 << (2 * k)));
    }
    std::memset(b.qs, 0xF8, sizeof(b.qs));  // low nibble 8 -> 1, high nibble 15 -> 113
    float y[256];
    type_traits(DType::IQ4_XS).dequantize_row(&b, y, 256);
    for (int e = 0; e < 256; ++e) CHECK(y[e] == float((e / 32) * ((e % 32) < 16 ? 1 : 113)));
  }
}

TEST_CASE("quantize -> dequantize round trip error per type (N(0,1) data, 16 blocks of 256)") {
  const int64_t n = 4096;
  const auto x = gaussian(n, 42);
  for (DType t : kWeightTypes) {
    CAPTURE(std::string(type_traits(t).name));
    const double err = rel_rmse(x, dequant(t, quant(t, x), n));
    MESSAGE(std::string(type_traits(t).name) << " rel rmse " << err);
    CHECK(err <= roundtrip_bound(t));
    if (t != DType::F32) CHECK(err > 0);
  }
  for (DType t : {DType::Q8_1, DType::Q8_K}) {
    CAPTURE(std::string(type_traits(t).name));
    CHECK(rel_rmse(x, dequant(t, quant(t, x), n)) <= roundtrip_bound(t));
  }
  // Zero input and a row with one huge outlier never produce NaN/Inf.
  std::vector<float> zero(n, 0.f), spike(n, 1e-3f);
  spike[5] = 1e4f;
  for (DType t : kWeightTypes) {
    for (const auto* v : {&zero, &spike}) {
      const auto y = dequant(t, quant(t, *v), n);
      for (float f : y) REQUIRE(std::isfinite(f));
    }
    for (float f : dequant(t, quant(t, zero), n)) CHECK(f == 0.f);
  }
}

TEST_CASE("reference quantizers: known values") {
  // Q8_0: amax 127 -> d = 1, q = round-half-away(x).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = j == 0 ? -127.f : (j % 2 ? 2.5f : -3.5f);
  const auto q = quant(DType::Q8_0, x);
  BlockQ8_0 b;
  std::memcpy(&b, q.data(), sizeof b);
  CHECK(fp16_to_f32(b.d) == 1.0f);
  CHECK(b.qs[0] == -127);
  CHECK(b.qs[1] == 3);
  CHECK(b.qs[2] == -4);
  // Q4_0: the largest-magnitude element maps to code 0 (value -8 * d).
  for (int j = 0; j < 32; ++j) x[j] = 0.1f * j;
  x[7] = -8.0f;
  const auto y = dequant(DType::Q4_0, quant(DType::Q4_0, x), 32);
  CHECK(y[7] == -8.0f);
  // Q8_K: d may be negative (max element negative); bsums are sums of 16 quants.
  std::vector<float> z = gaussian(256, 3);
  z[100] = 10.f;  // positive extreme -> iscale = -127/10 < 0 -> d < 0, q = -127
  const auto qk = quant(DType::Q8_K, z);
  BlockQ8_K k;
  std::memcpy(&k, qk.data(), sizeof k);
  CHECK(k.d < 0);
  CHECK(k.qs[100] == -127);
  CHECK(k.d == doctest::Approx(-10.0 / 127));
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += k.qs[16 * g + j];
    CHECK(k.bsums[g] == s);
  }
  // MXFP4: values on the E2M1 grid times a power of two come back exactly; max 6 * 2^-3 -> e = 124.
  std::vector<float> m(32);
  const float grid[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int j = 0; j < 32; ++j) m[j] = (j % 3 ? 1.f : -1.f) * grid[j % 8] * 0.125f;
  const auto mq = quant(DType::MXFP4, m);
  CHECK(mq[0] == 124);
  CHECK(dequant(DType::MXFP4, mq, 32) == m);
  // A block whose max is far above the rest keeps e_hi (clipping the max would cost more than it gains).
  std::vector<float> m2(32, 0.1f);
  m2[0] = 11.f;  // e_hi = 128 (12 * 2^0 >= 11); e = 127 would clip 11 to 6
  CHECK(quant(DType::MXFP4, m2)[0] == 128);
}

TEST_CASE("scalar vec_dot matches dot products of dequantized rows") {
  const KernelTable& kt = kernel_table(Isa::Scalar);
  CHECK(kt.isa == Isa::Scalar);
  const int64_t n = 1024;
  for (DType t : kWeightTypes) {
    CAPTURE(std::string(type_traits(t).name));
    const TypeTraits& tt = type_traits(t);
    const auto w = gaussian(n, 11);
    const auto x = gaussian(n, 12);
    const auto wq = quant(t, w);
    const auto wd = dequant(t, wq, n);
    const DType at = tt.vec_dot_type;
    REQUIRE(bool(kt.quantize_act[static_cast<uint32_t>(at)]));
    REQUIRE(bool(kt.vec_dot[static_cast<uint32_t>(t)]));
    std::vector<uint8_t> aq(row_bytes(at, n));
    kt.quantize_act[static_cast<uint32_t>(at)](x.data(), aq.data(), n);
    const auto xd = dequant(at, aq, n);
    const float got = kt.vec_dot[static_cast<uint32_t>(t)](n, wq.data(), aq.data());
    // (1) Against the exact dot of the two dequantized rows: only f32 rounding (and the fp16 rounding of the
    //     Q8_1 sum term) separates them. Tolerance relative to sum |w_i x_i|.
    const double exact = dot_d(wd, xd);
    const double scale = dot_abs(wd, xd);
    double tol = 2e-5 * scale + 1e-6;
    if (at == DType::Q8_1) {  // + m_w * s_a per block, s_a = fp16(d * sum q): relative rounding <= 2^-11
      for (int64_t b = 0; b < n / 32; ++b) {
        uint16_t m, sa;
        std::memcpy(&m, wq.data() + b * tt.block_bytes + 2, 2);
        std::memcpy(&sa, aq.data() + b * sizeof(BlockQ8_1) + 2, 2);
        tol += std::fabs(fp16_to_f32(m) * fp16_to_f32(sa)) * std::ldexp(1.0, -11);
      }
    }
    CHECK(std::fabs(got - exact) <= tol);
    // (2) Against the f32 activations: activation quantization adds <= ~1 % of sum |w_i x_i|.
    CHECK(std::fabs(got - dot_d(wd, x)) <= 1e-2 * dot_abs(wd, x));
    // gemv over 3 rows equals 3 vec_dots.
    std::vector<uint8_t> w3(3 * wq.size());
    for (int r = 0; r < 3; ++r) std::memcpy(w3.data() + r * wq.size(), wq.data(), wq.size());
    float y3[3];
    kt.gemv[static_cast<uint32_t>(t)](n, w3.data(), wq.size(), aq.data(), y3, 3);
    for (float v : y3) CHECK(v == got);
  }
  // Float helpers.
  const auto a = gaussian(37, 1), b = gaussian(37, 2);
  CHECK(kt.dot_f32(37, a.data(), b.data()) == doctest::Approx(dot_d(a, b)).epsilon(1e-5));
  std::vector<float> yv(b);
  kt.axpy_f32(37, 0.5f, a.data(), yv.data());
  for (int i = 0; i < 37; ++i) CHECK(yv[i] == b[i] + 0.5f * a[i]);
}

TEST_CASE("isa selection") {
  CHECK(isa_supported(Isa::Scalar));
  CHECK(std::string(isa_name(Isa::Avx512)) == "avx512");
  const Isa best = select_isa();
  CHECK(isa_supported(best));
  CHECK(kernel_table(best).isa == best);
  if (!isa_supported(Isa::Neon)) CHECK_THROWS_AS(kernel_table(Isa::Neon), UnsupportedError);
}

TEST_CASE("shared quantized GGUFs dequantize close to the f32 GGUF") {
  const std::string f32_path = test::model_path("tiny-dsv3/tiny-dsv3-f32.gguf");
  if (!std::filesystem::exists(f32_path)) {
    MESSAGE("shared models missing, skipped");
    return;
  }
  const auto ref = gguf::File::open(f32_path);
  struct Q { const char* file; double bound_q8, bound_q6, bound_q5, bound_q4; };
  for (const char* name : {"tiny-dsv3/tiny-dsv3-q4_k_m.gguf", "tiny-dsv3/tiny-dsv3-q8_0.gguf",
                           "tiny-dsv3/tiny-dsv3-q6_k.gguf", "tiny-dsv3/tiny-dsv3-q4_0.gguf",
                           "tiny-dsv2/tiny-dsv2-q8_0.gguf", "tiny-dsv2/tiny-dsv2-q6_k.gguf",
                           "tiny-dsv3/tiny-dsv3-bf16.gguf"}) {
    const std::string path = test::model_path(name);
    if (!std::filesystem::exists(path)) continue;
    const bool v2 = std::string(name).find("dsv2") != std::string::npos;
    const auto refv = v2 ? gguf::File::open(test::model_path("tiny-dsv2/tiny-dsv2-f32.gguf")) : ref;
    const auto qf = gguf::File::open(path);
    int compared = 0;
    double worst[kMaxTypeId] = {};
    for (const auto& ti : qf->tensors()) {
      const gguf::TensorInfo* rt = refv->find_tensor(ti.name);
      if (!rt || rt->type != 0 || rt->n_elements() != ti.n_elements()) continue;
      const TypeTraits* tt = find_type(ti.type);
      REQUIRE_MESSAGE(tt != nullptr, ti.name);
      std::vector<float> got(ti.n_elements());
      tt->dequantize_row(ti.data, got.data(), ti.n_elements());
      std::vector<float> want(rt->n_elements());
      std::memcpy(want.data(), rt->data, want.size() * 4);
      const double err = rel_rmse(want, got);
      CAPTURE(std::string(name));
      CAPTURE(ti.name);
      CAPTURE(std::string(tt->name));
      // Per-type bounds on the relative RMS error of trained weights (about 2x the gaussian round-trip bound;
      // the quantizer may have used an importance matrix, so these are not byte comparisons).
      CHECK(err <= 2 * roundtrip_bound(tt->type) + 1e-7);
      worst[ti.type] = std::max(worst[ti.type], err);
      ++compared;
    }
    std::string summary;
    for (uint32_t id = 0; id < kMaxTypeId; ++id)
      if (worst[id] > 0) summary += std::string(" ") + type_id_name(id) + "=" + std::to_string(worst[id]);
    MESSAGE(std::string(name) << ": " << compared << " tensors, worst rel rmse per type:" << summary);
    CHECK(compared > 10);
  }
}

TEST_CASE("reference quantizers reproduce llama.cpp's bytes on the shared files (types it quantized without imatrix)") {
  // llama-quantize without an importance matrix uses the reference algorithms of GGUF_DEEPSEEK.md §B.7 for these
  // types; re-quantizing the f32 tensor must give the stored bytes (measured: every Q8_0, Q4_0, Q5_0, Q4_K and Q6_K
  // tensor of the four tiny-dsv3 files and every Q8_0 tensor of the tiny-dsv2 files is byte-identical).
  // tiny-dsv2-q6_k.gguf's Q6_K tensors come from a different Q6_K quantizer (about 1 % lower error than the
  // reference, ~65 % of bytes differ): there only its Q8_0 tensors are required to match.
  for (const char* name : {"tiny-dsv3/tiny-dsv3-q8_0.gguf", "tiny-dsv3/tiny-dsv3-q4_0.gguf",
                           "tiny-dsv3/tiny-dsv3-q6_k.gguf", "tiny-dsv3/tiny-dsv3-q4_k_m.gguf",
                           "tiny-dsv2/tiny-dsv2-q8_0.gguf", "tiny-dsv2/tiny-dsv2-q6_k.gguf"}) {
    const bool other_q6k = std::string(name) == "tiny-dsv2/tiny-dsv2-q6_k.gguf";
    const std::string path = test::model_path(name);
    const std::string model = std::string(name).substr(0, std::string(name).find('/'));
    const std::string f32_path = test::model_path(model + "/" + model + "-f32.gguf");
    if (!std::filesystem::exists(path) || !std::filesystem::exists(f32_path)) continue;
    const auto ref = gguf::File::open(f32_path);
    const auto qf = gguf::File::open(path);
    int same[kMaxTypeId] = {}, total[kMaxTypeId] = {};
    for (const auto& ti : qf->tensors()) {
      const gguf::TensorInfo* rt = ref->find_tensor(ti.name);
      const TypeTraits* tt = find_type(ti.type);
      if (!rt || rt->type != 0 || !tt || tt->block_elems == 1 || rt->n_elements() != ti.n_elements()) continue;
      std::vector<float> x(rt->n_elements());
      std::memcpy(x.data(), rt->data, x.size() * 4);
      std::vector<uint8_t> q(ti.nbytes);
      REQUIRE(row_bytes(*tt, ti.n_elements()) == ti.nbytes);
      tt->quantize_row(x.data(), q.data(), ti.n_elements());
      ++total[ti.type];
      if (std::memcmp(q.data(), ti.data, ti.nbytes) == 0) ++same[ti.type];
    }
    std::string summary;
    for (uint32_t id = 0; id < kMaxTypeId; ++id)
      if (total[id]) summary += std::string(" ") + type_id_name(id) + " " + std::to_string(same[id]) + "/" + std::to_string(total[id]);
    MESSAGE(std::string(name) << ": byte-identical tensors:" << summary);
    // Every type in these files (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K) matches byte for byte.
    for (uint32_t id = 0; id < kMaxTypeId; ++id) {
      if (other_q6k && id == static_cast<uint32_t>(DType::Q6_K)) continue;
      CAPTURE(std::string(type_id_name(id)));
      CHECK(same[id] == total[id]);
    }
  }
}
