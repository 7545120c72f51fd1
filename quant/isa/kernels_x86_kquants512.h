// x86 SIMD kernels, part 3b: 512-bit VNNI multi-row gemv for Q4_K / Q5_K / Q6_K x Q8_K (see kernels_x86_common.h).
// Used only by the AVX-512 table fill (fill_x86<Avx512>); the templates are never instantiated for AVX2, so the
// AVX-512 intrinsics below never reach AVX2 code generation.
//
// R rows at once share every activation load (and the Q6_K offset products); each row's 6-bit per-sub-block scales
// are applied with vpdpwssd on the fresh vpdpbusd dot: every int32 lane of a dpbusd over 4 products of a 4..6-bit
// weight (Q6_K: q - 32) and a Q8_K value fits int16 (|v| <= 4 * 63 * 127 < 32768), so (low int16 = scale, high
// int16 = 0) multiplies the lane by the scale exactly.
#pragma once
#include "quant/isa/kernels_x86_kquants.h"

namespace latte::simd {
namespace {

// dword pattern v_L repeated over 128-bit lane L (L = 0..3).
template <class A>
inline __m512i lane_dwords(int v0, int v1, int v2, int v3) {
  return _mm512_set_epi32(v3, v3, v3, v3, v2, v2, v2, v2, v1, v1, v1, v1, v0, v0, v0, v0);
}
// vpshufb mask picking byte idx_L (zero-extended into an int16, high int16 zero) in every dword of lane L.
template <class A>
inline __m512i byte_to_dword_mask(int i0, int i1, int i2, int i3) {
  const int z = static_cast<int>(0x80808000u);
  return lane_dwords<A>(z | i0, z | i1, z | i2, z | i3);
}
// vpshufb mask picking int16 at byte offset b_L (low int16 of each dword; high int16 zero) in lane L.
template <class A>
inline __m512i word_to_dword_mask(int b0, int b1, int b2, int b3) {
  auto w = [](int b) { return static_cast<int>(0x80800000u) | ((b + 1) << 8) | b; };
  return lane_dwords<A>(w(b0), w(b1), w(b2), w(b3));
}

// [lo[0..31] | hi[0..31]] as one zmm.
template <class A>
inline __m512i load2x256(const void* lo, const void* hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256<A>(lo)), loadu256<A>(hi), 1);
}

// Prefetch distance multiplier for R interleaved streams (bytes ahead per stream = LATTE_PF_DIST * kPf).
#ifndef LATTE_KQ512_PF
#define LATTE_KQ512_PF 1
#endif
template <int R>
constexpr int kPfScale512 = (R + 1) / 2;

template <class A, int R>
inline void prefetch_k512(const void* p, size_t bytes) {
  if constexpr (LATTE_KQ512_PF > 0) prefetch_block<A, kPfScale512<R> * LATTE_KQ512_PF>(p, bytes);
}

// ---- Q4_K / Q5_K. A 64-byte load of qs[64h..64h+63] holds, in its low nibbles, elements [128h+0..31 | 128h+64..95]
// (sub-blocks 4h, 4h+2) and in its high nibbles [128h+32..63 | 128h+96..127] (sub-blocks 4h+1, 4h+3); the matching
// activation zmm is built once per block for all R rows. Mins: dmin * sum_s m_s * (bsums[2s] + bsums[2s+1]).
template <class A, bool kFive, int R>
inline void rows_q45_k_512(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_K* yb, float* out) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  const Block* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) x[k] = reinterpret_cast<const Block*>(base + static_cast<size_t>(k) * stride);
  __m512 acc[R];
  __m128 accm[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) {
    acc[k] = _mm512_setzero_ps();
    accm[k] = _mm_setzero_ps();
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  // scale masks for the products (h, nibble): sub-block 4h + nib in lanes 0,1 and 4h + 2 + nib in lanes 2,3
  const __m512i sm00 = byte_to_dword_mask<A>(0, 0, 2, 2), sm01 = byte_to_dword_mask<A>(1, 1, 3, 3);
  const __m512i sm10 = byte_to_dword_mask<A>(4, 4, 6, 6), sm11 = byte_to_dword_mask<A>(5, 5, 7, 7);
  for (int64_t i = 0; i < nb; ++i) {
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) prefetch_k512<A, R>(x[k] + i, sizeof(Block));
    const int8_t* a8 = yb[i].qs;
    const __m512i alo0 = load2x256<A>(a8, a8 + 64), ahi0 = load2x256<A>(a8 + 32, a8 + 96);
    const __m512i alo1 = load2x256<A>(a8 + 128, a8 + 192), ahi1 = load2x256<A>(a8 + 160, a8 + 224);
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[i].bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[i].bsums + 8));
    const __m128i bsp = _mm_hadd_epi16(b0, b1);  // 8 sub-block sums
    const __m128 yd = _mm_set1_ps(yb[i].d);
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const Block& b = x[k][i];
      const __m128i sm = k_scales_mins_vec<A>(b.scales);  // bytes [sc0..7 | m0..7]
      const __m512i scb = _mm512_broadcast_i32x4(sm);
      const __m128i pm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), bsp);
      uint32_t dd;
      std::memcpy(&dd, &b.d, 4);  // d, dmin
      const __m128 f = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dd))), yd);
      const __m512i raw0 = _mm512_loadu_si512(b.qs), raw1 = _mm512_loadu_si512(b.qs + 64);
      __m512i lo0 = _mm512_and_si512(raw0, m4), hi0 = _mm512_and_si512(_mm512_srli_epi16(raw0, 4), m4);
      __m512i lo1 = _mm512_and_si512(raw1, m4), hi1 = _mm512_and_si512(_mm512_srli_epi16(raw1, 4), m4);
      if constexpr (kFive) {
        const __m512i qh = _mm512_broadcast_i64x4(loadu256<A>(b.qh));
        const __m512i c16 = _mm512_set1_epi8(0x10);
        // element 32s + l takes bit s of qh[l]
        const __m512i t00 = _mm512_set_epi64(0x0404040404040404ll, 0x0404040404040404ll, 0x0404040404040404ll,
                                             0x0404040404040404ll, 0x0101010101010101ll, 0x0101010101010101ll,
                                             0x0101010101010101ll, 0x0101010101010101ll);
        lo0 = _mm512_mask_add_epi8(lo0, _mm512_test_epi8_mask(qh, t00), lo0, c16);
        hi0 = _mm512_mask_add_epi8(hi0, _mm512_test_epi8_mask(qh, _mm512_add_epi8(t00, t00)), hi0, c16);
        const __m512i t10 = _mm512_slli_epi64(t00, 4);
        lo1 = _mm512_mask_add_epi8(lo1, _mm512_test_epi8_mask(qh, t10), lo1, c16);
        hi1 = _mm512_mask_add_epi8(hi1, _mm512_test_epi8_mask(qh, _mm512_add_epi8(t10, t10)), hi1, c16);
      }
      const __m512i z = _mm512_setzero_si512();
      __m512i s = _mm512_madd_epi16(_mm512_dpbusd_epi32(z, lo0, alo0), _mm512_shuffle_epi8(scb, sm00));
      s = _mm512_dpwssd_epi32(s, _mm512_dpbusd_epi32(z, hi0, ahi0), _mm512_shuffle_epi8(scb, sm01));
      s = _mm512_dpwssd_epi32(s, _mm512_dpbusd_epi32(z, lo1, alo1), _mm512_shuffle_epi8(scb, sm10));
      s = _mm512_dpwssd_epi32(s, _mm512_dpbusd_epi32(z, hi1, ahi1), _mm512_shuffle_epi8(scb, sm11));
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_broadcastss_ps(f), acc[k]);
      accm[k] = _mm_fmadd_ps(_mm_cvtepi32_ps(pm), _mm_shuffle_ps(f, f, 0x55), accm[k]);
    }
  }
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) {
    __m128 m = _mm_add_ps(accm[k], _mm_movehl_ps(accm[k], accm[k]));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    out[k] = _mm512_reduce_add_ps(acc[k]) - _mm_cvtss_f32(m);
  }
}

// ---- Q6_K. A 64-byte load of ql[64h..64h+63] holds elements 128h+0..63 in its low nibbles and 128h+64..127 in its
// high nibbles, so the activation zmm are plain 64-byte loads; qh[32h..32h+31] broadcast to both halves, the right
// half shifted by 2, gives the high 2 bits of both. The -32 offset rides on the shared dpbusd accumulator
// init = -32 * (sums of 4 activations), so each lane already holds sum (q - 32) * a.
template <class A, int R>
inline void rows_q6_k_512(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_K* yb, float* out) {
  const BlockQ6_K* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) x[k] = reinterpret_cast<const BlockQ6_K*>(base + static_cast<size_t>(k) * stride);
  __m512 acc[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), c32 = _mm512_set1_epi8(32);
  const __m512i qh_shift = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
  // Scales: bytes transposed so that int16 lane layout after the lane shuffle is, in 128-bit lane L (L = 0..3),
  // [s_L, s_4+L, s_8+L, s_12+L] at byte offset 8 * (L & 1). Product (h, nib) of lane L needs s_{8h+4nib+L}.
  const __m128i tr = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i sm00 = word_to_dword_mask<A>(0, 8, 0, 8), sm01 = word_to_dword_mask<A>(2, 10, 2, 10);
  const __m512i sm10 = word_to_dword_mask<A>(4, 12, 4, 12), sm11 = word_to_dword_mask<A>(6, 14, 6, 14);
  for (int64_t i = 0; i < nb; ++i) {
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) prefetch_k512<A, R>(x[k] + i, sizeof(BlockQ6_K));
    const int8_t* a8 = yb[i].qs;
    const __m512i a0 = _mm512_loadu_si512(a8), a1 = _mm512_loadu_si512(a8 + 64);
    const __m512i a2 = _mm512_loadu_si512(a8 + 128), a3 = _mm512_loadu_si512(a8 + 192);
    const __m512i z = _mm512_setzero_si512();
    const __m512i o0 = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, c32, a0));
    const __m512i o1 = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, c32, a1));
    const __m512i o2 = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, c32, a2));
    const __m512i o3 = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, c32, a3));
    const float yd = yb[i].d;
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const BlockQ6_K& b = x[k][i];
      const __m256i s16 = _mm256_cvtepi8_epi16(
          _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), tr));
      const __m512i s16z = _mm512_castsi256_si512(s16);
      const __m512i scb = _mm512_shuffle_i64x2(s16z, s16z, _MM_SHUFFLE(1, 1, 0, 0));
      __m512i s;
      {
        const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(loadu256<A>(b.qh)), qh_shift);
        const __m512i ql = _mm512_loadu_si512(b.ql);
        const __m512i ql_lo = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), m4, 0xE4);
        const __m512i ql_hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(qh, m30), m4, 0xE4);
        s = _mm512_madd_epi16(_mm512_dpbusd_epi32(o0, ql_lo, a0), _mm512_shuffle_epi8(scb, sm00));
        s = _mm512_dpwssd_epi32(s, _mm512_dpbusd_epi32(o1, ql_hi, a1), _mm512_shuffle_epi8(scb, sm01));
      }
      {
        const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(loadu256<A>(b.qh + 32)), qh_shift);
        const __m512i ql = _mm512_loadu_si512(b.ql + 64);
        const __m512i ql_lo = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), m4, 0xE4);
        const __m512i ql_hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(qh, m30), m4, 0xE4);
        s = _mm512_dpwssd_epi32(s, _mm512_dpbusd_epi32(o2, ql_lo, a2), _mm512_shuffle_epi8(scb, sm10));
        s = _mm512_dpwssd_epi32(s, _mm512_dpbusd_epi32(o3, ql_hi, a3), _mm512_shuffle_epi8(scb, sm11));
      }
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(h2f<A>(b.d) * yd), acc[k]);
    }
  }
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) out[k] = _mm512_reduce_add_ps(acc[k]);
}

#ifndef LATTE_KQ512_ROWS
#define LATTE_KQ512_ROWS 4
#endif

template <class A, template <class, int> class Rows>
inline void gemv_rows_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  const auto* base = static_cast<const uint8_t*>(w);
  const auto* yb = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = n / QK_K;
  constexpr int R = LATTE_KQ512_ROWS;
  int64_t r = 0;
  for (; r + R <= nrows; r += R) Rows<A, R>::run(nb, base + static_cast<size_t>(r) * stride, stride, yb, y + r);
  if constexpr (R > 2) {
    for (; r + 2 <= nrows; r += 2) Rows<A, 2>::run(nb, base + static_cast<size_t>(r) * stride, stride, yb, y + r);
  }
  for (; r < nrows; ++r) Rows<A, 1>::run(nb, base + static_cast<size_t>(r) * stride, stride, yb, y + r);
}

template <class A, int R>
struct RowsQ4K512 {
  static void run(int64_t nb, const uint8_t* b, size_t s, const BlockQ8_K* yb, float* o) { rows_q45_k_512<A, false, R>(nb, b, s, yb, o); }
};
template <class A, int R>
struct RowsQ5K512 {
  static void run(int64_t nb, const uint8_t* b, size_t s, const BlockQ8_K* yb, float* o) { rows_q45_k_512<A, true, R>(nb, b, s, yb, o); }
};
template <class A, int R>
struct RowsQ6K512 {
  static void run(int64_t nb, const uint8_t* b, size_t s, const BlockQ8_K* yb, float* o) { rows_q6_k_512<A, R>(nb, b, s, yb, o); }
};

template <class A>
void gemv_q4_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_rows_512<A, RowsQ4K512>(n, w, stride, act, y, nrows);
}
template <class A>
void gemv_q5_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_rows_512<A, RowsQ5K512>(n, w, stride, act, y, nrows);
}
template <class A>
void gemv_q6_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_rows_512<A, RowsQ6K512>(n, w, stride, act, y, nrows);
}

}  // namespace
}  // namespace latte::simd
