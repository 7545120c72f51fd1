// gemm() backends against the scalar path: weights quantized with the reference quantizer, dequantized to f32, and
// multiplied in double. Error measure: max |Y - Yref| / max |Yref| over the whole output.
// Tolerances: sgemm 1e-5 (f32 math on exactly dequantized weights); bf16 1e-2 (8-bit mantissa on W and X);
// int8 2e-2 (W requantized per row to s8, X per row to s8); rows 2e-2 (X quantized to Q8_0/Q8_K per block).
// Measured worst cases (2 threads, AVX-512 table): sgemm 7e-7, bf16 2.9e-3, int8 1.3e-2, rows 1.0e-2.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "quant/kernels.h"
#include "quant/types.h"
#include "formats/error.h"
#include "runtime/compute/gemm.h"
#include "runtime/compute/threads.h"

using namespace latte;

namespace {

struct QuantWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // [m][k] exact dequantized values
  TensorView view;
};

QuantWeight make_weight(DType t, int64_t m, int64_t k, uint32_t seed) {
  const TypeTraits& tt = type_traits(t);
  QuantWeight w;
  const size_t rb = row_bytes(tt, k);
  w.bytes.resize(rb * static_cast<size_t>(m));
  w.deq.resize(static_cast<size_t>(m * k));
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < m; ++r) {
    for (auto& v : row) v = nd(rng);
    tt.quantize_row(row.data(), w.bytes.data() + rb * static_cast<size_t>(r), k);
    tt.dequantize_row(w.bytes.data() + rb * static_cast<size_t>(r), w.deq.data() + r * k, k);
  }
  w.view.tt = &tt;
  w.view.ne[0] = k;
  w.view.ne[1] = m;
  w.view.nb1 = rb;
  w.view.nb2 = rb * static_cast<size_t>(m);
  w.view.data = w.bytes.data();
  w.view.name = "test_weight";
  return w;
}

std::vector<float> make_x(int64_t n, int64_t ld, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n * ld));
  for (auto& v : x) v = nd(rng);
  return x;
}

std::vector<double> reference(const QuantWeight& w, const float* X, int64_t ldx, int64_t n) {
  const int64_t k = w.view.ne[0], m = w.view.ne[1];
  std::vector<double> y(static_cast<size_t>(n * m));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < m; ++j) {
      double s = 0.0;
      const float* wr = w.deq.data() + j * k;
      for (int64_t c = 0; c < k; ++c) s += static_cast<double>(X[t * ldx + c]) * wr[c];
      y[static_cast<size_t>(t * m + j)] = s;
    }
  return y;
}

double rel_err(const std::vector<double>& ref, const float* Y, int64_t ldy, int64_t n, int64_t m) {
  double emax = 0.0, rmax = 0.0;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < m; ++j) {
      const double r = ref[static_cast<size_t>(t * m + j)];
      emax = std::max(emax, std::fabs(r - static_cast<double>(Y[t * ldy + j])));
      rmax = std::max(rmax, std::fabs(r));
    }
  return emax / std::max(rmax, 1e-30);
}

double tolerance(GemmBackend b) {
  switch (b) {
    case GemmBackend::Sgemm: return 1e-5;
    case GemmBackend::OnednnBf16: return 1e-2;
    case GemmBackend::OnednnInt8: return 2e-2;
    default: return 2e-2;
  }
}

}  // namespace

TEST_CASE("gemm backends match the scalar path on odd shapes") {
  ThreadPool pool(2);
  const KernelTable& kt = kernel_table(select_isa());
  struct Shape { DType t; int64_t m, k; };
  // m = 300 spans two conversion tiles (256 rows); k multiples of the block (256 for K-quants, 32 otherwise).
  const Shape shapes[] = {{DType::Q4_K, 300, 512}, {DType::Q8_0, 96, 320}, {DType::Q5_0, 300, 224},
                          {DType::Q6_K, 40, 256}, {DType::F32, 48, 96}};
  const GemmBackend backends[] = {GemmBackend::Rows, GemmBackend::Sgemm, GemmBackend::OnednnBf16,
                                  GemmBackend::OnednnInt8};
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    const QuantWeight w = make_weight(s.t, s.m, s.k, seed++);
    for (int64_t n : {1, 7, 64, 300}) {
      const auto X = make_x(n, s.k, seed++);
      const auto ref = reference(w, X.data(), s.k, n);
      for (bool cache : {false, true}) {
        GemmContext ctx(kt, pool, cache);
        for (GemmBackend b : backends) {
          if (cache && b == GemmBackend::Rows) continue;
          std::vector<float> Y(static_cast<size_t>(n * s.m), NAN);
          gemm(w.view, X.data(), n, Y.data(), ctx, {0, 0, b});
          const double e = rel_err(ref, Y.data(), s.m, n, s.m);
          INFO("type " << std::string(type_traits(s.t).name) << " m=" << s.m << " k=" << s.k << " n=" << n << " backend "
                       << std::string(gemm_backend_name(b)) << " cache=" << cache << " rel err " << e);
          CHECK(e <= tolerance(b));
        }
        if (cache) CHECK(ctx.cache_bytes() > 0);
      }
    }
  }
}

TEST_CASE("gemm honours ldx / ldy and leaves the gaps alone") {
  ThreadPool pool(2);
  GemmContext ctx(kernel_table(select_isa()), pool);
  const QuantWeight w = make_weight(DType::Q4_K, 72, 256, 99);
  const int64_t n = 9, ldx = 300, ldy = 80;
  const auto X = make_x(n, ldx, 5);
  const auto ref = reference(w, X.data(), ldx, n);
  for (GemmBackend b : {GemmBackend::Auto, GemmBackend::Rows, GemmBackend::Sgemm, GemmBackend::OnednnBf16,
                        GemmBackend::OnednnInt8}) {
    std::vector<float> Y(static_cast<size_t>(n * ldy), 12345.0f);
    gemm(w.view, X.data(), n, Y.data(), ctx, {ldx, ldy, b});
    INFO("backend " << std::string(gemm_backend_name(b)));
    CHECK(rel_err(ref, Y.data(), ldy, n, 72) <= tolerance(b));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 72; j < ldy; ++j) CHECK(Y[static_cast<size_t>(t * ldy + j)] == 12345.0f);
  }
}

TEST_CASE("gemm rejects bad shapes and parses backend names") {
  ThreadPool pool(1);
  GemmContext ctx(kernel_table(Isa::Scalar), pool);
  QuantWeight w = make_weight(DType::Q8_0, 4, 64, 3);
  std::vector<float> X(64 * 2), Y(8);
  TensorView bad = w.view;
  bad.ne[0] = 48;  // not a multiple of 32
  CHECK_THROWS_AS(gemm(bad, X.data(), 2, Y.data(), ctx), ArgumentError);
  CHECK_THROWS_AS(gemm(w.view, X.data(), 2, Y.data(), ctx, {32, 0, GemmBackend::Rows}), ArgumentError);
  GemmBackend b;
  CHECK(parse_gemm_backend("bf16", b));
  CHECK(b == GemmBackend::OnednnBf16);
  CHECK_FALSE(parse_gemm_backend("amx", b));
  // The table: tiny weights always go to the quantized kernels; one row to the quantized kernels; F32 weights never
  // to a reduced-precision backend; large n to bf16, or int8 where allowed.
  if (!std::getenv("LATTE_GEMM") && !std::getenv("LATTE_GEMM_INT8")) {
    CHECK(ctx.choose(DType::Q4_K, 512, 16, 256) == GemmBackend::Rows);
    CHECK(ctx.choose(DType::Q4_K, 1, 1408, 2048) == GemmBackend::Rows);
    CHECK(ctx.choose(DType::F32, 512, 64, 2048) == GemmBackend::Sgemm);
    CHECK(ctx.choose(DType::F32, 1, 64, 2048) == GemmBackend::Rows);
    CHECK(ctx.choose(DType::Q6_K, 512, 1408, 2048) == GemmBackend::OnednnBf16);  // int8 is opt-in
    ctx.set_allow_int8(true);
    CHECK(ctx.choose(DType::Q6_K, 512, 1408, 2048) == GemmBackend::OnednnInt8);
    CHECK(ctx.choose(DType::Q4_K, 48, 1408, 2048) == GemmBackend::Rows);  // tile kernels below int8's threshold
    CHECK(ctx.choose_no_int8(DType::Q8_0, 512, 1408, 2048) == GemmBackend::OnednnBf16);
    CHECK(ctx.choose(DType::F32, 512, 1408, 2048) == GemmBackend::Sgemm);
  }
}
