// Orthonormal Walsh-Hadamard transform (fixed rotation used by the Q4_H latent cache, runtime/cache/cache_codec.h).
// H_n = H_2 ⊗ ... ⊗ H_2 / sqrt(n) is symmetric and orthogonal, so it is its own inverse: applying it twice gives the
// input back (up to rounding), and dot products are preserved: (H a)·(H b) = a·b. Pure functions, thread-safe.
#pragma once
#include <cstdint>

namespace latte {

// Largest power of two that divides n (n > 0), capped at `cap`: the rotation block used for a vector of n values.
int64_t hadamard_block(int64_t n, int64_t cap = 4096);

// In place: x[0..n) = H_n x, n a power of two (n = 1 leaves x unchanged). O(n log n) additions.
void hadamard_transform(float* x, int64_t n);

// In place, blockwise: each consecutive `block` values (block a power of two dividing n) get H_block.
void hadamard_blocks(float* x, int64_t n, int64_t block);

}  // namespace latte
