// AVX-512 F/BW/DQ/VL + VNNI kernels (this file alone is compiled with the AVX-512 flags).
// GCC 12 reports a false -Wmaybe-uninitialized inside its own AVX-512 intrinsic headers (_mm512_undefined_*
// pass-through operands; -Wuninitialized for _mm512_reduce_add_ps's extract); silence it for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "quant/isa/kernels_simd.h"
#include "quant/isa/kernels_x86.h"

namespace latte::simd {

template <>
void FillKernels<Avx512Arch>::operator()(KernelTable& kt) const { fill_x86<Avx512>(kt); }

}  // namespace latte::simd
