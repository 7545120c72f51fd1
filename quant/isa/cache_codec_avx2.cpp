// AVX2 kernels of the latent-cache codec (see cache_codec_x86.h). Compiled with -mavx2 -mfma -mf16c.
#if defined(__x86_64__) || defined(_M_X64)
#include "quant/isa/cache_codec_x86.h"

#include <immintrin.h>

#include <cstring>

namespace latte::cc_avx2 {
namespace {

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

void decode_f16(const uint16_t* src, int64_t n, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    _mm256_storeu_ps(dst + k, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k))));
  for (; k < n; ++k) dst[k] = _cvtsh_ss(src[k]);
}

void decode_bf16(const uint16_t* src, int64_t n, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k)));
    _mm256_storeu_ps(dst + k, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; k < n; ++k) {
    const uint32_t u = static_cast<uint32_t>(src[k]) << 16;
    std::memcpy(dst + k, &u, 4);
  }
}

void decode_q8(const uint8_t* blocks, int64_t nb, float* dst) {
  for (int64_t b = 0; b < nb; ++b, blocks += 34, dst += 32) {
    const __m256 d = _mm256_set1_ps(half(blocks));
    const uint8_t* q = blocks + 2;
    for (int j = 0; j < 4; ++j) {
      const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 8 * j));
      _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
    }
  }
}

void decode_q4(const uint8_t* blocks, int64_t nb, float* dst) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t b = 0; b < nb; ++b, blocks += 18, dst += 32) {
    const __m256 d = _mm256_set1_ps(half(blocks));
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 2));
    const __m128i lo = _mm_and_si128(raw, mask);                     // values 0..15
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);  // values 16..31
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int j = 0; j < 4; ++j) {
      const __m256i w = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[j]), eight);
      _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(w)));
    }
  }
}

void dot_multi(const float* row, int64_t n, const float* q, int64_t qstride, int64_t nq, float* out) {
  const int64_t n8 = n & ~int64_t{7};
  int64_t i = 0;
  for (; i + 4 <= nq; i += 4) {  // four queries share each row load
    const float* q0 = q + i * qstride;
    const float* q1 = q0 + qstride;
    const float* q2 = q1 + qstride;
    const float* q3 = q2 + qstride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t k = 0; k < n8; k += 8) {
      const __m256 r = _mm256_loadu_ps(row + k);
      a0 = _mm256_fmadd_ps(r, _mm256_loadu_ps(q0 + k), a0);
      a1 = _mm256_fmadd_ps(r, _mm256_loadu_ps(q1 + k), a1);
      a2 = _mm256_fmadd_ps(r, _mm256_loadu_ps(q2 + k), a2);
      a3 = _mm256_fmadd_ps(r, _mm256_loadu_ps(q3 + k), a3);
    }
    float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
    for (int64_t k = n8; k < n; ++k) {
      s0 += row[k] * q0[k];
      s1 += row[k] * q1[k];
      s2 += row[k] * q2[k];
      s3 += row[k] * q3[k];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < nq; ++i) {
    const float* qi = q + i * qstride;
    __m256 a = _mm256_setzero_ps();
    for (int64_t k = 0; k < n8; k += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(qi + k), a);
    float s = hsum(a);
    for (int64_t k = n8; k < n; ++k) s += row[k] * qi[k];
    out[i] = s;
  }
}

void axpy_multi(const float* x, int64_t n, const float* coef, int64_t coef_stride, int64_t nq, float* acc,
                int64_t acc_stride) {
  const int64_t n8 = n & ~int64_t{7};
  for (int64_t i = 0; i < nq; ++i) {
    const float c = coef[i * coef_stride];
    if (c == 0.0f) continue;
    float* y = acc + i * acc_stride;
    const __m256 cv = _mm256_set1_ps(c);
    for (int64_t k = 0; k < n8; k += 8)
      _mm256_storeu_ps(y + k, _mm256_fmadd_ps(cv, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
    for (int64_t k = n8; k < n; ++k) y[k] += c * x[k];
  }
}

}  // namespace latte::cc_avx2
#endif
