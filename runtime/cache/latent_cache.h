// Latent KV cache of MLA (GGUF_DEEPSEEK.md §D.3 5b): per layer a contiguous [n_ctx] array of encoded rows holding,
// for each cached token, the RMS-normalised compressed latent c_kv (Nkv values) followed by the rotated shared k_pe
// (R). Row encodings (f32, f16, bf16, q8_0, q4_h: Hadamard-rotated 4-bit c_kv + int8 k_pe) and attention directly
// over encoded rows are in runtime/cache/cache_codec.h, which also lists the bytes per row of each type.
// Allocated once (n_ctx rows per layer). Not thread-safe for writes; concurrent reads of distinct rows are fine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/cache/cache_codec.h"
#include "runtime/session/session.h"

namespace latte {
class ThreadPool;

class LatentCache {
 public:
  // Throws ArgumentError for a type this shape cannot use (Q8_0 / Q4_H with Nkv % 32 != 0).
  LatentCache(int64_t n_layer, int64_t n_ctx, int64_t nkv, int64_t rope, CacheType type);

  CacheType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t width() const { return nkv_ + rope_; }     // floats per row: [c_kv | k_pe]
  size_t row_bytes() const { return row_bytes_; }    // stored bytes per row (one layer)
  size_t bytes_per_token() const { return row_bytes_ * static_cast<size_t>(n_layer_); }
  size_t total_bytes() const { return bytes_per_token() * static_cast<size_t>(n_ctx_); }

  // Stores token `pos` of `layer` (c_kv: Nkv floats, k_pe: R floats, already normalised / rotated).
  void write(int64_t layer, int64_t pos, const float* c_kv, const float* k_pe);
  // Reads row `pos` of `layer` as Nkv + R floats.
  void read(int64_t layer, int64_t pos, float* dst) const;
  // Rows [0, n) of `layer` as f32 [n][Nkv+R]: the storage itself for F32, otherwise converted into `scratch`
  // (in parallel on `pool` if given).
  const float* rows_f32(int64_t layer, int64_t n, std::vector<float>& scratch, const ThreadPool* pool) const;
  // The k_pe part of a row alone (R floats), e.g. to re-rotate it after a shift without touching c_kv's bytes.
  void read_k_pe(int64_t layer, int64_t pos, float* k_pe) const;
  void write_k_pe(int64_t layer, int64_t pos, const float* k_pe);
  // Row codec (encoding, and attention directly over the encoded rows: cache_attention in cache_codec.h).
  const CacheCodec& codec() const { return codec_; }
  // Moves rows [src, src+n) to [dst, dst+n) (memmove semantics) in every layer.
  void move_rows(int64_t dst, int64_t src, int64_t n);

  // Raw row bytes (for save/load).
  uint8_t* raw(int64_t layer, int64_t pos) { return data_[static_cast<size_t>(layer)].data() + offset(pos); }
  const uint8_t* raw(int64_t layer, int64_t pos) const {
    return data_[static_cast<size_t>(layer)].data() + offset(pos);
  }

 private:
  size_t offset(int64_t pos) const { return static_cast<size_t>(pos) * row_bytes_; }
  int64_t n_layer_, n_ctx_, nkv_, rope_;
  CacheType type_;
  CacheCodec codec_;
  size_t row_bytes_;
  std::vector<std::vector<uint8_t>> data_;  // [n_layer][n_ctx * row_bytes]
};

}  // namespace latte
