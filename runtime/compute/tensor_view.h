// TensorView: a typed, non-owning view of up to three dimensions of weight data (mapped file or an owned arena).
// ne[0] is the row length (contiguous, in elements), ne[1] the rows of one matrix, ne[2] the matrices (experts,
// heads). Row r of matrix m starts at data + m*nb2 + r*nb1; a row is a plain sequence of quant blocks.
// Views are cheap values; the owner (gguf::File or ModelWeights' arena) must outlive them. Thread-safe to read.
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

  bool valid() const { return data != nullptr; }
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
  // Rows [r0, r0+n) of a 2-D view.
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
