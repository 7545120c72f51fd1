// TensorView: a typed, non-owning view of up to three dimensions of weight data (mapped file or an owned arena).
// ne[0] is the row length (contiguous, in elements), ne[1] the rows of one matrix, ne[2] the matrices (experts,
// heads). Row r of matrix m starts at data + m*nb2 + r*nb1; row() and matrix() are the only places that compute
// addresses.
// Layout (ilv): ilv == 1 (plain, as in GGUF): a row is a plain sequence of quant blocks. ilv > 1 (row-interleaved,
// made by the load-time repack, runtime/model/repack.h): in each matrix the first ne[1] / ilv * ilv rows form groups
// of ilv consecutive rows whose blocks are interleaved block by block — block b of row g*ilv + k lies at
// row(g*ilv) + (b*ilv + k) * block_bytes — and the remaining ne[1] % ilv rows are plain. A group occupies exactly
// its rows' bytes, so row(r) still points at the group for r % ilv == 0 (and at the row for plain tail rows), and
// nb1 == row_bytes(). Consumers that need plain rows of an interleaved view use copy_rows_plain / dequantize_rows
// (runtime/compute/weight_layout.h); gemv kernels use KernelTable::gemv_il on whole groups.
// Views are cheap values; the owner (gguf::File, ModelWeights' arena or the repack arena) must outlive them.
// Thread-safe to read.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace latte {

struct TensorView {
  const TypeTraits* tt = nullptr;  // type traits (nullptr = absent tensor)
  int64_t ne[3] = {0, 1, 1};
  size_t nb1 = 0;                  // bytes between rows
  size_t nb2 = 0;                  // bytes between matrices
  const uint8_t* data = nullptr;
  const char* name = "";           // for error messages (points into the owner's tensor table or a literal)
  int32_t ilv = 1;                 // layout: 1 = plain rows, > 1 = row-interleaved groups of ilv rows (see above)

  bool valid() const { return data != nullptr; }
  bool interleaved() const { return ilv > 1; }
  // Rows of each matrix that lie in interleaved groups (0 for a plain view).
  int64_t interleaved_rows() const { return ilv > 1 ? ne[1] / ilv * ilv : 0; }
  DType type() const { return tt->type; }
  size_t row_bytes() const { return latte::row_bytes(*tt, ne[0]); }
  const uint8_t* row(int64_t r, int64_t m = 0) const {
    return data + static_cast<size_t>(m) * nb2 + static_cast<size_t>(r) * nb1;
  }
  // Matrix m as a 2-D view (ne[2] = 1).
  TensorView matrix(int64_t m) const {
    TensorView v = *this;
    v.data = data + static_cast<size_t>(m) * nb2;
    v.ne[2] = 1;
    return v;
  }
  // Rows [r0, r0+n) of a 2-D view. Interleaved views: r0 must be a multiple of ilv and n too unless the range ends
  // at ne[1] (so that the sub-view's groups and tail are the parent's).
  TensorView rows(int64_t r0, int64_t n) const {
    TensorView v = *this;
    v.data = data + static_cast<size_t>(r0) * nb1;
    v.ne[1] = n;
    v.ne[2] = 1;
    return v;
  }
  // Bytes a full read of this view touches.
  uint64_t bytes() const { return static_cast<uint64_t>(row_bytes()) * ne[1] * ne[2]; }
  // Float data (F32 views only).
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

}  // namespace latte
