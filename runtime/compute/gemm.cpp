// GEMM entry point, backend choice, weight converters and cache, and the Rows and Sgemm backends (see gemm.h).
#include "runtime/compute/gemm.h"
#include "runtime/compute/weight_layout.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/kernels.h"
#include "formats/error.h"
#include "runtime/compute/gemm_impl.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"

namespace latte {

const char* gemm_backend_name(GemmBackend b) {
  switch (b) {
    case GemmBackend::Auto: return "auto";
    case GemmBackend::Rows: return "rows";
    case GemmBackend::Sgemm: return "sgemm";
    case GemmBackend::OnednnBf16: return "bf16";
    case GemmBackend::OnednnInt8: return "int8";
  }
  return "unknown";
}

bool parse_gemm_backend(const std::string& s, GemmBackend& out) {
  for (GemmBackend b : {GemmBackend::Auto, GemmBackend::Rows, GemmBackend::Sgemm, GemmBackend::OnednnBf16,
                        GemmBackend::OnednnInt8})
    if (s == gemm_backend_name(b)) {
      out = b;
      return true;
    }
  return false;
}

bool gemm_backend_available(GemmBackend b) { return b != GemmBackend::Auto; }

std::shared_ptr<WeightConvCache> make_weight_conv_cache(uint64_t budget_bytes) {
  return std::make_shared<WeightConvCache>(budget_bytes);
}

GemmContext::GemmContext(const KernelTable& kt, const ThreadPool& pool, bool cache)
    : GemmContext(kt, pool, cache ? make_weight_conv_cache(UINT64_MAX) : nullptr) {}

GemmContext::GemmContext(const KernelTable& kt, const ThreadPool& pool, std::shared_ptr<WeightConvCache> cache)
    : impl_(std::make_unique<Impl>(kt, pool, std::move(cache))) {
  if (const char* env = std::getenv("LATTE_GEMM_CACHE"); env && *env) {
    impl_->store = std::string(env) == "0" ? nullptr : make_weight_conv_cache(UINT64_MAX);
    impl_->cache = impl_->store != nullptr;
  }
  if (const char* env = std::getenv("LATTE_GEMM_INT8"); env && *env && std::string(env) != "0")
    impl_->allow_int8 = true;
  if (const char* env = std::getenv("LATTE_GEMM"); env && *env) {
    if (!parse_gemm_backend(env, impl_->forced))
      throw ArgumentError(std::string("LATTE_GEMM=") + env + ": unknown GEMM backend (auto, rows, sgemm, bf16, int8)");
  }
}

GemmContext::~GemmContext() = default;
const KernelTable& GemmContext::kernels() const { return impl_->kt; }
const ThreadPool& GemmContext::pool() const { return impl_->pool; }
bool GemmContext::caching() const { return impl_->cache; }
void GemmContext::set_allow_int8(bool allow) { impl_->allow_int8 = allow; }

uint64_t GemmContext::cache_bytes() const {
  if (!impl_->store) return 0;
  std::lock_guard<std::mutex> lk(impl_->store->mu);
  return impl_->store->bytes;
}

void GemmContext::clear_cache() {
  if (!impl_->store) return;
  std::lock_guard<std::mutex> lk(impl_->store->mu);
  impl_->store->map.clear();
  impl_->store->bytes = 0;
}

GemmBackend GemmContext::choose(DType type, int64_t n, int64_t m, int64_t k) const {
  if (impl_->forced != GemmBackend::Auto) return impl_->forced;
  return gemm_table_lookup(type, n, m, k, false, impl_->allow_int8);  // cache-independent: same backend, same bits
}

GemmBackend GemmContext::choose_no_int8(DType type, int64_t n, int64_t m, int64_t k) const {
  if (impl_->forced != GemmBackend::Auto)
    return impl_->forced == GemmBackend::OnednnInt8 ? GemmBackend::OnednnBf16 : impl_->forced;
  return gemm_table_lookup(type, n, m, k, false, false);
}

int64_t gemm_tile_rows(bool bf16) {
  static const int64_t forced = [] {
    const char* e = std::getenv("LATTE_GEMM_TILE");
    const long long v = e ? std::atoll(e) : 0;
    return v > 0 ? static_cast<int64_t>(v) : int64_t{0};
  }();
  if (forced > 0) return forced;
  return bf16 ? 2048 : 256;
}

// ---- converters ----

namespace {

// Q5_0 rows without variable shifts (the reference's qh >> j loop does not vectorize): bit j of qh via a constant
// mask table. Same values as the reference (exact: d·(q-16)).
void dequantize_q5_0_fast(const void* src, float* dst, int64_t n) {
  static constexpr uint32_t kBit[16] = {1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,
                                        1u << 6,  1u << 7,  1u << 8,  1u << 9,  1u << 10, 1u << 11,
                                        1u << 12, 1u << 13, 1u << 14, 1u << 15};
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / QK5_0; ++i, dst += QK5_0) {
    const float d = fp16_to_f32(b[i].d);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    const uint32_t lo_h = qh & 0xFFFFu, hi_h = qh >> 16;
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[i].qs[j] & 0x0F) | ((lo_h & kBit[j]) ? 16 : 0);
      const int hi = (b[i].qs[j] >> 4) | ((hi_h & kBit[j]) ? 16 : 0);
      dst[j] = d * static_cast<float>(lo - 16);
      dst[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
}

DequantizeRowFn dequantizer(const TensorView& W) {
  return W.type() == DType::Q5_0 ? dequantize_q5_0_fast : W.tt->dequantize_row;
}

// Round to nearest (ties to even) for |x| < 2^22, branch-free and vectorizable (std::lrintf is a libm call).
inline int32_t round_i32(float x) { return static_cast<int32_t>(f32_bits(x + 12582912.0f)) - 0x4B400000; }

}  // namespace

// f32 -> bf16, round to nearest even, branch-free so that it vectorizes (quant/float16.h's f32_to_bf16 has a NaN
// branch); NaN stays NaN (quiet bit forced), same results as f32_to_bf16 for every input.
void round_bf16(const float* __restrict x, uint16_t* __restrict d, int64_t k) {
  for (int64_t c = 0; c < k; ++c) {
    const uint32_t u = f32_bits(x[c]);
    const uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const uint32_t nan = (u >> 16) | 64u;
    d[c] = static_cast<uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? nan : r);
  }
}

float quantize_s8(const float* __restrict x, int8_t* __restrict q, int64_t k) {
  // max |x| in 16 independent lanes (vectorizes without -ffast-math: no reassociation of one accumulator)
  float lane[16] = {};
  int64_t c = 0;
  for (; c + 16 <= k; c += 16)
    for (int l = 0; l < 16; ++l) lane[l] = std::max(lane[l], std::fabs(x[c + l]));
  float amax = 0.0f;
  for (float v : lane) amax = std::max(amax, v);
  for (; c < k; ++c) amax = std::max(amax, std::fabs(x[c]));
  const float s = amax / 127.0f;
  const float inv = s > 0.0f ? 1.0f / s : 0.0f;
  for (c = 0; c < k; ++c) q[c] = static_cast<int8_t>(round_i32(x[c] * inv));
  return s;
}

void convert_rows_f32(const TensorView& W, int64_t r0, int64_t nr, float* dst, const ThreadPool& pool) {
  const int64_t k = W.ne[0];
  const DequantizeRowFn dq = dequantizer(W);
  pool.parallel_for(nr, [&](int64_t a, int64_t b, int) {
    std::vector<uint8_t> row(W.interleaved() ? W.row_bytes() : 0);  // plain copy of an interleaved row
    for (int64_t r = a; r < b; ++r) dq(plain_rows(W, r0 + r, 1, 0, row.data()), dst + r * k, k);
  });
}

void convert_rows_bf16(const TensorView& W, int64_t r0, int64_t nr, uint16_t* dst, const ThreadPool& pool) {
  const int64_t k = W.ne[0];
  const DequantizeRowFn dq = dequantizer(W);
  pool.parallel_for(nr, [&](int64_t a, int64_t b, int) {
    std::vector<float> tmp(static_cast<size_t>(k));
    std::vector<uint8_t> row(W.interleaved() ? W.row_bytes() : 0);  // plain copy of an interleaved row
    for (int64_t r = a; r < b; ++r) {
      const uint8_t* src = plain_rows(W, r0 + r, 1, 0, row.data());
      if (W.type() == DType::BF16) {
        std::memcpy(dst + r * k, src, static_cast<size_t>(k) * 2);
        continue;
      }
      dq(src, tmp.data(), k);
      round_bf16(tmp.data(), dst + r * k, k);
    }
  });
}

void convert_rows_s8(const TensorView& W, int64_t r0, int64_t nr, int8_t* dst, float* scale, const ThreadPool& pool) {
  const int64_t k = W.ne[0];
  const DequantizeRowFn dq = dequantizer(W);
  pool.parallel_for(nr, [&](int64_t a, int64_t b, int) {
    std::vector<float> tmp(static_cast<size_t>(k));
    std::vector<uint8_t> row(W.interleaved() ? W.row_bytes() : 0);  // plain copy of an interleaved row
    for (int64_t r = a; r < b; ++r) {
      dq(plain_rows(W, r0 + r, 1, 0, row.data()), tmp.data(), k);
      scale[r] = quantize_s8(tmp.data(), dst + r * k, k);
    }
  });
}

std::shared_ptr<const ConvertedWeight> cached_weight(GemmContext::Impl& c, const TensorView& W, GemmBackend b) {
  const auto key = std::make_pair(static_cast<const void*>(W.data), static_cast<int>(b));
  WeightConvCache& st = *c.store;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    auto it = st.map.find(key);
    if (it != st.map.end()) return it->second;
  }
  // Built outside the lock (conversion fans out over the pool); a racing builder's copy is dropped.
  profile::Scope ps(profile::Phase::WeightConvert);
  auto cw = std::make_shared<ConvertedWeight>();
  cw->m = W.ne[1];
  cw->k = W.ne[0];
  const size_t mk = static_cast<size_t>(cw->m * cw->k);
  if (b == GemmBackend::Sgemm) {
    cw->f32.resize(mk);
    convert_rows_f32(W, 0, cw->m, cw->f32.data(), c.pool);
  } else if (b == GemmBackend::OnednnBf16) {
    cw->bf16.resize(mk);
    convert_rows_bf16(W, 0, cw->m, cw->bf16.data(), c.pool);
  } else {
    cw->s8.resize(mk);
    cw->scale.resize(static_cast<size_t>(cw->m));
    convert_rows_s8(W, 0, cw->m, cw->s8.data(), cw->scale.data(), c.pool);
  }
  std::lock_guard<std::mutex> lk(st.mu);
  if (st.bytes + cw->bytes() > st.budget) return cw;  // over budget: used for this call only
  auto [it, inserted] = st.map.emplace(key, cw);
  if (inserted) st.bytes += cw->bytes();
  return it->second;
}

// ---- backends ----

namespace {

// Latte's quantized kernels: activations quantized once per row, weight rows in blocks of 16 read once for all
// rows of X; parallel over weight-row blocks.
void gemm_rows(GemmContext::Impl& c, const TensorView& W, const float* X, int64_t ldx, int64_t n, float* Y,
               int64_t ldy) {
  const int64_t k = W.ne[0], m = W.ne[1];
  const uint32_t wid = static_cast<uint32_t>(W.type());
  const VecDotFn vd = c.kt.vec_dot[wid];
  const GemvFn gv = c.kt.gemv[wid];
  const GemmTileFn tile = c.kt.gemm_tile[wid];
  if (!vd && !gv)
    throw UnsupportedError(std::string("gemm rows: no ") + isa_name(c.kt.isa) + " kernel for weight type " +
                           W.tt->name + " (tensor " + W.name + ")");
  const DType at = W.tt->vec_dot_type;
  const uint8_t* act;
  size_t act_ts;
  if (at == DType::F32) {
    act = reinterpret_cast<const uint8_t*>(X);
    act_ts = static_cast<size_t>(ldx) * sizeof(float);
  } else {
    const TypeTraits& att = type_traits(at);
    const QuantizeActFn q = c.kt.quantize_act[static_cast<uint32_t>(at)];
    act_ts = row_bytes(att, k);
    if (c.act.size() < act_ts * static_cast<size_t>(n)) c.act.resize(act_ts * static_cast<size_t>(n));
    uint8_t* dst = c.act.data();
    profile::Scope ps(profile::Phase::ActConvert);
    auto conv = [&](int64_t a, int64_t b, int) {
      for (int64_t t = a; t < b; ++t) {
        if (q) q(X + t * ldx, dst + static_cast<size_t>(t) * act_ts, k);
        else att.quantize_row(X + t * ldx, dst + static_cast<size_t>(t) * act_ts, k);
      }
    };
    if (n >= 4) c.pool.parallel_for(n, conv);
    else conv(0, n, 0);
    act = dst;
  }
  // Rows per work item: 16, or 64 for the tile kernel when that still leaves ≥ 4 items per thread (the tile
  // kernel rearranges the activations once per call, so longer calls amortize it: ~+10 % on Q4_K).
  const int64_t kBlock = (tile && n > 1 && m / 64 >= 4 * c.pool.size()) ? 64 : 16;
  const int64_t nblk = (m + kBlock - 1) / kBlock;
  auto body = [&](int64_t b0, int64_t b1, int) {
    std::vector<uint8_t> plain(W.interleaved() ? W.row_bytes() * static_cast<size_t>(kBlock) : 0);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t rb = b * kBlock, nr = std::min(kBlock, m - rb);
      // plain rows of the block (a copy for interleaved rows: the tile kernels read plain rows)
      const uint8_t* w = plain_rows(W, rb, nr, 0, plain.data());
      if (tile && n > 1) {
        tile(k, w, W.nb1, act, act_ts, Y + rb, ldy, nr, n);
        continue;
      }
      for (int64_t t = 0; t < n; ++t) {
        const uint8_t* a = act + static_cast<size_t>(t) * act_ts;
        float* y = Y + t * ldy + rb;
        if (gv) gv(k, w, W.nb1, a, y, nr);
        else
          for (int64_t r = 0; r < nr; ++r) y[r] = vd(k, w + static_cast<size_t>(r) * W.nb1, a);
      }
    }
  };
  if (static_cast<double>(k) * static_cast<double>(m) * static_cast<double>(n) < 32768.0) body(0, nblk, 0);
  else c.pool.parallel_for(nblk, body);
}

// OpenBLAS sgemm on f32 weights: the cached copy, or tiles of kGemmTileRows rows dequantized per call.
void gemm_sgemm(GemmContext::Impl& c, const TensorView& W, const float* X, int64_t ldx, int64_t n, float* Y,
                int64_t ldy) {
  const int64_t k = W.ne[0], m = W.ne[1];
  // Single-threaded OpenBLAS calls over blocks of X rows inside Latte's own region: OpenBLAS's pthread team would
  // otherwise spin beside OpenMP's between calls (the 16-thread prefill collapse on the device).
  openblas_set_num_threads(1);
  auto run = [&](const float* w, int64_t j0, int64_t mt) {
    c.pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(b - a), static_cast<blasint>(mt),
                  static_cast<blasint>(k), 1.0f, X + a * ldx, static_cast<blasint>(ldx), w, static_cast<blasint>(k),
                  0.0f, Y + a * ldy + j0, static_cast<blasint>(ldy));
    }, 8);
  };
  if (W.type() == DType::F32 && W.nb1 == static_cast<size_t>(k) * 4) {
    run(W.f32(), 0, m);
    return;
  }
  if (c.cache) {
    auto cw = cached_weight(c, W, GemmBackend::Sgemm);
    run(cw->f32.data(), 0, m);
    return;
  }
  const int64_t tile = std::min(m, gemm_tile_rows());
  if (c.wf32.size() < static_cast<size_t>(tile * k)) c.wf32.resize(static_cast<size_t>(tile * k));
  for (int64_t j0 = 0; j0 < m; j0 += tile) {
    const int64_t mt = std::min(tile, m - j0);
    {
      profile::Scope ps(profile::Phase::WeightConvert);
      convert_rows_f32(W, j0, mt, c.wf32.data(), c.pool);
    }
    run(c.wf32.data(), j0, mt);
  }
}

void run_backend(GemmContext::Impl& c, GemmBackend b, const TensorView& W, const float* X, int64_t ldx, int64_t n,
                 float* Y, int64_t ldy) {
  switch (b) {
    case GemmBackend::Sgemm: gemm_sgemm(c, W, X, ldx, n, Y, ldy); return;
    case GemmBackend::OnednnBf16: gemm_onednn_bf16(c, W, X, ldx, n, Y, ldy); return;
    case GemmBackend::OnednnInt8: gemm_onednn_int8(c, W, X, ldx, n, Y, ldy); return;
    case GemmBackend::Rows:
    case GemmBackend::Auto: gemm_rows(c, W, X, ldx, n, Y, ldy); return;
  }
}

}  // namespace

void gemm(const TensorView& W, const float* X, int64_t n, float* Y, GemmContext& ctx, const GemmArgs& args) {
  if (!W.valid() || !W.tt) throw ArgumentError(std::string("gemm: absent weight ") + W.name);
  if (W.ne[2] != 1) throw ArgumentError(std::string("gemm: weight ") + W.name + " is not 2-D");
  const int64_t k = W.ne[0], m = W.ne[1];
  if (n < 0 || k <= 0 || m <= 0 || k % W.tt->block_elems != 0)
    throw ArgumentError(std::string("gemm: bad shape for weight ") + W.name + " (n=" + std::to_string(n) +
                        ", k=" + std::to_string(k) + ", m=" + std::to_string(m) + ")");
  if (n == 0) return;
  const int64_t ldx = args.ldx ? args.ldx : k, ldy = args.ldy ? args.ldy : m;
  if (ldx < k || ldy < m) throw ArgumentError(std::string("gemm: ldx/ldy smaller than the row for ") + W.name);
  GemmContext::Impl& c = ctx.impl();
  GemmBackend b = args.backend;
  if (b == GemmBackend::Auto) b = ctx.choose(W.type(), n, m, k);
  if (profile::enabled()) {
    const auto t0 = profile::Clock::now();
    run_backend(c, b, W, X, ldx, n, Y, ldy);
    profile::note_gemm(gemm_backend_name(b), W.tt->name, n, m, k, profile::seconds_since(t0));
    return;
  }
  run_backend(c, b, W, X, ldx, n, Y, ldy);
}

}  // namespace latte
