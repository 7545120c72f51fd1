// Kernel tables: the scalar table (always present, the oracle) and one per SIMD instruction set, each built once
// from the scalar table with the ISA's kernels written over it (types without a SIMD kernel keep the scalar
// entry). ISA choice from the CPU's features, overridable with LATTE_ISA. Tables are immutable after their
// thread-safe first construction.
#include "quant/kernels.h"

#include <cstdlib>
#include <string>

#include "quant/isa/kernels_simd.h"
#include "quant/ref.h"
#include "formats/error.h"

#if LATTE_X86
#include <cpuid.h>
#endif

namespace latte {
namespace {

KernelTable make_table(Isa isa) {
  KernelTable kt;
  ref::fill_scalar_table(kt);
#if LATTE_X86
  if (isa == Isa::Avx2) simd::FillKernels<simd::Avx2Arch>{}(kt);
  if (isa == Isa::Avx512) simd::FillKernels<simd::Avx512Arch>{}(kt);
#endif
  kt.isa = isa;
  return kt;
}

#if LATTE_X86
// F16C from CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c").
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c >> 29) & 1u;
}
#endif

bool cpu_has(Isa isa) {
#if LATTE_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  if (isa == Isa::Avx2) return avx2;
  if (isa == Isa::Avx512)
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
  return false;
#else
  return false;
#endif
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  if (isa == Isa::Scalar) return true;
  if (isa == Isa::Neon) return false;  // no NEON kernel files in this build yet
  return cpu_has(isa);
}

const KernelTable& kernel_table(Isa isa) {
  if (!isa_supported(isa))
    throw UnsupportedError(std::string("instruction set ") + isa_name(isa) + " is not supported by this CPU/build");
  switch (isa) {
    case Isa::Avx2: { static const KernelTable t = make_table(Isa::Avx2); return t; }
    case Isa::Avx512: { static const KernelTable t = make_table(Isa::Avx512); return t; }
    case Isa::Neon: { static const KernelTable t = make_table(Isa::Neon); return t; }
    case Isa::Scalar: break;
  }
  static const KernelTable t = make_table(Isa::Scalar);
  return t;
}

Isa select_isa() {
  if (const char* env = std::getenv("LATTE_ISA"); env && *env) {
    const std::string v = env;
    Isa isa;
    if (v == "scalar") isa = Isa::Scalar;
    else if (v == "avx2") isa = Isa::Avx2;
    else if (v == "avx512") isa = Isa::Avx512;
    else if (v == "neon") isa = Isa::Neon;
    else throw ArgumentError("LATTE_ISA=" + v + ": unknown instruction set (scalar, avx2, avx512, neon)");
    if (!isa_supported(isa)) throw ArgumentError("LATTE_ISA=" + v + ": not supported by this CPU/build");
    return isa;
  }
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Neon})
    if (isa_supported(isa)) return isa;
  return Isa::Scalar;
}

}  // namespace latte
