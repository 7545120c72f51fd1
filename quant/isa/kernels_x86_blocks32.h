// x86 SIMD kernels, part 2 of 4: 32-element block types (see kernels_x86_common.h for the rules).
#pragma once
#include "quant/isa/kernels_x86_common.h"

namespace latte::simd {
namespace {

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

// MXFP4 weights of one 32-block (doubled E2M1 codes w, |w| <= 12) as unsigned codes u = w + 16 (in [4, 28]) for the
// offset path of rows_32_q8_0 (kOffset 16): one u8 x s8 product per element instead of the sign trick's two extra
// operations. Small enough for AVX2's saturating u8 x s8 pair sums (2 * 28 * 127 < 32767). The block's weight scale
// is 2^(e - 128) (E8M0 halved; e = 0, 1 give the subnormals 2^-128, 2^-127).
template <class A>
inline __m256i mxfp4_codes_table() {
  alignas(16) static constexpr uint8_t kU[16] = {16, 17, 18, 19, 20, 22, 24, 28, 16, 15, 14, 13, 12, 10, 8, 4};
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kU)));
}
template <class A>
inline __m256i weights_mxfp4(const BlockMXFP4& b, __m256i table) {
  return _mm256_shuffle_epi8(table, unpack_nibbles16<A>(b.qs));
}
template <class A>
inline float e8m0_half_f(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Weight scale of a 32-block as f32: fp16 d, or the MXFP4 exponent.
template <class A, class Block>
inline float block_scale(const Block& b) {
  if constexpr (std::is_same_v<Block, BlockMXFP4>) return e8m0_half_f<A>(b.e);
  else return h2f<A>(b.d);
}

// Multi-row gemv for the 32-block types with Q8_0 activations: R rows at once share each activation block load,
// scale and offset correction, and give the core R independent streams. kOffset > 0: Decode returns unsigned codes
// u = w + kOffset (Q4_0: 8, Q5_0: 16) and the dot is sum(u*a) - kOffset*sum(a), with kOffset*sum(a) computed once
// per activation block; kOffset == 0: Decode returns signed int8 weights (sign trick).
// kIl: the R rows are one row-interleaved group (block i of row k at base + (i*R + k)*sizeof(Block), see
// runtime/compute/tensor_view.h): one sequential stream instead of R.
template <class A, class Block, int R, int kOffset, class Decode, bool kIl = false>
inline void rows_32_q8_0(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_0* yb, float* out, Decode decode) {
  constexpr int64_t S = kIl ? R : 1;  // blocks between consecutive blocks of one row
  const Block* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k)
    x[k] = reinterpret_cast<const Block*>(base + static_cast<size_t>(k) * (kIl ? sizeof(Block) : stride));
  __m256 acc[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) acc[k] = _mm256_setzero_ps();
  // At least one prefetch per 64-byte line: never step more than 64 bytes between two prefetches (Q8_0: every
  // 34-byte block, Q4_0/IQ4_NL: every 3rd 18-byte block). Rounding the step up to 68/72 bytes (every 2nd/4th
  // block) skipped one line in 17/9, each a demand miss: measured on this Zen 4 VM (1 thread, 256 MiB, rows of
  // 2048, per-thread CPU time) Q8_0 went from 12.5 to 16-17 GB/s (bench/results/repack.md).
  constexpr int kEvery = sizeof(Block) >= 64 ? 1 : static_cast<int>(64 / sizeof(Block));
  int pf = 0;
  for (int64_t i = 0; i < nb; ++i) {
    if constexpr (kIl) {
      // one stream of R blocks per step: a prefetch per 64-byte line of it
      prefetch_block<A, (R + 1) / 2>(x[0] + i * S, R * sizeof(Block));
    } else if (--pf <= 0) {
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
        if constexpr (kIs512<A>) p = dot_u8s8<A>(init, decode(x[k][i * S]), av);
        else p = _mm256_add_epi32(init, dot_u8s8<A>(_mm256_setzero_si256(), decode(x[k][i * S]), av));
      } else {
        p = dot_s8s8<A>(_mm256_setzero_si256(), decode(x[k][i * S]), av);
      }
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(_mm256_set1_ps(block_scale<A>(x[k][i * S])), da), acc[k]);
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

// Row-interleaved ×4 groups (nrows a multiple of 4, w at a group start, stride = the plain row bytes).
template <class A, class Block, int kOffset, class Decode>
void gemv_32_q8_0_il4(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows,
                      Decode decode) {
  const auto* base = static_cast<const uint8_t*>(w);
  const auto* yb = static_cast<const BlockQ8_0*>(act);
  for (int64_t r = 0; r + 4 <= nrows; r += 4)
    rows_32_q8_0<A, Block, 4, kOffset, Decode, true>(n / 32, base + static_cast<size_t>(r) * stride, stride, yb,
                                                     y + r, decode);
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
float vd_mxfp4(int64_t n, const void* w, const void* a) {
  const __m256i t = mxfp4_codes_table<A>();
  float out;
  rows_32_q8_0<A, BlockMXFP4, 1, 16>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const BlockQ8_0*>(a), &out,
                                    [t](const BlockMXFP4& b) { return weights_mxfp4<A>(b, t); });
  return out;
}

template <class A>
void gemv_q8_0(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_32_q8_0<A, BlockQ8_0, 0>(n, w, s, a, y, nr, [](const BlockQ8_0& b) { return loadu256<A>(b.qs); });
}
template <class A>
void gemv_q8_0_il4(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_32_q8_0_il4<A, BlockQ8_0, 0>(n, w, s, a, y, nr, [](const BlockQ8_0& b) { return loadu256<A>(b.qs); });
}
template <class A>
void gemv_q4_0_il4(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_32_q8_0_il4<A, BlockQ4_0, 8>(n, w, s, a, y, nr, [](const BlockQ4_0& b) { return codes_q4_0<A>(b); });
}
template <class A>
void gemv_q5_0_il4(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  gemv_32_q8_0_il4<A, BlockQ5_0, 16>(n, w, s, a, y, nr, [](const BlockQ5_0& b) { return codes_q5_0<A>(b); });
}
template <class A>
void gemv_iq4_nl_il4(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  const __m256i t = iq4nl_table<A>();
  gemv_32_q8_0_il4<A, BlockIQ4_NL, 0>(n, w, s, a, y, nr, [t](const BlockIQ4_NL& b) { return weights_iq4_nl<A>(b, t); });
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
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(_mm256_set1_ps(block_scale<A>(x[k][i])), da), acc[k]);
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

template <class A>
void gemv_mxfp4_il4(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  const __m256i t = mxfp4_codes_table<A>();
  gemv_32_q8_0_il4<A, BlockMXFP4, 16>(n, w, s, a, y, nr, [t](const BlockMXFP4& b) { return weights_mxfp4<A>(b, t); });
}
template <class A>
void gemv_mxfp4(int64_t n, const void* w, size_t s, const void* a, float* y, int64_t nr) {
  const __m256i t = mxfp4_codes_table<A>();
  gemv_32_q8_0<A, BlockMXFP4, 16>(n, w, s, a, y, nr, [t](const BlockMXFP4& b) { return weights_mxfp4<A>(b, t); });
}

}  // namespace
}  // namespace latte::simd
