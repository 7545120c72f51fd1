// Weight layouts (tensor_view.h): plain rows and row-interleaved groups. Conversions between them, and plain
// (standard GGUF) rows or floats of any row range of any view, for the consumers that do not read interleaved
// groups themselves (prefill tile kernels, GEMM backend conversions, tests). Pure; thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/compute/tensor_view.h"

namespace latte {

// Rows [r0, r0+n) of matrix `mat` of W in plain layout into dst (n × W.row_bytes() bytes, rows back to back).
void copy_rows_plain(const TensorView& W, int64_t r0, int64_t n, int64_t mat, uint8_t* dst);
// Rows [r0, r0+n) of matrix `mat` of W as floats: out [n][W.ne[0]].
void dequantize_rows(const TensorView& W, int64_t r0, int64_t n, int64_t mat, float* out);
// Plain rows [r0, r0+n) of matrix `mat`, `W.nb1` bytes apart: W.row(r0, mat) itself when those rows are plain in
// W, otherwise a copy in `scratch` (at least n × W.row_bytes() bytes).
const uint8_t* plain_rows(const TensorView& W, int64_t r0, int64_t n, int64_t mat, uint8_t* scratch);

// Writes `nrows` plain rows (row i at src + i*src_stride, `row_bytes` bytes of `block_bytes`-byte blocks each) into
// dst in the interleaved layout of factor ilv (groups, then the plain tail); dst receives nrows × row_bytes bytes.
void interleave_rows(const uint8_t* src, size_t src_stride, int64_t nrows, size_t row_bytes, size_t block_bytes,
                     int ilv, uint8_t* dst);

}  // namespace latte
