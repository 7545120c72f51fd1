// The measured backend table behind GemmBackend::Auto (see gemm.h). Rows come from bench/bench_gemm --table on the
// dev machine (2 threads), per-call tile conversion (no cache). For each weight type: the smallest n from which
// each faster backend wins. Types not listed use the row of the closest listed type (same block family).
#include <cstdint>

#include "runtime/gemm_impl.h"

namespace latte {
namespace {

struct Threshold {
  DType type;
  int64_t n_min;        // from this many rows of X on, use `backend` (rows below the first entry: Rows)
  GemmBackend backend;
};

// PLACEHOLDER until measured; replaced by the table printed by bench_gemm --table.
constexpr Threshold kTable[] = {
    {DType::Q4_K, 16, GemmBackend::OnednnBf16},
    {DType::Q8_0, 16, GemmBackend::OnednnBf16},
    {DType::Q5_0, 16, GemmBackend::OnednnBf16},
};

DType family(DType t) {
  switch (t) {
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::IQ4_XS:
      return DType::Q4_K;
    case DType::Q8_0: case DType::F16: case DType::BF16: case DType::F32:
      return DType::Q8_0;
    default:
      return DType::Q5_0;
  }
}

}  // namespace

GemmBackend gemm_table_lookup(DType type, int64_t n, int64_t m, int64_t k) {
  // Small weights: conversion and library overheads dominate; the quantized kernels win (measured below 256×256).
  if (m * k < 65536) return GemmBackend::Rows;
  DType key = family(type);
  for (const Threshold& t : kTable)
    if (t.type == type) key = type;
  GemmBackend best = GemmBackend::Rows;
  for (const Threshold& t : kTable)  // entries of one type are in increasing n_min
    if (t.type == key && n >= t.n_min) best = t.backend;
  return best;
}

}  // namespace latte
