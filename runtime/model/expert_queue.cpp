// Routed experts of a micro-batch as one work queue (see expert_queue.h).
#include "runtime/model/expert_queue.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "formats/error.h"
#include "quant/kernels.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"
#include "runtime/compute/weight_layout.h"
#include "runtime/model/expert_cache.h"
#include "runtime/model/ffn.h"

namespace latte {

namespace {

// Activation rows of one type for a weight's products: quantizer (or f32 copy) and bytes per row of k values.
struct ActFormat {
  DType type = DType::F32;
  size_t row_bytes = 0;
  QuantizeActFn q = nullptr;
  const TypeTraits* tt = nullptr;
  void convert(const float* x, uint8_t* dst, int64_t k) const {
    if (type == DType::F32) std::memcpy(dst, x, static_cast<size_t>(k) * sizeof(float));
    else if (q) q(x, dst, k);
    else tt->quantize_row(x, dst, k);
  }
};

ActFormat act_format(const KernelTable& kt, const TensorView& W) {
  ActFormat f;
  f.type = W.tt->vec_dot_type;
  f.tt = &type_traits(f.type);
  f.row_bytes = f.type == DType::F32 ? static_cast<size_t>(W.ne[0]) * sizeof(float) : row_bytes(*f.tt, W.ne[0]);
  f.row_bytes = (f.row_bytes + 63) / 64 * 64;  // keep every row 64-byte aligned
  f.q = kt.quantize_act[static_cast<uint32_t>(f.type)];
  return f;
}

// Y[i][0..nr) (row stride ldy) = rows [r0, r0+nr) of matrix e of W times activation rows i < m (stride ts).
// Here W is one expert's 2-D view and e = 0.
void product(const KernelTable& kt, const TensorView& W, int64_t e, int64_t r0, int64_t nr, const uint8_t* act,
             size_t ts, int64_t m, float* y, int64_t ldy) {
  const uint32_t wid = static_cast<uint32_t>(W.type());
  const int64_t k = W.ne[0];
  // Plain rows (a per-thread copy for row-interleaved weights, tensor_view.h): the tile kernels read plain blocks.
  thread_local std::vector<uint8_t> plain;
  if (W.interleaved() && plain.size() < W.row_bytes() * static_cast<size_t>(nr))
    plain.resize(W.row_bytes() * static_cast<size_t>(nr));
  const uint8_t* w = W.interleaved() ? plain_rows(W, r0, nr, e, plain.data()) : W.row(r0, e);
  if (const GemmTileFn tile = kt.gemm_tile[wid]; tile && m > 1) {
    tile(k, w, W.nb1, act, ts, y, ldy, nr, m);
    return;
  }
  const GemvFn gv = kt.gemv[wid];
  const VecDotFn vd = kt.vec_dot[wid];
  for (int64_t i = 0; i < m; ++i) {
    const uint8_t* a = act + static_cast<size_t>(i) * ts;
    float* yi = y + i * ldy;
    if (gv) gv(k, w, W.nb1, a, yi, nr);
    else
      for (int64_t r = 0; r < nr; ++r) yi[r] = vd(k, w + static_cast<size_t>(r) * W.nb1, a);
  }
}

// Work items (expert, first row) over `rows` rows per expert in tiles of `tile`, costliest first.
void build_items(const std::vector<int32_t>& count, int64_t rows, int64_t tile, std::vector<int64_t>& items) {
  items.clear();
  for (size_t e = 0; e < count.size(); ++e)
    if (count[e] > 0)
      for (int64_t r0 = 0; r0 < rows; r0 += tile) items.push_back((static_cast<int64_t>(e) << 32) | r0);
  std::stable_sort(items.begin(), items.end(), [&](int64_t a, int64_t b) {
    const int64_t ca = count[static_cast<size_t>(a >> 32)] * std::min(tile, rows - (a & 0xFFFFFFFF));
    const int64_t cb = count[static_cast<size_t>(b >> 32)] * std::min(tile, rows - (b & 0xFFFFFFFF));
    return ca > cb;
  });
}

// Rows per item: 64 (the tile kernel re-lays the activations once per call, longer calls amortize it), halved
// while that leaves fewer than 8 items per thread.
int64_t tile_rows(const std::vector<int32_t>& count, int64_t rows, int threads) {
  int64_t active = 0;
  for (int32_t c : count) active += c > 0;
  int64_t t = 64;
  while (t > 16 && active * ((rows + t - 1) / t) < 8 * threads) t /= 2;
  return t;
}

bool has_kernel(const KernelTable& kt, const TensorView& W) {
  const uint32_t wid = static_cast<uint32_t>(W.type());
  return kt.vec_dot[wid] || kt.gemv[wid];
}

}  // namespace

bool expert_queue_supported(const Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down) {
  if (!gate.valid() || !up.valid() || !down.valid()) return false;
  const KernelTable& kt = ops.kernels();
  return gate.tt->vec_dot_type == up.tt->vec_dot_type && gate.ne[0] == up.ne[0] && gate.ne[1] == up.ne[1] &&
         down.ne[0] == gate.ne[1] && has_kernel(kt, gate) && has_kernel(kt, up) && has_kernel(kt, down);
}

void expert_queue_forward(Ops& ops, const TensorView& gate, const TensorView& up, const TensorView& down,
                          const float* x, int64_t n, int64_t E, const int32_t* idx, const float* wts, int64_t K,
                          float limit, float* routed, ExpertQueueScratch& s, uint64_t* evals, ExpertCache* cache,
                          int32_t layer) {
  if (!expert_queue_supported(ops, gate, up, down))
    throw UnsupportedError(std::string("expert queue: no kernels for ") + gate.name + "/" + up.name + "/" + down.name);
  const KernelTable& kt = ops.kernels();
  const ThreadPool& pool = ops.pool();
  const int64_t X = gate.ne[2], F = gate.ne[1], Eo = down.ne[1];
  const int64_t slots = n * K;
  const bool prof = profile::enabled();
  const auto t_start = prof ? profile::Clock::now() : profile::Clock::time_point{};

  // 1. Slots: expert-major, tokens ascending within an expert.
  s.count.assign(static_cast<size_t>(X), 0);
  for (int64_t i = 0; i < slots; ++i) ++s.count[static_cast<size_t>(idx[i])];
  s.offset.assign(static_cast<size_t>(X) + 1, 0);
  for (int64_t e = 0; e < X; ++e) s.offset[static_cast<size_t>(e) + 1] = s.offset[static_cast<size_t>(e)] + s.count[static_cast<size_t>(e)];
  s.slot_tok.resize(static_cast<size_t>(slots));
  s.slot_of.resize(static_cast<size_t>(slots));
  {
    std::vector<int32_t> next(s.offset.begin(), s.offset.end() - 1);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t k = 0; k < K; ++k) {
        const int32_t e = idx[t * K + k];
        const int32_t slot = next[static_cast<size_t>(e)]++;
        s.slot_tok[static_cast<size_t>(slot)] = static_cast<int32_t>(t);
        s.slot_of[static_cast<size_t>(t * K + k)] = slot;
      }
  }

  // 2. x quantized once, gathered into slot order.
  const ActFormat fx = act_format(kt, gate);
  const ActFormat fh = act_format(kt, down);
  if (s.actx.size() < fx.row_bytes * static_cast<size_t>(n)) s.actx.resize(fx.row_bytes * static_cast<size_t>(n));
  if (s.actg.size() < fx.row_bytes * static_cast<size_t>(slots)) s.actg.resize(fx.row_bytes * static_cast<size_t>(slots));
  {
    profile::Scope ps(profile::Phase::ActConvert);
    pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
      for (int64_t t = a; t < b; ++t) fx.convert(x + t * E, s.actx.data() + static_cast<size_t>(t) * fx.row_bytes, E);
    });
    pool.parallel_for(slots, [&](int64_t a, int64_t b, int) {
      for (int64_t i = a; i < b; ++i)
        std::memcpy(s.actg.data() + static_cast<size_t>(i) * fx.row_bytes,
                    s.actx.data() + static_cast<size_t>(s.slot_tok[static_cast<size_t>(i)]) * fx.row_bytes,
                    fx.row_bytes);
    }, 16);
  }

  // 3./4. per round over a set of experts (all of them without a cache): gate/up items, hidden rows quantized once,
  // down items. Tiles and buffers are sized from the whole batch.
  if (s.h.size() < static_cast<size_t>(slots * F)) s.h.resize(static_cast<size_t>(slots * F));
  const int64_t tile_a = tile_rows(s.count, F, pool.size());
  const int64_t tile_b = tile_rows(s.count, Eo, pool.size());
  int32_t m_max = 0;
  for (int32_t c : s.count) m_max = std::max(m_max, c);
  s.up.resize(static_cast<size_t>(pool.size()));
  for (auto& u : s.up)
    if (u.size() < static_cast<size_t>(m_max) * static_cast<size_t>(tile_a)) u.resize(static_cast<size_t>(m_max) * static_cast<size_t>(tile_a));
  float* h = s.h.data();
  const bool h_is_act = fh.type == DType::F32 && fh.row_bytes == static_cast<size_t>(F) * sizeof(float);
  if (!h_is_act && s.acth.size() < fh.row_bytes * static_cast<size_t>(slots))
    s.acth.resize(fh.row_bytes * static_cast<size_t>(slots));
  const uint8_t* acth = h_is_act ? reinterpret_cast<const uint8_t*>(h) : s.acth.data();
  if (s.d.size() < static_cast<size_t>(slots * Eo)) s.d.resize(static_cast<size_t>(slots * Eo));
  float* d = s.d.data();
  s.mats.resize(static_cast<size_t>(3 * X));
  if (!cache)
    for (int64_t e = 0; e < X; ++e)
      if (s.count[static_cast<size_t>(e)] > 0) {
        s.mats[static_cast<size_t>(3 * e)] = gate.matrix(e);
        s.mats[static_cast<size_t>(3 * e + 1)] = up.matrix(e);
        s.mats[static_cast<size_t>(3 * e + 2)] = down.matrix(e);
      }
  double sec_a = prof ? profile::seconds_since(t_start) : 0.0, sec_b = 0.0;  // gate/up time includes step 2
  // Experts with round_count[e] > 0 (their views in s.mats).
  auto compute_round = [&]() {
    const auto t_a = prof ? profile::Clock::now() : profile::Clock::time_point{};
    build_items(s.round_count, F, tile_a, s.items);
    pool.parallel_items(static_cast<int64_t>(s.items.size()), [&](int64_t it, int th) {
      const int64_t e = s.items[static_cast<size_t>(it)] >> 32, r0 = s.items[static_cast<size_t>(it)] & 0xFFFFFFFF;
      const int64_t nr = std::min(tile_a, F - r0), m = s.count[static_cast<size_t>(e)];
      const int64_t off = s.offset[static_cast<size_t>(e)];
      const uint8_t* a = s.actg.data() + static_cast<size_t>(off) * fx.row_bytes;
      float* g = h + off * F + r0;
      float* u = s.up[static_cast<size_t>(th)].data();
      product(kt, s.mats[static_cast<size_t>(3 * e)], 0, r0, nr, a, fx.row_bytes, m, g, F);
      product(kt, s.mats[static_cast<size_t>(3 * e + 1)], 0, r0, nr, a, fx.row_bytes, m, u, nr);
      for (int64_t i = 0; i < m; ++i) silu_mul_limited(g + i * F, u + i * nr, nr, limit);
    });
    const auto t_b = prof ? profile::Clock::now() : profile::Clock::time_point{};
    if (prof) sec_a += std::chrono::duration<double>(t_b - t_a).count();
    if (!h_is_act) {
      // The round's slots (expert-major, so a union of ranges).
      s.ids.clear();
      for (int64_t e = 0; e < X; ++e)
        if (s.round_count[static_cast<size_t>(e)] > 0)
          for (int32_t i = s.offset[static_cast<size_t>(e)]; i < s.offset[static_cast<size_t>(e) + 1]; ++i) s.ids.push_back(i);
      profile::Scope ps(profile::Phase::ActConvert);
      pool.parallel_for(static_cast<int64_t>(s.ids.size()), [&](int64_t a, int64_t b, int) {
        for (int64_t j = a; j < b; ++j) {
          const int64_t i = s.ids[static_cast<size_t>(j)];
          fh.convert(h + i * F, s.acth.data() + static_cast<size_t>(i) * fh.row_bytes, F);
        }
      });
    }
    build_items(s.round_count, Eo, tile_b, s.items);
    pool.parallel_items(static_cast<int64_t>(s.items.size()), [&](int64_t it, int) {
      const int64_t e = s.items[static_cast<size_t>(it)] >> 32, r0 = s.items[static_cast<size_t>(it)] & 0xFFFFFFFF;
      const int64_t nr = std::min(tile_b, Eo - r0), m = s.count[static_cast<size_t>(e)];
      const int64_t off = s.offset[static_cast<size_t>(e)];
      product(kt, s.mats[static_cast<size_t>(3 * e + 2)], 0, r0, nr, acth + static_cast<size_t>(off) * fh.row_bytes,
              fh.row_bytes, m, d + off * Eo + r0, Eo);
    });
    if (prof) sec_b += profile::seconds_since(t_b);
  };
  if (!cache) {
    s.round_count = s.count;
    compute_round();
  } else {
    // Experts in use, pinned in chunks of at most max_pin(); inside a chunk, rounds over whatever is ready.
    s.active.clear();
    for (int64_t e = 0; e < X; ++e)
      if (s.count[static_cast<size_t>(e)] > 0) s.active.push_back(static_cast<int32_t>(e));
    const int64_t chunk = cache->max_pin();
    ExpertCache::Ticket tk;
    for (size_t c0 = 0; c0 < s.active.size(); c0 += static_cast<size_t>(chunk)) {
      const size_t c1 = std::min(s.active.size(), c0 + static_cast<size_t>(chunk));
      const int64_t nc = static_cast<int64_t>(c1 - c0);
      s.tokens.resize(static_cast<size_t>(nc));
      for (int64_t i = 0; i < nc; ++i) s.tokens[static_cast<size_t>(i)] = s.count[static_cast<size_t>(s.active[c0 + static_cast<size_t>(i)])];
      cache->acquire(layer, s.active.data() + c0, s.tokens.data(), nc, tk);
      try {
        s.done.assign(static_cast<size_t>(nc), 0);
        for (int64_t left = nc; left > 0;) {
          s.round_count.assign(static_cast<size_t>(X), 0);
          int64_t got = 0;
          for (int pass = 0; pass < 2 && got == 0; ++pass)
            for (int64_t i = 0; i < nc; ++i) {
              if (s.done[static_cast<size_t>(i)]) continue;
              // Pass 0 takes the ready ones; if none is, pass 1 waits for the first missing one (and takes it).
              if (pass == 0 ? !cache->ready(tk, i) : got > 0) continue;
              const ExpertViews& v = pass == 0 ? cache->views(tk, i) : cache->wait(tk, i);
              const int32_t e = s.active[c0 + static_cast<size_t>(i)];
              s.mats[static_cast<size_t>(3 * e)] = v.gate;
              s.mats[static_cast<size_t>(3 * e + 1)] = v.up;
              s.mats[static_cast<size_t>(3 * e + 2)] = v.down;
              s.round_count[static_cast<size_t>(e)] = s.count[static_cast<size_t>(e)];
              s.done[static_cast<size_t>(i)] = 1;
              ++got;
            }
          compute_round();
          left -= got;
        }
      } catch (...) {
        cache->release(tk);
        throw;
      }
      cache->release(tk);
    }
  }
  if (prof) {
    profile::note_gemm(kt.gemm_tile[static_cast<uint32_t>(gate.type())] ? "queue-tile" : "queue-rows", gate.tt->name,
                       2 * slots, F, E, sec_a);
    profile::note_gemm(kt.gemm_tile[static_cast<uint32_t>(down.type())] ? "queue-tile" : "queue-rows", down.tt->name,
                       slots, Eo, F, sec_b);
  }

  // 5. Weighted sum per token in ascending expert order (the order of the one-expert-at-a-time reference).
  pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
    std::vector<int32_t> order(static_cast<size_t>(K));
    for (int64_t t = a; t < b; ++t) {
      float* dst = routed + t * Eo;
      std::fill(dst, dst + Eo, 0.0f);
      for (int64_t k = 0; k < K; ++k) order[static_cast<size_t>(k)] = static_cast<int32_t>(k);
      std::sort(order.begin(), order.end(), [&](int32_t p, int32_t q) { return idx[t * K + p] < idx[t * K + q]; });
      for (int64_t j = 0; j < K; ++j) {
        const int64_t k = order[static_cast<size_t>(j)];
        const float w = wts[t * K + k];
        const float* src = d + static_cast<int64_t>(s.slot_of[static_cast<size_t>(t * K + k)]) * Eo;
        for (int64_t c = 0; c < Eo; ++c) dst[c] += w * src[c];
      }
    }
  }, 4);
  if (evals) *evals += static_cast<uint64_t>(slots);
}

}  // namespace latte
