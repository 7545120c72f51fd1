// x86 SIMD kernels, part 4 of 4: generic gemv over rows and the KernelTable fill (see kernels_x86_common.h).
#pragma once
#include "quant/isa/kernels_x86_iquants.h"
#include "quant/isa/kernels_x86_kquants512.h"
#include "quant/isa/kernels_x86_tile.h"

// 0: the AVX-512 table keeps the single-row 256-bit K-quant kernels (A/B measurements).
#ifndef LATTE_KQ512
#define LATTE_KQ512 1
#endif

namespace latte::simd {
namespace {

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

// Streaming read at the arch's full vector width (xsimd batch: 256 bits AVX2, 512 bits AVX-512), eight
// independent accumulators (8 vectors = 256/512 bytes in flight per iteration), unaligned loads (the probe's buffer
// is 64-byte aligned, so they never split lines there). No prefetch hints: the hardware prefetcher handles one
// sequential stream per thread.
template <class A>
uint64_t stream_read(const void* p, size_t bytes) {
  using B = xsimd::batch<uint64_t, A>;
  constexpr size_t kVecBytes = B::size * sizeof(uint64_t);
  const auto* b = static_cast<const uint8_t*>(p);
  B a0(uint64_t(0)), a1(uint64_t(0)), a2(uint64_t(0)), a3(uint64_t(0)), a4(uint64_t(0)), a5(uint64_t(0)),
      a6(uint64_t(0)), a7(uint64_t(0));
  auto ld = [&](size_t off) { return B::load_unaligned(reinterpret_cast<const uint64_t*>(b + off)); };
  size_t i = 0;
  for (; i + 8 * kVecBytes <= bytes; i += 8 * kVecBytes) {
    a0 ^= ld(i); a1 ^= ld(i + kVecBytes); a2 ^= ld(i + 2 * kVecBytes); a3 ^= ld(i + 3 * kVecBytes);
    a4 ^= ld(i + 4 * kVecBytes); a5 ^= ld(i + 5 * kVecBytes); a6 ^= ld(i + 6 * kVecBytes); a7 ^= ld(i + 7 * kVecBytes);
  }
  for (; i + kVecBytes <= bytes; i += kVecBytes) a0 ^= ld(i);
  const B v = ((a0 ^ a1) ^ (a2 ^ a3)) + ((a4 ^ a5) ^ (a6 ^ a7));
  alignas(64) uint64_t lanes[B::size];
  v.store_aligned(lanes);
  uint64_t r = 0;
  for (size_t k = 0; k < B::size; ++k) r = (r * 31) ^ lanes[k];
  for (; i < bytes; ++i) r = r * 131 + b[i];  // odd multiplier: every tail byte changes r
  return r;
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
  if constexpr (kIs512<A> && LATTE_KQ512) {
    // 512-bit VNNI multi-row kernels (kernels_x86_kquants512.h)
    set_kernel<A, vd_q4_k<A>, gemv_q4_k_512<A>>(kt, DType::Q4_K);
    set_kernel<A, vd_q5_k<A>, gemv_q5_k_512<A>>(kt, DType::Q5_K);
    set_kernel<A, vd_q6_k<A>, gemv_q6_k_512<A>>(kt, DType::Q6_K);
  } else {
    set_kernel<A, vd_q4_k<A>>(kt, DType::Q4_K);
    set_kernel<A, vd_q5_k<A>>(kt, DType::Q5_K);
    set_kernel<A, vd_q6_k<A>>(kt, DType::Q6_K);
  }
  set_kernel<A, vd_iq4_nl<A>, gemv_iq4_nl<A>>(kt, DType::IQ4_NL);
  set_kernel<A, vd_iq4_xs<A>>(kt, DType::IQ4_XS);
  set_kernel<A, vd_mxfp4<A>, gemv_mxfp4<A>>(kt, DType::MXFP4);
  set_kernel<A, vd_iq2_xxs<A>>(kt, DType::IQ2_XXS);
  set_kernel<A, vd_iq3_xxs<A>>(kt, DType::IQ3_XXS);
  set_kernel<A, vd_iq1_s<A>>(kt, DType::IQ1_S);
  // row-interleaved ×4 gemv (one stream per group of 4 rows)
  static_assert(kInterleave == 4);
  kt.gemv_il[static_cast<uint32_t>(DType::Q8_0)] = gemv_q8_0_il4<A>;
  kt.gemv_il[static_cast<uint32_t>(DType::Q4_0)] = gemv_q4_0_il4<A>;
  kt.gemv_il[static_cast<uint32_t>(DType::Q5_0)] = gemv_q5_0_il4<A>;
  kt.gemv_il[static_cast<uint32_t>(DType::IQ4_NL)] = gemv_iq4_nl_il4<A>;
  kt.gemv_il[static_cast<uint32_t>(DType::MXFP4)] = gemv_mxfp4_il4<A>;
  if constexpr (kIs512<A> && LATTE_KQ512) {
    kt.gemv_il[static_cast<uint32_t>(DType::Q4_K)] = gemv_q4_k_512_il4<A>;
    kt.gemv_il[static_cast<uint32_t>(DType::Q5_K)] = gemv_q5_k_512_il4<A>;
    kt.gemv_il[static_cast<uint32_t>(DType::Q6_K)] = gemv_q6_k_512_il4<A>;
  }
  if constexpr (kIs512<A>) {
    // multi-token VNNI tile kernels (kernels_x86_tile.h)
    kt.gemm_tile[static_cast<uint32_t>(DType::Q4_K)] = gemm_tile_q4_k<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::Q5_K)] = gemm_tile_q5_k<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::Q6_K)] = gemm_tile_q6_k<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::Q8_0)] = gemm_tile_q8_0<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::Q5_0)] = gemm_tile_q5_0<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::Q4_0)] = gemm_tile_q4_0<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::MXFP4)] = gemm_tile_mxfp4<A>;
    kt.gemm_tile[static_cast<uint32_t>(DType::IQ4_NL)] = gemm_tile_iq4_nl<A>;
  }
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_0)] = quantize_q8_0<A>;
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_K)] = quantize_q8_k<A>;
  kt.dot_f32 = dot_f32<A>;
  kt.axpy_f32 = axpy_f32<A>;
  kt.exp_sum_f32 = exp_sum_f32<A>;
  kt.stream_read = stream_read<A>;
}

}  // namespace
}  // namespace latte::simd
