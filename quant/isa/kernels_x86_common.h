// x86 SIMD kernels, part 1 of 4: arch aliases, integer helpers, prefetch, float kernels (xsimd), activation
// quantizers. Parts: kernels_x86_common.h -> kernels_x86_blocks32.h (Q4_0, Q5_0, Q8_0, IQ4_NL, Q4_1, Q5_1) ->
// kernels_x86_kquants.h (Q2_K..Q6_K, IQ4_XS) -> kernels_x86.h (gemv wrappers, table fill).
// Written once and templated on the xsimd arch A (xsimd::fma3<xsimd::avx2> or xsimd::avx512bw). Included ONLY by
// quant/isa/kernels_avx2.cpp and kernels_avx512.cpp, each compiled with its arch's flags; everything here has
// internal linkage (unnamed namespace), so no arch-specific copy of any helper can leak into another translation
// unit (no ODR merging of an AVX-512 body into AVX2 code). Do not use quant/blocks.h's inline helpers in here.
//
// Integer kernels work on 256-bit vectors for both arches: AVX-512 adds VNNI (vpdpbusd on ymm, AVX512VL) in place of
// the maddubs+madd pair where no per-16 scale is applied; Zen 4 double-pumps 512-bit ops, so 256-bit integer code is
// near its best there too. Float kernels use xsimd batches at the arch's full width.
// Results equal the scalar kernels up to f32 summation order; quantize_act for Q8_0 / Q8_K is bit-identical.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "quant/blocks.h"
#include "quant/kernels.h"

// Full unrolling of the short fixed loops (register-resident accumulators, constant shuffle masks); -O2 alone
// does not unroll them.
#define LATTE_UNROLL _Pragma("GCC unroll 16")

// Software prefetch distance (bytes ahead in one weight stream); 0 disables. Measured on a Xeon (SPR) VM, one
// thread, 256 MiB matrices: without it the compute-heavy loops keep too few misses in flight (Q4_K 7.7 GB/s),
// with 4 KiB ahead they stream at 11-13 GB/s (2 KiB: 32-block kernels lose 30 %). Multi-row kernels (R interleaved
// streams) use R/2 times the distance. Hint T1 (into L2, not L1) measured 0-15 % better than T0.
#ifndef LATTE_PF_DIST
#define LATTE_PF_DIST 4096
#endif
#ifndef LATTE_PF_HINT
#define LATTE_PF_HINT _MM_HINT_T1
#endif

namespace latte::simd {
namespace {

using Avx2 = xsimd::fma3<xsimd::avx2>;
using Avx512 = xsimd::avx512bw;
template <class A>
constexpr bool kIs512 = std::is_same_v<A, Avx512>;

template <class A>
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

template <class A>
inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class A>
inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// acc + sum over groups of 4 of u8(u) * s8(s) -> 8 x int32.
template <class A>
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
  if constexpr (kIs512<A>) {
    return _mm256_dpbusd_epi32(acc, u, s);
  } else {
    const __m256i p16 = _mm256_maddubs_epi16(u, s);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
  }
}

// Signed x signed int8 dot (|w| <= 127 or w = -128 with |a| <= 127): sign trick onto the unsigned form.
template <class A>
inline __m256i dot_s8s8(__m256i acc, __m256i w, __m256i a) {
  return dot_u8s8<A>(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles in the low lane (elements 0..15), high nibbles in the high lane.
template <class A>
inline __m256i unpack_nibbles16(const uint8_t* p) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, byte j = 0xFF if bit j is set else 0.
template <class A>
inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                        3, 3, 3, 3, 3, 3);
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuf);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

template <class A>
inline __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

template <class A, int kScale = 1>
inline void prefetch_block(const void* p, size_t bytes) {
  if constexpr (LATTE_PF_DIST > 0) {
    const char* c = static_cast<const char*>(p) + LATTE_PF_DIST * kScale;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, LATTE_PF_HINT);
  }
}

// ---------------------------------------------------------------- float types (F32 activations), xsimd batches

template <class A>
inline xsimd::batch<float, A> load_bf16(const uint16_t* p) {
  if constexpr (kIs512<A>) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  } else {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
}
template <class A>
inline xsimd::batch<float, A> load_f16(const uint16_t* p) {
  if constexpr (kIs512<A>) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
}
template <class A>
inline xsimd::batch<float, A> load_f32(const float* p) { return xsimd::batch<float, A>::load_unaligned(p); }

// sum_i w[i] * x[i] with w loaded by `Load` (f32 / bf16 / f16), 4 accumulators, scalar tail.
template <class A, class T, xsimd::batch<float, A> (*Load)(const T*), float (*Scalar)(T)>
float dot_float(int64_t n, const T* w, const float* x) {
  using B = xsimd::batch<float, A>;
  constexpr int64_t L = B::size;
  B a0(0.f), a1(0.f), a2(0.f), a3(0.f);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    prefetch_block<A>(w + i, 4 * L * sizeof(T));
    a0 = xsimd::fma(Load(w + i), B::load_unaligned(x + i), a0);
    a1 = xsimd::fma(Load(w + i + L), B::load_unaligned(x + i + L), a1);
    a2 = xsimd::fma(Load(w + i + 2 * L), B::load_unaligned(x + i + 2 * L), a2);
    a3 = xsimd::fma(Load(w + i + 3 * L), B::load_unaligned(x + i + 3 * L), a3);
  }
  for (; i + L <= n; i += L) a0 = xsimd::fma(Load(w + i), B::load_unaligned(x + i), a0);
  float s = xsimd::hadd((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) s += Scalar(w[i]) * x[i];
  return s;
}
template <class A>
inline float id_f32(float v) { return v; }
template <class A>
inline float cvt_bf16(uint16_t v) { uint32_t u = static_cast<uint32_t>(v) << 16; float f; std::memcpy(&f, &u, 4); return f; }
template <class A>
inline float cvt_f16(uint16_t v) { return _cvtsh_ss(v); }

template <class A>
float dot_f32(int64_t n, const float* a, const float* b) { return dot_float<A, float, load_f32<A>, id_f32<A>>(n, a, b); }
template <class A>
float vd_f32(int64_t n, const void* w, const void* a) {
  return dot_float<A, float, load_f32<A>, id_f32<A>>(n, static_cast<const float*>(w), static_cast<const float*>(a));
}
template <class A>
float vd_bf16(int64_t n, const void* w, const void* a) {
  return dot_float<A, uint16_t, load_bf16<A>, cvt_bf16<A>>(n, static_cast<const uint16_t*>(w), static_cast<const float*>(a));
}
template <class A>
float vd_f16(int64_t n, const void* w, const void* a) {
  return dot_float<A, uint16_t, load_f16<A>, cvt_f16<A>>(n, static_cast<const uint16_t*>(w), static_cast<const float*>(a));
}

template <class A>
void axpy_f32(int64_t n, float alpha, const float* x, float* y) {
  using B = xsimd::batch<float, A>;
  constexpr int64_t L = B::size;
  const B va(alpha);
  int64_t i = 0;
  for (; i + L <= n; i += L) xsimd::fma(va, B::load_unaligned(x + i), B::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

template <class A>
float exp_sum_f32(float* x, int64_t n, float sub) {
  using B = xsimd::batch<float, A>;
  constexpr int64_t L = B::size;
  const B vs(sub);
  B acc(0.0f);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const B e = xsimd::exp(B::load_unaligned(x + i) - vs);
    e.store_unaligned(x + i);
    acc += e;
  }
  float s = xsimd::hadd(acc);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - sub);
    s += x[i];
  }
  return s;
}

// ---------------------------------------------------------------- activation quantizers (bit-exact with scalar)

// roundf (ties away from zero) of 8 floats, exact: trunc, then step away from zero when |frac| >= 0.5.
template <class A>
inline __m256 round_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 absf = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
  const __m256 step = _mm256_and_ps(_mm256_cmp_ps(absf, _mm256_set1_ps(0.5f), _CMP_GE_OQ), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_or_ps(step, sign));
}

// 32 int32 (4 vectors, element order) -> 32 int8 with saturation, in element order.
template <class A>
inline __m256i pack32(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
  const __m256i p01 = _mm256_packs_epi32(i0, i1);  // lanes interleaved
  const __m256i p23 = _mm256_packs_epi32(i2, i3);
  const __m256i p = _mm256_packs_epi16(p01, p23);
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <class A>
inline float hmax_abs32(const float* x) {
  const __m256 sgn = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_andnot_ps(sgn, _mm256_loadu_ps(x));
  m = _mm256_max_ps(m, _mm256_andnot_ps(sgn, _mm256_loadu_ps(x + 8)));
  m = _mm256_max_ps(m, _mm256_andnot_ps(sgn, _mm256_loadu_ps(x + 16)));
  m = _mm256_max_ps(m, _mm256_andnot_ps(sgn, _mm256_loadu_ps(x + 24)));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class A>
void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / QK8_0; ++i, x += QK8_0) {
    const float amax = hmax_abs32<A>(x);
    const float d = amax / 127;
    const float id = d != 0 ? 1 / d : 0;
    y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    LATTE_UNROLL
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvttps_epi32(round_away<A>(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), pack32<A>(q[0], q[1], q[2], q[3]));
  }
}

template <class A>
void quantize_q8_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float amax = 0;
    LATTE_UNROLL
    for (int k = 0; k < 8; ++k) {
      const float m = hmax_abs32<A>(x + 32 * k);
      amax = m > amax ? m : amax;
    }
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // First element whose magnitude equals amax (the scalar reference keeps the first on ties).
    float mx = 0;
    const __m256 sgn = _mm256_set1_ps(-0.0f), vam = _mm256_set1_ps(amax);
    for (int k = 0; k < 32; ++k) {
      const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sgn, _mm256_loadu_ps(x + 8 * k)), vam, _CMP_EQ_OQ));
      if (mask) {
        mx = x[8 * k + __builtin_ctz(static_cast<unsigned>(mask))];
        break;
      }
    }
    const float iscale = -127.f / mx;
    const __m256 vis = _mm256_set1_ps(iscale);
    LATTE_UNROLL
    for (int c = 0; c < 8; ++c) {
      __m256i q[4];
      LATTE_UNROLL
      for (int k = 0; k < 4; ++k) {
        q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), vis));  // ties to even
        q[k] = _mm256_min_epi32(q[k], _mm256_set1_epi32(127));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * c), pack32<A>(q[0], q[1], q[2], q[3]));
      // bsums of the two 16-groups: horizontal sums of q[0]+q[1] and q[2]+q[3]
      y[i].bsums[2 * c] = static_cast<int16_t>(hsum_epi32<A>(_mm256_add_epi32(q[0], q[1])));
      y[i].bsums[2 * c + 1] = static_cast<int16_t>(hsum_epi32<A>(_mm256_add_epi32(q[2], q[3])));
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace
}  // namespace latte::simd
