// IEEE binary16 and bfloat16 <-> f32 conversions, portable (no F16C needed), exact per GGUF_DEEPSEEK.md §B.0:
// fp16 -> f32 and bf16 -> f32 are exact; f32 -> fp16 and f32 -> bf16 round to nearest, ties to even; NaN stays NaN
// (quiet), overflow gives +-Inf, tiny values give fp16 subnormals or +-0. Pure inline functions, thread-safe.
#pragma once
#include <cstdint>
#include <cstring>

namespace latte {

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return bits_f32(f32_bits(v) | sign);
  }
  if (exp == 31) return bits_f32(sign | 0x7F800000u | (mant << 13));  // Inf / NaN (payload kept)
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

inline uint16_t f32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));  // NaN, quiet
  if (ax >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: Inf
  if (ax < 0x38800000u) {
    // Below the smallest normal (2^-14): adding 0.5f rounds |f| to a multiple of 2^-24 (the ulp of [0.5, 1)),
    // ties to even; the mantissa difference is then the subnormal code (1024 = smallest normal, also correct).
    const float t = bits_f32(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (f32_bits(t) - 0x3F000000u));
  }
  const uint32_t odd = (ax >> 13) & 1u;
  const uint32_t r = ax + 0xFFFu + odd;
  return static_cast<uint16_t>(sign | ((r - (112u << 23)) >> 13));
}

inline float bf16_to_f32(uint16_t b) { return bits_f32(static_cast<uint32_t>(b) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 64u);  // NaN: force quiet bit
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace latte
