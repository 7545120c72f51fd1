// The deepseek4 cache of one sequence (DEEPSEEK_V4.md §11), per layer:
//   raw ring        W rows of Dh (the rotated K = V of the last W tokens; slot = pos mod W, never n_ctx rows)
//   compressed rows one Dh row per completed block of m tokens (CSA, HCA), rotated at the block position j·m
//   indexer keys    one Di row per completed block (CSA)
//   partial state   f32 C and Z (ape added) of the last 2m (CSA) or m (HCA) tokens, for the compressors
// Rows are stored in the cache type (f32, f16, bf16 or q8_0, encoded through the type traits; q4_h: compressed
// rows and indexer keys IQ4_NL (4.5 bits/value), the raw ring q8_0); partial state is always f32. Compressed rows and keys are append-only, so a checkpoint (V4Checkpoint) is the ring + partial state
// + row counts: restoring one drops the rows appended after it. Not thread-safe for writes; concurrent reads fine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "runtime/model/v4_hparams.h"
#include "runtime/session/session.h"

namespace latte {
struct TypeTraits;

struct V4Checkpoint {
  int64_t pos = 0;                              // tokens evaluated when taken
  std::vector<std::vector<uint8_t>> ring;       // [L] raw ring bytes
  std::vector<std::vector<float>> state;        // [L] compressor + indexer partial state
  std::vector<int64_t> rows;                    // [L] compressed rows (= indexer keys) count
  uint64_t bytes() const;
};

class V4Cache {
 public:
  // Throws ArgumentError for a cache type deepseek4 cannot use (q4_h) or a row width that type cannot encode.
  V4Cache(const V4Hparams& hp, int64_t n_ctx, CacheType type);

  CacheType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_layer() const { return static_cast<int64_t>(layers_.size()); }

  // Raw ring: token `pos` of layer il (Dh floats).
  void write_raw(int64_t il, int64_t pos, const float* kv);
  void read_raw(int64_t il, int64_t pos, float* dst) const;
  // Compressed rows (Dh) and indexer keys (Di): appended in block order.
  int64_t n_rows(int64_t il) const { return layers_[static_cast<size_t>(il)].rows; }
  void append_row(int64_t il, const float* row, const float* key);  // key: Di floats or nullptr (HCA)
  void read_row(int64_t il, int64_t j, float* dst) const;
  void read_key(int64_t il, int64_t j, float* dst) const;
  // Partial compressor state of layer il: [slots][2·w] (C then Z per slot), then the indexer's [slots][2·2Di].
  float* state(int64_t il) { return layers_[static_cast<size_t>(il)].state.data(); }
  const float* state(int64_t il) const { return layers_[static_cast<size_t>(il)].state.data(); }

  void clear();  // empty sequence (rows dropped, state zeroed)
  V4Checkpoint checkpoint(int64_t pos) const;
  void restore(const V4Checkpoint& c);

  // Sizes. Per context token: the compressed rows and keys one token adds on average (rows/m); fixed: rings and
  // partial state. At n tokens: fixed + n · per_token.
  double bytes_per_token() const;
  uint64_t fixed_bytes() const;
  uint64_t total_bytes() const;  // allocated now
  static double bytes_per_token(const V4Hparams& hp, CacheType t);
  static uint64_t fixed_bytes(const V4Hparams& hp, CacheType t);

  // Serialisation of the state after `n_past` tokens (session files). Return false on a short read/write.
  bool save(FILE* f) const;
  bool load(FILE* f);

 private:
  struct Layer {
    int64_t ratio = 0, rows = 0, cap = 0;  // cap: rows allocated (n_ctx / ratio)
    std::vector<uint8_t> ring, row_data, key_data;
    std::vector<float> state;
  };
  const TypeTraits* tt_;   // compressed rows and indexer keys
  const TypeTraits* ring_; // raw ring
  CacheType type_;
  int64_t n_ctx_, W_, Dh_, Di_;
  size_t ring_bytes_, raw_bytes_, key_bytes_;  // encoded bytes of one ring row, compressed row (Dh), key (Di)
  std::vector<Layer> layers_;
};

// Floats of partial state per layer (see V4Cache::state).
int64_t v4_state_floats(const V4Hparams& hp, int64_t il);

}  // namespace latte
