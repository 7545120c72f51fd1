// x86 SIMD kernels, part 3c: AVX-512 VNNI multi-token tile kernels (KernelTable::gemm_tile) for Q4_K / Q5_K / Q6_K x
// Q8_K and Q8_0 / Q5_0 / Q4_0 / MXFP4 / IQ4_NL x Q8_0 (see kernels_x86_common.h for the rules). Used only by fill_x86<Avx512> behind
// `if constexpr (kIs512<A>)`; nothing here is instantiated for AVX2. Results equal the scalar vec_dot up to f32
// summation order (integer block products are exact). Measured on Zen 4 (1 thread, 16 rows, 48 tokens, L2-resident):
// Q4_K ~190-200 GFLOP/s vs ~110 for the per-token 512-bit gemv; Q8_0 / Q5_0 (n = 1408) ~180 vs ~60
// (bench/bench_tile.cpp).
//
// y[t*ldy + r] = dot(weight row r, activation row t). Each call decodes every weight row ONCE (per chunk of up to
// ~64 tokens) into an L1 buffer of unsigned 8-bit codes plus per-lane scales, re-lays the activations once, and
// then runs a register tile of up to 4 rows x 3 tokens of vpdpbusd over groups of 256 elements.
//
// Layout of a group (256 elements) after the re-lay: four zmm A_0..A_3 such that int32 lane l of every A_j holds
// 4 elements of the SAME scale unit (Q4_K/Q5_K: sub-block of 32; 32-blocks: block), 16 distinct elements over
// j = 0..3. So the 4 vpdpbusd of a (row, token) pair chain into one accumulator whose lanes each sum 16 products
// of one scale unit: for Q4_K |lane| <= 16*15*128 < 32768 fits int16, and one vpmaddwd with (scale, 0) int16 pairs
// applies the 6-bit sub-block scales exactly (Q5_K: 8 products per lane, a vpmaddwd per 2 vpdpbusd); the
// 32-blocks multiply the converted lanes by per-lane float (d_w * d_a) instead.
//
// Re-lay: the 256 elements are first loaded as four zmm V_0..V_3 whose two 32-byte halves each hold one scale unit
// (Q4_K: V_k = e[64k..64k+63] = [sb 2k | sb 2k+1], plain loads of the Q8_K row, the weights' nibble planes shuffled
// into that order; 32-blocks: V_p = [block 2p | block 2p+1]); then 128-bit lane group L of every A_j draws only
// from V_L: A_j[L][g] = V_L.dword[8*(g>>1) + 2j + (g&1)] (4 vpermt2d + 4 vshufi64x2). Lane (L, g) thus belongs to
// half (g>>1) of V_L. Weights get the same permutation, so the products pair the same elements.
#pragma once
#include <algorithm>
#include <vector>

#include "quant/isa/kernels_x86_kquants512.h"

namespace latte::simd {
namespace {

// 64-byte aligned per-thread scratch (grown, never shrunk).
template <class A>
inline uint8_t* tile_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  const auto p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t(63));
}
inline size_t tile_round64(size_t b) { return (b + 63) & ~size_t(63); }

// [lo[0..31] | hi[0..31]] as one zmm.
template <class A>
inline __m512i tile_load2x256(const void* lo, const void* hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256<A>(lo)), loadu256<A>(hi), 1);
}

// Software prefetch (into L2) of a block of weight rows, a few lines per step: the current call's rows during the
// activation re-lay, and the rows right after this block (the caller's next 16-row block, as gemm_rows and
// matmul_3d walk them) during the tile loop, so the next call's decode does not wait on DRAM.
#ifndef LATTE_TILE_PF
#define LATTE_TILE_PF 1
#endif
struct TilePrefetch {
  const uint8_t* p;
  size_t stride, row_bytes;
  int64_t rows;
  int64_t r = 0;
  size_t off = 0;
  int64_t lines() const { return rows * static_cast<int64_t>((row_bytes + 63) / 64); }
  void step(int64_t k) {
    if constexpr (LATTE_TILE_PF == 0) return;
    for (; k > 0 && r < rows; --k) {
      _mm_prefetch(reinterpret_cast<const char*>(p + static_cast<size_t>(r) * stride + off), _MM_HINT_T1);
      off += 64;
      if (off >= row_bytes) {
        off = 0;
        ++r;
      }
    }
  }
};

// V_0..V_3 -> A_0..A_3 (see the header comment), stored as 256 contiguous bytes at dst.
template <class A>
inline void tile_relay_store(__m512i v0, __m512i v1, __m512i v2, __m512i v3, uint8_t* dst) {
  const __m512i i0 = _mm512_setr_epi32(0, 1, 8, 9, 16, 17, 24, 25, 2, 3, 10, 11, 18, 19, 26, 27);
  const __m512i i1 = _mm512_setr_epi32(4, 5, 12, 13, 20, 21, 28, 29, 6, 7, 14, 15, 22, 23, 30, 31);
  const __m512i p0 = _mm512_permutex2var_epi32(v0, i0, v1), q0 = _mm512_permutex2var_epi32(v2, i0, v3);
  const __m512i p1 = _mm512_permutex2var_epi32(v0, i1, v1), q1 = _mm512_permutex2var_epi32(v2, i1, v3);
  _mm512_store_si512(dst, _mm512_shuffle_i64x2(p0, q0, 0x44));
  _mm512_store_si512(dst + 64, _mm512_shuffle_i64x2(p0, q0, 0xEE));
  _mm512_store_si512(dst + 128, _mm512_shuffle_i64x2(p1, q1, 0x44));
  _mm512_store_si512(dst + 192, _mm512_shuffle_i64x2(p1, q1, 0xEE));
}

// [a_sum, b_sum, c_sum, d_sum] of four zmm.
template <class A>
inline __m128 tile_hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4E));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xB1));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

// Stores the R x T tile sums: y[t*ldy + r].
template <class A, int R, int T>
inline void tile_store(__m512 (&acc)[R][T], float* y, int64_t ldy) {
  const __m512 z = _mm512_setzero_ps();
  LATTE_UNROLL
  for (int t = 0; t < T; ++t) {
    const __m128 s = tile_hsum4<A>(acc[0][t], R > 1 ? acc[R > 1 ? 1 : 0][t] : z, R > 2 ? acc[R > 2 ? 2 : 0][t] : z,
                                   R > 3 ? acc[R > 3 ? 3 : 0][t] : z);
    if constexpr (R == 4) _mm_storeu_ps(y + t * ldy, s);
    else _mm_mask_storeu_ps(y + t * ldy, static_cast<__mmask8>((1u << R) - 1), s);
  }
}

// Token chunk: activations re-laid per chunk (at most ~128 KiB of them), a multiple of 3 (the tile width).
inline int64_t tile_token_chunk(int64_t bytes_per_token) {
  int64_t tc = (int64_t{131072} / std::max<int64_t>(bytes_per_token, 1)) / 3 * 3;
  return std::clamp<int64_t>(tc, 3, 96);
}

// =============================================================================== Q4_K / Q5_K x Q8_K

struct KqTileCtx {
  int64_t ng, ngp, tcp;
  const uint8_t* ab;   // [tc][ng][256] re-laid activations
  const float* bsf;    // [tc][ngp][8] yd * (sub-block sums)
  const uint8_t* wb;   // [4][ng][256] re-laid weight codes
  const __m512i* scv;  // [4][ng] (scale, 0) int16 pairs per lane
  const float* mf;     // [4][ngp][8] -dmin * min
  const float* dy;     // [4][ng][tcp] d * yd
};

// Lane (L, g) -> sub-block 2L + (g>>1) (half (g>>1) of V_L = e[64L..64L+63]).
template <class A>
inline __m512i kq_scale_mask() {
  auto m = [](int sb) { return static_cast<int>(0x80808000u | static_cast<unsigned>(sb)); };
  return _mm512_setr_epi32(m(0), m(0), m(1), m(1), m(2), m(2), m(3), m(3), m(4), m(4), m(5), m(5), m(6), m(6), m(7),
                           m(7));
}

template <class A, bool kFive, int R, int T>
void kq_micro(const KqTileCtx& c, int64_t t0, float* y, int64_t ldy) {
  const int64_t ng = c.ng;
  const size_t as = static_cast<size_t>(ng) * 256;
  const uint8_t* ab = c.ab + static_cast<size_t>(t0) * as;
  __m512 acc[R][T];
  LATTE_UNROLL
  for (int r = 0; r < R; ++r)
    LATTE_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < ng; ++i) {
    const uint8_t* a = ab + static_cast<size_t>(i) * 256;
    const uint8_t* w = c.wb + static_cast<size_t>(i) * 256;
    __m512i dot[R][T];
    [[maybe_unused]] __m512i s[R][T];
    LATTE_UNROLL
    for (int j = 0; j < 4; ++j) {
      __m512i av[T];
      LATTE_UNROLL
      for (int t = 0; t < T; ++t) av[t] = _mm512_load_si512(a + t * as + 64 * j);
      LATTE_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512i wv = _mm512_load_si512(w + r * as + 64 * j);
        LATTE_UNROLL
        for (int t = 0; t < T; ++t) {
          if (kFive ? (j % 2 == 0) : (j == 0)) dot[r][t] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, av[t]);
          else dot[r][t] = _mm512_dpbusd_epi32(dot[r][t], wv, av[t]);
        }
      }
      if constexpr (kFive) {
        if (j == 1) {
          LATTE_UNROLL
          for (int r = 0; r < R; ++r) {
            const __m512i sc = _mm512_load_si512(c.scv + r * ng + i);
            LATTE_UNROLL
            for (int t = 0; t < T; ++t) s[r][t] = _mm512_madd_epi16(dot[r][t], sc);
          }
        }
      }
    }
    LATTE_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512i sc = _mm512_load_si512(c.scv + r * ng + i);
      const float* dy = c.dy + (static_cast<size_t>(r * ng + i)) * c.tcp + t0;
      LATTE_UNROLL
      for (int t = 0; t < T; ++t) {
        __m512i v;
        if constexpr (kFive) v = _mm512_dpwssd_epi32(s[r][t], dot[r][t], sc);
        else v = _mm512_madd_epi16(dot[r][t], sc);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(dy[t]), acc[r][t]);
      }
    }
  }
  // mins: acc += (-dmin * m_s) * (yd * bsum_s), two groups per zmm
  const size_t ms = static_cast<size_t>(c.ngp) * 8;
  for (int64_t i = 0; i < c.ngp; i += 2) {
    __m512 bv[T];
    LATTE_UNROLL
    for (int t = 0; t < T; ++t) bv[t] = _mm512_load_ps(c.bsf + (t0 + t) * ms + i * 8);
    LATTE_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512 m = _mm512_load_ps(c.mf + r * ms + i * 8);
      LATTE_UNROLL
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(m, bv[t], acc[r][t]);
    }
  }
  tile_store<A, R, T>(acc, y, ldy);
}

template <class A, bool kFive>
void gemm_tile_q45_k(int64_t n, const void* w, size_t w_stride, const void* act, size_t act_stride, float* y,
                     int64_t ldy, int64_t nrows, int64_t ntok) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  constexpr int TM = kFive ? 2 : 3;  // tile width in tokens (Q5_K keeps a second set of int accumulators)
  using Micro = void (*)(const KqTileCtx&, int64_t, float*, int64_t);
  static constexpr Micro kMicro[4][3] = {
      {kq_micro<A, kFive, 1, 1>, kq_micro<A, kFive, 1, 2>, kq_micro<A, kFive, 1, TM>},
      {kq_micro<A, kFive, 2, 1>, kq_micro<A, kFive, 2, 2>, kq_micro<A, kFive, 2, TM>},
      {kq_micro<A, kFive, 3, 1>, kq_micro<A, kFive, 3, 2>, kq_micro<A, kFive, 3, TM>},
      {kq_micro<A, kFive, 4, 1>, kq_micro<A, kFive, 4, 2>, kq_micro<A, kFive, 4, TM>}};
  const int64_t ng = n / QK_K, ngp = (ng + 1) & ~int64_t(1);
  const int64_t tcmax = std::min(tile_token_chunk(ng * 256), ntok);
  const int64_t tcp = (tcmax + 15) & ~int64_t(15);
  // scratch layout
  const size_t sz_ab = tile_round64(static_cast<size_t>(tcmax * ng) * 256);
  const size_t sz_yd = tile_round64(static_cast<size_t>(ng * tcp) * 4);
  const size_t sz_bsf = tile_round64(static_cast<size_t>(tcmax * ngp) * 32);
  const size_t sz_wb = tile_round64(static_cast<size_t>(4 * ng) * 256);
  const size_t sz_scv = static_cast<size_t>(4 * ng) * 64;
  const size_t sz_mf = tile_round64(static_cast<size_t>(4 * ngp) * 32);
  const size_t sz_dr = tile_round64(static_cast<size_t>(4 * ng) * 4);
  const size_t sz_dy = tile_round64(static_cast<size_t>(4 * ng * tcp) * 4);
  uint8_t* base = tile_scratch<A>(sz_ab + sz_yd + sz_bsf + sz_wb + sz_scv + sz_mf + sz_dr + sz_dy);
  uint8_t* ab = base;
  float* ydt = reinterpret_cast<float*>(ab + sz_ab);
  float* bsf = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(ydt) + sz_yd);
  uint8_t* wb = reinterpret_cast<uint8_t*>(bsf) + sz_bsf;
  auto* scv = reinterpret_cast<__m512i*>(wb + sz_wb);
  float* mf = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(scv) + sz_scv);
  float* dr = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(mf) + sz_mf);
  float* dy = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(dr) + sz_dr);
  std::memset(ydt, 0, sz_yd);
  const KqTileCtx ctx{ng, ngp, tcp, ab, bsf, wb, scv, mf, dy};
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i scmask = kq_scale_mask<A>();
  const size_t ms = static_cast<size_t>(ngp) * 8;

  const size_t pf_row = sizeof(Block) * static_cast<size_t>(ng);
  const auto* wbytes = static_cast<const uint8_t*>(w);
  TilePrefetch pf_cur{wbytes, w_stride, pf_row, nrows};
  TilePrefetch pf_next{wbytes + static_cast<size_t>(nrows) * w_stride, w_stride, pf_row, nrows};
  for (int64_t t0 = 0; t0 < ntok; t0 += tcmax) {
    const int64_t tc = std::min(tcmax, ntok - t0);
    // ---- activations
    const int64_t pf_tok = pf_cur.lines() / tc + 1;
    const int64_t pf_call = pf_next.lines() / (((nrows + 3) / 4) * ((tc + TM - 1) / TM)) + 1;
    for (int64_t t = 0; t < tc; ++t) {
      pf_cur.step(pf_tok);
      const auto* yb = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(act) +
                                                          static_cast<size_t>(t0 + t) * act_stride);
      for (int64_t i = 0; i < ng; ++i) {
        const int8_t* q = yb[i].qs;
        tile_relay_store<A>(_mm512_loadu_si512(q), _mm512_loadu_si512(q + 64), _mm512_loadu_si512(q + 128),
                            _mm512_loadu_si512(q + 192), ab + static_cast<size_t>(t * ng + i) * 256);
        ydt[i * tcp + t] = yb[i].d;
        const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[i].bsums));
        const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[i].bsums + 8));
        const __m256 bs = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_hadd_epi16(b0, b1)));
        _mm256_storeu_ps(bsf + t * ms + i * 8, _mm256_mul_ps(bs, _mm256_set1_ps(yb[i].d)));
      }
      if (ng < ngp) _mm256_storeu_ps(bsf + t * ms + ng * 8, _mm256_setzero_ps());
    }
    // ---- row groups of 4
    for (int64_t r0 = 0; r0 < nrows; r0 += 4) {
      const int R = static_cast<int>(std::min<int64_t>(4, nrows - r0));
      for (int r = 0; r < R; ++r) {
        const auto* x = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) +
                                                       static_cast<size_t>(r0 + r) * w_stride);
        for (int64_t i = 0; i < ng; ++i) {
          const Block& b = x[i];
          const CodePlanes45 cp = code_planes_q45<A, kFive>(b, m4);
          const __m512i lo0 = cp.lo0, hi0 = cp.hi0, lo1 = cp.lo1, hi1 = cp.hi1;
          // nibble planes [e0..31 | e64..95], [e32..63 | e96..127], ... -> element order X_k = e[64k..64k+63]
          tile_relay_store<A>(_mm512_shuffle_i64x2(lo0, hi0, 0x44), _mm512_shuffle_i64x2(lo0, hi0, 0xEE),
                              _mm512_shuffle_i64x2(lo1, hi1, 0x44), _mm512_shuffle_i64x2(lo1, hi1, 0xEE),
                              wb + static_cast<size_t>(r * ng + i) * 256);
          const __m128i sm = k_scales_mins_vec<A>(b.scales);  // bytes [sc0..7 | m0..7]
          _mm512_store_si512(scv + r * ng + i, _mm512_shuffle_epi8(_mm512_broadcast_i32x4(sm), scmask));
          const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)));
          _mm256_storeu_ps(mf + r * ms + i * 8, _mm256_mul_ps(mins, _mm256_set1_ps(-h2f<A>(b.dmin))));
          dr[r * ng + i] = h2f<A>(b.d);
        }
        if (ng < ngp) _mm256_storeu_ps(mf + r * ms + ng * 8, _mm256_setzero_ps());
        for (int64_t i = 0; i < ng; ++i) {
          const __m512 d = _mm512_set1_ps(dr[r * ng + i]);
          float* dst = dy + static_cast<size_t>(r * ng + i) * tcp;
          const float* src = ydt + i * tcp;
          for (int64_t t = 0; t < tcp; t += 16) _mm512_store_ps(dst + t, _mm512_mul_ps(d, _mm512_load_ps(src + t)));
        }
      }
      for (int64_t t = 0; t < tc; t += TM) {
        const int T = static_cast<int>(std::min<int64_t>(TM, tc - t));
        pf_next.step(pf_call);
        kMicro[R - 1][T - 1](ctx, t, y + (t0 + t) * ldy + r0, ldy);
      }
    }
  }
}

template <class A>
void gemm_tile_q4_k(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                    int64_t nrows, int64_t ntok) {
  gemm_tile_q45_k<A, false>(n, w, ws, act, as, y, ldy, nrows, ntok);
}
template <class A>
void gemm_tile_q5_k(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                    int64_t nrows, int64_t ntok) {
  gemm_tile_q45_k<A, true>(n, w, ws, act, as, y, ldy, nrows, ntok);
}

// =============================================================================== Q6_K x Q8_K
// Unsigned codes q = 0..63 in element order (no re-lay: a lane of one vpdpbusd sums 4 products, so every vpdpbusd
// gets its own vpmaddwd / vpdpwssd with the lane's int8 scale; lane l of chunk j is sub-block 4j + l/4); activations
// are read in place. The -32 offset rides on the vpdpbusd accumulator: it starts at -32 * (sum of the lane's 4
// activations), precomputed per token, so each lane is sum (q - 32) * a, |lane| <= 4*32*128 < 32768.

struct Q6TileCtx {
  int64_t ng, tcp;
  const uint8_t* act;  // Q8_K rows of this chunk
  size_t act_stride;
  const __m512i* ao;   // [tc][ng][4] -32 * (sums of 4 activations), chunk j
  const uint8_t* wb;   // [4][ng][256] codes
  const __m512i* scv;  // [4][ng][4] (scale, 0) int16 pairs per lane, chunk j
  const float* dy;     // [4][ng][tcp] d * yd
};

template <class A, int R, int T>
void q6_micro(const Q6TileCtx& c, int64_t t0, float* y, int64_t ldy) {
  const int64_t ng = c.ng;
  const size_t ws = static_cast<size_t>(ng) * 256;
  const uint8_t* act = c.act + static_cast<size_t>(t0) * c.act_stride + offsetof(BlockQ8_K, qs);
  __m512 acc[R][T];
  LATTE_UNROLL
  for (int r = 0; r < R; ++r)
    LATTE_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < ng; ++i) {
    const uint8_t* a = act + static_cast<size_t>(i) * sizeof(BlockQ8_K);
    const uint8_t* w = c.wb + static_cast<size_t>(i) * 256;
    __m512i s[R][T];
    LATTE_UNROLL
    for (int j = 0; j < 4; ++j) {
      __m512i av[T], ov[T];
      LATTE_UNROLL
      for (int t = 0; t < T; ++t) {
        av[t] = _mm512_loadu_si512(a + t * c.act_stride + 64 * j);
        ov[t] = _mm512_load_si512(c.ao + ((t0 + t) * ng + i) * 4 + j);
      }
      LATTE_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512i wv = _mm512_load_si512(w + r * ws + 64 * j);
        const __m512i sc = _mm512_load_si512(c.scv + (r * ng + i) * 4 + j);
        LATTE_UNROLL
        for (int t = 0; t < T; ++t) {
          const __m512i d = _mm512_dpbusd_epi32(ov[t], wv, av[t]);
          s[r][t] = j == 0 ? _mm512_madd_epi16(d, sc) : _mm512_dpwssd_epi32(s[r][t], d, sc);
        }
      }
    }
    LATTE_UNROLL
    for (int r = 0; r < R; ++r) {
      const float* dy = c.dy + (static_cast<size_t>(r * ng + i)) * c.tcp + t0;
      LATTE_UNROLL
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][t]), _mm512_set1_ps(dy[t]), acc[r][t]);
    }
  }
  tile_store<A, R, T>(acc, y, ldy);
}

template <class A>
void gemm_tile_q6_k(int64_t n, const void* w, size_t w_stride, const void* act, size_t act_stride, float* y,
                    int64_t ldy, int64_t nrows, int64_t ntok) {
#ifndef LATTE_TILE_Q6_TM
#define LATTE_TILE_Q6_TM 2
#endif
  constexpr int TM = LATTE_TILE_Q6_TM;
  using Micro = void (*)(const Q6TileCtx&, int64_t, float*, int64_t);
  static constexpr Micro kMicro[4][3] = {{q6_micro<A, 1, 1>, q6_micro<A, 1, 2>, q6_micro<A, 1, TM>},
                                         {q6_micro<A, 2, 1>, q6_micro<A, 2, 2>, q6_micro<A, 2, TM>},
                                         {q6_micro<A, 3, 1>, q6_micro<A, 3, 2>, q6_micro<A, 3, TM>},
                                         {q6_micro<A, 4, 1>, q6_micro<A, 4, 2>, q6_micro<A, 4, TM>}};
  const int64_t ng = n / QK_K;
  const int64_t tcmax = std::min<int64_t>(96, ntok);
  const int64_t tcp = (tcmax + 15) & ~int64_t(15);
  const size_t sz_yd = tile_round64(static_cast<size_t>(ng * tcp) * 4);
  const size_t sz_ao = static_cast<size_t>(tcmax * ng) * 256;
  const size_t sz_wb = static_cast<size_t>(4 * ng) * 256;
  const size_t sz_scv = static_cast<size_t>(4 * ng) * 256;
  const size_t sz_dr = tile_round64(static_cast<size_t>(4 * ng) * 4);
  const size_t sz_dy = tile_round64(static_cast<size_t>(4 * ng * tcp) * 4);
  uint8_t* base = tile_scratch<A>(sz_yd + sz_ao + sz_wb + sz_scv + sz_dr + sz_dy);
  float* ydt = reinterpret_cast<float*>(base);
  auto* ao = reinterpret_cast<__m512i*>(base + sz_yd);
  uint8_t* wb = reinterpret_cast<uint8_t*>(ao) + sz_ao;
  auto* scv = reinterpret_cast<__m512i*>(wb + sz_wb);
  float* dr = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(scv) + sz_scv);
  float* dy = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(dr) + sz_dr);
  std::memset(ydt, 0, sz_yd);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), c32 = _mm512_set1_epi8(32);
  const __m512i qh_shift = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);

  const size_t pf_row = sizeof(BlockQ6_K) * static_cast<size_t>(ng);
  const auto* wbytes = static_cast<const uint8_t*>(w);
  TilePrefetch pf_cur{wbytes, w_stride, pf_row, nrows};
  TilePrefetch pf_next{wbytes + static_cast<size_t>(nrows) * w_stride, w_stride, pf_row, nrows};
  for (int64_t t0 = 0; t0 < ntok; t0 += tcmax) {
    const int64_t tc = std::min(tcmax, ntok - t0);
    const uint8_t* act0 = static_cast<const uint8_t*>(act) + static_cast<size_t>(t0) * act_stride;
    const Q6TileCtx ctx{ng, tcp, act0, act_stride, ao, wb, scv, dy};
    const int64_t pf_tok = pf_cur.lines() / tc + 1;
    const int64_t pf_call = pf_next.lines() / (((nrows + 3) / 4) * ((tc + TM - 1) / TM)) + 1;
    for (int64_t t = 0; t < tc; ++t) {
      pf_cur.step(pf_tok);
      const auto* yb = reinterpret_cast<const BlockQ8_K*>(act0 + static_cast<size_t>(t) * act_stride);
      for (int64_t i = 0; i < ng; ++i) {
        ydt[i * tcp + t] = yb[i].d;
        for (int j = 0; j < 4; ++j) {
          const __m512i s32 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c32, _mm512_loadu_si512(yb[i].qs + 64 * j));
          _mm512_store_si512(ao + (t * ng + i) * 4 + j, _mm512_sub_epi32(_mm512_setzero_si512(), s32));
        }
      }
    }
    for (int64_t r0 = 0; r0 < nrows; r0 += 4) {
      const int R = static_cast<int>(std::min<int64_t>(4, nrows - r0));
      for (int r = 0; r < R; ++r) {
        const auto* x = reinterpret_cast<const BlockQ6_K*>(static_cast<const uint8_t*>(w) +
                                                           static_cast<size_t>(r0 + r) * w_stride);
        for (int64_t i = 0; i < ng; ++i) {
          const BlockQ6_K& b = x[i];
          uint8_t* dst = wb + static_cast<size_t>(r * ng + i) * 256;
          for (int h = 0; h < 2; ++h) {
            // ql[64h..] low nibbles: e[128h + 0..63], high nibbles: e[128h + 64..127]; qh[32h + l] bits 2k..2k+1
            // are the high bits of e[128h + 32k + l]
            const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(loadu256<A>(b.qh + 32 * h)), qh_shift);
            const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
            const __m512i lo = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), m4, 0xE4);
            const __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(qh, m30), m4, 0xE4);
            _mm512_store_si512(dst + 128 * h, lo);
            _mm512_store_si512(dst + 128 * h + 64, hi);
          }
          const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
          const __m512i sp = _mm512_cvtepu16_epi32(s16);  // (sc, 0) int16 pairs, sub-block k in lane k
          for (int j = 0; j < 4; ++j) {
            const __m512i idx = _mm512_setr_epi32(4 * j, 4 * j, 4 * j, 4 * j, 4 * j + 1, 4 * j + 1, 4 * j + 1,
                                                  4 * j + 1, 4 * j + 2, 4 * j + 2, 4 * j + 2, 4 * j + 2, 4 * j + 3,
                                                  4 * j + 3, 4 * j + 3, 4 * j + 3);
            _mm512_store_si512(scv + (r * ng + i) * 4 + j, _mm512_permutexvar_epi32(idx, sp));
          }
          dr[r * ng + i] = h2f<A>(b.d);
        }
        for (int64_t i = 0; i < ng; ++i) {
          const __m512 d = _mm512_set1_ps(dr[r * ng + i]);
          float* dd = dy + static_cast<size_t>(r * ng + i) * tcp;
          const float* src = ydt + i * tcp;
          for (int64_t t = 0; t < tcp; t += 16) _mm512_store_ps(dd + t, _mm512_mul_ps(d, _mm512_load_ps(src + t)));
        }
      }
      for (int64_t t = 0; t < tc; t += TM) {
        const int T = static_cast<int>(std::min<int64_t>(TM, tc - t));
        pf_next.step(pf_call);
        kMicro[R - 1][T - 1](ctx, t, y + (t0 + t) * ldy + r0, ldy);
      }
    }
  }
}

// =============================================================================== Q8_0 / Q5_0 / Q4_0 x Q8_0
// Groups of 8 blocks (zero-padded at the row's end). Weights as unsigned codes u = w + kOff (Q8_0: 128, Q5_0: 16,
// Q4_0: 8); each (row, token) accumulator starts at -kOff * (sum of the lane's 16 activations), precomputed per
// token group, so it ends at sum(w * a) exactly (int32). Lane (L, g) belongs to block 2L + (g>>1) of the group.

struct B32TileCtx {
  int64_t ng;
  const uint8_t* ab;   // [tc][ng][256]
  const __m512i* ao;   // [tc][ng] offset init
  const __m512* ad;    // [tc][ng] activation scale per lane
  const uint8_t* wb;   // [4][ng][256]
  const __m512* wd;    // [4][ng] weight scale per lane
};

template <class A, int R, int T>
void b32_micro(const B32TileCtx& c, int64_t t0, float* y, int64_t ldy) {
  const int64_t ng = c.ng;
  const size_t as = static_cast<size_t>(ng) * 256;
  const uint8_t* ab = c.ab + static_cast<size_t>(t0) * as;
  const __m512i* ao = c.ao + t0 * ng;
  const __m512* ad = c.ad + t0 * ng;
  __m512 acc[R][T];
  LATTE_UNROLL
  for (int r = 0; r < R; ++r)
    LATTE_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < ng; ++i) {
    const uint8_t* a = ab + static_cast<size_t>(i) * 256;
    const uint8_t* w = c.wb + static_cast<size_t>(i) * 256;
    __m512i dot[R][T];
    LATTE_UNROLL
    for (int j = 0; j < 4; ++j) {
      __m512i av[T];
      LATTE_UNROLL
      for (int t = 0; t < T; ++t) av[t] = _mm512_load_si512(a + t * as + 64 * j);
      LATTE_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512i wv = _mm512_load_si512(w + r * as + 64 * j);
        LATTE_UNROLL
        for (int t = 0; t < T; ++t) {
          if (j == 0) dot[r][t] = _mm512_dpbusd_epi32(_mm512_load_si512(ao + t * ng + i), wv, av[t]);
          else dot[r][t] = _mm512_dpbusd_epi32(dot[r][t], wv, av[t]);
        }
      }
    }
    LATTE_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512 wd = _mm512_load_ps(c.wd + r * ng + i);
      LATTE_UNROLL
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot[r][t]), _mm512_load_ps(ad + t * ng + i)), wd,
                                    acc[r][t]);
    }
  }
  tile_store<A, R, T>(acc, y, ldy);
}

// Unsigned codes of one 32-block as 32 bytes (element order).
template <class A>
inline __m256i tile_codes(const BlockQ8_0& b) {
  return _mm256_xor_si256(loadu256<A>(b.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
}
template <class A>
inline __m256i tile_codes(const BlockQ5_0& b) { return codes_q5_0<A>(b); }
template <class A>
inline __m256i tile_codes(const BlockQ4_0& b) { return codes_q4_0<A>(b); }
// Codebook types: the table shifted by kOff into unsigned bytes (MXFP4: doubled E2M1 values + 16, in [4, 28];
// IQ4_NL: values + 128, in [1, 241]), looked up by the nibbles in element order.
template <class A>
inline __m256i tile_codes(const BlockMXFP4& b) { return weights_mxfp4<A>(b, mxfp4_codes_table<A>()); }
template <class A>
inline __m256i tile_codes(const BlockIQ4_NL& b) {
  alignas(16) static constexpr uint8_t kU[16] = {1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241};
  return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kU))),
                             unpack_nibbles16<A>(b.qs));
}

// Per-lane float vector of the 8 block scales of a group (lane (L, g) -> block 2L + (g>>1)); missing blocks 0.
// fp16 d, or MXFP4's E8M0 exponent (halved, as its doubled codes need).
template <class A, class Block>
inline __m512 tile_lane_scales(const Block* b, int64_t nvalid) {
  __m256 d8;
  if constexpr (std::is_same_v<Block, BlockMXFP4>) {
    alignas(32) float f[8] = {};
    for (int64_t k = 0; k < nvalid; ++k) f[k] = e8m0_half_f<A>(b[k].e);
    d8 = _mm256_load_ps(f);
  } else {
    __m128i hv;
    if (nvalid == 8) {
      auto d = [&](int k) { return static_cast<short>(b[k].d); };
      hv = _mm_setr_epi16(d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7));
    } else {
      alignas(16) uint16_t h[8] = {};
      for (int64_t k = 0; k < nvalid; ++k) h[k] = b[k].d;
      hv = _mm_load_si128(reinterpret_cast<const __m128i*>(h));
    }
    d8 = _mm256_cvtph_ps(hv);
  }
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
                               _mm512_castps256_ps512(d8));
}

template <class A, class Block, int kOff>
void gemm_tile_b32(int64_t n, const void* w, size_t w_stride, const void* act, size_t act_stride, float* y,
                   int64_t ldy, int64_t nrows, int64_t ntok) {
  constexpr int TM = 3;
  using Micro = void (*)(const B32TileCtx&, int64_t, float*, int64_t);
  static constexpr Micro kMicro[4][3] = {{b32_micro<A, 1, 1>, b32_micro<A, 1, 2>, b32_micro<A, 1, 3>},
                                         {b32_micro<A, 2, 1>, b32_micro<A, 2, 2>, b32_micro<A, 2, 3>},
                                         {b32_micro<A, 3, 1>, b32_micro<A, 3, 2>, b32_micro<A, 3, 3>},
                                         {b32_micro<A, 4, 1>, b32_micro<A, 4, 2>, b32_micro<A, 4, 3>}};
  const int64_t nb = n / 32, ng = (nb + 7) / 8;
  const int64_t tcmax = std::min(tile_token_chunk(ng * 384), ntok);
  const size_t sz_ab = static_cast<size_t>(tcmax * ng) * 256;
  const size_t sz_ao = static_cast<size_t>(tcmax * ng) * 64;
  const size_t sz_ad = sz_ao;
  const size_t sz_wb = static_cast<size_t>(4 * ng) * 256;
  const size_t sz_wd = static_cast<size_t>(4 * ng) * 64;
  uint8_t* ab = tile_scratch<A>(sz_ab + sz_ao + sz_ad + sz_wb + sz_wd);
  auto* ao = reinterpret_cast<__m512i*>(ab + sz_ab);
  auto* ad = reinterpret_cast<__m512*>(reinterpret_cast<uint8_t*>(ao) + sz_ao);
  uint8_t* wb = reinterpret_cast<uint8_t*>(ad) + sz_ad;
  auto* wd = reinterpret_cast<__m512*>(wb + sz_wb);
  const B32TileCtx ctx{ng, ab, ao, ad, wb, wd};
  const __m512i ones = _mm512_set1_epi8(1);
  static_assert(kOff == 8 || kOff == 16 || kOff == 128);
  constexpr int kShift = kOff == 8 ? 3 : kOff == 16 ? 4 : 7;

  const size_t pf_row = sizeof(Block) * static_cast<size_t>(nb);
  const auto* wbytes = static_cast<const uint8_t*>(w);
  TilePrefetch pf_cur{wbytes, w_stride, pf_row, nrows};
  TilePrefetch pf_next{wbytes + static_cast<size_t>(nrows) * w_stride, w_stride, pf_row, nrows};
  for (int64_t t0 = 0; t0 < ntok; t0 += tcmax) {
    const int64_t tc = std::min(tcmax, ntok - t0);
    const int64_t pf_tok = pf_cur.lines() / tc + 1;
    const int64_t pf_call = pf_next.lines() / (((nrows + 3) / 4) * ((tc + TM - 1) / TM)) + 1;
    for (int64_t t = 0; t < tc; ++t) {
      pf_cur.step(pf_tok);
      const auto* yb = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(act) +
                                                          static_cast<size_t>(t0 + t) * act_stride);
      for (int64_t i = 0; i < ng; ++i) {
        const int64_t b0 = 8 * i;
        const int64_t nv = std::min<int64_t>(8, nb - b0);
        __m512i v[4];
        for (int p = 0; p < 4; ++p) {
          const __m256i lo = 2 * p < nv ? loadu256<A>(yb[b0 + 2 * p].qs) : _mm256_setzero_si256();
          const __m256i hi = 2 * p + 1 < nv ? loadu256<A>(yb[b0 + 2 * p + 1].qs) : _mm256_setzero_si256();
          v[p] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        }
        uint8_t* dst = ab + static_cast<size_t>(t * ng + i) * 256;
        tile_relay_store<A>(v[0], v[1], v[2], v[3], dst);
        __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_load_si512(dst));
        s = _mm512_dpbusd_epi32(s, ones, _mm512_load_si512(dst + 64));
        s = _mm512_dpbusd_epi32(s, ones, _mm512_load_si512(dst + 128));
        s = _mm512_dpbusd_epi32(s, ones, _mm512_load_si512(dst + 192));
        _mm512_store_si512(ao + t * ng + i, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, kShift)));
        _mm512_store_ps(ad + t * ng + i, tile_lane_scales<A>(yb + b0, nv));
      }
    }
    for (int64_t r0 = 0; r0 < nrows; r0 += 4) {
      const int R = static_cast<int>(std::min<int64_t>(4, nrows - r0));
      for (int r = 0; r < R; ++r) {
        const auto* x = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) +
                                                       static_cast<size_t>(r0 + r) * w_stride);
        for (int64_t i = 0; i < ng; ++i) {
          const int64_t b0 = 8 * i;
          const int64_t nv = std::min<int64_t>(8, nb - b0);
          __m512i v[4];
          for (int p = 0; p < 4; ++p) {
            const __m256i lo = 2 * p < nv ? tile_codes<A>(x[b0 + 2 * p]) : _mm256_setzero_si256();
            const __m256i hi = 2 * p + 1 < nv ? tile_codes<A>(x[b0 + 2 * p + 1]) : _mm256_setzero_si256();
            v[p] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
          }
          tile_relay_store<A>(v[0], v[1], v[2], v[3], wb + static_cast<size_t>(r * ng + i) * 256);
          _mm512_store_ps(wd + r * ng + i, tile_lane_scales<A>(x + b0, nv));
        }
      }
      for (int64_t t = 0; t < tc; t += TM) {
        const int T = static_cast<int>(std::min<int64_t>(TM, tc - t));
        pf_next.step(pf_call);
        kMicro[R - 1][T - 1](ctx, t, y + (t0 + t) * ldy + r0, ldy);
      }
    }
  }
}

template <class A>
void gemm_tile_q8_0(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                    int64_t nrows, int64_t ntok) {
  gemm_tile_b32<A, BlockQ8_0, 128>(n, w, ws, act, as, y, ldy, nrows, ntok);
}
template <class A>
void gemm_tile_q5_0(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                    int64_t nrows, int64_t ntok) {
  gemm_tile_b32<A, BlockQ5_0, 16>(n, w, ws, act, as, y, ldy, nrows, ntok);
}
template <class A>
void gemm_tile_mxfp4(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                     int64_t nrows, int64_t ntok) {
  gemm_tile_b32<A, BlockMXFP4, 16>(n, w, ws, act, as, y, ldy, nrows, ntok);
}
template <class A>
void gemm_tile_iq4_nl(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                      int64_t nrows, int64_t ntok) {
  gemm_tile_b32<A, BlockIQ4_NL, 128>(n, w, ws, act, as, y, ldy, nrows, ntok);
}
template <class A>
void gemm_tile_q4_0(int64_t n, const void* w, size_t ws, const void* act, size_t as, float* y, int64_t ldy,
                    int64_t nrows, int64_t ntok) {
  gemm_tile_b32<A, BlockQ4_0, 8>(n, w, ws, act, as, y, ldy, nrows, ntok);
}

}  // namespace
}  // namespace latte::simd
