// Row codecs of the MLA latent cache and attention that reads the encoded rows directly (no dequantized copy of the
// cache: each row is decoded into a small per-thread buffer and used by every query before the next row).
//
// A cache row holds one token of one layer: c_kv (Nkv values, RMS-normalised latent) then k_pe (R values, rotated).
// Stored bytes per row, by type (G = 32 values per block):
//   f32   : W*4                    (W = Nkv + R)
//   f16   : W*2   (IEEE half)       bf16 : W*2 (bfloat16)
//   q8_0  : c_kv rotated by the orthonormal Walsh-Hadamard transform over blocks of hadamard_block(Nkv) values
//           (spreads outlier channels over the block), then Nkv/G blocks of {f16 d; int8 q[32]} (34 B,
//           value = d*q, d = absmax/127); then k_pe as R f16.                                  (needs Nkv % 32 == 0)
//   q4_h  : c_kv rotated as for q8_0, then Nkv/G blocks of {f16 d; uint8 nib[16]} (18 B; byte j holds
//           q[j] | q[j+16] << 4, value = d*(q-8), d chosen per block to minimise the squared error); then k_pe as
//           {f16 d; int8 q[R]} (one scale per row, value = d*q).                                (needs Nkv % 32 == 0)
//   Tiny models (Nkv 64, R 16): f32 320, f16/bf16 160, q8_0 100, q4_h 54 bytes per row and layer.
//   V2-Lite (Nkv 512, R 64):   f32 2304, f16/bf16 1152, q8_0 672, q4_h 354.
// q8_0 / q4_h attention works in the rotated domain: scores use (H q_lat)·(H c) = q_lat·c, and the latent output is
// Hᵀ Σ p (H c), so queries are rotated once and outputs un-rotated once per (token, head).
// A CacheCodec is immutable after construction and thread-safe; kernels are chosen once (AVX2 when the CPU has it
// and `simd` is true, else portable scalar code).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/session/session.h"

namespace latte {
class ThreadPool;

class CacheCodec {
 public:
  static constexpr int64_t kGroup = 32;  // values per quantization block (also the decode granularity)

  // Throws ArgumentError if this shape cannot use `type` (q8_0 / q4_h need Nkv % 32 == 0; Nkv, R > 0).
  CacheCodec(CacheType type, int64_t nkv, int64_t rope, bool simd = true);

  CacheType type() const { return type_; }
  int64_t nkv() const { return nkv_; }
  int64_t rope() const { return rope_; }
  int64_t width() const { return nkv_ + rope_; }
  size_t row_bytes() const { return row_bytes_; }
  bool rotated() const { return type_ == CacheType::Q8_0 || type_ == CacheType::Q4_H; }
  bool simd() const { return simd_; }
  int64_t n_groups() const { return n_groups_; }       // c_kv decode groups per row
  int64_t group_size() const { return group_size_; }   // values per group (32, or Nkv for float types if Nkv%32)

  // Encodes one row. c_kv: Nkv floats, k_pe: R floats (original domain). dst: row_bytes().
  void encode(const float* c_kv, const float* k_pe, uint8_t* dst) const;
  // Decodes one row into W floats in the original (un-rotated) domain.
  void decode(const uint8_t* src, float* dst) const;

  // Stored-domain access used by attention: c_kv groups [g0, g1) -> dst[(g1-g0)*group_size()] (rotated for q4_h),
  // and k_pe -> dst[R].
  void decode_ckv(const uint8_t* src, int64_t g0, int64_t g1, float* dst) const;
  void decode_kpe(const uint8_t* src, float* dst) const;
  // Rewrites only the k_pe part of an encoded row (R floats), leaving c_kv's bytes untouched (context shift).
  void encode_kpe(const float* k_pe, uint8_t* row) const;
  // Maps a latent vector (Nkv floats) between original and stored domain in place (the rotation is an involution;
  // no-op for unrotated types).
  void rotate(float* v) const;

 private:
  CacheType type_;
  int64_t nkv_, rope_, n_groups_, group_size_, hblock_;
  size_t row_bytes_, ckv_bytes_;
  bool simd_;
};

// Per-call scratch for cache_attention (reused across calls; grows as needed).
struct CacheAttnScratch {
  std::vector<float> q, scores, rows, acc, priv;
};

// Latent attention for nq queries over the encoded rows of one layer.
//   rows:  row 0 of the layer; row j at rows + j*codec.row_bytes().
//   qcat:  [nq][Nkv+R] absorbed queries [q_lat | q_pe] in the original domain.
//   limit: [nq] rows visible to query i (rows [0, limit[i])), limit[i] >= 1, nondecreasing in i.
//   olat:  [nq][Nkv] out: Σ_j softmax_j(scale · qcat[i]·row_j) · c_kv[j].
// Parallel over rows (scores) and over c_kv groups (weighted sum) on `pool` when given. Not re-entrant per scratch.
void cache_attention(const CacheCodec& codec, const uint8_t* rows, const float* qcat, const int64_t* limit,
                     int64_t nq, float scale, float* olat, CacheAttnScratch& s, const ThreadPool* pool);

}  // namespace latte
