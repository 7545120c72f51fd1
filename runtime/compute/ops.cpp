// Forward-pass primitives (see ops.h).
#include "runtime/compute/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "quant/kernels.h"
#include "formats/error.h"
#include "runtime/compute/gemm.h"
#include "runtime/compute/op_profile.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"
#include "runtime/compute/weight_layout.h"

namespace latte {

void rmsnorm(const float* x, const float* g, float* y, int64_t n, float eps) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  if (g) {
    for (int64_t i = 0; i < n; ++i) y[i] = g[i] * (x[i] * scale);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float z = gate[i];
    gate[i] = z / (1.0f + std::exp(-z)) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

namespace {

// Per-thread scratch for plain copies of interleaved rows (prefill blocks, gather fallback); grows, never shrinks.
uint8_t* thread_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}

// y[i] = dot(row r0+i of matrix `mat` of W, act) for i < nr, any layout (tensor_view.h). Interleaved rows go to
// the table's gemv_il (r0 at a group start), or, for a type without one, through a plain copy.
void gemv_range(const KernelTable& kt, const TensorView& W, int64_t r0, int64_t nr, int64_t mat, const uint8_t* a,
                float* y) {
  const uint32_t wid = static_cast<uint32_t>(W.type());
  const GemvFn gv = kt.gemv[wid];
  const VecDotFn vd = kt.vec_dot[wid];
  const int64_t n = W.ne[0];
  auto plain = [&](const uint8_t* w, size_t stride, int64_t rows, float* out) {
    if (gv) gv(n, w, stride, a, out, rows);
    else
      for (int64_t r = 0; r < rows; ++r) out[r] = vd(n, w + static_cast<size_t>(r) * stride, a);
  };
  int64_t nf = 0;
  if (W.ilv > 1) {
    nf = std::clamp<int64_t>(W.interleaved_rows() - r0, 0, nr);
    if (nf > 0) {
      const GemvFn gi = W.ilv == kInterleave ? kt.gemv_il[wid] : nullptr;
      if (gi) {
        gi(n, W.row(r0, mat), W.nb1, a, y, nf);
      } else {
        const size_t rb = W.row_bytes();
        uint8_t* buf = thread_scratch(rb * static_cast<size_t>(nf));
        copy_rows_plain(W, r0, nf, mat, buf);
        plain(buf, rb, nf, y);
      }
    }
  }
  if (nr > nf) plain(W.row(r0 + nf, mat), W.nb1, nr - nf, y + nf);
}

}  // namespace

Ops::Ops(const KernelTable& kt, const ThreadPool& pool) : kt_(kt), pool_(pool) {}

float Ops::dot(int64_t n, const float* a, const float* b) const {
  if (kt_.dot_f32) return kt_.dot_f32(n, a, b);
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Ops::axpy(int64_t n, float a, const float* x, float* y) const {
  if (kt_.axpy_f32) {
    kt_.axpy_f32(n, a, x, y);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void Ops::matmul(const TensorView& W, const float* X, int64_t ldx, float* Y, int64_t ldy, int64_t n_tok) {
  if (gemm_ && n_tok >= gemm_min_) {
    GemmArgs args;
    args.ldx = ldx;
    args.ldy = ldy;
    // int8 GEMM (one activation scale per row) only for weights of fewer than 7 bits per value, whose own
    // quantization error dominates (test_golden: Q4_0 / Q4_K_M / Q6_K files stay within their tolerances with it,
    // Q8_0 and BF16 files do not); heavier weights take bf16 where the table says int8.
    const TypeTraits& tt = *W.tt;
    const bool low_bit = tt.block_elems > 1 && static_cast<int64_t>(tt.block_bytes) * 8 < tt.block_elems * 7;
    if (!low_bit) args.backend = gemm_->choose_no_int8(W.type(), n_tok, W.ne[1], W.ne[0]);
    const double t0 = prof_ ? OpProfile::now() : 0.0, c0 = prof_ ? OpProfile::cpu_now() : 0.0;
    gemm(W, X, n_tok, Y, *gemm_, args);
    if (prof_)
      prof_->add(OpProfile::role_of(W.name), W.tt->name, W.bytes(), OpProfile::now() - t0, OpProfile::cpu_now() - c0);
    return;
  }
  TensorView w2 = W;
  w2.ne[2] = 1;
  matmul_3d(w2, X, ldx, 0, Y, ldy, 0, n_tok);
}

void Ops::matmul_3d(const TensorView& W, const float* X, int64_t ldx, int64_t xs, float* Y, int64_t ldy, int64_t ys,
                    int64_t n_tok, const int32_t* mats, int64_t n_mats) {
  if (!profile::enabled() && !prof_) {
    matmul_3d_impl(W, X, ldx, xs, Y, ldy, ys, n_tok, mats, n_mats);
    return;
  }
  const auto t0 = profile::Clock::now();
  const double w0 = OpProfile::now(), c0 = OpProfile::cpu_now();
  matmul_3d_impl(W, X, ldx, xs, Y, ldy, ys, n_tok, mats, n_mats);
  const int64_t M = mats ? n_mats : W.ne[2];
  if (profile::enabled())
    profile::note_gemm(n_tok > 1 && kt_.gemm_tile[static_cast<uint32_t>(W.type())] ? "rows-tile" : "rows", W.tt->name,
                       n_tok * M, W.ne[1], W.ne[0], profile::seconds_since(t0));
  if (prof_)
    prof_->add(OpProfile::role_of(W.name), W.tt->name, static_cast<uint64_t>(W.row_bytes()) * W.ne[1] * M,
               OpProfile::now() - w0, OpProfile::cpu_now() - c0);
}

void Ops::matmul_3d_impl(const TensorView& W, const float* X, int64_t ldx, int64_t xs, float* Y, int64_t ldy,
                         int64_t ys, int64_t n_tok, const int32_t* mats, int64_t n_mats) {
  const int64_t M = mats ? n_mats : W.ne[2];
  if (n_tok <= 0 || M <= 0) return;
  const int64_t n = W.ne[0], n_out = W.ne[1];
  const uint32_t wid = static_cast<uint32_t>(W.type());
  const VecDotFn vd = kt_.vec_dot[wid];
  const GemvFn gv = kt_.gemv[wid];
  const GemmTileFn tile = kt_.gemm_tile[wid];
  if (!vd && !gv)
    throw UnsupportedError(std::string("no ") + isa_name(kt_.isa) + " kernel for weight type " + W.tt->name +
                           " (tensor " + W.name + ")");

  // Activations in the weight's partner format, converted once per (matrix, token) row: act row (m, t) at
  // act + m*act_ms + t*act_ts.
  const DType at = W.tt->vec_dot_type;
  const uint8_t* act = nullptr;
  size_t act_ts = 0, act_ms = 0;
  if (at == DType::F32) {
    act = reinterpret_cast<const uint8_t*>(X);
    act_ts = static_cast<size_t>(ldx) * sizeof(float);
    act_ms = static_cast<size_t>(xs) * sizeof(float);
  } else {
    const QuantizeActFn q = kt_.quantize_act[static_cast<uint32_t>(at)];
    const TypeTraits& att = type_traits(at);
    act_ts = row_bytes(att, n);
    act_ms = act_ts * static_cast<size_t>(n_tok);
    const size_t total = act_ms * static_cast<size_t>(M);
    if (act_.size() < total) act_.resize(total);
    uint8_t* dst = act_.data();
    profile::Scope ps(profile::Phase::ActConvert);
    auto conv = [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t m = i / n_tok, t = i % n_tok;
        const float* src = X + m * xs + t * ldx;
        uint8_t* d = dst + static_cast<size_t>(m) * act_ms + static_cast<size_t>(t) * act_ts;
        if (q) q(src, d, n);
        else att.quantize_row(src, d, n);
      }
    };
    // Only large conversions are worth a parallel region (a decode step's few short rows take microseconds).
    if (M * n_tok * n >= (int64_t{1} << 16) && pool_.size() > 1) pool_.parallel_for(M * n_tok, conv);
    else conv(0, M * n_tok, 0);
    act = dst;
  }

  // Work items: (matrix, block of kBlock weight rows); each block is read once for all tokens. 64 rows for the
  // tile kernel when that still leaves ≥ 4 items per thread (it rearranges the activations once per call).
  const int64_t kBlock = (tile && n_tok > 1 && M * (n_out / 64) >= 4 * pool_.size()) ? 64 : 16;
  const int64_t nblk = (n_out + kBlock - 1) / kBlock;
  const size_t nb1 = W.nb1;
  auto body = [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t m = i / nblk, rb = (i % nblk) * kBlock;
      const int64_t nr = std::min(kBlock, n_out - rb);
      const int64_t mat = mats ? mats[m] : m;
      if (n_tok == 1) {
        gemv_range(kt_, W, rb, nr, mat, act + static_cast<size_t>(m) * act_ms, Y + m * ys + rb);
        continue;
      }
      // Several tokens: the block's rows in plain layout (a copy for interleaved rows), read once for all tokens.
      const uint8_t* w = W.interleaved() ? plain_rows(W, rb, nr, mat, thread_scratch(W.row_bytes() * size_t(nr)))
                                         : W.row(rb, mat);
      if (tile) {
        tile(n, w, nb1, act + static_cast<size_t>(m) * act_ms, act_ts, Y + m * ys + rb, ldy, nr, n_tok);
        continue;
      }
      for (int64_t t = 0; t < n_tok; ++t) {
        const uint8_t* a = act + static_cast<size_t>(m) * act_ms + static_cast<size_t>(t) * act_ts;
        float* y = Y + m * ys + t * ldy + rb;
        if (gv) {
          gv(n, w, nb1, a, y, nr);
        } else {
          for (int64_t r = 0; r < nr; ++r) y[r] = vd(n, w + static_cast<size_t>(r) * nb1, a);
        }
      }
    }
  };
  const double work = static_cast<double>(n) * static_cast<double>(n_out) * static_cast<double>(M * n_tok);
  if (pool_.size() <= 1 || work < 32768.0) body(0, M * nblk, 0);
  else pool_.parallel_for(M * nblk, body);
}

void Ops::gemv_batch(const GemvTask* tasks, int64_t n_tasks) {
  if (n_tasks <= 0) return;
  if (!profile::enabled() && !prof_) {
    gemv_batch_impl(tasks, n_tasks);
    return;
  }
  const auto t0 = profile::Clock::now();
  const double w0 = OpProfile::now(), c0 = OpProfile::cpu_now();
  gemv_batch_impl(tasks, n_tasks);
  if (profile::enabled()) {
    double mk = 0;
    for (int64_t i = 0; i < n_tasks; ++i)
      mk += static_cast<double>(tasks[i].w->ne[0]) * static_cast<double>(tasks[i].w->ne[1]);
    // flop counted as one product of 1 × mk (note_gemm multiplies n·m·k by 2)
    profile::note_gemm("gemv-batch", "mixed", 1, static_cast<int64_t>(mk), 1, profile::seconds_since(t0));
  }
  if (prof_) {
    std::string role;
    uint64_t bytes = 0;
    for (int64_t i = 0; i < n_tasks; ++i) {
      const std::string r = OpProfile::role_of(tasks[i].w->name);
      if (role.find(r) == std::string::npos) role += (role.empty() ? "" : "+") + r;
      bytes += static_cast<uint64_t>(tasks[i].w->row_bytes()) * tasks[i].w->ne[1];
    }
    prof_->add(role, tasks[0].w->tt->name, bytes, OpProfile::now() - w0, OpProfile::cpu_now() - c0);
  }
}

void Ops::gemv_batch_impl(const GemvTask* tasks, int64_t n_tasks) {
  // 1. Activations: one conversion per distinct (x, partner type), serial (each is a single short row).
  task_act_.resize(static_cast<size_t>(n_tasks));
  size_t used = 0;
  for (int pass = 0; pass < 2; ++pass) {  // pass 0 sizes act_, pass 1 fills it
    used = 0;
    for (int64_t i = 0; i < n_tasks; ++i) {
      const TensorView& W = *tasks[i].w;
      const DType at = W.tt->vec_dot_type;
      if (!kt_.vec_dot[static_cast<uint32_t>(W.type())] && !kt_.gemv[static_cast<uint32_t>(W.type())])
        throw UnsupportedError(std::string("no ") + isa_name(kt_.isa) + " kernel for weight type " + W.tt->name +
                               " (tensor " + W.name + ")");
      if (at == DType::F32) continue;
      int64_t same = -1;
      for (int64_t j = 0; j < i && same < 0; ++j)
        if (tasks[j].x == tasks[i].x && tasks[j].w->tt->vec_dot_type == at && tasks[j].w->ne[0] == W.ne[0]) same = j;
      if (same >= 0) {
        task_act_[static_cast<size_t>(i)] = task_act_[static_cast<size_t>(same)];
        continue;
      }
      const TypeTraits& att = type_traits(at);
      const size_t bytes = row_bytes(att, W.ne[0]);
      task_act_[static_cast<size_t>(i)] = used;
      if (pass == 1) {
        uint8_t* d = act_.data() + used;
        if (const QuantizeActFn q = kt_.quantize_act[static_cast<uint32_t>(at)]) q(tasks[i].x, d, W.ne[0]);
        else att.quantize_row(tasks[i].x, d, W.ne[0]);
      }
      used += (bytes + 63) / 64 * 64;
    }
    if (pass == 0 && act_.size() < used) act_.resize(used);
  }

  // 2. Work items of up to kBlock rows, with cumulative weight bytes for a balanced split.
  constexpr int64_t kBlock = 16;
  items_.clear();
  double cost = 0.0;
  for (int64_t i = 0; i < n_tasks; ++i) {
    const TensorView& W = *tasks[i].w;
    const int64_t rows = W.ne[1];
    for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
      const int64_t nr = std::min(kBlock, rows - r0);
      cost += static_cast<double>(nr) * static_cast<double>(W.nb1);
      items_.push_back({static_cast<int32_t>(i), static_cast<int32_t>(nr), r0, cost});
    }
  }
  auto run = [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      const BatchItem& it = items_[k];
      const GemvTask& t = tasks[it.task];
      const TensorView& W = *t.w;
      const uint8_t* a = W.tt->vec_dot_type == DType::F32 ? reinterpret_cast<const uint8_t*>(t.x)
                                                            : act_.data() + task_act_[static_cast<size_t>(it.task)];
      gemv_range(kt_, W, it.r0, it.nr, t.mat, a, t.y + it.r0);
    }
  };
  const size_t n_items = items_.size();
  if (pool_.size() <= 1 || cost < 65536.0) {
    run(0, n_items);
    return;
  }
  // Thread t takes the items whose cumulative cost ends in (total·t/T, total·(t+1)/T].
  pool_.run_on_all([&](int t, int T) {
    auto bound = [&](int k) -> size_t {
      if (k >= T) return n_items;
      const double c = cost * k / T;
      return static_cast<size_t>(std::upper_bound(items_.begin(), items_.end(), c,
                                                  [](double v, const BatchItem& x) { return v < x.cost_end; }) -
                                 items_.begin());
    };
    run(t == 0 ? 0 : bound(t), bound(t + 1));
  });
}

}  // namespace latte
