// Flash-style prefill attention over the latent cache (see mla_flash.h).
#include "runtime/model/mla_flash.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/kernels.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/threads.h"
#include "runtime/compute/weight_layout.h"
#include "runtime/model/weights.h"

namespace latte {

namespace {

constexpr int64_t kFlashKeys = 256;                          // keys per block
constexpr int64_t kFlashRows = 256;                          // query rows per item at most
constexpr int64_t kFlashExpandBudget = int64_t{512} << 20;   // bytes of expanded K/V per head group

inline blasint bi(int64_t v) { return static_cast<blasint>(v); }

struct Block {
  const float* Q;
  int64_t ldq, rows, rpt, vis0;  // row r is token r / rpt, which sees keys [0, vis0 + r / rpt)
  const float* K;
  int64_t ldk;
  const float* V;
  int64_t ldv, dk, dv;
  float scale;
  float* O;
  int64_t ldo;
};

// One query block against its visible keys, online softmax over key blocks. buf: per-thread scratch.
void flash_block(const KernelTable& kt, const Block& b, std::vector<float>& buf) {
  const size_t need = static_cast<size_t>(b.rows * (kFlashKeys + 2));
  if (buf.size() < need) buf.resize(need);
  float* S = buf.data();
  float* mx = S + b.rows * kFlashKeys;
  float* l = mx + b.rows;
  std::fill(mx, mx + b.rows, -std::numeric_limits<float>::infinity());
  std::fill(l, l + b.rows, 0.0f);
  const int64_t m_end = b.vis0 + (b.rows - 1) / b.rpt;  // keys seen by the last row
  for (int64_t k0 = 0; k0 < m_end; k0 += kFlashKeys) {
    const int64_t kn = std::min(kFlashKeys, m_end - k0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(b.rows), bi(kn), bi(b.dk), b.scale, b.Q, bi(b.ldq),
                b.K + k0 * b.ldk, bi(b.ldk), 0.0f, S, bi(kn));
    for (int64_t r = 0; r < b.rows; ++r) {
      float* row = S + r * kn;
      const int64_t valid = std::min(kn, b.vis0 + r / b.rpt - k0);
      if (valid <= 0) {
        std::fill(row, row + kn, 0.0f);
        continue;
      }
      float bm = row[0];
      for (int64_t j = 1; j < valid; ++j) bm = std::max(bm, row[j]);
      const float mnew = std::max(mx[r], bm);
      const float corr = std::exp(mx[r] - mnew);  // 0 on the first block (mx = -inf)
      const float sum = kt.exp_sum_f32(row, valid, mnew);
      std::fill(row + valid, row + kn, 0.0f);
      l[r] = l[r] * corr + sum;
      mx[r] = mnew;
      if (k0 > 0 && corr != 1.0f) {
        float* o = b.O + r * b.ldo;
        for (int64_t c = 0; c < b.dv; ++c) o[c] *= corr;
      }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(b.rows), bi(b.dv), bi(kn), 1.0f, S, bi(kn),
                b.V + k0 * b.ldv, bi(b.ldv), k0 == 0 ? 0.0f : 1.0f, b.O, bi(b.ldo));
  }
  for (int64_t r = 0; r < b.rows; ++r) {
    const float inv = 1.0f / l[r];
    float* o = b.O + r * b.ldo;
    for (int64_t c = 0; c < b.dv; ++c) o[c] *= inv;
  }
}

// Query tokens per item: at most kFlashRows rows, and small enough for ≥ 8 items per thread when n allows.
int64_t query_block(int64_t n, int64_t rows_per_token, int64_t heads_items, int threads) {
  int64_t qb = std::max<int64_t>(1, kFlashRows / rows_per_token);
  const int64_t want = 8 * threads;
  while (qb > 1 && heads_items * ((n + qb - 1) / qb) < want) qb /= 2;
  return qb;
}

void per_thread(FlashScratch& s, int threads) {
  if (s.thread.size() < static_cast<size_t>(threads)) s.thread.resize(static_cast<size_t>(threads));
}

}  // namespace

void flash_absorbed(Ops& ops, const float* K, const float* qcat, int64_t n, int64_t H, int64_t Nkv, int64_t W,
                    int64_t pos0, float scale, float* olat, FlashScratch& s) {
  const ThreadPool& pool = ops.pool();
  const KernelTable& kt = ops.kernels();
  openblas_set_num_threads(1);
  per_thread(s, pool.size());
  const int64_t qb = query_block(n, H, 1, pool.size());
  const int64_t nq = (n + qb - 1) / qb;
  pool.parallel_items(nq, [&](int64_t it, int th) {
    const int64_t blk = nq - 1 - it;  // last blocks see the most keys: first
    const int64_t t0 = blk * qb, nt = std::min(qb, n - t0);
    const Block b{qcat + t0 * H * W, W, nt * H, H, pos0 + t0 + 1, K, W, K, W, W, Nkv, scale, olat + t0 * H * Nkv, Nkv};
    flash_block(kt, b, s.thread[static_cast<size_t>(th)]);
  });
}

void flash_expanded(Ops& ops, const LayerWeights& w, const float* K, const float* q, int64_t n, int64_t H,
                    int64_t Nkv, int64_t R, int64_t P, int64_t Dv, int64_t pos0, float scale, float* o,
                    FlashScratch& s) {
  const ThreadPool& pool = ops.pool();
  const KernelTable& kt = ops.kernels();
  const int64_t W = Nkv + R, Dqk = P + R, m = pos0 + n;
  openblas_set_num_threads(1);
  per_thread(s, pool.size());
  // f32 Kb [H][Nkv][P], Vb [H][Dv][Nkv] (small: H·Nkv·(P+Dv) values), converted in parallel over heads.
  s.kb.resize(static_cast<size_t>(H * Nkv * P));
  s.vb.resize(static_cast<size_t>(H * Dv * Nkv));
  pool.parallel_for(H, [&](int64_t h0, int64_t h1, int) {
    for (int64_t h = h0; h < h1; ++h) {  // dequantize_rows: any weight layout (plain or repacked)
      dequantize_rows(w.attn_k_b, 0, Nkv, h, s.kb.data() + h * Nkv * P);
      dequantize_rows(w.attn_v_b, 0, Dv, h, s.vb.data() + h * Dv * Nkv);
    }
  });
  const int64_t per_head = m * (Dqk + Dv) * static_cast<int64_t>(sizeof(float));
  const int64_t hg = std::clamp<int64_t>(kFlashExpandBudget / std::max<int64_t>(per_head, 1), 1, H);
  s.kexp.resize(static_cast<size_t>(hg * m * Dqk));
  s.vexp.resize(static_cast<size_t>(hg * m * Dv));
  const int64_t kblocks = (m + 511) / 512;
  for (int64_t h0 = 0; h0 < H; h0 += hg) {
    const int64_t nh = std::min(hg, H - h0);
    // 1. K_h = [C·Kb_h | k_pe], V_h = C·Vb_hᵀ for the group's heads, items (head, 512-key block).
    {
      pool.parallel_items(nh * kblocks, [&](int64_t it, int) {
        const int64_t hh = it / kblocks, s0 = (it % kblocks) * 512, ns = std::min<int64_t>(512, m - s0);
        const int64_t h = h0 + hh;
        float* kh = s.kexp.data() + (hh * m + s0) * Dqk;
        float* vh = s.vexp.data() + (hh * m + s0) * Dv;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(ns), bi(P), bi(Nkv), 1.0f, K + s0 * W, bi(W),
                    s.kb.data() + h * Nkv * P, bi(P), 0.0f, kh, bi(Dqk));
        for (int64_t j = 0; j < ns; ++j)
          std::copy(K + (s0 + j) * W + Nkv, K + (s0 + j) * W + W, kh + j * Dqk + P);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(ns), bi(Dv), bi(Nkv), 1.0f, K + s0 * W, bi(W),
                    s.vb.data() + h * Dv * Nkv, bi(Nkv), 0.0f, vh, bi(Dv));
      });
    }
    // 2. attention items (head, query block), longest prefixes first.
    const int64_t qb = query_block(n, 1, nh, pool.size());
    const int64_t nq = (n + qb - 1) / qb;
    pool.parallel_items(nh * nq, [&](int64_t it, int th) {
      const int64_t blk = nq - 1 - it / nh, hh = it % nh, h = h0 + hh;
      const int64_t t0 = blk * qb, nt = std::min(qb, n - t0);
      const Block b{q + t0 * H * Dqk + h * Dqk, H * Dqk, nt, 1, pos0 + t0 + 1,
                    s.kexp.data() + hh * m * Dqk, Dqk, s.vexp.data() + hh * m * Dv, Dv, Dqk, Dv, scale,
                    o + t0 * H * Dv + h * Dv, H * Dv};
      flash_block(kt, b, s.thread[static_cast<size_t>(th)]);
    });
  }
}

}  // namespace latte
