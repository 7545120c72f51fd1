// Gated pooling of the deepseek4 compressors (DEEPSEEK_V4.md §5.1–§5.3), one token at a time.
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/compute/ops.h"
#include "runtime/model/v4_parts.h"

namespace latte {

bool compressor_push(const CompressorShape& cs, float* state, const float* ape, const float* norm, float eps,
                     const Rope& rope, int64_t pos, const float* C, const float* Z, float* row) {
  const int64_t m = cs.ratio, w = cs.channels(), Dc = cs.width, slots = cs.slots();
  float* slot = state + (pos % slots) * 2 * w;
  std::memcpy(slot, C, static_cast<size_t>(w) * sizeof(float));
  const float* b = ape + (pos % m) * w;
  for (int64_t c = 0; c < w; ++c) slot[w + c] = Z[c] + b[c];
  if (pos % m != m - 1) return false;

  // Row j pools the block's tokens (series b when overlapping) and, for j > 0, series a of block j-1: a softmax
  // over the slots per channel, in f32.
  const int64_t j = pos / m;
  const bool prev = cs.overlap && j > 0;
  const int64_t boff = cs.overlap ? Dc : 0;
  thread_local std::vector<float> zs;
  zs.resize(static_cast<size_t>(2 * m));
  for (int64_t c = 0; c < Dc; ++c) {
    int64_t k = 0;
    float mx = -INFINITY;
    auto gather = [&](int64_t s0, int64_t off) {
      for (int64_t i = 0; i < m; ++i) {
        const float z = state[((s0 + i) % slots) * 2 * w + w + off + c];
        zs[static_cast<size_t>(k++)] = z;
        mx = std::max(mx, z);
      }
    };
    if (prev) gather((j - 1) * m, 0);
    gather(j * m, boff);
    float sum = 0;
    for (int64_t i = 0; i < k; ++i) {
      zs[static_cast<size_t>(i)] = std::exp(zs[static_cast<size_t>(i)] - mx);
      sum += zs[static_cast<size_t>(i)];
    }
    float acc = 0;
    k = 0;
    if (prev)
      for (int64_t i = 0; i < m; ++i) acc += zs[static_cast<size_t>(k++)] / sum * state[(((j - 1) * m + i) % slots) * 2 * w + c];
    for (int64_t i = 0; i < m; ++i) acc += zs[static_cast<size_t>(k++)] / sum * state[((j * m + i) % slots) * 2 * w + boff + c];
    row[c] = acc;
  }
  rmsnorm(row, norm, row, Dc, eps);
  rope.apply(row + Dc - rope.dims(), 1, 0, j * m);
  return true;
}

}  // namespace latte
