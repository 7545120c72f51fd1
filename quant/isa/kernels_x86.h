// x86 SIMD kernels, part 4 of 4: generic gemv over rows and the KernelTable fill (see kernels_x86_common.h).
#pragma once
#include "quant/isa/kernels_x86_kquants.h"

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
