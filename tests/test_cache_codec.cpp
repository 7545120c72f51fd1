// Latent-cache codecs (runtime/cache/cache_codec.h) and the Hadamard rotation (quant/hadamard.h): encode/decode error
// bounds per type, SIMD decode == scalar decode, and cache_attention over encoded rows vs double-precision math on
// the decoded rows (so the only allowed difference is f32 summation order).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "quant/hadamard.h"
#include "runtime/cache/cache_codec.h"
#include "runtime/compute/threads.h"

using namespace latte;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float outlier_every = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = nd(rng);
  if (outlier_every > 0.0f)  // a few channels 8x larger, like real latents
    for (size_t i = 0; i < n; i += static_cast<size_t>(outlier_every)) v[i] *= 8.0f;
  return v;
}

const CacheType kTypes[] = {CacheType::F32, CacheType::F16, CacheType::BF16, CacheType::Q8_0, CacheType::Q4_H};

}  // namespace

TEST_CASE("hadamard transform is orthonormal and its own inverse") {
  // Explicit H_8 / sqrt(8): entry (i, j) = (-1)^popcount(i & j) / sqrt(8).
  std::vector<float> x = gaussian(8, 1);
  std::vector<float> y = x;
  hadamard_transform(y.data(), 8);
  for (int i = 0; i < 8; ++i) {
    double s = 0.0;
    for (int j = 0; j < 8; ++j) s += ((__builtin_popcount(i & j) & 1) ? -1.0 : 1.0) * x[j];
    CHECK(y[i] == doctest::Approx(s / std::sqrt(8.0)).epsilon(1e-5));
  }
  for (int64_t n : {1, 2, 64, 512}) {
    std::vector<float> a = gaussian(static_cast<size_t>(n), 2), b = gaussian(static_cast<size_t>(n), 3);
    double dot = 0.0;
    for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(a[i]) * b[i];
    std::vector<float> ha = a, hb = b;
    hadamard_transform(ha.data(), n);
    hadamard_transform(hb.data(), n);
    double hdot = 0.0;
    for (int64_t i = 0; i < n; ++i) hdot += static_cast<double>(ha[i]) * hb[i];
    CHECK(hdot == doctest::Approx(dot).epsilon(1e-4).scale(1.0));
    hadamard_transform(ha.data(), n);
    for (int64_t i = 0; i < n; ++i) CHECK(ha[i] == doctest::Approx(a[i]).epsilon(1e-5).scale(1.0));
  }
  CHECK(hadamard_block(512) == 512);
  CHECK(hadamard_block(96) == 32);
  CHECK(hadamard_block(64) == 64);
}

TEST_CASE("cache codec sizes") {
  // Tiny models: Nkv 64, R 16. V2-Lite: Nkv 512, R 64.
  CHECK(CacheCodec(CacheType::F32, 64, 16).row_bytes() == 320);
  CHECK(CacheCodec(CacheType::F16, 64, 16).row_bytes() == 160);
  CHECK(CacheCodec(CacheType::BF16, 64, 16).row_bytes() == 160);
  CHECK(CacheCodec(CacheType::Q8_0, 64, 16).row_bytes() == 100);
  CHECK(CacheCodec(CacheType::Q4_H, 64, 16).row_bytes() == 54);
  CHECK(CacheCodec(CacheType::Q8_0, 512, 64).row_bytes() == 672);
  CHECK(CacheCodec(CacheType::Q4_H, 512, 64).row_bytes() == 354);
  CHECK(CacheCodec(CacheType::Q4_H, 512, 64).row_bytes() <= 0.55 * 672);
  CHECK(CacheCodec(CacheType::Q4_H, 64, 16).row_bytes() <= 0.55 * 100);
  CHECK_THROWS(CacheCodec(CacheType::Q8_0, 48, 16));
  CHECK_THROWS(CacheCodec(CacheType::Q4_H, 40, 16));
  CHECK_NOTHROW(CacheCodec(CacheType::F16, 40, 16));
}

TEST_CASE("cache codec encode/decode error bounds") {
  for (int64_t nkv : {64, 512}) {
    const int64_t R = nkv == 64 ? 16 : 64, W = nkv + R;
    for (CacheType t : kTypes) {
      CAPTURE(nkv);
      const std::string tname = cache_type_name(t);
        CAPTURE(tname);
      const CacheCodec c(t, nkv, R);
      const int rows = 64;
      double err2 = 0.0, ref2 = 0.0, max_rel_pe = 0.0;
      for (int r = 0; r < rows; ++r) {
        std::vector<float> v = gaussian(static_cast<size_t>(W), 100 + r, 13.0f);
        std::vector<uint8_t> buf(c.row_bytes());
        c.encode(v.data(), v.data() + nkv, buf.data());
        std::vector<float> d(static_cast<size_t>(W));
        c.decode(buf.data(), d.data());
        float amax_pe = 0.0f;
        for (int64_t i = nkv; i < W; ++i) amax_pe = std::max(amax_pe, std::fabs(v[i]));
        for (int64_t i = 0; i < nkv; ++i) {
          err2 += (d[i] - v[i]) * static_cast<double>(d[i] - v[i]);
          ref2 += v[i] * static_cast<double>(v[i]);
        }
        for (int64_t i = nkv; i < W; ++i) max_rel_pe = std::max(max_rel_pe, std::fabs(d[i] - v[i]) / double(amax_pe));
        // SIMD and scalar decoders agree exactly.
        const CacheCodec cs(t, nkv, R, /*simd=*/false);
        std::vector<float> d2(static_cast<size_t>(W));
        cs.decode(buf.data(), d2.data());
        for (int64_t i = 0; i < W; ++i) REQUIRE(d2[i] == d[i]);
      }
      const double rel = std::sqrt(err2 / ref2);
      // Relative RMS error of c_kv, and worst k_pe error relative to the row's largest k_pe value.
      const double bound = t == CacheType::F32 ? 0.0 : t == CacheType::F16 ? 5e-4 : t == CacheType::BF16 ? 4e-3
                         : t == CacheType::Q8_0 ? 1.5e-2 : 0.10;
      const double pe_bound = t == CacheType::F32 ? 0.0 : t == CacheType::BF16 ? 4e-3 : t == CacheType::Q4_H ? 4.1e-3 : 1e-3;
      CHECK(rel <= bound);
      CHECK(max_rel_pe <= pe_bound);
    }
  }
}

TEST_CASE("cache_attention matches f32 attention over the decoded rows") {
  ThreadPool pool(2);
  for (int64_t nkv : {64, 512}) {
    const int64_t R = nkv == 64 ? 16 : 64, W = nkv + R, H = 4, n_rows = 300, n_tok = 3;
    for (CacheType t : kTypes) {
      for (bool simd : {true, false}) {
        CAPTURE(nkv);
        const std::string tname = cache_type_name(t);
        CAPTURE(tname);
        CAPTURE(simd);
        const CacheCodec c(t, nkv, R, simd);
        std::vector<uint8_t> rows(c.row_bytes() * n_rows);
        std::vector<float> dec(static_cast<size_t>(n_rows * W));
        for (int64_t j = 0; j < n_rows; ++j) {
          std::vector<float> v = gaussian(static_cast<size_t>(W), 1000 + static_cast<uint32_t>(j), 17.0f);
          c.encode(v.data(), v.data() + nkv, rows.data() + j * c.row_bytes());
          c.decode(rows.data() + j * c.row_bytes(), dec.data() + j * W);
        }
        // Queries: n_tok tokens x H heads, token t sees rows [0, n_rows - n_tok + t + 1).
        const int64_t nq = n_tok * H;
        std::vector<float> q = gaussian(static_cast<size_t>(nq * W), 7);
        std::vector<int64_t> lim(static_cast<size_t>(nq));
        for (int64_t i = 0; i < nq; ++i) lim[i] = n_rows - n_tok + i / H + 1;
        const float scale = 0.1f;
        std::vector<float> out(static_cast<size_t>(nq * nkv));
        CacheAttnScratch s;
        cache_attention(c, rows.data(), q.data(), lim.data(), nq, scale, out.data(), s, simd ? &pool : nullptr);
        double max_err = 0.0, max_ref = 0.0;
        for (int64_t i = 0; i < nq; ++i) {
          std::vector<double> sc(static_cast<size_t>(lim[i]));
          double m = -1e300;
          for (int64_t j = 0; j < lim[i]; ++j) {
            double d = 0.0;
            for (int64_t k = 0; k < W; ++k) d += static_cast<double>(q[i * W + k]) * dec[j * W + k];
            sc[j] = scale * d;
            m = std::max(m, sc[j]);
          }
          double sum = 0.0;
          for (auto& x : sc) sum += (x = std::exp(x - m));
          for (int64_t k = 0; k < nkv; ++k) {
            double o = 0.0;
            for (int64_t j = 0; j < lim[i]; ++j) o += sc[j] / sum * dec[j * W + k];
            max_err = std::max(max_err, std::fabs(o - out[i * nkv + k]));
            max_ref = std::max(max_ref, std::fabs(o));
          }
        }
        CHECK(max_err <= 2e-4 * max_ref + 1e-5);
      }
    }
  }
}

TEST_CASE("encode_kpe rewrites only k_pe") {
  for (CacheType t : kTypes) {
    const std::string tname = cache_type_name(t);
    CAPTURE(tname);
    const CacheCodec c(t, 64, 16);
    std::vector<float> v = gaussian(80, 5), k2 = gaussian(16, 6);
    std::vector<uint8_t> row(c.row_bytes());
    c.encode(v.data(), v.data() + 64, row.data());
    std::vector<uint8_t> before = row;
    c.encode_kpe(k2.data(), row.data());
    std::vector<float> d(80), d0(80);
    c.decode(row.data(), d.data());
    c.decode(before.data(), d0.data());
    for (int i = 0; i < 64; ++i) CHECK(d[i] == d0[i]);  // c_kv untouched
    for (int i = 0; i < 16; ++i) CHECK(d[64 + i] == doctest::Approx(k2[i]).epsilon(2e-2).scale(1.0));
  }
}
