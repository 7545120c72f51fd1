// Codebooks of the grid i-quants (GGUF_DEEPSEEK.md §B.5): constant data, thread-safe. Each entry packs the values of
// consecutive elements, byte 0 = first element: iq2xxs_grid 8 magnitudes of {8, 25, 43}; iq3xxs_grid 4 magnitudes of
// {4, 12, 20, 28, 36, 44, 52, 62}; iq1s_grid 8 signed bytes of {-1, 0, +1}. Sign signs8(i) of a 7-bit index i is
// i | (popcount(i) & 1) << 7 (an even number of negatives; ggml's ksigns_iq2xs, computed here).
#pragma once
#include <cstdint>

namespace latte {

extern const uint64_t kIq2xxsGrid[256];
extern const uint32_t kIq3xxsGrid[256];
extern const uint64_t kIq1sGrid[2048];
constexpr float kIq1sDelta = 0.125f;

// 8 sign bits (bit j set: element j negated) of a 7-bit sign index.
constexpr uint8_t iq_signs8(uint32_t i) {
  return static_cast<uint8_t>((i & 127u) | ((__builtin_popcount(i & 127u) & 1u) << 7));
}

}  // namespace latte
