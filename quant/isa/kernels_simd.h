// SIMD kernel sets, one per instruction set. FillKernels<Arch> writes the arch's kernels over a KernelTable that
// already holds the scalar entries (types without a SIMD kernel keep them). Each arch is instantiated in exactly
// one file compiled with that arch's flags (kernels_avx2.cpp, kernels_avx512.cpp); everyone else sees only the
// extern template declarations below, so no arch-specific code leaks into portable translation units.
#pragma once
#include "quant/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define LATTE_X86 1
#else
#define LATTE_X86 0
#endif

namespace latte::simd {

// Arch tags (xsimd's arch types are used inside the kernel files; these are plain tags so this header does not
// depend on xsimd's compile-time feature macros).
struct Avx2Arch {};    // AVX2 + FMA + F16C (xsimd::fma3<xsimd::avx2>)
struct Avx512Arch {};  // AVX-512 F/BW/DQ/VL + VNNI (xsimd::avx512bw)

template <class Arch>
struct FillKernels {
  void operator()(KernelTable& kt) const;
};

#if LATTE_X86
// Defined in kernels_avx2.cpp / kernels_avx512.cpp.
template <>
void FillKernels<Avx2Arch>::operator()(KernelTable& kt) const;
template <>
void FillKernels<Avx512Arch>::operator()(KernelTable& kt) const;
#endif

}  // namespace latte::simd
