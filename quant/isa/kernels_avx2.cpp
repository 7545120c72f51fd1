// AVX2 + FMA + F16C kernels (this file alone is compiled with -mavx2 -mfma -mf16c).
#include "quant/isa/kernels_simd.h"
#include "quant/isa/kernels_x86.h"

namespace latte::simd {

template <>
void FillKernels<Avx2Arch>::operator()(KernelTable& kt) const { fill_x86<Avx2>(kt); }

}  // namespace latte::simd
