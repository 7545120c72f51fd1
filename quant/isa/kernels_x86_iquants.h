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

// ksigns: 7-bit sign index -> 8 sign bits with even parity (computed at compile time; same rule as iq_signs8).
struct SignTable {
  uint8_t v[128];
  constexpr SignTable() : v() {
    for (uint32_t i = 0; i < 128; ++i) {
      uint32_t p = 0;
      for (uint32_t b = 0; b < 7; ++b) p ^= (i >> b) & 1u;
      v[i] = static_cast<uint8_t>(i | (p << 7));
    }
  }
};
constexpr SignTable kSigns{};

// The 32 sign bits of a group (4 x 7-bit indices in bits 0..27 of aux) as +1 / -1 bytes.
template <class A>
inline __m256i iq_sign_bytes(uint32_t aux) {
  uint32_t s = 0;
  LATTE_UNROLL
  for (int l = 0; l < 4; ++l) s |= static_cast<uint32_t>(kSigns.v[(aux >> (7 * l)) & 127]) << (8 * l);
  return _mm256_or_si256(bits_to_bytes<A>(s), _mm256_set1_epi8(1));
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
    __m256i sumi = _mm256_setzero_si256();
    LATTE_UNROLL
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, q + 4, 4);
      const __m256i gv = _mm256_set_epi64x(grid64(kIq2xxsGrid[q[3]]), grid64(kIq2xxsGrid[q[2]]),
                                           grid64(kIq2xxsGrid[q[1]]), grid64(kIq2xxsGrid[q[0]]));
      const __m256i av = _mm256_sign_epi8(loadu256<A>(y[i].qs + 32 * g), iq_sign_bytes<A>(aux));
      sumi = madd_scaled<A>(sumi, _mm256_maddubs_epi16(gv, av), static_cast<int>(2 * (aux >> 28) + 1));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f<A>(x[i].d) * y[i].d), acc);
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
    __m256i sumi = _mm256_setzero_si256();
    LATTE_UNROLL
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, x[i].qs + 64 + 4 * g, 4);
      const __m256i gv = _mm256_setr_epi32(static_cast<int>(kIq3xxsGrid[q[0]]), static_cast<int>(kIq3xxsGrid[q[1]]),
                                           static_cast<int>(kIq3xxsGrid[q[2]]), static_cast<int>(kIq3xxsGrid[q[3]]),
                                           static_cast<int>(kIq3xxsGrid[q[4]]), static_cast<int>(kIq3xxsGrid[q[5]]),
                                           static_cast<int>(kIq3xxsGrid[q[6]]), static_cast<int>(kIq3xxsGrid[q[7]]));
      const __m256i av = _mm256_sign_epi8(loadu256<A>(y[i].qs + 32 * g), iq_sign_bytes<A>(aux));
      sumi = madd_scaled<A>(sumi, _mm256_maddubs_epi16(gv, av), static_cast<int>(2 * (aux >> 28) + 1));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f<A>(x[i].d) * y[i].d), acc);
  }
  return 0.25f * hsum_ps<A>(acc);
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
    __m256i sumi = _mm256_setzero_si256();
    int corr = 0, sumi1 = 0;  // sum_g ls·bsum_g (the +1 offset), sum_g ls·sign_g·bsum_g (the delta)
    LATTE_UNROLL
    for (int g = 0; g < 8; ++g) {
      const uint16_t h = x[i].qh[g];
      const uint8_t* q = x[i].qs + 4 * g;
      const int ls = 2 * ((h >> 12) & 7) + 1;
      const __m256i gv = _mm256_set_epi64x(grid64(kIq1sGrid[q[3] | (((h >> 9) & 7) << 8)]),
                                           grid64(kIq1sGrid[q[2] | (((h >> 6) & 7) << 8)]),
                                           grid64(kIq1sGrid[q[1] | (((h >> 3) & 7) << 8)]),
                                           grid64(kIq1sGrid[q[0] | ((h & 7) << 8)]));
      const __m256i p16 = _mm256_maddubs_epi16(_mm256_add_epi8(gv, one), loadu256<A>(y[i].qs + 32 * g));
      sumi = madd_scaled<A>(sumi, p16, ls);
      const int bs = y[i].bsums[2 * g] + y[i].bsums[2 * g + 1];
      corr += ls * bs;
      sumi1 += (h & 0x8000) ? -ls * bs : ls * bs;
    }
    const float dd = h2f<A>(x[i].d) * y[i].d;
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(dd), acc);
    acc_s += dd * (kIq1sDelta * static_cast<float>(sumi1) - static_cast<float>(corr));
  }
  return hsum_ps<A>(acc) + acc_s;
}

}  // namespace
}  // namespace latte::simd
