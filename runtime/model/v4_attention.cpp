// deepseek4 attention of one layer (DEEPSEEK_V4.md §4, §5.4): q/kv projections, the compressors and the lightning
// indexer, window + compressed-row attention with sinks, inverse RoPE, grouped output projection.
//
// Order for a micro-batch of n tokens: (1) all projections as products over the batch; (2) the compressors take
// the tokens one by one in position order and append every completed row (and indexer key) to the cache; (3) each
// token attends, in parallel: its raw window (rows of earlier micro-batches from the ring, the batch's own rows
// from the fresh kv) and the compressed rows visible to it (j < ⌊(t+1)/m⌋: all of them for HCA, the indexer's
// top-k for CSA); (4) the batch's last W raw rows go into the ring. Step (3) depends only on what is visible at
// each token, so any split of a sequence into micro-batches gives the same result as one batch.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "quant/kernels.h"
#include "runtime/cache/v4_cache.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"
#include "runtime/model/v4_parts.h"

namespace latte {
namespace {

float* grow(std::vector<float>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Indexer selection of query t (§5.4): the rows j < nv with the largest Σ_h w_h·ReLU(q_h·K_j)·Di^-1/2, at most
// top_k of them (ties: lower index first). Writes the chosen rows, ascending, to `sel`. Scores rows in parallel on
// `pool` when given (decode; a prompt batch is already parallel over its tokens).
void indexer_select(const V4Hparams& hp, const V4Cache& cache, int64_t il, const float* qi, const float* wi,
                    int64_t nv, std::vector<int32_t>& sel, std::vector<float>& scores, const ThreadPool* pool) {
  sel.clear();
  if (nv <= hp.idx_topk) {
    for (int64_t j = 0; j < nv; ++j) sel.push_back(static_cast<int32_t>(j));
    return;
  }
  const int64_t Hi = hp.idx_heads, Di = hp.idx_dim;
  const float qscale = 1.0f / std::sqrt(static_cast<float>(Di));
  scores.resize(static_cast<size_t>(nv));
  auto score = [&](int64_t j0, int64_t j1, int) {
    thread_local std::vector<float> key;
    key.resize(static_cast<size_t>(Di));
    for (int64_t j = j0; j < j1; ++j) {
      cache.read_key(il, j, key.data());
      float s = 0;
      for (int64_t h = 0; h < Hi; ++h) {
        float d = 0;
        const float* q = qi + h * Di;
        for (int64_t c = 0; c < Di; ++c) d += q[c] * key[static_cast<size_t>(c)];
        s += std::max(d, 0.0f) * qscale * wi[h];
      }
      scores[static_cast<size_t>(j)] = s;
    }
  };
  if (pool && pool->size() > 1 && nv >= 128) pool->parallel_for(nv, score, 32);
  else score(0, nv, 0);
  std::vector<int32_t> order(static_cast<size_t>(nv));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + hp.idx_topk, order.end(), [&](int32_t a, int32_t b) {
    const float sa = scores[static_cast<size_t>(a)], sb = scores[static_cast<size_t>(b)];
    return sa > sb || (sa == sb && a < b);
  });
  sel.assign(order.begin(), order.begin() + hp.idx_topk);
  std::sort(sel.begin(), sel.end());
}

}  // namespace

void v4_attention(Ops& ops, const V4Hparams& hp, int64_t il, const V4LayerWeights& L, const Rope& rope,
                  V4Cache& cache, const float* h, int64_t n, int64_t pos0, float* out, V4AttnScratch& s) {
  const int64_t D = hp.n_embd, H = hp.n_head, Dh = hp.head_dim, Rq = hp.q_lora_rank, Dr = hp.n_rot;
  const int64_t G = hp.o_groups, Ro = hp.o_lora_rank, W = hp.window, HD = H * Dh;
  const int64_t m = hp.ratio[static_cast<size_t>(il)];
  const bool csa = L.kind == V4LayerKind::Csa, comp = L.kind != V4LayerKind::Window;
  const float eps = hp.rms_eps;

  // (1) Projections. Decode (n = 1): the products of h (q_a, kv, compressor and indexer projections) in one
  // parallel region, then those of cq (q_b, indexer q_b) in a second, like deepseek2's gemv_batch groups.
  const CompressorShape main_cs{m, Dh, csa}, idx_cs{m, hp.idx_dim, true};
  const int64_t Hi = hp.idx_heads, Di = hp.idx_dim;
  const int64_t w = main_cs.channels(), iw = idx_cs.channels();
  float* cq = grow(s.cq, n * Rq);
  float* q = grow(s.q, n * HD);
  float* kv = grow(s.kv, n * Dh);
  float* C = comp ? grow(s.c, n * w) : nullptr;
  float* Z = comp ? grow(s.z, n * w) : nullptr;
  float* iC = csa ? grow(s.ic, n * iw) : nullptr;
  float* iZ = csa ? grow(s.iz, n * iw) : nullptr;
  float* iq = csa ? grow(s.iq, n * Hi * Di) : nullptr;
  float* wi = csa ? grow(s.iw, n * Hi) : nullptr;
  if (n == 1) {
    s.tasks.clear();
    s.tasks.push_back({&L.attn_q_a, 0, h, cq});
    s.tasks.push_back({&L.attn_kv, 0, h, kv});
    if (comp) {
      s.tasks.push_back({&L.comp.kv, 0, h, C});
      s.tasks.push_back({&L.comp.gate, 0, h, Z});
    }
    if (csa) {
      s.tasks.push_back({&L.idx_comp.kv, 0, h, iC});
      s.tasks.push_back({&L.idx_comp.gate, 0, h, iZ});
      s.tasks.push_back({&L.idx_proj, 0, h, wi});
    }
    ops.gemv_batch(s.tasks.data(), static_cast<int64_t>(s.tasks.size()));
    rmsnorm(cq, L.attn_q_a_norm, cq, Rq, eps);
    s.tasks.clear();
    s.tasks.push_back({&L.attn_q_b, 0, cq, q});
    if (csa) s.tasks.push_back({&L.idx_q_b, 0, cq, iq});
    ops.gemv_batch(s.tasks.data(), static_cast<int64_t>(s.tasks.size()));
  } else {
    ops.matmul(L.attn_q_a, h, D, cq, Rq, n);
    for (int64_t t = 0; t < n; ++t) rmsnorm(cq + t * Rq, L.attn_q_a_norm, cq + t * Rq, Rq, eps);
    ops.matmul(L.attn_q_b, cq, Rq, q, HD, n);
    ops.matmul(L.attn_kv, h, D, kv, Dh, n);
    if (comp) {
      ops.matmul(L.comp.kv, h, D, C, w, n);
      ops.matmul(L.comp.gate, h, D, Z, w, n);
    }
    if (csa) {
      ops.matmul(L.idx_comp.kv, h, D, iC, iw, n);
      ops.matmul(L.idx_comp.gate, h, D, iZ, iw, n);
      ops.matmul(L.idx_q_b, cq, Rq, iq, Hi * Di, n);
      ops.matmul(L.idx_proj, h, D, wi, Hi, n);
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t hh = 0; hh < H; ++hh) rmsnorm(q + t * HD + hh * Dh, nullptr, q + t * HD + hh * Dh, Dh, eps);
    rope.apply(q + t * HD + Dh - Dr, H, Dh, pos0 + t);
    rmsnorm(kv + t * Dh, L.attn_kv_norm, kv + t * Dh, Dh, eps);
    rope.apply(kv + t * Dh + Dh - Dr, 1, 0, pos0 + t);
  }
  if (comp) {
    if (csa) {
      const float wscale = 1.0f / std::sqrt(static_cast<float>(Hi));
      for (int64_t t = 0; t < n; ++t) {
        rope.apply(iq + t * Hi * Di + Di - Dr, Hi, Di, pos0 + t);
        for (int64_t hh = 0; hh < Hi; ++hh) wi[t * Hi + hh] *= wscale;
      }
    }
    // (2) Compressors, token by token.
    float* row = grow(s.row, Dh);
    float* key = grow(s.key, std::max<int64_t>(Di, 1));
    float* st = cache.state(il);
    float* ist = st + main_cs.state_floats();
    for (int64_t t = 0; t < n; ++t) {
      const int64_t p = pos0 + t;
      const bool done = compressor_push(main_cs, st, L.comp.ape, L.comp.norm, eps, rope, p, C + t * w, Z + t * w, row);
      if (csa) {
        compressor_push(idx_cs, ist, L.idx_comp.ape, L.idx_comp.norm, eps, rope, p, iC + t * iw, iZ + t * iw, key);
      }
      if (done) cache.append_row(il, row, csa ? key : nullptr);
    }
  }

  // (3) Attention per token: the visible keys (= values) gathered once per token, then every head. Prompt
  // micro-batches run in parallel over tokens, a decode step over heads.
  float* o = grow(s.o, n * HD);
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const ThreadPool& pool = ops.pool();
  auto gather = [&](int64_t t, std::vector<float>& keys, std::vector<int32_t>& sel, std::vector<float>& iscores,
                    const ThreadPool* score_pool) {
    const int64_t p = pos0 + t;
    const int64_t r0 = std::max<int64_t>(0, p - W + 1);
    const int64_t n_raw = p - r0 + 1;
    sel.clear();
    if (comp) {
      const int64_t nv = std::min((p + 1) / m, cache.n_rows(il));
      if (csa) indexer_select(hp, cache, il, iq + t * Hi * Di, wi + t * Hi, nv, sel, iscores, score_pool);
      else
        for (int64_t j = 0; j < nv; ++j) sel.push_back(static_cast<int32_t>(j));
    }
    const int64_t n_keys = n_raw + static_cast<int64_t>(sel.size());
    keys.resize(static_cast<size_t>(n_keys * Dh));
    for (int64_t r = r0; r <= p; ++r) {
      float* dst = keys.data() + (r - r0) * Dh;
      if (r >= pos0) std::memcpy(dst, kv + (r - pos0) * Dh, static_cast<size_t>(Dh) * sizeof(float));
      else cache.read_raw(il, r, dst);
    }
    for (size_t i = 0; i < sel.size(); ++i)
      cache.read_row(il, sel[i], keys.data() + (n_raw + static_cast<int64_t>(i)) * Dh);
    return n_keys;
  };
  // Heads [h0, h1) of token t over n_keys gathered keys: sink softmax, Σ p·v, inverse RoPE at the query position.
  auto heads = [&](int64_t t, const float* keys, int64_t n_keys, int64_t h0, int64_t h1) {
    thread_local std::vector<float> sc;
    sc.resize(static_cast<size_t>(n_keys));
    std::vector<float> cs(static_cast<size_t>(Dr));
    rope.cos_sin(-(pos0 + t), cs.data());
    for (int64_t hh = h0; hh < h1; ++hh) {
      const float* qh = q + t * HD + hh * Dh;
      const float sink = L.attn_sinks[hh];
      float mx = sink;
      for (int64_t k = 0; k < n_keys; ++k) {
        sc[static_cast<size_t>(k)] = ops.dot(Dh, qh, keys + k * Dh) * scale;
        mx = std::max(mx, sc[static_cast<size_t>(k)]);
      }
      float sum = std::exp(sink - mx);
      for (int64_t k = 0; k < n_keys; ++k) {
        sc[static_cast<size_t>(k)] = std::exp(sc[static_cast<size_t>(k)] - mx);
        sum += sc[static_cast<size_t>(k)];
      }
      float* oh = o + t * HD + hh * Dh;
      std::fill(oh, oh + Dh, 0.0f);
      for (int64_t k = 0; k < n_keys; ++k) ops.axpy(Dh, sc[static_cast<size_t>(k)] / sum, keys + k * Dh, oh);
      rope.rotate(oh + Dh - Dr, cs.data());
    }
  };
  // Prompt micro-batches: all H heads of token t at once as two products through OpenBLAS (one thread each, inside
  // the token-parallel region): S [H][n_keys] = scale·Q_t·Kᵀ, the sink softmax per row, O_t [H][Dh] = P·K.
  // Same values as heads() up to f32 summation order. Per-thread scratch: H·n_keys floats.
  auto heads_gemm = [&](int64_t t, const float* keys, int64_t n_keys) {
    thread_local std::vector<float> S, cs;
    S.resize(static_cast<size_t>(H * n_keys));
    cs.resize(static_cast<size_t>(Dr));
    const auto bi = [](int64_t v) { return static_cast<blasint>(v); };
    {
      profile::LibScope lib;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(H), bi(n_keys), bi(Dh), scale, q + t * HD, bi(Dh), keys,
                  bi(Dh), 0.0f, S.data(), bi(n_keys));
    }
    const KernelTable& kt = ops.kernels();
    for (int64_t hh = 0; hh < H; ++hh) {
      float* row = S.data() + hh * n_keys;
      const float sink = L.attn_sinks[hh];
      const float mx = std::max(sink, *std::max_element(row, row + n_keys));
      const float inv = 1.0f / (kt.exp_sum_f32(row, n_keys, mx) + std::exp(sink - mx));
      for (int64_t k = 0; k < n_keys; ++k) row[k] *= inv;
    }
    float* ot = o + t * HD;
    {
      profile::LibScope lib;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(H), bi(Dh), bi(n_keys), 1.0f, S.data(), bi(n_keys),
                  keys, bi(Dh), 0.0f, ot, bi(Dh));
    }
    rope.cos_sin(-(pos0 + t), cs.data());
    for (int64_t hh = 0; hh < H; ++hh) rope.rotate(ot + hh * Dh + Dh - Dr, cs.data());
  };
  if (n == 1) {
    std::vector<int32_t> sel;
    std::vector<float> iscores;
    std::vector<float>& keys = s.keys;
    const int64_t n_keys = gather(0, keys, sel, iscores, &pool);
    if (pool.size() > 1) pool.parallel_for(H, [&](int64_t h0, int64_t h1, int) { heads(0, keys.data(), n_keys, h0, h1); });
    else heads(0, keys.data(), n_keys, 0, H);
  } else {
    auto run = [&](int64_t t0, int64_t t1, int) {
      thread_local std::vector<float> keys, iscores;
      thread_local std::vector<int32_t> sel;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n_keys = gather(t, keys, sel, iscores, nullptr);
        heads_gemm(t, keys.data(), n_keys);
      }
    };
    openblas_set_num_threads(1);  // one library thread per product: the tokens are the parallel dimension
    if (pool.size() > 1) pool.parallel_for(n, run);
    else run(0, n, 0);
  }

  // (4) The batch's raw rows into the ring (only the last W matter).
  for (int64_t t = std::max<int64_t>(0, n - W); t < n; ++t) cache.write_raw(il, pos0 + t, kv + t * Dh);

  // Grouped output: u_g = W_a[g] · (heads of group g), then attn_output_b.
  float* u = grow(s.u, n * G * Ro);
  const int64_t gin = HD / G;
  if (n == 1) {
    s.groups.resize(static_cast<size_t>(G));
    s.tasks.clear();
    for (int64_t g = 0; g < G; ++g) {
      s.groups[static_cast<size_t>(g)] = L.attn_output_a.rows(g * Ro, Ro);
      s.tasks.push_back({&s.groups[static_cast<size_t>(g)], 0, o + g * gin, u + g * Ro});
    }
    ops.gemv_batch(s.tasks.data(), G);
  } else {
    for (int64_t g = 0; g < G; ++g)
      ops.matmul(L.attn_output_a.rows(g * Ro, Ro), o + g * gin, HD, u + g * Ro, G * Ro, n);
  }
  ops.matmul(L.attn_output_b, u, G * Ro, out, D, n);
}

}  // namespace latte
