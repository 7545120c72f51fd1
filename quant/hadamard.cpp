// Fast orthonormal Walsh-Hadamard transform (see hadamard.h).
#include "quant/hadamard.h"

#include <cmath>

namespace latte {

int64_t hadamard_block(int64_t n, int64_t cap) {
  if (n <= 0) return 1;
  int64_t b = n & -n;  // lowest set bit = largest power of two dividing n
  while (b > cap && b > 1) b >>= 1;
  return b;
}

void hadamard_transform(float* x, int64_t n) {
  if (n <= 1) return;
  // Butterflies of growing span: after the pass of span `len`, blocks of 2*len hold H_{2len} of their input.
  for (int64_t len = 1; len < n; len <<= 1) {
    for (int64_t i = 0; i < n; i += 2 * len) {
      float* a = x + i;
      float* b = x + i + len;
      for (int64_t j = 0; j < len; ++j) {
        const float u = a[j], v = b[j];
        a[j] = u + v;
        b[j] = u - v;
      }
    }
  }
  const float s = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void hadamard_blocks(float* x, int64_t n, int64_t block) {
  if (block <= 1) return;
  for (int64_t i = 0; i + block <= n; i += block) hadamard_transform(x + i, block);
}

}  // namespace latte
