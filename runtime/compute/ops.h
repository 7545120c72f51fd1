// Compute primitives of the forward pass: RMSNorm, SiLU, softmax (float, single-threaded, pure) and weight
// products through a KernelTable. Activations are quantized once per input row to the weight type's
// vec_dot_type, then gemv kernels run over weight rows split across the ThreadPool.
// Ops owns scratch buffers: one Ops per Session, used by one thread at a time (it fans out internally).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/compute/tensor_view.h"

namespace latte {
struct KernelTable;
class ThreadPool;

// y = g ⊙ x / sqrt(mean(x²) + eps); Σx² accumulated in double. y may alias x. g may be null (gain 1).
void rmsnorm(const float* x, const float* g, float* y, int64_t n, float eps);
// gate[i] = silu(gate[i]) * up[i]
void silu_mul(float* gate, const float* up, int64_t n);
// In-place softmax with max subtraction (f32 exp, double sum).
void softmax(float* x, int64_t n);
float sigmoid(float x);

class GemmContext;
struct OpProfile;

// One matrix-vector product of a decode step: y[r] = Σ_i W_m[r][i]·x[i] for every row r of matrix `mat` of W
// (mat = 0 for a 2-D view). x: W.ne[0] floats; y: W.ne[1] floats.
struct GemvTask {
  const TensorView* w = nullptr;
  int64_t mat = 0;
  const float* x = nullptr;
  float* y = nullptr;
};

class Ops {
 public:
  Ops(const KernelTable& kt, const ThreadPool& pool);
  // Routes 2-D products with at least `min_tokens` token rows through gemm() (runtime/compute/gemm.h: BLAS / oneDNN
  // backends for prefill). nullptr (the default) keeps every product on the kernel-table path.
  void set_gemm(GemmContext* g, int64_t min_tokens) {
    gemm_ = g;
    gemm_min_ = min_tokens;
  }
  // Per-product accounting (op_profile.h); nullptr (the default) turns it off. The profile must outlive its use.
  void set_profile(OpProfile* p) { prof_ = p; }
  const KernelTable& kernels() const { return kt_; }
  const ThreadPool& pool() const { return pool_; }

  // Y[t][r] = Σ_i W[r][i]·X[t][i] for t < n_tok, r < W.ne[1]. W is a 2-D view (ne[0] = inputs).
  // X rows are `ldx` floats apart, Y rows `ldy` floats apart. Parallel over W's rows; each weight row block is
  // read once for all tokens.
  void matmul(const TensorView& W, const float* X, int64_t ldx, float* Y, int64_t ldy, int64_t n_tok);
  void matvec(const TensorView& W, const float* x, float* y) { matmul(W, x, W.ne[0], y, W.ne[1], 1); }
  // One product per matrix of a 3-D view, in a single parallel region (per-head attention matrices):
  // Y + m*ys [t][r] = Σ_i W_m[r][i]·(X + m*xs)[t][i] for m < W.ne[2].
  // `mats` (optional, n_mats entries) selects which matrices take part, in that order (product k uses matrix
  // mats[k] with input X + k*xs and output Y + k*ys): the selected experts of a decode step in one region.
  void matmul_3d(const TensorView& W, const float* X, int64_t ldx, int64_t xs, float* Y, int64_t ldy, int64_t ys,
                 int64_t n_tok, const int32_t* mats = nullptr, int64_t n_mats = 0);

  // Several independent products of one decode step in a single parallel region (e.g. the shared and the routed
  // experts' gate and up projections). Each distinct (x, activation type) is quantized once; the work is split over
  // the threads by weight bytes (not by task count), so products of different types and sizes balance.
  // Allocation-free once the scratch has grown to the step's size.
  void gemv_batch(const GemvTask* tasks, int64_t n_tasks);

  // Float helpers from the kernel table (scalar fallbacks if the table has none).
  float dot(int64_t n, const float* a, const float* b) const;
  void axpy(int64_t n, float a, const float* x, float* y) const;  // y += a*x

 private:
  const KernelTable& kt_;
  const ThreadPool& pool_;
  void matmul_3d_impl(const TensorView& W, const float* X, int64_t ldx, int64_t xs, float* Y, int64_t ldy, int64_t ys,
                      int64_t n_tok, const int32_t* mats, int64_t n_mats);
  void gemv_batch_impl(const GemvTask* tasks, int64_t n_tasks);
  std::vector<uint8_t> act_;  // quantized activations [n_tok][act row bytes]
  struct BatchItem {          // gemv_batch work item: rows [r0, r0+nr) of task `task`
    int32_t task;
    int32_t nr;
    int64_t r0;
    double cost_end;          // cumulative weight bytes up to and including this item
  };
  std::vector<BatchItem> items_;
  std::vector<size_t> task_act_;  // gemv_batch: offset of each task's quantized activation in act_
  GemmContext* gemm_ = nullptr;
  int64_t gemm_min_ = 0;
  OpProfile* prof_ = nullptr;
};

}  // namespace latte
