// x86 SIMD kernels, part 3b: 512-bit VNNI multi-row gemv for Q4_K / Q5_K / Q6_K x Q8_K (see kernels_x86_common.h).
// Used only by the AVX-512 table fill (fill_x86<Avx512>); the templates are never instantiated for AVX2, so the
// AVX-512 intrinsics below never reach AVX2 code generation.
//
// 4 rows at once (then 2, 1) share the activation side, which is re-laid once per call (ActQ45 / ActQ6). Per-sub-
// block scales: every int32 lane of a fresh vpdpbusd over 4 products of a weight code and a Q8_K value (|a| <= 127)
// fits int16 (Q4_K 4*15*127, Q5_K 4*31*127, Q6_K (q - 32): 4*32*127 < 32768), so the two dots of a 64-byte chunk
// are packed to int16 with vpackssdw (exact) and scaled with one vpmaddwd / vpdpwssd against a vpshufb-built vector
// of per-lane scales. Software prefetch is essential (see prefetch_k512).
// Measured on the Zen 4 VM (1 thread, rows of 2048, ~512 MiB, against the single-row 256-bit kernels, machine shared
// with other jobs): Q4_K ~16 -> ~21 GB/s, Q5_K ~16 -> ~20, Q6_K ~18 -> ~21; in L2 (compute bound) Q4_K 21 -> 31,
// Q5_K 21 -> 30, Q6_K 33 -> 36 GB/s.
#pragma once
#include <algorithm>

#include "quant/isa/kernels_x86_kquants.h"

namespace latte::simd {
namespace {

// 128-bit lane k (0..3) of v broadcast to all four lanes. The immediate must be a compile-time constant for clang
// even where the loop over k is unrolled, hence the switch (folded away after unrolling).
template <int kUnused = 0>  // a template, so AVX2 translation units never generate it
inline __m512i bcast_lane128(__m512i v, int k) {
  switch (k) {
    case 0: return _mm512_shuffle_i64x2(v, v, 0x00);
    case 1: return _mm512_shuffle_i64x2(v, v, 0x55);
    case 2: return _mm512_shuffle_i64x2(v, v, 0xAA);
    default: return _mm512_shuffle_i64x2(v, v, 0xFF);
  }
}

// The 256 codes of a Q4_K / Q5_K block as four 64-byte planes (values 0..15 / 0..31): lo0 = elements [0..31 | 64..95]
// (low nibbles of qs[0..63]), hi0 = [32..63 | 96..127], lo1 = [128..159 | 192..223], hi1 = [160..191 | 224..255].
// Q5_K adds bit 4 from qh: element 32s + l takes bit s of qh[l]. Shared by the gemv (this file) and tile kernels.
struct CodePlanes45 {
  __m512i lo0, hi0, lo1, hi1;
};
template <class A, bool kFive, class Block>
inline CodePlanes45 code_planes_q45(const Block& b, __m512i m4) {
  const __m512i raw0 = _mm512_loadu_si512(b.qs), raw1 = _mm512_loadu_si512(b.qs + 64);
  CodePlanes45 p{_mm512_and_si512(raw0, m4), _mm512_and_si512(_mm512_srli_epi16(raw0, 4), m4),
                 _mm512_and_si512(raw1, m4), _mm512_and_si512(_mm512_srli_epi16(raw1, 4), m4)};
  if constexpr (kFive) {
    const __m512i qh = _mm512_broadcast_i64x4(loadu256<A>(b.qh));
    const __m512i c16 = _mm512_set1_epi8(0x10);
    const __m512i t00 = _mm512_set_epi64(0x0404040404040404ll, 0x0404040404040404ll, 0x0404040404040404ll,
                                         0x0404040404040404ll, 0x0101010101010101ll, 0x0101010101010101ll,
                                         0x0101010101010101ll, 0x0101010101010101ll);
    p.lo0 = _mm512_mask_add_epi8(p.lo0, _mm512_test_epi8_mask(qh, t00), p.lo0, c16);
    p.hi0 = _mm512_mask_add_epi8(p.hi0, _mm512_test_epi8_mask(qh, _mm512_add_epi8(t00, t00)), p.hi0, c16);
    const __m512i t10 = _mm512_slli_epi64(t00, 4);
    p.lo1 = _mm512_mask_add_epi8(p.lo1, _mm512_test_epi8_mask(qh, t10), p.lo1, c16);
    p.hi1 = _mm512_mask_add_epi8(p.hi1, _mm512_test_epi8_mask(qh, _mm512_add_epi8(t10, t10)), p.hi1, c16);
  }
  return p;
}


// [lo[0..31] | hi[0..31]] as one zmm.
template <class A>
inline __m512i load2x256(const void* lo, const void* hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256<A>(lo)), loadu256<A>(hi), 1);
}

// Software prefetch: each row prefetches its own block of the row G groups of R rows ahead (same row slot, same
// block), G = ceil(LATTE_KQ512_PFD / (R * stride)), so every line is requested the same G group-times before use
// whatever the row length (a flat byte distance gives rows of some lengths a lead of only a block or two: at rows of
// 2816 a flat 8 KiB ran Q4_K at 17 GB/s, this at 21-24; 8, 12 and 16 KiB measured alike within noise, 16 KiB
// marginally best; 4 KiB flat: 11 GB/s). Without prefetch these kernels stream at a third of the
// speed (the hardware prefetcher does not keep R interleaved streams ahead); T1 (to L2) >> T0/NTA here.
#ifndef LATTE_KQ512_PFD
#define LATTE_KQ512_PFD 16384
#endif
#ifndef LATTE_KQ512_HINT
#define LATTE_KQ512_HINT LATTE_PF_HINT
#endif
template <int R>
inline size_t k512_pf_offset(size_t stride) {
  const size_t group = static_cast<size_t>(R) * stride;
  return (LATTE_KQ512_PFD + group - 1) / group * group;
}
template <class A>
inline void prefetch_k512(const void* p, size_t off, size_t bytes) {
  if constexpr (LATTE_KQ512_PFD > 0) {
    const char* c = static_cast<const char*>(p) + off;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, LATTE_KQ512_HINT);
  }
}

// 64-byte vpshufb mask from f(lane, byte) (lane = 128-bit lane 0..3, byte 0..15; -1 = zero).
template <class A, class F>
inline __m512i make_mask(F f) {
  alignas(64) int8_t m[64];
  for (int l = 0; l < 4; ++l)
    for (int b = 0; b < 16; ++b) m[16 * l + b] = static_cast<int8_t>(f(l, b));
  return _mm512_load_si512(m);
}

// Q8_K activations re-laid once per gemv call for Q4_K / Q5_K: a[2h] = [e 128h+0..31 | 128h+64..95] (paired with
// the low nibbles of qs[64h..64h+63]), a[2h+1] = [128h+32..63 | 128h+96..127] (high nibbles); bsp = the 8 sums of
// the 32-element sub-blocks; d = the block scale.
struct alignas(64) ActQ45 {
  __m512i a[4];
  __m128i bsp;
  float d;
};

template <class A>
inline void prepare_act_q45(const BlockQ8_K* yb, int64_t nb, ActQ45* pa) {
  for (int64_t i = 0; i < nb; ++i) {
    const int8_t* a8 = yb[i].qs;
    pa[i].a[0] = load2x256<A>(a8, a8 + 64);
    pa[i].a[1] = load2x256<A>(a8 + 32, a8 + 96);
    pa[i].a[2] = load2x256<A>(a8 + 128, a8 + 192);
    pa[i].a[3] = load2x256<A>(a8 + 160, a8 + 224);
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[i].bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[i].bsums + 8));
    pa[i].bsp = _mm_hadd_epi16(b0, b1);
    pa[i].d = yb[i].d;
  }
}

// ---- Q4_K / Q5_K. A 64-byte load of qs[64h..64h+63] holds, in its low nibbles, elements [128h+0..31 | 128h+64..95]
// (sub-blocks 4h, 4h+2) and in its high nibbles [128h+32..63 | 128h+96..127] (sub-blocks 4h+1, 4h+3), matched by
// ActQ45::a[2h], a[2h+1]. The two dpbusd dots of a 64-byte chunk are packed to int16
// (vpackssdw, exact) and scaled by one vpmaddwd / vpdpwssd. The 16-byte block headers (d, dmin, 12 scale bytes) of
// the R <= 4 rows are unpacked together, one row per 128-bit lane, into F = [m4..7 | sc0..3 | m0..3 | sc4..7].
// Mins: dmin * sum_s m_s * (bsums[2s] + bsums[2s+1]), one row per lane too.
// kIl: the R rows are one row-interleaved group (block i of row k at base + (i*R + k)*sizeof(Block)): one stream.
template <class A, bool kFive, int R, bool kIl = false>
inline void rows_q45_k_512(int64_t nb, const uint8_t* base, size_t stride, const ActQ45* pa, float* out) {
  static_assert(R >= 1 && R <= 4);
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  constexpr int64_t S = kIl ? R : 1;
  const Block* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k)
    x[k] = reinterpret_cast<const Block*>(base + static_cast<size_t>(k) * (kIl ? sizeof(Block) : stride));
  const size_t pf_off = kIl ? k512_pf_offset<1>(R * sizeof(Block)) : k512_pf_offset<R>(stride);
  __m512 acc[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  __m512 accm = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i c3f = _mm512_set1_epi8(0x3F), cc0 = _mm512_set1_epi8(static_cast<char>(0xC0));
  const __m512i sh4 = _mm512_set4_epi32(0, 4, 0, 0);
  auto pos_sc = [](int j) { return j < 4 ? 4 + j : 8 + j; };
  auto pos_m = [](int j) { return j < 4 ? 8 + j : j - 4; };
  const __m512i minmask = make_mask<A>([&](int, int b) { return b % 2 ? -1 : pos_m(b / 2); });
  // product h: words 0..3 of lane L = dot of the low nibbles (sub-block 4h + 2 * (L >= 2)), words 4..7 = high nibbles
  auto scmask = [&](int h) {
    return make_mask<A>([&, h](int l, int b) { return b % 2 ? -1 : pos_sc(4 * h + 2 * (l >= 2) + (b >= 8)); });
  };
  const __m512i scm0 = scmask(0), scm1 = scmask(1);
  const __m512i idx_d = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
  const __m512i idx_dm = _mm512_set_epi32(7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3, 1, 1, 1, 1);
  alignas(32) float fd[8];
  for (int64_t i = 0; i < nb; ++i) {
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) prefetch_k512<A>(x[k] + i * S, pf_off, sizeof(Block));
    const ActQ45& act = pa[i];
    const __m512i alo0 = act.a[0], ahi0 = act.a[1], alo1 = act.a[2], ahi1 = act.a[3];
    const __m512i bsp = _mm512_broadcast_i32x4(act.bsp);  // 8 sub-block sums
    // headers: lane k = [d dmin | u0 | u1 | u2] of row k
    __m512i hv = _mm512_zextsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&x[0][i * S])));
    if constexpr (R > 1) hv = _mm512_inserti32x4(hv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&x[1][i * S])), 1);
    if constexpr (R > 2) hv = _mm512_inserti32x4(hv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&x[2][i * S])), 2);
    if constexpr (R > 3) hv = _mm512_inserti32x4(hv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&x[3][i * S])), 3);
    const __m512i sa = _mm512_and_si512(hv, c3f);                            // dw1 = sc0..3, dw2 = m0..3
    const __m512i t = _mm512_srli_epi32(_mm512_and_si512(hv, cc0), 2);       // dw1/dw2: high 2 bits of sc/m 4..7
    const __m512i u2 = _mm512_srlv_epi32(_mm512_shuffle_epi32(hv, _MM_PERM_DDDD), sh4);  // dw1 = u2, dw2 = u2 >> 4
    const __m512i sb = _mm512_ternarylogic_epi32(u2, t, m4, 0xEC);           // dw1 = sc4..7, dw2 = m4..7
    const __m512i F = _mm512_mask_blend_epi32(0x6666, _mm512_shuffle_epi32(sb, _MM_PERM_BAAC), sa);
    const __m256 fy = _mm256_mul_ps(_mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(idx_d, hv))),
                                    _mm256_set1_ps(act.d));  // [d0 dmin0 d1 dmin1 ...] * d_act
    _mm256_store_ps(fd, fy);
    const __m512i pm = _mm512_madd_epi16(_mm512_shuffle_epi8(F, minmask), bsp);
    accm = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pm), _mm512_permutexvar_ps(idx_dm, _mm512_castps256_ps512(fy)), accm);
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const Block& b = x[k][i * S];
      const __m512i scb = bcast_lane128(F, k);
      const CodePlanes45 cp = code_planes_q45<A, kFive>(b, m4);
      const __m512i lo0 = cp.lo0, hi0 = cp.hi0, lo1 = cp.lo1, hi1 = cp.hi1;
      const __m512i z = _mm512_setzero_si512();
      const __m512i p0 = _mm512_packs_epi32(_mm512_dpbusd_epi32(z, lo0, alo0), _mm512_dpbusd_epi32(z, hi0, ahi0));
      const __m512i p1 = _mm512_packs_epi32(_mm512_dpbusd_epi32(z, lo1, alo1), _mm512_dpbusd_epi32(z, hi1, ahi1));
      __m512i s = _mm512_madd_epi16(p0, _mm512_shuffle_epi8(scb, scm0));
      s = _mm512_dpwssd_epi32(s, p1, _mm512_shuffle_epi8(scb, scm1));
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(fd[2 * k]), acc[k]);
    }
  }
  alignas(64) float m[16];
  _mm512_store_ps(m, accm);
  LATTE_UNROLL
  for (int k = 0; k < R; ++k)
    out[k] = _mm512_reduce_add_ps(acc[k]) - ((m[4 * k] + m[4 * k + 1]) + (m[4 * k + 2] + m[4 * k + 3]));
}

// Q6_K offsets re-laid once per gemv call: o[j] = -32 * (sums of 4 activations) of 64-byte chunk j.
struct alignas(64) ActQ6 {
  __m512i o[4];
};
template <class A>
inline void prepare_act_q6(const BlockQ8_K* yb, int64_t nb, ActQ6* pa) {
  const __m512i z = _mm512_setzero_si512(), c32 = _mm512_set1_epi8(32);
  for (int64_t i = 0; i < nb; ++i)
    for (int j = 0; j < 4; ++j)
      pa[i].o[j] = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, c32, _mm512_loadu_si512(yb[i].qs + 64 * j)));
}

// ---- Q6_K. A 64-byte load of ql[64h..64h+63] holds elements 128h+0..63 in its low nibbles and 128h+64..127 in its
// high nibbles, so the activation zmm are plain 64-byte loads; qh[32h..32h+31] broadcast to both halves, the right
// half shifted by 2, gives the high 2 bits of both. The -32 offset rides on the shared dpbusd accumulator
// init = -32 * (sums of 4 activations), so each lane already holds sum (q - 32) * a.
template <class A, int R, bool kIl = false>
inline void rows_q6_k_512(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_K* yb, const ActQ6* pa,
                          float* out) {
  constexpr int64_t S = kIl ? R : 1;
  const BlockQ6_K* x[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k)
    x[k] = reinterpret_cast<const BlockQ6_K*>(base + static_cast<size_t>(k) * (kIl ? sizeof(BlockQ6_K) : stride));
  const size_t pf_off = kIl ? k512_pf_offset<1>(R * sizeof(BlockQ6_K)) : k512_pf_offset<R>(stride);
  __m512 acc[R];
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m512i qh_shift = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
  // Scales: the 16 int8 scale bytes of row k sit in 128-bit lane k of sv (broadcast to all lanes for row k); each
  // is placed in the HIGH byte of an int16 (low byte 0), i.e. the multiplier is 256 * s_j, exact and without a sign
  // extension; 1/256 is folded into the float scale. No overflow: a dword sums 4 products |p| <= 4*32*127 = 16256,
  // |256 s| <= 32768, 4 * 16256 * 32768 < 2^31. Packed product h: words 0..3 of lane L need s_{8h+L} (low
  // nibbles), words 4..7 s_{8h+4+L} (high nibbles).
  auto scmask = [&](int h) {
    return make_mask<A>([h](int l, int b) { return b % 2 ? 8 * h + 4 * (b >= 8) + l : -1; });
  };
  const __m512i scm0 = scmask(0), scm1 = scmask(1);
  for (int64_t i = 0; i < nb; ++i) {
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) prefetch_k512<A>(x[k] + i * S, pf_off, sizeof(BlockQ6_K));
    const int8_t* a8 = yb[i].qs;
    const __m512i a0 = _mm512_loadu_si512(a8), a1 = _mm512_loadu_si512(a8 + 64);
    const __m512i a2 = _mm512_loadu_si512(a8 + 128), a3 = _mm512_loadu_si512(a8 + 192);
    const __m512i o0 = pa[i].o[0], o1 = pa[i].o[1], o2 = pa[i].o[2], o3 = pa[i].o[3];
    const float yd = yb[i].d * (1.f / 256);
    __m512i sv = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[0][i * S].scales)));
    if constexpr (R > 1) sv = _mm512_inserti32x4(sv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[1][i * S].scales)), 1);
    if constexpr (R > 2) sv = _mm512_inserti32x4(sv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[2][i * S].scales)), 2);
    if constexpr (R > 3) sv = _mm512_inserti32x4(sv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[3][i * S].scales)), 3);
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const BlockQ6_K& b = x[k][i * S];
      const __m512i scb = R == 1 ? _mm512_broadcast_i32x4(_mm512_castsi512_si128(sv)) : bcast_lane128(sv, k);
      __m512i s;
      {
        const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(loadu256<A>(b.qh)), qh_shift);
        const __m512i ql = _mm512_loadu_si512(b.ql);
        const __m512i ql_lo = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), m4, 0xE4);
        const __m512i ql_hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(qh, m30), m4, 0xE4);
        const __m512i p = _mm512_packs_epi32(_mm512_dpbusd_epi32(o0, ql_lo, a0), _mm512_dpbusd_epi32(o1, ql_hi, a1));
        s = _mm512_madd_epi16(p, _mm512_shuffle_epi8(scb, scm0));
      }
      {
        const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(loadu256<A>(b.qh + 32)), qh_shift);
        const __m512i ql = _mm512_loadu_si512(b.ql + 64);
        const __m512i ql_lo = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), m4, 0xE4);
        const __m512i ql_hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(qh, m30), m4, 0xE4);
        const __m512i p = _mm512_packs_epi32(_mm512_dpbusd_epi32(o2, ql_lo, a2), _mm512_dpbusd_epi32(o3, ql_hi, a3));
        s = _mm512_dpwssd_epi32(s, p, _mm512_shuffle_epi8(scb, scm1));
      }
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(h2f<A>(b.d) * yd), acc[k]);
    }
  }
  LATTE_UNROLL
  for (int k = 0; k < R; ++k) out[k] = _mm512_reduce_add_ps(acc[k]);
}

// Rows in groups of 4, then 2, then 1, over column chunks of kActChunk blocks whose activation side (Act, built by
// Prep) is re-laid once per call. Measured on the Zen 4 VM (1 thread, 512 MiB, rows of 2048 and 2816, same
// prefetch): Q4_K 4 rows 19-23 GB/s, 2 rows 16-21, 1 row 14-17; Q6_K 20-23 for all three. The re-laid activations
// (vs building them per block per group) took Q4_K in L2 from 29.6 to 31.4 GB/s.
constexpr int64_t kActChunk = 64;  // blocks per column chunk (Q4_K/Q5_K: 20 KiB of stack, Q6_K: 16 KiB)

// kIl: row-interleaved ×4 groups (nrows a multiple of 4, stride = plain row bytes): column chunk c0 of group r
// starts at w + r*stride + c0*4*sizeof(Block).
template <class A, class Block, class Act, void (*Prep)(const BlockQ8_K*, int64_t, Act*), class Rows, bool kIl = false>
void gemv_k512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows, Rows rows) {
  const auto* yb = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = n / QK_K;
  Act pa[kActChunk];
  for (int64_t c0 = 0; c0 < nb; c0 += kActChunk) {
    const int64_t cn = std::min<int64_t>(kActChunk, nb - c0);
    Prep(yb + c0, cn, pa);
    const auto* base = static_cast<const uint8_t*>(w) + static_cast<size_t>(c0) * sizeof(Block) * (kIl ? 4 : 1);
    float part[4];
    auto run = [&](auto rt, int64_t r) {
      constexpr int R = decltype(rt)::value;
      rows(rt, cn, base + static_cast<size_t>(r) * stride, stride, yb + c0, pa, part);
      LATTE_UNROLL
      for (int k = 0; k < R; ++k) y[r + k] = c0 == 0 ? part[k] : y[r + k] + part[k];
    };
    int64_t r = 0;
    for (; r + 4 <= nrows; r += 4) run(std::integral_constant<int, 4>{}, r);
    if constexpr (!kIl) {
      for (; r + 2 <= nrows; r += 2) run(std::integral_constant<int, 2>{}, r);
      for (; r < nrows; ++r) run(std::integral_constant<int, 1>{}, r);
    }
  }
}

template <class A, bool kFive>
void gemv_q45_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  gemv_k512<A, Block, ActQ45, prepare_act_q45<A>>(
      n, w, stride, act, y, nrows,
      [](auto rt, int64_t nb, const uint8_t* base, size_t st, const BlockQ8_K*, const ActQ45* pa, float* out) {
        rows_q45_k_512<A, kFive, decltype(rt)::value>(nb, base, st, pa, out);
      });
}
template <class A, bool kFive>
void gemv_q45_k_512_il4(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  auto rows = [](auto rt, int64_t nb, const uint8_t* base, size_t st, const BlockQ8_K*, const ActQ45* pa, float* out) {
    rows_q45_k_512<A, kFive, decltype(rt)::value, true>(nb, base, st, pa, out);
  };
  gemv_k512<A, Block, ActQ45, prepare_act_q45<A>, decltype(rows), true>(n, w, stride, act, y, nrows, rows);
}
template <class A>
void gemv_q4_k_512_il4(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_q45_k_512_il4<A, false>(n, w, stride, act, y, nrows);
}
template <class A>
void gemv_q5_k_512_il4(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_q45_k_512_il4<A, true>(n, w, stride, act, y, nrows);
}
template <class A>
void gemv_q6_k_512_il4(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  auto rows = [](auto rt, int64_t nb, const uint8_t* base, size_t st, const BlockQ8_K* yb, const ActQ6* pa,
                 float* out) { rows_q6_k_512<A, decltype(rt)::value, true>(nb, base, st, yb, pa, out); };
  gemv_k512<A, BlockQ6_K, ActQ6, prepare_act_q6<A>, decltype(rows), true>(n, w, stride, act, y, nrows, rows);
}
template <class A>
void gemv_q4_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_q45_k_512<A, false>(n, w, stride, act, y, nrows);
}
template <class A>
void gemv_q5_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_q45_k_512<A, true>(n, w, stride, act, y, nrows);
}
template <class A>
void gemv_q6_k_512(int64_t n, const void* w, size_t stride, const void* act, float* y, int64_t nrows) {
  gemv_k512<A, BlockQ6_K, ActQ6, prepare_act_q6<A>>(
      n, w, stride, act, y, nrows,
      [](auto rt, int64_t nb, const uint8_t* base, size_t st, const BlockQ8_K* yb, const ActQ6* pa, float* out) {
        rows_q6_k_512<A, decltype(rt)::value>(nb, base, st, yb, pa, out);
      });
}

}  // namespace
}  // namespace latte::simd
