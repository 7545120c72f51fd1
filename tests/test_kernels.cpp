// Every SIMD kernel against the scalar kernel table, on every ISA this machine supports (isa_supported), with odd
// row counts, short rows and float tails. Tolerances: quantized types sum exact integer block products, so the
// only difference is f32 summation order: |simd - scalar| <= 2e-5 * sum_i |w_i a_i| (dequantized); float types
// (F32/F16/BF16, dot_f32) <= 1e-5 * sum |w_i a_i| * sqrt-ish factor, taken as 1e-4. Activation quantizers
// (Q8_0, Q8_K) must be byte-identical to the scalar reference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/kernels.h"
#include "quant/types.h"
#include "formats/error.h"

using namespace latte;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

std::vector<Isa> simd_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) v.push_back(isa);
  return v;
}

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0,   DType::Q4_1,  DType::Q5_0,
                              DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,   DType::Q4_K,  DType::Q5_K,
                              DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4, DType::IQ2_XXS,
                              DType::IQ3_XXS, DType::IQ1_S};

// Byte offsets of the fp16 scale fields of each block type (random-byte blocks get finite scales there).
std::vector<size_t> fp16_fields(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: case DType::IQ4_NL: case DType::IQ4_XS: return {0};
    case DType::IQ2_XXS: case DType::IQ3_XXS: case DType::IQ1_S: return {0};  // grid indices: every byte valid
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q6_K: return {208};
    default: return {};
  }
}

// nrows rows of n elements of type t: even rows from the reference quantizer (gaussian data), odd rows random
// bytes (every bit pattern of the quant fields) with finite fp16 scales.
std::vector<uint8_t> make_rows(DType t, int64_t n, int64_t nrows, uint32_t seed) {
  const TypeTraits& tt = type_traits(t);
  const size_t rb = row_bytes(t, n);
  std::vector<uint8_t> w(rb * nrows);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> ud(-0.02f, 0.02f);
  for (int64_t r = 0; r < nrows; ++r) {
    uint8_t* row = w.data() + r * rb;
    const auto x = gaussian(n, seed * 31 + r);
    if (r % 2 == 0 || (fp16_fields(t).empty() && t != DType::MXFP4)) {
      tt.quantize_row(x.data(), row, n);
    } else {
      for (size_t i = 0; i < rb; ++i) row[i] = static_cast<uint8_t>(rng());
      for (int64_t b = 0; b < n / tt.block_elems; ++b)
        for (size_t off : fp16_fields(t)) {
          const uint16_t h = f32_to_fp16(ud(rng));
          std::memcpy(row + b * tt.block_bytes + off, &h, 2);
        }
      if (t == DType::MXFP4)  // E8M0 byte: scales 2^-12 .. 2^3 (every code pattern, finite products)
        for (int64_t b = 0; b < n / tt.block_elems; ++b) row[b * tt.block_bytes] = static_cast<uint8_t>(116 + rng() % 16);
    }
  }
  return w;
}

double abs_dot(DType wt, const uint8_t* w, DType at, const uint8_t* a, int64_t n) {
  std::vector<float> wd(n), ad(n);
  type_traits(wt).dequantize_row(w, wd.data(), n);
  type_traits(at).dequantize_row(a, ad.data(), n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(double(wd[i]) * ad[i]);
  return s;
}

}  // namespace

TEST_CASE("SIMD tables exist for every supported ISA and fill every entry the scalar table has") {
  const KernelTable& ref = kernel_table(Isa::Scalar);
  for (Isa isa : simd_isas()) {
    CAPTURE(std::string(isa_name(isa)));
    const KernelTable& kt = kernel_table(isa);
    CHECK(kt.isa == isa);
    for (uint32_t id = 0; id < kMaxTypeId; ++id) {
      CHECK(bool(kt.vec_dot[id]) == bool(ref.vec_dot[id]));
      CHECK(bool(kt.gemv[id]) == bool(ref.gemv[id]));
      CHECK(bool(kt.quantize_act[id]) == bool(ref.quantize_act[id]));
    }
    CHECK(bool(kt.dot_f32));
    CHECK(bool(kt.axpy_f32));
  }
  MESSAGE("SIMD ISAs tested here: " << simd_isas().size());
}

TEST_CASE("gemv and vec_dot match the scalar path (all weight types, odd rows, short rows)") {
  const KernelTable& ref = kernel_table(Isa::Scalar);
  for (Isa isa : simd_isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (DType t : kWeightTypes) {
      const TypeTraits& tt = type_traits(t);
      const DType at = tt.vec_dot_type;
      const bool is_float = tt.block_elems == 1;
      const int64_t blk = std::max<int64_t>(tt.block_elems, type_traits(at).block_elems);
      std::vector<int64_t> lengths = {blk, 3 * blk, 7 * blk, 2048};
      if (is_float) lengths = {1, 7, 15, 16, 17, 33, 63, 64, 65, 100, 1000, 2048};
      for (int64_t n : lengths) {
        CAPTURE(std::string(isa_name(isa)));
        CAPTURE(std::string(tt.name));
        CAPTURE(n);
        const int64_t nrows = 5;
        const auto w = make_rows(t, n, nrows, static_cast<uint32_t>(n) + static_cast<uint32_t>(t) * 1000);
        const auto x = gaussian(n, 99 + static_cast<uint32_t>(n), 2.f);
        std::vector<uint8_t> act(row_bytes(at, n));
        ref.quantize_act[static_cast<uint32_t>(at)](x.data(), act.data(), n);
        const size_t rb = row_bytes(t, n);
        std::vector<float> y_ref(nrows), y(nrows, -1.f);
        ref.gemv[static_cast<uint32_t>(t)](n, w.data(), rb, act.data(), y_ref.data(), nrows);
        kt.gemv[static_cast<uint32_t>(t)](n, w.data(), rb, act.data(), y.data(), nrows);
        const double rel = is_float ? 1e-4 : 2e-5;
        for (int64_t r = 0; r < nrows; ++r) {
          CAPTURE(r);
          const double scale = abs_dot(t, w.data() + r * rb, at, act.data(), n);
          CHECK(std::fabs(double(y[r]) - y_ref[r]) <= rel * scale + 1e-6);
          const float v = kt.vec_dot[static_cast<uint32_t>(t)](n, w.data() + r * rb, act.data());
          CHECK(std::fabs(double(v) - y_ref[r]) <= rel * scale + 1e-6);
        }
      }
    }
  }
}

TEST_CASE("gemv honours a row stride larger than the row (9 rows, padded)") {
  const KernelTable& ref = kernel_table(Isa::Scalar);
  for (Isa isa : simd_isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (DType t : kWeightTypes) {
      CAPTURE(std::string(isa_name(isa)));
      CAPTURE(std::string(type_traits(t).name));
      const TypeTraits& tt = type_traits(t);
      const DType at = tt.vec_dot_type;
      const int64_t n = 512, nrows = 9;
      const size_t rb = row_bytes(t, n), stride = rb + 72;
      const auto packed = make_rows(t, n, nrows, 7 + static_cast<uint32_t>(t));
      std::vector<uint8_t> w(stride * nrows, 0xEE);  // padding bytes would poison a wrong stride
      for (int64_t r = 0; r < nrows; ++r) std::memcpy(w.data() + r * stride, packed.data() + r * rb, rb);
      const auto x = gaussian(n, 3);
      std::vector<uint8_t> act(row_bytes(at, n));
      ref.quantize_act[static_cast<uint32_t>(at)](x.data(), act.data(), n);
      std::vector<float> y_ref(nrows), y(nrows);
      ref.gemv[static_cast<uint32_t>(t)](n, packed.data(), rb, act.data(), y_ref.data(), nrows);
      kt.gemv[static_cast<uint32_t>(t)](n, w.data(), stride, act.data(), y.data(), nrows);
      for (int64_t r = 0; r < nrows; ++r) {
        const double scale = abs_dot(t, packed.data() + r * rb, at, act.data(), n);
        CHECK(std::fabs(double(y[r]) - y_ref[r]) <= (tt.block_elems == 1 ? 1e-4 : 2e-5) * scale + 1e-6);
      }
    }
  }
}

TEST_CASE("multi-row gemv: every row count 1..17, long rows, padded strides, row offsets (quantized types)") {
  // Multi-row kernels (4/2/1-row groups) must give each row its own result for any nrows and stride.
  const KernelTable& ref = kernel_table(Isa::Scalar);
  for (Isa isa : simd_isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (DType t : kWeightTypes) {
      const TypeTraits& tt = type_traits(t);
      if (tt.block_elems == 1) continue;
      const DType at = tt.vec_dot_type;
      for (int64_t n : {int64_t(256), int64_t(1280), int64_t(2048), int64_t(4352), int64_t(17152)}) {
        for (size_t pad : {size_t(0), size_t(40)}) {
          CAPTURE(std::string(isa_name(isa)));
          CAPTURE(std::string(tt.name));
          CAPTURE(n);
          CAPTURE(pad);
          const int64_t maxrows = 17;
          const size_t rb = row_bytes(t, n), stride = rb + pad;
          const auto packed = make_rows(t, n, maxrows, 1000 + static_cast<uint32_t>(n) + static_cast<uint32_t>(t));
          std::vector<uint8_t> w(stride * maxrows, 0xEE);
          for (int64_t r = 0; r < maxrows; ++r) std::memcpy(w.data() + r * stride, packed.data() + r * rb, rb);
          const auto x = gaussian(n, 17 + static_cast<uint32_t>(n), 1.5f);
          std::vector<uint8_t> act(row_bytes(at, n));
          ref.quantize_act[static_cast<uint32_t>(at)](x.data(), act.data(), n);
          std::vector<float> y_ref(maxrows);
          std::vector<double> scale(maxrows);
          for (int64_t r = 0; r < maxrows; ++r) {
            y_ref[r] = ref.vec_dot[static_cast<uint32_t>(t)](n, packed.data() + r * rb, act.data());
            scale[r] = abs_dot(t, packed.data() + r * rb, at, act.data(), n);
          }
          for (int64_t first : {int64_t(0), int64_t(3)}) {
            for (int64_t nrows = 1; first + nrows <= maxrows; ++nrows) {
              CAPTURE(first);
              CAPTURE(nrows);
              std::vector<float> y(nrows + 1, -7.f);
              kt.gemv[static_cast<uint32_t>(t)](n, w.data() + first * stride, stride, act.data(), y.data(), nrows);
              for (int64_t r = 0; r < nrows; ++r) {
                CAPTURE(r);
                CHECK(std::fabs(double(y[r]) - y_ref[first + r]) <= 2e-5 * scale[first + r] + 1e-6);
              }
              CHECK(y[nrows] == -7.f);  // no write past nrows
            }
          }
        }
      }
    }
  }
}

TEST_CASE("activation quantizers are byte-identical to the scalar reference") {
  const KernelTable& ref = kernel_table(Isa::Scalar);
  for (Isa isa : simd_isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (DType at : {DType::Q8_0, DType::Q8_1, DType::Q8_K, DType::F32, DType::F16, DType::BF16}) {
      CAPTURE(std::string(isa_name(isa)));
      CAPTURE(std::string(type_traits(at).name));
      const int64_t n = 1024;
      auto x = gaussian(n, 5, 3.f);
      // ties for round-half-away: block 0 has amax 127 -> d = 1, id = 1, so x.5 values are exact ties
      x[0] = 127.f;
      for (int j = 1; j < 32; ++j) x[j] = (j % 2 ? 1.f : -1.f) * (0.5f + j);
      // equal magnitudes of opposite sign: the first one fixes the Q8_K scale's sign
      x[256] = -9.f;
      x[300] = 9.f;
      for (int j = 512; j < 768; ++j) x[j] = 0.f;  // an all-zero Q8_K block
      std::vector<uint8_t> a(row_bytes(at, n)), b(row_bytes(at, n));
      ref.quantize_act[static_cast<uint32_t>(at)](x.data(), a.data(), n);
      kt.quantize_act[static_cast<uint32_t>(at)](x.data(), b.data(), n);
      CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
    }
  }
}

TEST_CASE("dot_f32 and axpy_f32 match the scalar path with tails") {
  const KernelTable& ref = kernel_table(Isa::Scalar);
  for (Isa isa : simd_isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (int64_t n : {0, 1, 3, 8, 15, 16, 17, 31, 64, 127, 1000}) {
      CAPTURE(std::string(isa_name(isa)));
      CAPTURE(n);
      const auto a = gaussian(n, 1), b = gaussian(n, 2);
      double scale = 0;
      for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(a[i]) * b[i]);
      CHECK(std::fabs(kt.dot_f32(n, a.data(), b.data()) - ref.dot_f32(n, a.data(), b.data())) <= 1e-5 * scale + 1e-7);
      std::vector<float> y1(b), y2(b);
      ref.axpy_f32(n, 0.37f, a.data(), y1.data());
      kt.axpy_f32(n, 0.37f, a.data(), y2.data());
      for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y1[i] - y2[i]) <= 1e-6f * (std::fabs(y1[i]) + 1.f));
    }
  }
}

TEST_CASE("LATTE_ISA override") {
  const char* old = std::getenv("LATTE_ISA");
  const std::string saved = old ? old : "";
  setenv("LATTE_ISA", "scalar", 1);
  CHECK(select_isa() == Isa::Scalar);
  setenv("LATTE_ISA", "pentium", 1);
  CHECK_THROWS_AS(select_isa(), ArgumentError);
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    setenv("LATTE_ISA", isa_name(isa), 1);
    if (isa_supported(isa)) CHECK(select_isa() == isa);
    else CHECK_THROWS_AS(select_isa(), ArgumentError);
  }
  if (old) setenv("LATTE_ISA", saved.c_str(), 1);
  else unsetenv("LATTE_ISA");
}

TEST_CASE("gemm_tile matches the scalar vec_dot (every registered type, rows 1..17, tokens 1..20, 48, 100)") {
  // Tile kernels (multi-token) must give y[t*ldy + r] = dot(row r, act row t) for any nrows / ntok, padded
  // weight and activation strides and ldy > nrows, and write nothing else.
  const KernelTable& ref = kernel_table(Isa::Scalar);
  int tested = 0;
  for (Isa isa : simd_isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (DType t : kWeightTypes) {
      const GemmTileFn tile = kt.gemm_tile[static_cast<uint32_t>(t)];
      if (!tile) continue;
      const TypeTraits& tt = type_traits(t);
      const DType at = tt.vec_dot_type;
      std::vector<int64_t> ns = {256, 768, 2048, 2304};
      if (tt.block_elems == 32) ns = {32, 96, 256, 800, 1408, 2048};
      for (int64_t n : ns) {
        CAPTURE(std::string(isa_name(isa)));
        CAPTURE(std::string(tt.name));
        CAPTURE(n);
        ++tested;
        const int64_t maxrows = 17, maxtok = 100, ldy = 19;
        const size_t rb = row_bytes(t, n), ws = rb + 40;
        const size_t arb = row_bytes(at, n), as = arb + 68;
        const auto packed = make_rows(t, n, maxrows, 2000 + static_cast<uint32_t>(n) + static_cast<uint32_t>(t));
        std::vector<uint8_t> w(ws * maxrows, 0xEE);
        for (int64_t r = 0; r < maxrows; ++r) std::memcpy(w.data() + r * ws, packed.data() + r * rb, rb);
        std::vector<uint8_t> act(as * maxtok, 0xEE);
        for (int64_t k = 0; k < maxtok; ++k) {
          const auto x = gaussian(n, 77 + static_cast<uint32_t>(n * 3 + k), k % 5 == 0 ? 4.f : 1.f);
          ref.quantize_act[static_cast<uint32_t>(at)](x.data(), act.data() + k * as, n);
        }
        std::vector<float> y_ref(maxrows * maxtok);
        std::vector<double> scale(maxrows * maxtok);
        for (int64_t k = 0; k < maxtok; ++k)
          for (int64_t r = 0; r < maxrows; ++r) {
            y_ref[k * maxrows + r] = ref.vec_dot[static_cast<uint32_t>(t)](n, packed.data() + r * rb, act.data() + k * as);
            scale[k * maxrows + r] = abs_dot(t, packed.data() + r * rb, at, act.data() + k * as, n);
          }
        std::vector<int64_t> toks;
        for (int64_t k = 1; k <= 20; ++k) toks.push_back(k);
        toks.push_back(48);
        toks.push_back(100);  // more than one token chunk where rows are short
        int bad = 0;
        for (int64_t nrows = 1; nrows <= maxrows; ++nrows) {
          for (int64_t ntok : toks) {
            if (ntok == 100 && nrows % 4 != 1) continue;
            std::vector<float> y(static_cast<size_t>(ldy * ntok), -7.f);
            tile(n, w.data(), ws, act.data(), as, y.data(), ldy, nrows, ntok);
            for (int64_t k = 0; k < ntok; ++k)
              for (int64_t r = 0; r < ldy; ++r) {
                const float got = y[k * ldy + r];
                const bool ok = r < nrows ? std::fabs(double(got) - y_ref[k * maxrows + r]) <=
                                                2e-5 * scale[k * maxrows + r] + 1e-6
                                          : got == -7.f;
                if (!ok && bad++ < 5) {
                  CAPTURE(nrows);
                  CAPTURE(ntok);
                  CAPTURE(k);
                  CAPTURE(r);
                  CHECK(got == doctest::Approx(r < nrows ? y_ref[k * maxrows + r] : -7.f));
                }
              }
          }
        }
        CHECK(bad == 0);
      }
    }
  }
  MESSAGE("gemm_tile cases tested: " << tested);
}
