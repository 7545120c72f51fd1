// The measured backend table behind GemmBackend::Auto (see gemm.h). Numbers from bench/bench_gemm on the dev machine
// (AMD EPYC Zen 4, AVX-512 BF16/VNNI, no AMX; oneDNN 2.6.3 picks brg:avx512_core_bf16 / brg:avx512_core_vnni and
// gemm:jit), GFLOP/s by CPU time (the machine was shared, load 11-17), V2-Lite expert shapes (k=2048, m=1408 and
// k=1408, m=2048). For each weight family: the smallest n from which a backend beats Latte's quantized kernels
// (Rows: flat ~70 GFLOP/s per thread for Q4_K/Q8_0, ~58 for Q5_0), per-call tile conversion vs. a cached conversion.
// 1 thread:
//                     per-call int8   per-call bf16   cached int8    cached bf16
//   Q4_K (K-quants)   32 (83 vs 71)   64 (85 vs 72)   8 (170 vs 73)  8 (101 vs 73)
//   Q8_0              64 (105 vs 70)  64 (81 vs 70)   8 (155 vs 65)  8 (77 vs 73)
//   Q5_0 (32-blocks)  32 (82 vs 58)   64 (82 vs 59)   8 (241 vs 61)  8 (92 vs 61)
// 2 threads (OMP_WAIT_POLICY=passive, CPU time / 2): Q4_K rows 113-145; per-call bf16 66 at n=32, 161 at 64, 255 at
// 128; per-call int8 83 at n=32, 220 at 64 -> int8 from 64 for Q4_K (32 was marginal at 1 thread too); Q5_0 int8
// 148 vs 112 at n=32. At n = 32 Q8_0 down: int8 63.6 vs rows 65.0 (1 thread), so its int8 threshold is 64.
// F32 weights (the router): sgemm from n = 8 (30.9 vs 29.2 GFLOP/s, exact f32; int8/bf16 are never chosen for F32
// because router logits pick experts). int8 columns apply only where the context allows int8
// (GemmContext::set_allow_int8, off by default).
#include <cstdint>

#include "runtime/compute/gemm_impl.h"

namespace latte {
namespace {

struct Thresholds {
  DType family;
  int64_t int8, bf16;                // per-call conversion
  int64_t int8_cached, bf16_cached;  // weights converted once
};

// Per-call columns re-measured after the AVX-512 tile kernels (quant/isa/kernels_x86_tile.h) made Rows ~2-3x
// faster for n >= 8: `bench_gemm -t 2 -r 5 -n 32,64,128,256,512 --types q4_k,q8_0,q5_0 --no-peak --table`
// (2 threads, CPU-time median GFLOP/s, gate/up and down summed; noisy VM, ±20 %):
//   Q4_K  n=128 rows 173-266 vs int8 ~190-278 (tie), n=256 rows 330 vs int8 329-379, n=512 rows 353 vs int8 478-488
//   Q8_0  n=128 rows 195 vs int8 168-175, n=256 int8 332 vs rows 200, n=512 int8 490 vs rows 369-394
//   Q5_0  n=128 rows 178-236 vs int8 178-194, n=256 int8 213-502 vs rows 186-360, n=512 int8 421-462 vs rows 269-357
// bf16 per call never beat Rows up to n = 512 (Q4_K 299 vs 353 at 512, Q8_0 150 vs 196 at 256), so where int8 is
// allowed bf16 is not chosen per call. The bf16 column is the accuracy path for calls without int8 (weights of ≥ 7
// bits, or LATTE_GEMM_INT8=0): Rows would quantize their activations to 8 bits per 32-block, which on the tiny-dsv3
// Q8_0 reference doubles the mean KL (5.2e-3 vs 2.0e-3 with bf16 activations; README limit 5e-3).
// Cached columns (opt-in cache) keep the earlier measurements.
constexpr Thresholds kTable[] = {
    {DType::Q4_K, 256, 64, 8, 8},
    {DType::Q8_0, 256, 64, 8, 8},
    {DType::Q5_0, 256, 64, 8, 8},
};
constexpr int64_t kF32SgemmMin = 8;

DType family(DType t) {
  switch (t) {
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::IQ4_XS:
    case DType::IQ1_S: case DType::IQ2_XXS: case DType::IQ3_XXS:
      return DType::Q4_K;
    case DType::Q8_0: case DType::F16: case DType::BF16:
      return DType::Q8_0;
    default:
      return DType::Q5_0;
  }
}

}  // namespace

GemmBackend gemm_table_lookup(DType type, int64_t n, int64_t m, int64_t k, bool cached, bool allow_int8) {
  // Small weights: conversion and library overheads dominate; the quantized kernels win.
  if (m * k < 65536) return GemmBackend::Rows;
  if (type == DType::F32) return n >= kF32SgemmMin ? GemmBackend::Sgemm : GemmBackend::Rows;
  const DType f = family(type);
  for (const Thresholds& t : kTable) {
    if (t.family != f) continue;
    if (allow_int8) return n >= (cached ? t.int8_cached : t.int8) ? GemmBackend::OnednnInt8 : GemmBackend::Rows;
    return n >= (cached ? t.bf16_cached : t.bf16) ? GemmBackend::OnednnBf16 : GemmBackend::Rows;
  }
  return GemmBackend::Rows;
}

}  // namespace latte
