// Plain <-> row-interleaved weight rows (see weight_layout.h).
#include "runtime/compute/weight_layout.h"

#include <cstring>
#include <vector>

namespace latte {

void copy_rows_plain(const TensorView& W, int64_t r0, int64_t n, int64_t mat, uint8_t* dst) {
  const size_t rb = W.row_bytes();
  const int64_t il_rows = W.interleaved_rows();
  for (int64_t r = r0; r < r0 + n; ++r, dst += rb) {
    if (r >= il_rows) {
      std::memcpy(dst, W.row(r, mat), rb);
      continue;
    }
    const int64_t g0 = r / W.ilv * W.ilv, k = r - g0;
    const uint8_t* grp = W.row(g0, mat);
    const size_t bb = W.tt->block_bytes;
    const size_t nb = rb / bb;
    for (size_t b = 0; b < nb; ++b)
      std::memcpy(dst + b * bb, grp + (b * static_cast<size_t>(W.ilv) + static_cast<size_t>(k)) * bb, bb);
  }
}

void dequantize_rows(const TensorView& W, int64_t r0, int64_t n, int64_t mat, float* out) {
  const int64_t k = W.ne[0];
  if (!W.interleaved()) {
    for (int64_t r = 0; r < n; ++r) W.tt->dequantize_row(W.row(r0 + r, mat), out + r * k, k);
    return;
  }
  std::vector<uint8_t> row(W.row_bytes());
  for (int64_t r = 0; r < n; ++r) {
    copy_rows_plain(W, r0 + r, 1, mat, row.data());
    W.tt->dequantize_row(row.data(), out + r * k, k);
  }
}

const uint8_t* plain_rows(const TensorView& W, int64_t r0, int64_t n, int64_t mat, uint8_t* scratch) {
  if (r0 >= W.interleaved_rows()) return W.row(r0, mat);
  copy_rows_plain(W, r0, n, mat, scratch);
  return scratch;
}

void interleave_rows(const uint8_t* src, size_t src_stride, int64_t nrows, size_t row_bytes, size_t block_bytes,
                     int ilv, uint8_t* dst) {
  const int64_t groups = ilv > 1 ? nrows / ilv : 0;
  const size_t nb = row_bytes / block_bytes;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* out = dst + static_cast<size_t>(g) * static_cast<size_t>(ilv) * row_bytes;
    for (size_t b = 0; b < nb; ++b)
      for (int k = 0; k < ilv; ++k, out += block_bytes)
        std::memcpy(out, src + static_cast<size_t>(g * ilv + k) * src_stride + b * block_bytes, block_bytes);
  }
  for (int64_t r = groups * (ilv > 1 ? ilv : 0); r < nrows; ++r)
    std::memcpy(dst + static_cast<size_t>(r) * row_bytes, src + static_cast<size_t>(r) * src_stride, row_bytes);
}

}  // namespace latte
