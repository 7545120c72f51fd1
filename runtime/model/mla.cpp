// MLA attention: absorbed/latent form for decode, absorbed or expanded GEMMs for prompt micro-batches (see mla.h).
#include "runtime/model/mla.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include <cblas.h>

#include "runtime/model/hparams.h"
#include "runtime/model/mla_flash.h"
#include "runtime/cache/latent_cache.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/weight_layout.h"
#include "runtime/compute/profile.h"
#include "runtime/model/rope.h"
#include "runtime/compute/threads.h"
#include "runtime/model/weights.h"

namespace latte {

namespace {

// Prefill attention in the absorbed form, as GEMMs: every head's absorbed query qcat[t][h] (W = Nkv + R floats)
// meets the same latent rows K[s] (W floats), so for a chunk of qc query tokens the scores of all qc·H rows are one
// product S[qc·H][m] = scale · Qchunk · K[0..m)ᵀ (m = pos0 + last token of the chunk + 1), then a masked softmax
// per row, then O[qc·H][Nkv] = P · K[0..m)[:, :Nkv]. Products through OpenBLAS sgemm (f32, exact up to summation
// order) on the pool's thread count. Memory: S is qc·H·m floats, qc chosen so that it stays within
// kMlaScoreBudget floats (never n × n_ctx).
constexpr int64_t kMlaScoreBudget = int64_t{4} << 20;  // floats (16 MiB)
constexpr int64_t kMlaChunkMax = 64;                   // query tokens per chunk

void attend_chunked(Ops& ops, const float* K, const float* qcat, int64_t n, int64_t H, int64_t Nkv, int64_t W,
                    int64_t pos0, float scale, float* olat, MlaScratch& s) {
  const int64_t n_kv = pos0 + n;
  int64_t qc = std::min<int64_t>(kMlaChunkMax, std::max<int64_t>(1, kMlaScoreBudget / (H * n_kv)));
  qc = std::min(qc, n);
  if (s.scores.size() < static_cast<size_t>(qc * H * n_kv)) s.scores.resize(static_cast<size_t>(qc * H * n_kv));
  float* S = s.scores.data();
  const ThreadPool& pool = ops.pool();
  openblas_set_num_threads(pool.size());
  for (int64_t t0 = 0; t0 < n; t0 += qc) {
    const int64_t nt = std::min(qc, n - t0);
    const int64_t m = pos0 + t0 + nt;  // key rows seen by the chunk's last token
    const int64_t rows = nt * H;
    {
      profile::LibScope lib;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(m),
                  static_cast<blasint>(W), scale, qcat + t0 * H * W, static_cast<blasint>(W), K,
                  static_cast<blasint>(W), 0.0f, S, static_cast<blasint>(m));
    }
    // Causal mask + softmax per row; masked entries set to 0 so the P·K product ignores them.
    auto sm = [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t valid = pos0 + t0 + i / H + 1;
        float* row = S + i * m;
        softmax(row, valid);
        std::fill(row + valid, row + m, 0.0f);
      }
    };
    if (pool.size() > 1 && rows * m >= 65536) pool.parallel_for(rows, sm);
    else sm(0, rows, 0);
    profile::LibScope lib;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows), static_cast<blasint>(Nkv),
                static_cast<blasint>(m), 1.0f, S, static_cast<blasint>(m), K, static_cast<blasint>(W), 0.0f,
                olat + t0 * H * Nkv, static_cast<blasint>(Nkv));
  }
}

// LATTE_MLA_GEMM=0 keeps the per-(token, head) loop for every batch size (for measurement).
bool mla_gemm_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("LATTE_MLA_GEMM");
    return !(e && std::string(e) == "0");
  }();
  return on;
}

// LATTE_MLA_FLASH=0 keeps the earlier chunked attention (library-threaded sgemm per chunk / per head; measurement).
bool flash_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("LATTE_MLA_FLASH");
    return !(e && std::string(e) == "0");
  }();
  return on;
}

// Dequantizes the per-head matrices of a 3-D view (ne = [cols, rows, H]) to f32 [H][rows][cols].
void dequantize_3d(const TensorView& w, std::vector<float>& dst) {
  const int64_t cols = w.ne[0], rows = w.ne[1], H = w.ne[2];
  dst.resize(static_cast<size_t>(H * rows * cols));
  for (int64_t h = 0; h < H; ++h) dequantize_rows(w, 0, rows, h, dst.data() + h * rows * cols);  // any layout
}

// Prefill attention in the expanded form, head by head: k_nope[s] = Kb_h c_kv[s] (P values) and v[s] = Vb_h c_kv[s]
// (Dv values) for the m = pos0 + n visible rows, then S = scale·(Q_nope·K_nopeᵀ + Q_pe·K_peᵀ), masked softmax,
// O_h = P·V straight into o[t][h] (no latent output, no Vb product afterwards). Costs m·Nkv·(P+Dv) per head for the
// expansion plus n·m̄·(Dqk+Dv) for attention, against n·m̄·(2·Nkv+R) + n·Nkv·(P+Dv) for the absorbed form (see
// use_expanded). Memory: per head m·(P+Dv) floats for K/V plus a score chunk of at most kMlaScoreBudget floats.
void attend_expanded(Ops& ops, const LayerWeights& w, const float* K, const float* q, int64_t n, int64_t H,
                     int64_t Nkv, int64_t R, int64_t P, int64_t Dv, int64_t pos0, float scale, float* o,
                     MlaScratch& s) {
  const int64_t W = Nkv + R, Dqk = P + R, m_all = pos0 + n;
  dequantize_3d(w.attn_k_b, s.kb);  // [H][Nkv][P]
  dequantize_3d(w.attn_v_b, s.vb);  // [H][Dv][Nkv]
  s.kexp.resize(static_cast<size_t>(m_all * P));
  s.vexp.resize(static_cast<size_t>(m_all * Dv));
  const int64_t qc = std::min(n, std::max<int64_t>(1, kMlaScoreBudget / m_all));
  if (s.scores.size() < static_cast<size_t>(qc * m_all)) s.scores.resize(static_cast<size_t>(qc * m_all));
  float* S = s.scores.data();
  const ThreadPool& pool = ops.pool();
  openblas_set_num_threads(pool.size());
  auto bi = [](int64_t v) { return static_cast<blasint>(v); };
  for (int64_t h = 0; h < H; ++h) {
    // K_nope = C · Kb_h ([m][Nkv]·[Nkv][P]); V = C · Vb_hᵀ ([m][Nkv]·[Nkv][Dv]).
    {
      profile::LibScope lib;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(m_all), bi(P), bi(Nkv), 1.0f, K, bi(W),
                  s.kb.data() + h * Nkv * P, bi(P), 0.0f, s.kexp.data(), bi(P));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(m_all), bi(Dv), bi(Nkv), 1.0f, K, bi(W),
                  s.vb.data() + h * Dv * Nkv, bi(Nkv), 0.0f, s.vexp.data(), bi(Dv));
    }
    for (int64_t t0 = 0; t0 < n; t0 += qc) {
      const int64_t nt = std::min(qc, n - t0), m = pos0 + t0 + nt;
      const float* qh = q + t0 * H * Dqk + h * Dqk;
      {
        profile::LibScope lib;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(nt), bi(m), bi(P), scale, qh, bi(H * Dqk),
                    s.kexp.data(), bi(P), 0.0f, S, bi(m));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(nt), bi(m), bi(R), scale, qh + P, bi(H * Dqk),
                    K + Nkv, bi(W), 1.0f, S, bi(m));
      }
      auto sm = [&](int64_t i0, int64_t i1, int) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t valid = pos0 + t0 + i + 1;
          float* row = S + i * m;
          softmax(row, valid);
          std::fill(row + valid, row + m, 0.0f);
        }
      };
      if (pool.size() > 1 && nt * m >= 65536) pool.parallel_for(nt, sm);
      else sm(0, nt, 0);
      profile::LibScope lib;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(nt), bi(Dv), bi(m), 1.0f, S, bi(m), s.vexp.data(),
                  bi(Dv), 0.0f, o + t0 * H * Dv + h * Dv, bi(H * Dv));
    }
  }
}

// Expanded or absorbed prefill attention: the form with fewer multiply-adds (model above); LATTE_MLA_FORM=absorbed
// or expanded forces one (measurement).
bool use_expanded(int64_t n, int64_t pos0, int64_t Nkv, int64_t R, int64_t P, int64_t Dv) {
  static const int forced = [] {
    const char* e = std::getenv("LATTE_MLA_FORM");
    if (!e) return 0;
    const std::string v(e);
    return v == "expanded" ? 1 : v == "absorbed" ? -1 : 0;
  }();
  if (forced) return forced > 0;
  const double m = static_cast<double>(pos0 + n), mbar = static_cast<double>(pos0) + 0.5 * static_cast<double>(n);
  const double dn = static_cast<double>(n);
  const double expanded = m * Nkv * (P + Dv) + dn * mbar * (P + R + Dv);
  const double absorbed = dn * mbar * (2 * Nkv + R) + dn * Nkv * (P + Dv);
  return expanded < absorbed;
}

}  // namespace

void mla_forward(Ops& ops, const Hparams& hp, const Rope& rope, const LayerWeights& w, LatentCache& cache,
                 int64_t layer, const float* x, int64_t n, int64_t pos0, float* out, MlaScratch& s) {
  const int64_t E = hp.n_embd, H = hp.n_head, Nkv = hp.kv_lora_rank, R = hp.qk_rope, P = hp.qk_nope;
  const int64_t Dv = hp.v_dim, Dqk = hp.qk_head_dim(), W = Nkv + R;
  profile::Scope prof(profile::Phase::AttnProj);
  auto need = [](std::vector<float>& v, int64_t k) {
    if (v.size() < static_cast<size_t>(k)) v.resize(static_cast<size_t>(k));
    return v.data();
  };

  // 1-4. Queries [n][H*Dqk] and compressed KV [n][Nkv+R]. A decode step runs the two projections of x (q or q_a,
  // and kv_a) in one parallel region.
  float* q = need(s.q, n * H * Dqk);
  float* kv = need(s.kv, n * W);
  const TensorView& wq_x = hp.has_q_lora() ? w.attn_q_a : w.attn_q;
  float* q_x = hp.has_q_lora() ? need(s.cq, n * hp.q_lora_rank) : q;
  if (n == 1) {
    const GemvTask tasks[2] = {{&wq_x, 0, x, q_x}, {&w.attn_kv_a_mqa, 0, x, kv}};
    ops.gemv_batch(tasks, 2);
  } else {
    ops.matmul(wq_x, x, E, q_x, wq_x.ne[1], n);
    ops.matmul(w.attn_kv_a_mqa, x, E, kv, W, n);
  }
  if (hp.has_q_lora()) {
    const int64_t Nq = hp.q_lora_rank;
    for (int64_t t = 0; t < n; ++t) rmsnorm(q_x + t * Nq, w.attn_q_a_norm, q_x + t * Nq, Nq, hp.rms_eps);
    ops.matmul(w.attn_q_b, q_x, Nq, q, H * Dqk, n);
  }

  // Normalise c_kv, rotate k_pe, append to the cache. Rotate q_pe of every head.
  float* cs = need(s.cs, R);
  for (int64_t t = 0; t < n; ++t) {
    float* row = kv + t * W;
    rmsnorm(row, w.attn_kv_a_norm, row, Nkv, hp.rms_eps);
    rope.cos_sin(pos0 + t, cs);
    rope.rotate(row + Nkv, cs);
    for (int64_t h = 0; h < H; ++h) rope.rotate(q + t * H * Dqk + h * Dqk + P, cs);
    cache.write(layer, pos0 + t, row, row + Nkv);
  }

  // Prompt micro-batches where the expanded form needs fewer operations: attention straight to o[t][h].
  if (mla_gemm_enabled() && n >= kMlaGemmMinTokens && use_expanded(n, pos0, Nkv, R, P, Dv)) {
    float* o = need(s.o, n * H * Dv);
    {
      profile::Scope pa(profile::Phase::Attention);
      const float* K = cache.rows_f32(layer, pos0 + n, s.kv_f32, &ops.pool());
      if (flash_enabled()) flash_expanded(ops, w, K, q, n, H, Nkv, R, P, Dv, pos0, hp.kq_scale, o, s.flash);
      else attend_expanded(ops, w, K, q, n, H, Nkv, R, P, Dv, pos0, hp.kq_scale, o, s);
    }
    ops.matmul(w.attn_output, o, H * Dv, out, E, n);
    return;
  }

  // 5. Absorbed queries qcat[t][h] = [Kb_hᵀ q_nope (Nkv) | q_pe (R)], laid out like a cache row.
  float* qcat = need(s.qcat, n * H * W);
  ops.matmul_3d(w.attn_k_b, q, H * Dqk, Dqk, qcat, H * W, W, n);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < H; ++h)
      std::memcpy(qcat + (t * H + h) * W + Nkv, q + t * H * Dqk + h * Dqk + P, static_cast<size_t>(R) * 4);

  // Scores, softmax and latent output per (token, head); causal: token t sees cache rows [0, pos0+t].
  // Prompt micro-batches: chunked GEMMs over the rows converted to f32 once per micro-batch. Decode: attention
  // reads the encoded rows directly (cache_attention, cache_codec.h), no converted copy of the cache per step.
  const int64_t n_kv = pos0 + n;
  float* olat = need(s.olat, n * H * Nkv);
  {
    profile::Scope pa(profile::Phase::Attention);
    if (mla_gemm_enabled() && n >= kMlaGemmMinTokens) {
      const float* K = cache.rows_f32(layer, n_kv, s.kv_f32, &ops.pool());
      if (flash_enabled()) flash_absorbed(ops, K, qcat, n, H, Nkv, W, pos0, hp.kq_scale, olat, s.flash);
      else attend_chunked(ops, K, qcat, n, H, Nkv, W, pos0, hp.kq_scale, olat, s);
    } else {
      s.limits.resize(static_cast<size_t>(n * H));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < H; ++h) s.limits[static_cast<size_t>(t * H + h)] = pos0 + t + 1;
      cache_attention(cache.codec(), cache.raw(layer, 0), qcat, s.limits.data(), n * H, hp.kq_scale, olat, s.attn,
                      &ops.pool());
  }

  }
  // 6. Per-head values o[t][h] = Vb_h o_lat[t][h], then the output projection.
  float* o = need(s.o, n * H * Dv);
  ops.matmul_3d(w.attn_v_b, olat, H * Nkv, Nkv, o, H * Dv, Dv, n);
  ops.matmul(w.attn_output, o, H * Dv, out, E, n);
}

}  // namespace latte
