// Kernel ABI, free of model types: pointers, strides, counts. One KernelTable per instruction set, chosen once
// (select_kernels) and passed down; below that, plain calls through the table. The scalar table is always present
// and is the oracle of every kernel test.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace latte {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };
const char* isa_name(Isa isa);

// Dot product of one weight row (type W, n elements) with an activation row already converted to
// type_traits(W).vec_dot_type. n is a multiple of both block sizes.
using VecDotFn = float (*)(int64_t n, const void* w_row, const void* act_row);
// Converts n f32 activations to an activation type (Q8_0, Q8_1, Q8_K, F16, BF16, F32).
using QuantizeActFn = void (*)(const float* x, void* dst, int64_t n);
// y[r] = dot(row r of W, act) for r in [0, nrows). W rows are `w_stride` bytes apart.
using GemvFn = void (*)(int64_t n, const void* w, size_t w_stride, const void* act, float* y, int64_t nrows);

// Small-batch product (prefill row blocks): y[t·ldy + r] = dot(row r of W, act row t) for r < nrows, t < ntok.
// W rows are `w_stride` bytes apart, activation rows (vec_dot_type) `act_stride` bytes apart. Reads each weight
// block once for all ntok rows (decode the block once, reuse it per token).
using GemmTileFn = void (*)(int64_t n, const void* w, size_t w_stride, const void* act, size_t act_stride, float* y,
                            int64_t ldy, int64_t nrows, int64_t ntok);

// Row interleave of the repacked weight layout (runtime/compute/tensor_view.h): groups of kInterleave rows with
// their quant blocks interleaved block by block.
constexpr int kInterleave = 4;

struct KernelTable {
  Isa isa = Isa::Scalar;
  VecDotFn vec_dot[kMaxTypeId] = {};         // indexed by weight type id
  GemvFn gemv[kMaxTypeId] = {};              // indexed by weight type id (multi-row, may share act loads)
  GemmTileFn gemm_tile[kMaxTypeId] = {};     // indexed by weight type id; optional (null: gemv per token)
  // gemv on row-interleaved groups (optional; null: the type is not interleaved by the repack): w at a group
  // start, nrows a multiple of kInterleave, w_stride = the plain row bytes (a group spans kInterleave rows'
  // bytes). Same results as gemv on the plain rows (same per-row summation order).
  GemvFn gemv_il[kMaxTypeId] = {};
  QuantizeActFn quantize_act[kMaxTypeId] = {};  // indexed by activation type id
  // Float helpers used by attention and norms (n arbitrary).
  float (*dot_f32)(int64_t n, const float* a, const float* b) = nullptr;
  void (*axpy_f32)(int64_t n, float a, const float* x, float* y) = nullptr;  // y += a*x
  // x[i] = exp(x[i] - sub) in place; returns Σ x[i] (softmax numerators of attention rows).
  float (*exp_sum_f32)(float* x, int64_t n, float sub) = nullptr;
  // Streaming read of [p, p + bytes) (any alignment, any length) at full vector width with independent
  // accumulators; returns a value that depends on every byte (a sink for the bandwidth probe, not a checksum
  // format: it differs between ISAs). Thread-safe (pure).
  uint64_t (*stream_read)(const void* p, size_t bytes) = nullptr;
};

// The table for `isa`; throws UnsupportedError if this CPU (or this build) cannot run it.
const KernelTable& kernel_table(Isa isa);
// Best ISA of this CPU, unless LATTE_ISA=scalar|avx2|avx512|neon overrides it (ArgumentError if unknown or
// not runnable here).
Isa select_isa();
bool isa_supported(Isa isa);  // CPU + build support

}  // namespace latte
