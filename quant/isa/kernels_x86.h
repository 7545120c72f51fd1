// x86 SIMD kernels, written once and templated on the xsimd arch A (xsimd::fma3<xsimd::avx2> or
// xsimd::avx512bw). Included ONLY by quant/isa/kernels_avx2.cpp and kernels_avx512.cpp, each compiled with its
// arch's flags; everything here has internal linkage (unnamed namespace), so no arch-specific copy of any helper can
// leak into another translation unit (no ODR merging of an AVX-512 body into AVX2 code).
//
// Integer kernels work on 256-bit vectors for both arches: AVX-512 adds VNNI (vpdpbusd on ymm, AVX512VL) in place of
// the maddubs+madd pair where no per-16 scale is applied; Zen 4 double-pumps 512-bit ops, so 256-bit integer code is
// near its best there too. Float kernels use xsimd batches at the arch's full width.
// Results equal the scalar kernels up to f32 summation order; quantize_act for Q8_0 / Q8_K is bit-identical.
#pragma once
#include <immintrin.h>

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
template <class A, int kScale = 1>
inline void prefetch_block(const void* p, size_t bytes) {
  if constexpr (LATTE_PF_DIST > 0) {
    const char* c = static_cast<const char*>(p) + LATTE_PF_DIST * kScale;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, LATTE_PF_HINT);
  }
}

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

// ---------------------------------------------------------------- 32-element blocks with Q8_0 / Q8_1 activations

// Signed IQ4_NL weights of one 32-block as 32 int8 (table lookup).
template <class A>
inline __m256i iq4nl_table() {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues));
  return _mm256_broadcastsi128_si256(t);
}
template <class A>
inline __m256i weights_iq4_nl(const BlockIQ4_NL& b, __m256i table) {
  return _mm256_shuffle_epi8(table, unpack_nibbles16<A>(b.qs));
}

// Multi-row gemv for the 32-block types with Q8_0 activations: R rows at once share each activation block load,
// scale and offset correction, and give the core R independent streams. kOffset > 0: Decode returns unsigned codes
// u = w + kOffset (Q4_0: 8, Q5_0: 16) and the dot is sum(u*a) - kOffset*sum(a), with kOffset*sum(a) computed once
// per activation block; kOffset == 0: Decode returns signed int8 weights (sign trick).
template <class A, class Block, int R, int kOffset, class Decode>
inline void rows_32_q8_0(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_0* yb, float* out, Decode decode) {
  const Block* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) x[k] = reinterpret_cast<const Block*>(base + static_cast<size_t>(k) * stride);
  __m256 acc[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) acc[k] = _mm256_setzero_ps();
  // About one prefetch per 64-byte line (Q8_0: every 2nd 34-byte block; the hardware prefetcher fills the rest).
  constexpr int kEvery = sizeof(Block) >= 64 ? 1 : static_cast<int>((64 + sizeof(Block) / 2) / sizeof(Block));
  int pf = 0;
  for (int64_t i = 0; i < nb; ++i) {
    if (--pf <= 0) {
      pf = kEvery;
      LATTE_UNROLL
      for (int k = 0; k < R; ++k) prefetch_block<A, (R + 1) / 2>(x[k] + i, 1);
    }
    const __m256i av = loadu256<A>(yb[i].qs);
    const __m256 da = _mm256_set1_ps(h2f<A>(yb[i].d));
    __m256i init = _mm256_setzero_si256();
    if constexpr (kOffset > 0)
      init = _mm256_sub_epi32(init, dot_u8s8<A>(_mm256_setzero_si256(), _mm256_set1_epi8(kOffset), av));
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      __m256i p;
      if constexpr (kOffset > 0) {
        if constexpr (kIs512<A>) p = dot_u8s8<A>(init, decode(x[k][i]), av);
        else p = _mm256_add_epi32(init, dot_u8s8<A>(_mm256_setzero_si256(), decode(x[k][i]), av));
      } else {
        p = dot_s8s8<A>(_mm256_setzero_si256(), decode(x[k][i]), av);
      }
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(_mm256_set1_ps(h2f<A>(x[k][i].d)), da), acc[k]);
    }
  }
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) out[k] = hsum_ps<A>(acc[k]);
}

template <class A, class Block, int kOffset, class Decode>
void gemv_32_q8_0(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows, Decode decode) {
  const auto* base = static_cast<const uint8_t*>(w);
  const auto* yb = static_cast<const BlockQ8_0*>(act);
  const int64_t nb = n / 32;
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4)
    rows_32_q8_0<A, Block, 4, kOffset>(nb, base + static_cast<size_t>(r) * stride, stride, yb, y + r, decode);
  for (; r < nrows; ++r)
    rows_32_q8_0<A, Block, 1, kOffset>(nb, base + static_cast<size_t>(r) * stride, stride, yb, y + r, decode);
}

// Unsigned codes: Q4_0 nibble (w + 8), Q5_0 5-bit value (w + 16).
template <class A>
inline __m256i codes_q4_0(const BlockQ4_0& b) { return unpack_nibbles16<A>(b.qs); }
template <class A>
inline __m256i codes_q5_0(const BlockQ5_0& b) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  if constexpr (kIs512<A>) {
    return _mm256_or_si256(unpack_nibbles16<A>(b.qs), _mm256_maskz_mov_epi8(static_cast<__mmask32>(qh), _mm256_set1_epi8(0x10)));
  } else {
    return _mm256_or_si256(unpack_nibbles16<A>(b.qs), _mm256_and_si256(bits_to_bytes<A>(qh), _mm256_set1_epi8(0x10)));
  }
}

// ---- Q4_0 / Q5_0 on block pairs. The activation row is first re-laid (once per call, on the stack) so that one
// 256-bit register holds the low halves of two consecutive blocks and another their high halves; then one 32-byte
// nibble load + two masks decode two weight blocks, and the two fp16 weight scales convert in one instruction.
struct PairAct {
  __m256i alo, ahi;  // [a_i[0..15] | a_{i+1}[0..15]], [a_i[16..31] | a_{i+1}[16..31]]
  __m256i neg_off;   // -kOffset * (sums of 4 activations), in dpbusd lane order (lo + hi)
  __m256 da;         // [d_i x4 | d_{i+1} x4]
};
constexpr int64_t kMaxPairs = 320;  // rows up to 20480 elements use the pair path (40 KiB of stack)

template <class A, int kOffset>
inline void prepare_pairs(const BlockQ8_0* yb, int64_t np, PairAct* pa) {
  for (int64_t p = 0; p < np; ++p) {
    const __m256i a0 = loadu256<A>(yb[2 * p].qs), a1 = loadu256<A>(yb[2 * p + 1].qs);
    pa[p].alo = _mm256_permute2x128_si256(a0, a1, 0x20);
    pa[p].ahi = _mm256_permute2x128_si256(a0, a1, 0x31);
    const __m256i off = _mm256_set1_epi8(kOffset);
    pa[p].neg_off = _mm256_sub_epi32(_mm256_setzero_si256(),
                                     dot_u8s8<A>(dot_u8s8<A>(_mm256_setzero_si256(), off, pa[p].alo), off, pa[p].ahi));
    const __m128 d2 = _mm_set_ps(0.f, 0.f, h2f<A>(yb[2 * p + 1].d), h2f<A>(yb[2 * p].d));
    pa[p].da = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d2), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
  }
}

// Unsigned codes of blocks i, i+1 as (lo, hi) registers matching PairAct's layout.
template <class A, class Block>
inline void pair_codes(const Block* x, __m256i& lo, __m256i& hi) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i v = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(x[1].qs), reinterpret_cast<const __m128i*>(x[0].qs));
  lo = _mm256_and_si256(v, m4);
  hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  if constexpr (std::is_same_v<Block, BlockQ5_0>) {
    uint32_t h0, h1;
    std::memcpy(&h0, x[0].qh, 4);
    std::memcpy(&h1, x[1].qh, 4);
    const uint32_t mlo = (h0 & 0xFFFFu) | (h1 << 16), mhi = (h0 >> 16) | (h1 & 0xFFFF0000u);
    const __m256i b5 = _mm256_set1_epi8(0x10);
    if constexpr (kIs512<A>) {
      lo = _mm256_or_si256(lo, _mm256_maskz_mov_epi8(static_cast<__mmask32>(mlo), b5));
      hi = _mm256_or_si256(hi, _mm256_maskz_mov_epi8(static_cast<__mmask32>(mhi), b5));
    } else {
      lo = _mm256_or_si256(lo, _mm256_and_si256(bits_to_bytes<A>(mlo), b5));
      hi = _mm256_or_si256(hi, _mm256_and_si256(bits_to_bytes<A>(mhi), b5));
    }
  }
}

template <class A, class Block, int R>
inline void rows_pairs(int64_t np, const uint8_t* base, size_t stride, const PairAct* pa, float* out) {
  const Block* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) x[k] = reinterpret_cast<const Block*>(base + static_cast<size_t>(k) * stride);
  __m256 acc[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) acc[k] = _mm256_setzero_ps();
  const __m256i dup = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  constexpr int kEvery = 1;  // a pair of blocks is 36-44 bytes: one prefetch per pair
  int pf = 0;
  for (int64_t p = 0; p < np; ++p) {
    if (--pf <= 0) {
      pf = kEvery;
      LATTE_UNROLL
      for (int k = 0; k < R; ++k) prefetch_block<A, (R + 1) / 2>(x[k] + 2 * p, 1);
    }
    const PairAct& a = pa[p];
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const Block* b = x[k] + 2 * p;
      __m256i lo, hi;
      pair_codes<A, Block>(b, lo, hi);
      __m256i s;
      if constexpr (kIs512<A>) {
        s = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(a.neg_off, lo, a.alo), hi, a.ahi);
      } else {
        const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, a.alo), _mm256_maddubs_epi16(hi, a.ahi));
        s = _mm256_add_epi32(a.neg_off, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
      }
      const uint32_t dd = static_cast<uint32_t>(b[0].d) | (static_cast<uint32_t>(b[1].d) << 16);
      const __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dd)));
      const __m256 dw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d2), dup);
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, a.da), acc[k]);
    }
  }
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) out[k] = hsum_ps<A>(acc[k]);
}

// gemv for Q4_0 (kOffset 8) / Q5_0 (16): the pair path when the block count is even and fits, else rows_32_q8_0.
template <class A, class Block, int kOffset, class Decode>
void gemv_pairs(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows, Decode decode) {
  const int64_t nb = n / 32;
  if (nb % 2 != 0 || nb / 2 > kMaxPairs) {
    gemv_32_q8_0<A, Block, kOffset>(n, w, stride, act, y, nrows, decode);
    return;
  }
  const int64_t np = nb / 2;
  PairAct pa[kMaxPairs];
  prepare_pairs<A, kOffset>(static_cast<const BlockQ8_0*>(act), np, pa);
  const auto* base = static_cast<const uint8_t*>(w);
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) rows_pairs<A, Block, 4>(np, base + static_cast<size_t>(r) * stride, stride, pa, y + r);
  for (; r < nrows; ++r) rows_pairs<A, Block, 1>(np, base + static_cast<size_t>(r) * stride, stride, pa, y + r);
}

template <class A>
float vd_q8_0(int64_t n, const void* w, const void* a) {
  float out;
  rows_32_q8_0<A, BlockQ8_0, 1, 0>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const BlockQ8_0*>(a), &out,
                                   [](const BlockQ8_0& b) { return loadu256<A>(b.qs); });
  return out;
}
template <class A>
float vd_q4_0(int64_t n, const void* w, const void* a) {
  float out;
  rows_32_q8_0<A, BlockQ4_0, 1, 8>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const BlockQ8_0*>(a), &out,
                                   [](const BlockQ4_0& b) { return codes_q4_0<A>(b); });
  return out;
}
template <class A>
float vd_q5_0(int64_t n, const void* w, const void* a) {
  float out;
  rows_32_q8_0<A, BlockQ5_0, 1, 16>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const BlockQ8_0*>(a), &out,
                                    [](const BlockQ5_0& b) { return codes_q5_0<A>(b); });
  return out;
}
template <class A>
float vd_iq4_nl(int64_t n, const void* w, const void* a) {
  const __m256i t = iq4nl_table<A>();
  float out;
  rows_32_q8_0<A, BlockIQ4_NL, 1, 0>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const BlockQ8_0*>(a), &out,
                                     [t](const BlockIQ4_NL& b) { return weights_iq4_nl<A>(b, t); });
  return out;
}

template <class A>
void gemv_q8_0(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_32_q8_0<A, BlockQ8_0, 0>(n, w, s, a, y, nr, [](const BlockQ8_0& b) { return loadu256<A>(b.qs); });
}
template <class A>
void gemv_q4_0(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_pairs<A, BlockQ4_0, 8>(n, w, s, a, y, nr, [](const BlockQ4_0& b) { return codes_q4_0<A>(b); });
}
template <class A>
void gemv_q5_0(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_pairs<A, BlockQ5_0, 16>(n, w, s, a, y, nr, [](const BlockQ5_0& b) { return codes_q5_0<A>(b); });
}
template <class A>
void gemv_iq4_nl(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  const __m256i t = iq4nl_table<A>();
  gemv_32_q8_0<A, BlockIQ4_NL, 0>(n, w, s, a, y, nr, [t](const BlockIQ4_NL& b) { return weights_iq4_nl<A>(b, t); });
}

// Q4_1 / Q5_1 with Q8_1, R rows at once: unsigned codes, d_w*d_a*sum(q*a) + m_w*s_a per block.
template <class A, class Block, bool kFive>
inline __m256i codes_x_1(const Block& b) {
  __m256i q = unpack_nibbles16<A>(b.qs);
  if constexpr (kFive) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    if constexpr (kIs512<A>) q = _mm256_or_si256(q, _mm256_maskz_mov_epi8(static_cast<__mmask32>(qh), _mm256_set1_epi8(0x10)));
    else q = _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes<A>(qh), _mm256_set1_epi8(0x10)));
  }
  return q;
}

template <class A, class Block, bool kFive, int R>
inline void rows_x_1(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_1* yb, float* out) {
  const Block* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) x[k] = reinterpret_cast<const Block*>(base + static_cast<size_t>(k) * stride);
  __m256 acc[R];
  float summs[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) { acc[k] = _mm256_setzero_ps(); summs[k] = 0; }
  constexpr int kEvery = static_cast<int>(64 / sizeof(Block));
  int pf = 0;
  for (int64_t i = 0; i < nb; ++i) {
    if (--pf <= 0) {
      pf = kEvery;
      LATTE_UNROLL
      for (int k = 0; k < R; ++k) prefetch_block<A, (R + 1) / 2>(x[k] + i, 1);
    }
    const __m256i av = loadu256<A>(yb[i].qs);
    const __m256 da = _mm256_set1_ps(h2f<A>(yb[i].d));
    const float sa = h2f<A>(yb[i].s);
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const __m256i p = dot_u8s8<A>(_mm256_setzero_si256(), codes_x_1<A, Block, kFive>(x[k][i]), av);
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(_mm256_set1_ps(h2f<A>(x[k][i].d)), da), acc[k]);
      summs[k] += h2f<A>(x[k][i].m) * sa;
    }
  }
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) out[k] = hsum_ps<A>(acc[k]) + summs[k];
}

template <class A, class Block, bool kFive>
float vd_x_1(int64_t n, const void* w, const void* a) {
  float out;
  rows_x_1<A, Block, kFive, 1>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const BlockQ8_1*>(a), &out);
  return out;
}
template <class A, class Block, bool kFive>
void gemv_x_1(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  const auto* base = static_cast<const uint8_t*>(w);
  const auto* yb = static_cast<const BlockQ8_1*>(act);
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) rows_x_1<A, Block, kFive, 4>(n / 32, base + static_cast<size_t>(r) * stride, stride, yb, y + r);
  for (; r < nrows; ++r) rows_x_1<A, Block, kFive, 1>(n / 32, base + static_cast<size_t>(r) * stride, stride, yb, y + r);
}
template <class A>
float vd_q4_1(int64_t n, const void* w, const void* a) { return vd_x_1<A, BlockQ4_1, false>(n, w, a); }
template <class A>
float vd_q5_1(int64_t n, const void* w, const void* a) { return vd_x_1<A, BlockQ5_1, true>(n, w, a); }

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

// ---------------------------------------------------------------- gemv and table fill

template <class A, float (*VD)(int64_t, const void*, const void*)>
void gemv_rows(int64_t n, const void* w, size_t w_stride, const void* act, float* y, int64_t nrows) {
  const auto* base = static_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < nrows; ++r) y[r] = VD(n, base + static_cast<size_t>(r) * w_stride, act);
}

template <class A, float (*VD)(int64_t, const void*, const void*)>
void set_kernel(KernelTable& kt, DType t) {
  kt.vec_dot[static_cast<uint32_t>(t)] = VD;
  kt.gemv[static_cast<uint32_t>(t)] = gemv_rows<A, VD>;
}
template <class A, float (*VD)(int64_t, const void*, const void*), GemvFn G>
void set_kernel(KernelTable& kt, DType t) {
  kt.vec_dot[static_cast<uint32_t>(t)] = VD;
  kt.gemv[static_cast<uint32_t>(t)] = G;
}

template <class A>
void fill_x86(KernelTable& kt) {
  set_kernel<A, vd_f32<A>>(kt, DType::F32);
  set_kernel<A, vd_f16<A>>(kt, DType::F16);
  set_kernel<A, vd_bf16<A>>(kt, DType::BF16);
  set_kernel<A, vd_q4_0<A>, gemv_q4_0<A>>(kt, DType::Q4_0);
  set_kernel<A, vd_q4_1<A>, gemv_x_1<A, BlockQ4_1, false>>(kt, DType::Q4_1);
  set_kernel<A, vd_q5_0<A>, gemv_q5_0<A>>(kt, DType::Q5_0);
  set_kernel<A, vd_q5_1<A>, gemv_x_1<A, BlockQ5_1, true>>(kt, DType::Q5_1);
  set_kernel<A, vd_q8_0<A>, gemv_q8_0<A>>(kt, DType::Q8_0);
  set_kernel<A, vd_q2_k<A>>(kt, DType::Q2_K);
  set_kernel<A, vd_q3_k<A>>(kt, DType::Q3_K);
  set_kernel<A, vd_q4_k<A>>(kt, DType::Q4_K);
  set_kernel<A, vd_q5_k<A>>(kt, DType::Q5_K);
  set_kernel<A, vd_q6_k<A>>(kt, DType::Q6_K);
  set_kernel<A, vd_iq4_nl<A>, gemv_iq4_nl<A>>(kt, DType::IQ4_NL);
  set_kernel<A, vd_iq4_xs<A>>(kt, DType::IQ4_XS);
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_0)] = quantize_q8_0<A>;
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_K)] = quantize_q8_k<A>;
  kt.dot_f32 = dot_f32<A>;
  kt.axpy_f32 = axpy_f32<A>;
}

}  // namespace
}  // namespace latte::simd
