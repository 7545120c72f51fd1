// Internal to runtime/gemm*.cpp: the GemmContext state shared by the backend files, the weight converters and the
// measured backend table. Not for use outside the gemm files.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "runtime/compute/gemm.h"

namespace latte {

// Weight rows per conversion tile (per-call conversion). int8 and sgemm: 256 rows (k=2048: 512 KiB of s8, 2 MiB of
// f32). bf16: 2048 rows, because oneDNN 2.6 runs plain-layout bf16 weights of 256 columns on gemm:jit but whole
// expert matrices on brg:avx512_core_bf16 (measured 1 thread, Q4_K 1408x2048: n=64 98.8 vs 86.5 GFLOP/s, n=256
// 160 vs 149; int8 is ~10% faster with 256-row tiles). LATTE_GEMM_TILE overrides both (for measurement).
int64_t gemm_tile_rows(bool bf16 = false);

// One weight converted for a GEMM backend: rows [0, m) of k values. Immutable once built; shared by pointer.
struct ConvertedWeight {
  int64_t m = 0, k = 0;
  std::vector<float> f32;      // Sgemm: [m][k]
  std::vector<uint16_t> bf16;  // OnednnBf16: [m][k]
  std::vector<int8_t> s8;      // OnednnInt8: [m][k]
  std::vector<float> scale;    // OnednnInt8: [m] dequantization scale per row
  uint64_t bytes() const { return f32.size() * 4 + bf16.size() * 2 + s8.size() + scale.size() * 4; }
};

struct OnednnState;  // gemm_onednn.cpp
void onednn_state_delete(OnednnState* s);
struct OnednnStateDeleter {
  void operator()(OnednnState* s) const { onednn_state_delete(s); }
};

struct WeightConvCache {
  explicit WeightConvCache(uint64_t b) : budget(b) {}
  const uint64_t budget;  // bytes
  mutable std::mutex mu;  // guards map and bytes
  std::map<std::pair<const void*, int>, std::shared_ptr<const ConvertedWeight>> map;
  uint64_t bytes = 0;
};

struct GemmContext::Impl {
  Impl(const KernelTable& k, const ThreadPool& p, std::shared_ptr<WeightConvCache> s)
      : kt(k), pool(p), store(std::move(s)), cache(store != nullptr) {}
  const KernelTable& kt;
  const ThreadPool& pool;
  std::shared_ptr<WeightConvCache> store;  // null: no caching
  bool cache;                              // store != null
  GemmBackend forced = GemmBackend::Auto;  // LATTE_GEMM
  bool allow_int8 = false;                 // LATTE_GEMM_INT8=1 / set_allow_int8(true)

  // Scratch (one caller at a time).
  std::vector<uint8_t> act;     // Rows: quantized activations
  std::vector<float> wf32;      // Sgemm tile
  std::vector<uint16_t> wbf16;  // bf16 tile
  std::vector<uint16_t> xbf16;  // bf16 activations [n][k]
  std::vector<int8_t> ws8, xs8; // int8 tile / activations
  std::vector<float> wscale, xscale;
  std::vector<int32_t> acc;     // int8 accumulators [n][tile]
  std::unique_ptr<OnednnState, OnednnStateDeleter> dnnl;
};

// Converters over weight rows [r0, r0+nr) of a 2-D view, parallel over rows on `pool`. dst row r at dst + r*k.
void convert_rows_f32(const TensorView& W, int64_t r0, int64_t nr, float* dst, const ThreadPool& pool);
void convert_rows_bf16(const TensorView& W, int64_t r0, int64_t nr, uint16_t* dst, const ThreadPool& pool);
void convert_rows_s8(const TensorView& W, int64_t r0, int64_t nr, int8_t* dst, float* scale, const ThreadPool& pool);
// d[i] = bf16(x[i]), round to nearest even (same as f32_to_bf16, vectorizable). x and d must not overlap.
void round_bf16(const float* x, uint16_t* d, int64_t k);
// q[i] = round(x[i] / s) with s = max|x| / 127 (returned; 0 for an all-zero row). x and q must not overlap.
float quantize_s8(const float* x, int8_t* q, int64_t k);
// Converted copy of the whole weight for backend b, from the cache (built on first use; thread-safe).
std::shared_ptr<const ConvertedWeight> cached_weight(GemmContext::Impl& c, const TensorView& W, GemmBackend b);

// oneDNN backends (gemm_onednn.cpp). X: [n][ldx] f32, Y: [n][ldy] f32.
void gemm_onednn_bf16(GemmContext::Impl& c, const TensorView& W, const float* X, int64_t ldx, int64_t n, float* Y,
                      int64_t ldy);
void gemm_onednn_int8(GemmContext::Impl& c, const TensorView& W, const float* X, int64_t ldx, int64_t n, float* Y,
                      int64_t ldy);

// Measured table (gemm_table.cpp): the backend for this shape on this machine class.
GemmBackend gemm_table_lookup(DType type, int64_t n, int64_t m, int64_t k, bool cached, bool allow_int8);

}  // namespace latte
