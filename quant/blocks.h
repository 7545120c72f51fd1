// Packed block layouts of the GGUF quant types (GGUF_DEEPSEEK.md §B.2-§B.4). Every struct is exactly its on-disk
// size (static_assert'ed) and naturally aligned to at most 2 bytes (4 for Q8_K, an in-memory activation type), so
// row starts aligned to 4 bytes keep every field aligned. fp16 fields are raw uint16_t bit patterns (quant/float16.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace latte {

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32, QK4_NL = 32;
constexpr int QK_K = 256;  // K-quant super-block
constexpr int K_SCALE_SIZE = 12;

struct BlockQ4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
struct BlockQ4_1 { uint16_t d; uint16_t m; uint8_t qs[QK4_1 / 2]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };           // qh: u32 LE, unaligned
struct BlockQ5_1 { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[QK8_0]; };
struct BlockQ8_1 { uint16_t d; uint16_t s; int8_t qs[QK8_1]; };                   // s = fp16(d * sum(qs))
struct BlockQ2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d; uint16_t dmin; };
struct BlockQ3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct BlockQ5_K { uint16_t d; uint16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct BlockQ6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };         // mainline layout (292 B)
struct BlockIQ4_NL { uint16_t d; uint8_t qs[QK4_NL / 2]; };
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };
// Grid i-quants (§B.5). IQ2_XXS: per 32-group g, qs[8g..8g+3] = four iq2xxs_grid indices, qs[8g+4..8g+7] = u32 LE
// (bits 0..27: four 7-bit sign indices, bits 28..31: 4-bit scale). IQ3_XXS: qs[0..63] = eight iq3xxs_grid indices
// per group, qs[64 + 4g ..] = the group's u32 (same bit use). IQ1_S: qs = low 8 bits of 11-bit iq1s_grid indices,
// qh[g] bits 3l..3l+2 = index bits 8..10 of sub-group l, bits 12..14 = 3-bit scale, bit 15 = sign of the delta.
struct BlockIQ2_XXS { uint16_t d; uint8_t qs[QK_K / 4]; };
struct BlockIQ3_XXS { uint16_t d; uint8_t qs[3 * QK_K / 8]; };
struct BlockIQ1_S { uint16_t d; uint8_t qs[QK_K / 8]; uint16_t qh[QK_K / 32]; };
// MXFP4 (DEEPSEEK_V4.md §12): E8M0 exponent byte, then 16 bytes of E2M1 codes (low nibble = element j, high
// nibble = element j + 16). Byte-aligned.
constexpr int QK_MXFP4 = 32;
struct BlockMXFP4 { uint8_t e; uint8_t qs[QK_MXFP4 / 2]; };

#define LATTE_BLOCK_LAYOUT(T, size, f1, o1)                                 \
  static_assert(sizeof(T) == (size), #T " size");                          \
  static_assert(offsetof(T, f1) == (o1), #T " layout")
LATTE_BLOCK_LAYOUT(BlockQ4_0, 18, qs, 2);
LATTE_BLOCK_LAYOUT(BlockQ4_1, 20, qs, 4);
LATTE_BLOCK_LAYOUT(BlockQ5_0, 22, qs, 6);
LATTE_BLOCK_LAYOUT(BlockQ5_1, 24, qs, 8);
LATTE_BLOCK_LAYOUT(BlockQ8_0, 34, qs, 2);
LATTE_BLOCK_LAYOUT(BlockQ8_1, 36, qs, 4);
LATTE_BLOCK_LAYOUT(BlockQ2_K, 84, d, 80);
LATTE_BLOCK_LAYOUT(BlockQ3_K, 110, d, 108);
LATTE_BLOCK_LAYOUT(BlockQ4_K, 144, qs, 16);
LATTE_BLOCK_LAYOUT(BlockQ5_K, 176, qs, 48);
LATTE_BLOCK_LAYOUT(BlockQ6_K, 210, d, 208);
LATTE_BLOCK_LAYOUT(BlockQ8_K, 292, bsums, 260);
LATTE_BLOCK_LAYOUT(BlockIQ4_NL, 18, qs, 2);
LATTE_BLOCK_LAYOUT(BlockIQ4_XS, 136, qs, 8);
LATTE_BLOCK_LAYOUT(BlockIQ2_XXS, 66, qs, 2);
LATTE_BLOCK_LAYOUT(BlockIQ3_XXS, 98, qs, 2);
LATTE_BLOCK_LAYOUT(BlockIQ1_S, 50, qh, 34);
LATTE_BLOCK_LAYOUT(BlockMXFP4, 17, qs, 1);
static_assert(alignof(BlockMXFP4) == 1 && alignof(BlockIQ1_S) == 2);
static_assert(offsetof(BlockQ5_0, qh) == 2 && offsetof(BlockQ5_1, qh) == 4 && offsetof(BlockQ8_1, s) == 2);
static_assert(offsetof(BlockQ2_K, qs) == 16 && offsetof(BlockQ2_K, dmin) == 82);
static_assert(offsetof(BlockQ3_K, qs) == 32 && offsetof(BlockQ3_K, scales) == 96);
static_assert(offsetof(BlockQ4_K, scales) == 4 && offsetof(BlockQ5_K, qh) == 16);
static_assert(offsetof(BlockQ6_K, qh) == 128 && offsetof(BlockQ6_K, scales) == 192);
static_assert(offsetof(BlockIQ4_XS, scales_h) == 2 && offsetof(BlockIQ4_XS, scales_l) == 4);
#undef LATTE_BLOCK_LAYOUT

// Non-linear 4-bit codebook of IQ4_NL / IQ4_XS (kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// E2M1 codes of MXFP4 at twice their value (0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives; 8 = -0), so that they are
// integers; the block scale is then 2^(e - 128), half of the E8M0 value 2^(e - 127).
inline constexpr int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// 2^(e - 128) exactly as f32 (e = 0, 1: subnormals 2^-128, 2^-127). e = 255 (NaN in OCP MX) decodes as 2^127.
inline float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// 6-bit scale/min of sub-block j (0..7) from the 12-byte packing shared by Q4_K and Q5_K (§B.3).
inline void k_scale_min(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Signed 6-bit sub-block scales S[0..15] of a Q3_K block (range -32..31).
inline void q3k_scales(const uint8_t* scales, int8_t out[16]) {
  for (int s = 0; s < 16; ++s) {
    const int low = s < 8 ? (scales[s] & 0x0F) : (scales[s - 8] >> 4);
    const int high = (scales[8 + (s % 4)] >> (2 * (s / 4))) & 3;
    out[s] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// 6-bit scale of IQ4_XS sub-block k (0..7), offset by 32 (ls - 32 is the signed multiplier).
inline int iq4xs_scale(const BlockIQ4_XS& b, int k) {
  return ((b.scales_l[k / 2] >> (4 * (k % 2))) & 0xF) | (((b.scales_h >> (2 * k)) & 3) << 4);
}

}  // namespace latte
