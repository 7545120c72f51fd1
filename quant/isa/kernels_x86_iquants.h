// x86 SIMD kernels: the grid i-quants IQ2_XXS, IQ3_XXS and IQ1_S with Q8_K activations (see kernels_x86_common.h
// for the rules). One 32-group at a time on 256-bit vectors: the grid entries of the group are loaded from the
// codebooks (quant/iq_grids.h, plain data) into one ymm, the sign bits become a byte mask that negates the
// activations (_mm256_sign_epi8), maddubs forms int16 pair sums (|grid| <= 62, |q8| <= 127: no overflow) and one
// madd with the group's odd multiplier (2·ls + 1) gives int32; AVX-512 fuses that step (vpdpwssd, AVX512-VNNI/VL).
// IQ1_S's signed {-1, 0, 1} grid is offset by +1 (unsigned for maddubs) and the offset is taken back with the
// activation block sums, as is its ±0.125 delta. Integer sums equal the scalar oracle's exactly; only the f32
// accumulation order differs.
#pragma once
#include "quant/isa/kernels_x86_common.h"
#include "quant/iq_grids.h"

namespace latte::simd {
namespace {

// The sign bits of all 8 groups of a block at once: aux = the 8 group words; out[g] = 32 sign bits of group g
// (byte l = the 7-bit index l of the word plus its parity bit). Bit 0 of each byte after the three folds is the
// parity of that byte (the shifted-in bits of the next byte only reach bits 4..7, 2..7, 1..7 of each fold).
template <class A>
inline void iq_block_signs(__m256i aux, uint32_t* out) {
  const __m256i m = _mm256_set1_epi32(0x7F);
  __m256i t = _mm256_and_si256(aux, m);
  t = _mm256_or_si256(t, _mm256_and_si256(_mm256_slli_epi32(aux, 1), _mm256_slli_epi32(m, 8)));
  t = _mm256_or_si256(t, _mm256_and_si256(_mm256_slli_epi32(aux, 2), _mm256_slli_epi32(m, 16)));
  t = _mm256_or_si256(t, _mm256_and_si256(_mm256_slli_epi32(aux, 3), _mm256_slli_epi32(m, 24)));
  __m256i p = _mm256_xor_si256(t, _mm256_srli_epi32(t, 4));
  p = _mm256_xor_si256(p, _mm256_srli_epi32(p, 2));
  p = _mm256_xor_si256(p, _mm256_srli_epi32(p, 1));
  p = _mm256_slli_epi32(_mm256_and_si256(p, _mm256_set1_epi32(0x01010101)), 7);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm256_or_si256(t, p));
}

// The 32 activations of a group with the group's 32 sign bits applied: AVX-512 negates the lanes under a mask,
// AVX2 expands the bits to bytes for vpsignb.
template <class A>
inline __m256i iq_signed_act(const int8_t* q8, uint32_t s) {
  const __m256i a = loadu256<A>(q8);
  if constexpr (kIs512<A>) return _mm256_mask_sub_epi8(a, static_cast<__mmask32>(s), _mm256_setzero_si256(), a);
  else return _mm256_sign_epi8(a, _mm256_or_si256(bits_to_bytes<A>(s), _mm256_set1_epi8(1)));
}

inline long long grid64(uint64_t v) { return static_cast<long long>(v); }

// acc + (int16 pairs p16) * ls, as int32.
template <class A>
inline __m256i madd_scaled(__m256i acc, __m256i p16, int ls) {
  if constexpr (kIs512<A>) return _mm256_dpwssd_epi32(acc, p16, _mm256_set1_epi16(static_cast<int16_t>(ls)));
  else return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(static_cast<int16_t>(ls))));
}

template <class A>
float vd_iq2_xxs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ2_XXS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    // group words = the odd dwords of qs
    const __m256 lo = _mm256_castsi256_ps(loadu256<A>(x[i].qs)), hi = _mm256_castsi256_ps(loadu256<A>(x[i].qs + 32));
    const __m256i words = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8);
    alignas(32) uint32_t sg[8];
    iq_block_signs<A>(words, sg);
    __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};  // two chains: even / odd groups
    LATTE_UNROLL
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, q + 4, 4);
      const __m256i gv = _mm256_set_epi64x(grid64(kIq2xxsGrid[q[3]]), grid64(kIq2xxsGrid[q[2]]),
                                           grid64(kIq2xxsGrid[q[1]]), grid64(kIq2xxsGrid[q[0]]));
      const __m256i av = iq_signed_act<A>(y[i].qs + 32 * g, sg[g]);
      sumi[g & 1] = madd_scaled<A>(sumi[g & 1], _mm256_maddubs_epi16(gv, av), static_cast<int>(2 * (aux >> 28) + 1));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), _mm256_set1_ps(h2f<A>(x[i].d) * y[i].d), acc);
  }
  return 0.125f * hsum_ps<A>(acc);
}

template <class A>
float vd_iq3_xxs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ3_XXS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    alignas(32) uint32_t sg[8];
    iq_block_signs<A>(loadu256<A>(x[i].qs + 64), sg);
    __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};  // two chains: even / odd groups
    LATTE_UNROLL
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, x[i].qs + 64 + 4 * g, 4);
      const __m256i gv = _mm256_setr_epi32(static_cast<int>(kIq3xxsGrid[q[0]]), static_cast<int>(kIq3xxsGrid[q[1]]),
                                           static_cast<int>(kIq3xxsGrid[q[2]]), static_cast<int>(kIq3xxsGrid[q[3]]),
                                           static_cast<int>(kIq3xxsGrid[q[4]]), static_cast<int>(kIq3xxsGrid[q[5]]),
                                           static_cast<int>(kIq3xxsGrid[q[6]]), static_cast<int>(kIq3xxsGrid[q[7]]));
      const __m256i av = iq_signed_act<A>(y[i].qs + 32 * g, sg[g]);
      sumi[g & 1] = madd_scaled<A>(sumi[g & 1], _mm256_maddubs_epi16(gv, av), static_cast<int>(2 * (aux >> 28) + 1));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), _mm256_set1_ps(h2f<A>(x[i].d) * y[i].d), acc);
  }
  return 0.25f * hsum_ps<A>(acc);
}

// The 32 grid indices of an IQ1_S block (qs byte | 3 bits of qh[g] at 3l, shifted to bits 8..10), in order.
template <class A>
inline void iq1_block_indices(const BlockIQ1_S& b, uint32_t* idx) {
  const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 0, 3, 6, 9);
  LATTE_UNROLL
  for (int k = 0; k < 4; ++k) {  // groups 2k and 2k + 1
    const __m256i h = _mm256_set_m128i(_mm_set1_epi32(b.qh[2 * k + 1]), _mm_set1_epi32(b.qh[2 * k]));
    const __m256i hi = _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(h, shifts), _mm256_set1_epi32(7)), 8);
    const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + 8 * k)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx + 8 * k), _mm256_or_si256(lo, hi));
  }
}

template <class A>
float vd_iq1_s(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ1_S*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_s = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    prefetch_block<A>(x + i, sizeof(x[i]));
    alignas(32) uint32_t idx[32];
    iq1_block_indices<A>(x[i], idx);
    __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    int corr = 0, sumi1 = 0;  // sum_g ls·bsum_g (the +1 offset), sum_g ls·sign_g·bsum_g (the delta)
    LATTE_UNROLL
    for (int g = 0; g < 8; ++g) {
      const uint16_t h = x[i].qh[g];
      const uint32_t* q = idx + 4 * g;
      const int ls = 2 * ((h >> 12) & 7) + 1;
      const __m256i gv = _mm256_set_epi64x(grid64(kIq1sGrid[q[3]]), grid64(kIq1sGrid[q[2]]), grid64(kIq1sGrid[q[1]]),
                                           grid64(kIq1sGrid[q[0]]));
      const __m256i p16 = _mm256_maddubs_epi16(_mm256_add_epi8(gv, one), loadu256<A>(y[i].qs + 32 * g));
      sumi[g & 1] = madd_scaled<A>(sumi[g & 1], p16, ls);
      const int bs = y[i].bsums[2 * g] + y[i].bsums[2 * g + 1];
      corr += ls * bs;
      sumi1 += (h & 0x8000) ? -ls * bs : ls * bs;
    }
    const float dd = h2f<A>(x[i].d) * y[i].d;
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), _mm256_set1_ps(dd), acc);
    acc_s += dd * (kIq1sDelta * static_cast<float>(sumi1) - static_cast<float>(corr));
  }
  return hsum_ps<A>(acc) + acc_s;
}

}  // namespace
}  // namespace latte::simd
