// GEMM over GGUF weights for batched (prefill) forward passes: Y[n][m] = X[n][k] · Wᵀ for a 2-D weight view W of
// m rows × k inputs (W.ne[0] = k, W.ne[1] = m, any supported weight type). One entry point, four backends:
//   Rows       — Latte's quantized kernels (KernelTable gemv): X rows quantized to the weight's vec_dot_type,
//                weight rows read in blocks of 16 for all n rows. No conversion; best for small n.
//   Sgemm      — OpenBLAS cblas_sgemm on W dequantized to f32 (per tile of rows, or cached).
//   OnednnBf16 — oneDNN matmul, bf16 × bf16 → f32: W rounded to bf16 once (cache) or per tile; X rounded to bf16.
//   OnednnInt8 — oneDNN matmul, s8 × s8 → s32: W requantized to s8 with one scale per weight row (from its
//                dequantized f32 values), X quantized to s8 with one scale per activation row; Y = s32·sx[i]·sw[j].
// Auto picks the backend from a measured table (gemm_table.cpp, from bench/bench_gemm's numbers) keyed by weight
// type family, n and m·k (the same with or without a weight cache, so that cached and per-call conversion give
// the same bits); LATTE_GEMM=rows|sgemm|bf16|int8 forces one (ArgumentError if
// unknown). F32 weights (the MoE router) never go to bf16/int8: their outputs choose experts.
//
// Weight conversion: per call, tile by tile (256 weight rows for int8/sgemm, 2048 for bf16, into scratch buffers),
// or once into a WeightConvCache (bf16 2 bytes per weight, s8 1 byte (+4 per row), f32 4 bytes). Measured
// (bench/bench_gemm, 1 thread, CPU time): converting a Q4_K 1408x2048 matrix costs 0.8 ms to f32, 1.6 ms to bf16 or
// s8 (~1.8 G weights/s); at n = 64 rows that halves bf16/int8 throughput (bf16 86-90 vs 156-178 GFLOP/s cached,
// int8 125-136 vs 282-323), at n = 512 it costs ~15%.
// A model's sessions share one WeightConvCache (Model::gemm_cache()): the weights that prefill products convert
// (attention projections, shared experts, dense FFNs; routed experts run in the expert queue and are never
// converted) kept converted up to a byte budget; weights beyond it are converted per call. The model sizes the
// budget from the memory left after loading (see model.h); LATTE_GEMM_CACHE=0 turns caching off, =1 makes an
// unbounded per-context cache (measurement). V2-Lite (llama.cpp mix): ~1 GB of s8, pp512 +13-16 % on 2 threads.
//
// Thread-safety: a GemmContext is used by one caller thread at a time (it owns scratch buffers and fans out over
// its ThreadPool / oneDNN's OpenMP team / OpenBLAS's threads internally); do not call gemm() from inside a
// ThreadPool::parallel_for body. A WeightConvCache is thread-safe and may be shared by any number of contexts.
// Views must outlive the call; cached copies are keyed by pointer, so a cache must not outlive the weights it holds
// (clear_cache() before unmapping) nor be used where a pointer can come to hold other weights (expert cache slots).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/compute/tensor_view.h"

namespace latte {
struct KernelTable;
class ThreadPool;

enum class GemmBackend { Auto = 0, Rows = 1, Sgemm = 2, OnednnBf16 = 3, OnednnInt8 = 4 };
const char* gemm_backend_name(GemmBackend b);
// "rows", "sgemm", "bf16", "int8", "auto" -> backend; false if unknown.
bool parse_gemm_backend(const std::string& s, GemmBackend& out);

struct GemmArgs {
  int64_t ldx = 0;                       // floats between X rows (0 = k)
  int64_t ldy = 0;                       // floats between Y rows (0 = m)
  GemmBackend backend = GemmBackend::Auto;
};

// Converted weights keyed by (W.data, backend), at most budget bytes in all. Thread-safe.
struct WeightConvCache;
std::shared_ptr<WeightConvCache> make_weight_conv_cache(uint64_t budget_bytes);

class GemmContext {
 public:
  // kt, pool: referenced, must outlive the context. cache: where converted weights are kept (null: converted per
  // call); the bool form makes an unbounded cache of this context's own. LATTE_GEMM_CACHE overrides (see above).
  GemmContext(const KernelTable& kt, const ThreadPool& pool, std::shared_ptr<WeightConvCache> cache = nullptr);
  GemmContext(const KernelTable& kt, const ThreadPool& pool, bool cache);
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  const KernelTable& kernels() const;
  const ThreadPool& pool() const;
  bool caching() const;
  uint64_t cache_bytes() const;  // bytes held by the (possibly shared) cache of converted weights
  void clear_cache();

  // Whether Auto may pick OnednnInt8 (default false; LATTE_GEMM_INT8=1 sets true). int8 is the fastest backend
  // from n ~ 32 (2x bf16) but quantizes each activation row with one scale: ~1e-2 relative error on Gaussian data,
  // and on tiny-dsv3-q8_0 prefill only 39/47 positions stay within 2e-2 of the kernel path (bf16 and exact sgemm:
  // 43/47), so it is opt-in. Without it Auto uses bf16 from bf16's threshold and Rows below.
  void set_allow_int8(bool allow);

  // The backend Auto resolves to for this shape (after the LATTE_GEMM override).
  GemmBackend choose(DType type, int64_t n, int64_t m, int64_t k) const;
  // Same, with int8 ruled out for this call (weights whose own precision int8 activations would spoil).
  GemmBackend choose_no_int8(DType type, int64_t n, int64_t m, int64_t k) const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Y[i][j] = Σ_c X[i][c] · W[j][c], i < n_rows, j < m = W.ne[1], c < k = W.ne[0]. W: 2-D view (ne[2] == 1) of a
// supported type, k a multiple of its block size. Y is overwritten. Throws UnsupportedError for a backend that
// cannot run the type, ArgumentError for bad shapes.
void gemm(const TensorView& W, const float* X, int64_t n_rows, float* Y, GemmContext& ctx, const GemmArgs& args = {});

// True if this CPU/build can run the backend (oneDNN backends need AVX-512 or AVX2 for useful speed but run
// anywhere oneDNN does; Rows and Sgemm always).
bool gemm_backend_available(GemmBackend b);

}  // namespace latte
