// oneDNN matmul backends (see gemm.h): bf16 × bf16 → f32 and s8 × s8 → s32 (scaled to f32 here).
// Weights are passed to oneDNN in their plain layout: W is [m][k] row-major, i.e. the k×m weights matrix with
// strides (1, k). oneDNN picks its best kernel for the CPU (avx512_core_amx where present, else
// avx512_core_bf16 / avx512_core_vnni); ONEDNN_VERBOSE=1 shows which. Primitives are cached per shape in the
// context. oneDNN runs on its OpenMP team, sized to the context's ThreadPool for each call.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>

#include "quant/float16.h"
#include "formats/error.h"
#include "runtime/compute/gemm_impl.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"

namespace latte {

struct OnednnState {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  // (src type, n, m, k, ldx, ldw, ldy) -> primitive
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, dnnl::matmul> prims;
};

void onednn_state_delete(OnednnState* s) { delete s; }

namespace {

using dt = dnnl::memory::data_type;

OnednnState& state(GemmContext::Impl& c) {
  if (!c.dnnl) c.dnnl.reset(new OnednnState());
  return *c.dnnl;
}

// Sets the OpenMP team size oneDNN uses for the calling thread, restoring it on scope exit.
struct OmpThreads {
  explicit OmpThreads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~OmpThreads() { omp_set_num_threads(saved); }
  int saved;
};

// Y[n][m] (ldy, type dst) = X[n][k] (ldx) · Wt where W is [m][k] with row stride ldw; all of one source type.
void matmul(OnednnState& s, dt src, dt dst, const void* X, int64_t ldx, const void* W, int64_t ldw, void* Y,
            int64_t ldy, int64_t n, int64_t m, int64_t k) {
  using dnnl::memory;
  const memory::desc src_md({n, k}, src, memory::dims{ldx, 1});
  const memory::desc wei_md({k, m}, src, memory::dims{1, ldw});
  const memory::desc dst_md({n, m}, dst, memory::dims{ldy, 1});
  const auto key = std::make_tuple(static_cast<int>(src), n, m, k, ldx, ldw, ldy);
  auto it = s.prims.find(key);
  if (it == s.prims.end()) {
    if (s.prims.size() >= 4096) s.prims.clear();  // bound: one entry per (n, shape); oneDNN caches the kernels too
    try {
      const dnnl::matmul::desc d(src_md, wei_md, dst_md);
      const dnnl::matmul::primitive_desc pd(d, s.eng);
      it = s.prims.emplace(key, dnnl::matmul(pd)).first;
    } catch (const dnnl::error& e) {
      throw UnsupportedError(std::string("oneDNN matmul: no implementation for this shape/type: ") + e.what());
    }
  }
  profile::LibScope lib;
  memory sm(src_md, s.eng, const_cast<void*>(X));
  memory wm(wei_md, s.eng, const_cast<void*>(W));
  memory dm(dst_md, s.eng, Y);
  it->second.execute(s.strm, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dm}});
  s.strm.wait();
}

}  // namespace

void gemm_onednn_bf16(GemmContext::Impl& c, const TensorView& W, const float* X, int64_t ldx, int64_t n, float* Y,
                      int64_t ldy) {
  const int64_t k = W.ne[0], m = W.ne[1];
  OnednnState& s = state(c);
  // Activations to bf16 [n][k] (round to nearest even).
  if (c.xbf16.size() < static_cast<size_t>(n * k)) c.xbf16.resize(static_cast<size_t>(n * k));
  uint16_t* xb = c.xbf16.data();
  {
    profile::Scope ps(profile::Phase::ActConvert);
    c.pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
      for (int64_t t = a; t < b; ++t) round_bf16(X + t * ldx, xb + t * k, k);
    });
  }
  OmpThreads omp(c.pool.size());
  if (W.type() == DType::BF16 && W.nb1 % 2 == 0) {
    matmul(s, dt::bf16, dt::f32, xb, k, W.data, static_cast<int64_t>(W.nb1 / 2), Y, ldy, n, m, k);
    return;
  }
  if (c.cache) {
    auto cw = cached_weight(c, W, GemmBackend::OnednnBf16);
    matmul(s, dt::bf16, dt::f32, xb, k, cw->bf16.data(), k, Y, ldy, n, m, k);
    return;
  }
  const int64_t tile = std::min(m, gemm_tile_rows(true));
  if (c.wbf16.size() < static_cast<size_t>(tile * k)) c.wbf16.resize(static_cast<size_t>(tile * k));
  for (int64_t j0 = 0; j0 < m; j0 += tile) {
    const int64_t mt = std::min(tile, m - j0);
    {
      profile::Scope ps(profile::Phase::WeightConvert);
      convert_rows_bf16(W, j0, mt, c.wbf16.data(), c.pool);
    }
    matmul(s, dt::bf16, dt::f32, xb, k, c.wbf16.data(), k, Y + j0, ldy, n, mt, k);
  }
}

void gemm_onednn_int8(GemmContext::Impl& c, const TensorView& W, const float* X, int64_t ldx, int64_t n, float* Y,
                      int64_t ldy) {
  const int64_t k = W.ne[0], m = W.ne[1];
  OnednnState& s = state(c);
  // Activations to s8 with one scale per row: x ≈ sx[t] · q.
  if (c.xs8.size() < static_cast<size_t>(n * k)) c.xs8.resize(static_cast<size_t>(n * k));
  if (c.xscale.size() < static_cast<size_t>(n)) c.xscale.resize(static_cast<size_t>(n));
  int8_t* xq = c.xs8.data();
  float* sx = c.xscale.data();
  {
    profile::Scope ps(profile::Phase::ActConvert);
    c.pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
      for (int64_t t = a; t < b; ++t) sx[t] = quantize_s8(X + t * ldx, xq + t * k, k);
    });
  }
  const int64_t tile = c.cache ? m : std::min(m, gemm_tile_rows());
  if (c.acc.size() < static_cast<size_t>(n * tile)) c.acc.resize(static_cast<size_t>(n * tile));
  int32_t* acc = c.acc.data();
  // Y[t][j0 + j] = acc[t][j] · sx[t] · sw[j]
  auto epilogue = [&](int64_t j0, int64_t mt, const float* sw) {
    c.pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
      for (int64_t t = a; t < b; ++t) {
        float* y = Y + t * ldy + j0;
        const int32_t* r = acc + t * mt;
        for (int64_t j = 0; j < mt; ++j) y[j] = static_cast<float>(r[j]) * sx[t] * sw[j];
      }
    });
  };
  if (c.cache) {
    auto cw = cached_weight(c, W, GemmBackend::OnednnInt8);
    {
      OmpThreads omp(c.pool.size());
      matmul(s, dt::s8, dt::s32, xq, k, cw->s8.data(), k, acc, m, n, m, k);
    }
    epilogue(0, m, cw->scale.data());
    return;
  }
  if (c.ws8.size() < static_cast<size_t>(tile * k)) c.ws8.resize(static_cast<size_t>(tile * k));
  if (c.wscale.size() < static_cast<size_t>(tile)) c.wscale.resize(static_cast<size_t>(tile));
  for (int64_t j0 = 0; j0 < m; j0 += tile) {
    const int64_t mt = std::min(tile, m - j0);
    {
      profile::Scope ps(profile::Phase::WeightConvert);
      convert_rows_s8(W, j0, mt, c.ws8.data(), c.wscale.data(), c.pool);
    }
    {
      OmpThreads omp(c.pool.size());
      matmul(s, dt::s8, dt::s32, xq, k, c.ws8.data(), k, acc, mt, n, mt, k);
    }
    epilogue(j0, mt, c.wscale.data());
  }
}

}  // namespace latte
