// x86 SIMD kernels, part 3 of 4: K-quants and IQ4_XS with Q8_K activations (see kernels_x86_common.h).
#pragma once
#include "quant/isa/kernels_x86_blocks32.h"

namespace latte::simd {
namespace {

// ---------------------------------------------------------------- K-quants and IQ4_XS with Q8_K activations

// Per-16 scale broadcast: from 16 int16 scales (sc16: elements 0..7 low lane, 8..15 high lane), the vector with
// scale 2c in the low lane and 2c+1 in the high lane (c = 0..7), for maddubs outputs of a 32-element chunk.
template <class A>
struct Scales16 {
  __m256i lo, hi;  // low / high 128 bits of sc16 broadcast to both lanes
  explicit Scales16(__m256i sc16)
      : lo(_mm256_permute2x128_si256(sc16, sc16, 0x00)), hi(_mm256_permute2x128_si256(sc16, sc16, 0x11)) {}
  __m256i chunk(int c) const {
    const int k = c & 3;  // scale 2k / 2k+1 of the half
    const __m256i mask = _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                          4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                          4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
                                          4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                          4 * k + 2, 4 * k + 3);
    return _mm256_shuffle_epi8(c < 4 ? lo : hi, mask);
  }
};

// 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K block in one xmm.
template <class A>
inline __m128i k_scales_mins_vec(const uint8_t* s) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t m4 = 0x3F3F3F3Fu, m2 = 0xC0C0C0C0u, m0 = 0x0F0F0F0Fu;
  const uint32_t sc0 = u[0] & m4;                                // sc0..sc3
  const uint32_t mn0 = u[1] & m4;                                // m0..m3
  const uint32_t sc1 = (u[2] & m0) | ((u[0] & m2) >> 2);         // sc4..sc7
  const uint32_t mn1 = ((u[2] >> 4) & m0) | ((u[1] & m2) >> 2);  // m4..m7
  return _mm_set_epi32(static_cast<int>(mn1), static_cast<int>(mn0), static_cast<int>(sc1), static_cast<int>(sc0));
}

// Shuffle mask broadcasting int16 element j (0..7) of a 128-bit lane to all 16 int16 of a ymm.
template <class A>
inline __m256i bcast16_mask(int j) {
  const char lo = static_cast<char>(2 * j), hi = static_cast<char>(2 * j + 1);
  return _mm256_setr_epi8(lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi,
                          lo, hi, lo, hi, lo, hi, lo, hi);
}

template <class A, bool kFive>
float vd_q45_k(int64_t n, const void* w, const void* a) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / QK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    const __m256i sm16 = _mm256_cvtepu8_epi16(k_scales_mins_vec<A>(x[i].scales));  // [sc0..7 | m0..7] as int16
    const __m256i sc = _mm256_permute2x128_si256(sm16, sm16, 0x00);
    // mins: sum_s m_s * (bsums[2s] + bsums[2s+1])
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums + 8));
    const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), _mm_hadd_epi16(b0, b1));
    const __m128 dmin = _mm_set1_ps(y[i].d * h2f<A>(x[i].dmin));
    acc_m = _mm_fmadd_ps(_mm_cvtepi32_ps(pm), dmin, acc_m);
    const uint8_t* q = x[i].qs;
    const int8_t* q8 = y[i].qs;
    __m256i hbits;
    if constexpr (kFive) hbits = loadu256<A>(x[i].qh);
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    LATTE_UNROLL
    for (int j = 0; j < 4; ++j) {
      const __m256i raw = loadu256<A>(q + 32 * j);
      __m256i lo = _mm256_and_si256(raw, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
      if constexpr (kFive) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, _mm256_set1_epi8(1)), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(hbits, _mm256_set1_epi8(2)), 3));
        hbits = _mm256_srli_epi16(hbits, 2);
      }
      const __m256i p0 = _mm256_maddubs_epi16(lo, loadu256<A>(q8 + 64 * j));
      const __m256i p1 = _mm256_maddubs_epi16(hi, loadu256<A>(q8 + 64 * j + 32));
      s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, _mm256_shuffle_epi8(sc, bcast16_mask<A>(2 * j))));
      s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, _mm256_shuffle_epi8(sc, bcast16_mask<A>(2 * j + 1))));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(y[i].d * h2f<A>(x[i].d)), acc);
  }
  __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return hsum_ps<A>(acc) - _mm_cvtss_f32(m);
}
template <class A>
float vd_q4_k(int64_t n, const void* w, const void* a) { return vd_q45_k<A, false>(n, w, a); }
template <class A>
float vd_q5_k(int64_t n, const void* w, const void* a) { return vd_q45_k<A, true>(n, w, a); }

template <class A>
float vd_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / QK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
    const Scales16<A> sc(sc16);
    // offset: 32 * sum_s scale_s * bsum_s
    const __m256i off = _mm256_madd_epi16(sc16, loadu256<A>(y[i].bsums));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
    const int8_t* q8 = y[i].qs;
    LATTE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = loadu256<A>(x[i].ql + 64 * h);
      const __m256i ql1 = loadu256<A>(x[i].ql + 64 * h + 32);
      const __m256i qh = loadu256<A>(x[i].qh + 32 * h);
      const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
      const __m256i q3 =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
      const int8_t* a8 = q8 + 128 * h;
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, loadu256<A>(a8)), sc.chunk(4 * h + 0));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, loadu256<A>(a8 + 32)), sc.chunk(4 * h + 1));
      const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, loadu256<A>(a8 + 64)), sc.chunk(4 * h + 2));
      const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q3, loadu256<A>(a8 + 96)), sc.chunk(4 * h + 3));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f<A>(x[i].d) * y[i].d), acc);
  }
  return hsum_ps<A>(acc);
}

template <class A>
float vd_q2_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / QK_K;
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  for (int64_t i = 0; i < nb; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F)));
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)));
    const int summ = hsum_epi32<A>(_mm256_madd_epi16(mn16, loadu256<A>(y[i].bsums)));
    acc_m += y[i].d * h2f<A>(x[i].dmin) * static_cast<float>(summ);
    const Scales16<A> sc(sc16);
    __m256i sumi = _mm256_setzero_si256();
    LATTE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256i qs = loadu256<A>(x[i].qs + 32 * h);
      const int8_t* a8 = y[i].qs + 128 * h;
      LATTE_UNROLL
      for (int j = 0; j < 4; ++j) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m3);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, loadu256<A>(a8 + 32 * j)), sc.chunk(4 * h + j));
        sumi = _mm256_add_epi32(sumi, p);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(y[i].d * h2f<A>(x[i].d)), acc);
  }
  return hsum_ps<A>(acc) - acc_m;
}

// The 16 signed 6-bit Q3_K sub-block scales (-32..31) as int8 in one xmm (word arithmetic on the 12 bytes).
template <class A>
inline __m128i q3k_scales_vec(const uint8_t* sc) {
  uint32_t u[3];
  std::memcpy(u, sc, 12);
  const uint32_t lo4 = 0x0F0F0F0Fu, hi2 = 0x03030303u;
  const uint32_t s0 = (u[0] & lo4) | ((u[2] & hi2) << 4);
  const uint32_t s1 = (u[1] & lo4) | (((u[2] >> 2) & hi2) << 4);
  const uint32_t s2 = ((u[0] >> 4) & lo4) | (((u[2] >> 4) & hi2) << 4);
  const uint32_t s3 = ((u[1] >> 4) & lo4) | (((u[2] >> 6) & hi2) << 4);
  const __m128i v = _mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2), static_cast<int>(s1), static_cast<int>(s0));
  return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

template <class A>
float vd_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / QK_K;
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    const __m256i sc16 = _mm256_cvtepi8_epi16(q3k_scales_vec<A>(x[i].scales));
    const Scales16<A> sc(sc16);
    // value = (q2 | hb << 2) - 4: offset 4 * sum_s S_s * bsum_s
    const __m256i off = _mm256_madd_epi16(sc16, loadu256<A>(y[i].bsums));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2));
    __m256i hm = loadu256<A>(x[i].hmask);
    LATTE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256i qs = loadu256<A>(x[i].qs + 32 * h);
      const int8_t* a8 = y[i].qs + 128 * h;
      LATTE_UNROLL
      for (int j = 0; j < 4; ++j) {
        const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(hm, one), 2);
        hm = _mm256_srli_epi16(hm, 1);
        const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m3), hb);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, loadu256<A>(a8 + 32 * j)), sc.chunk(4 * h + j));
        sumi = _mm256_add_epi32(sumi, p);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(y[i].d * h2f<A>(x[i].d)), acc);
  }
  return hsum_ps<A>(acc);
}

// The 8 IQ4_XS sub-block scales (ls - 32, -32..31) as int8 in the low 8 bytes of an xmm.
template <class A>
inline __m128i iq4xs_scales_vec(const BlockIQ4_XS& b) {
  uint32_t l;
  std::memcpy(&l, b.scales_l, 4);
  const __m128i v = _mm_cvtsi32_si128(static_cast<int>(l));
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
  const __m128i low = _mm_unpacklo_epi8(lo, hi);  // byte k = low nibble of scale k
  uint64_t x = b.scales_h;                        // 2-bit groups -> one per byte
  x = (x | (x << 24)) & 0x000000FF000000FFull;
  x = (x | (x << 12)) & 0x000F000F000F000Full;
  x = (x | (x << 6)) & 0x0303030303030303ull;
  const __m128i high = _mm_slli_epi16(_mm_cvtsi64_si128(static_cast<long long>(x)), 4);
  return _mm_sub_epi8(_mm_or_si128(low, high), _mm_set1_epi8(32));
}

template <class A>
float vd_iq4_xs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_XS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / QK_K;
  const __m256i table = iq4nl_table<A>();
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    const __m128i ls16 = _mm_cvtepi8_epi16(iq4xs_scales_vec<A>(x[i]));
    const __m256i ls = _mm256_broadcastsi128_si256(ls16);
    __m256i sumi = _mm256_setzero_si256();
    LATTE_UNROLL
    for (int k = 0; k < 8; ++k) {
      const __m256i wv = _mm256_shuffle_epi8(table, unpack_nibbles16<A>(x[i].qs + 16 * k));
      const __m256i av = loadu256<A>(y[i].qs + 32 * k);
      const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, _mm256_shuffle_epi8(ls, bcast16_mask<A>(k))));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(y[i].d * h2f<A>(x[i].d)), acc);
  }
  return hsum_ps<A>(acc);
}

}  // namespace
}  // namespace latte::simd
