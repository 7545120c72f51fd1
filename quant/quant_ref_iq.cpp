// Reference quantizers of the grid i-quants IQ2_XXS, IQ3_XXS and IQ1_S (no importance matrix; decode per
// GGUF_DEEPSEEK.md §B.5 with dequant_ref.cpp). Latte's own search, not llama.cpp's:
//  * Codebook search by lattice pattern: every element's target (|x| / scale, or x / scale - delta for IQ1_S) is
//    rounded to the nearest level of the grid's alphabet; that pattern (3^8, 8^4 or 3^8 of them) indexes a
//    precomputed list of the K grid entries nearest to it (Euclidean distance of the level values), and the entry
//    of smallest weighted squared error among them wins. Exact grid members are always first in their list.
//  * Signs (IQ2_XXS, IQ3_XXS): the 8th sign is implied by parity (an even number of negatives). When x has an odd
//    number of negative values, the element whose flip costs least (4·w·t·v in grid units) is flipped; the cost is
//    part of each candidate's error, so the entry choice accounts for it.
//  * Scales: per 32-group, a sweep of 9-10 scales relative to the group's max, then a weighted least-squares refit for
//    the chosen entries; the 256-block's fp16 super-scale d comes from the largest group scale, each group's 4-bit
//    (3-bit for IQ1_S) multiplier is rounded and its neighbours tried, and the group is re-coded with the scale
//    the decoder will use. IQ1_S also chooses the sign of its ±0.125 delta per group.
// Weights w = sigma² + x² (sigma² = mean square of the 256-block): large values count more, small ones still count.
// Pure functions, thread-safe (the candidate tables are built once, on first use, by a thread-safe static).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/iq_grids.h"
#include "quant/ref.h"

namespace latte::ref {
namespace {

inline int nearest_int_iq(float x) { return static_cast<int>(std::lrint(x)); }

// A grid as element values plus, per lattice pattern, the K nearest entries.
struct Codebook {
  int dim = 0, nlev = 0, n_entries = 0, K = 0;
  float lev[8] = {};            // alphabet, ascending
  std::vector<float> val;       // n_entries x dim
  std::vector<uint16_t> cand;   // npat x K

  float mid[7] = {};             // midpoints between consecutive levels
  int level_of(float t) const {  // nearest alphabet index (ties to the lower level)
    int k = 0;
    for (int m = 0; m < nlev - 1; ++m) k += t > mid[m];
    return k;
  }
  int pattern(const float* t) const {
    int p = 0;
    for (int j = dim - 1; j >= 0; --j) p = p * nlev + level_of(t[j]);
    return p;
  }
  const uint16_t* candidates(const float* t) const { return cand.data() + static_cast<size_t>(pattern(t)) * K; }

  void build(int k) {
    K = k;
    for (int m = 0; m < nlev - 1; ++m) mid[m] = 0.5f * (lev[m] + lev[m + 1]);
    int npat = 1;
    for (int j = 0; j < dim; ++j) npat *= nlev;
    cand.resize(static_cast<size_t>(npat) * K);
    std::vector<float> pv(dim);
    std::vector<std::pair<float, uint16_t>> dist(n_entries);
    for (int p = 0; p < npat; ++p) {
      int q = p;
      for (int j = 0; j < dim; ++j, q /= nlev) pv[j] = lev[q % nlev];
      for (int e = 0; e < n_entries; ++e) {
        float s = 0;
        for (int j = 0; j < dim; ++j) s += (pv[j] - val[e * dim + j]) * (pv[j] - val[e * dim + j]);
        dist[e] = {s, static_cast<uint16_t>(e)};
      }
      std::partial_sort(dist.begin(), dist.begin() + K, dist.end());
      for (int i = 0; i < K; ++i) cand[static_cast<size_t>(p) * K + i] = dist[i].second;
    }
  }
};

const Codebook& iq2xxs_book() {
  static const Codebook cb = [] {
    Codebook c;
    c.dim = 8, c.nlev = 3, c.n_entries = 256;
    c.lev[0] = 8, c.lev[1] = 25, c.lev[2] = 43;
    c.val.resize(256 * 8);
    for (int e = 0; e < 256; ++e)
      for (int j = 0; j < 8; ++j) c.val[e * 8 + j] = static_cast<float>((kIq2xxsGrid[e] >> (8 * j)) & 0xFF);
    c.build(8);
    return c;
  }();
  return cb;
}

const Codebook& iq3xxs_book() {
  static const Codebook cb = [] {
    Codebook c;
    c.dim = 4, c.nlev = 8, c.n_entries = 256;
    const float lv[8] = {4, 12, 20, 28, 36, 44, 52, 62};
    std::memcpy(c.lev, lv, sizeof lv);
    c.val.resize(256 * 4);
    for (int e = 0; e < 256; ++e)
      for (int j = 0; j < 4; ++j) c.val[e * 4 + j] = static_cast<float>((kIq3xxsGrid[e] >> (8 * j)) & 0xFF);
    c.build(8);
    return c;
  }();
  return cb;
}

const Codebook& iq1s_book() {
  static const Codebook cb = [] {
    Codebook c;
    c.dim = 8, c.nlev = 3, c.n_entries = 2048;
    c.lev[0] = -1, c.lev[1] = 0, c.lev[2] = 1;
    c.val.resize(2048 * 8);
    for (int e = 0; e < 2048; ++e)
      for (int j = 0; j < 8; ++j)
        c.val[e * 8 + j] = static_cast<float>(static_cast<int8_t>((kIq1sGrid[e] >> (8 * j)) & 0xFF));
    c.build(16);
    return c;
  }();
  return cb;
}

float entry_err(const Codebook& cb, int e, const float* t, const float* w) {
  const float* v = cb.val.data() + static_cast<size_t>(e) * cb.dim;
  float s = 0;
  for (int j = 0; j < cb.dim; ++j) s += w[j] * (t[j] - v[j]) * (t[j] - v[j]);
  return s;
}
// Cheapest sign flip of entry e for magnitudes t (grid units): min_j 4 w t v.
float flip_cost(const Codebook& cb, int e, const float* t, const float* w, int* at) {
  const float* v = cb.val.data() + static_cast<size_t>(e) * cb.dim;
  float best = 4 * w[0] * t[0] * v[0];
  *at = 0;
  for (int j = 1; j < cb.dim; ++j) {
    const float c = 4 * w[j] * t[j] * v[j];
    if (c < best) { best = c; *at = j; }
  }
  return best;
}

// One 32-group of a signed-grid type (IQ2_XXS: 4 x 8 entries; IQ3_XXS: 4 x (4 + 4) entries) coded at scale s:
// grid indices, 7-bit sign indices, and the weighted squared error in x units.
struct SignedGroup {
  uint8_t idx[8];   // IQ2_XXS: idx[0..3]; IQ3_XXS: idx[0..7]
  uint8_t sign7[4];
  float err;
};

template <bool kIq3>
SignedGroup code_signed_group(const float* x, const float* w, float s) {
  const Codebook& cb = kIq3 ? iq3xxs_book() : iq2xxs_book();
  SignedGroup g{};
  const float is = 1 / s;
  float total = 0;
  for (int l = 0; l < 4; ++l) {
    const float* xs = x + 8 * l;
    const float* ws = w + 8 * l;
    float t[8];
    uint32_t neg = 0;
    for (int j = 0; j < 8; ++j) {
      t[j] = std::fabs(xs[j]) * is;
      if (xs[j] < 0) neg |= 1u << j;
    }
    const bool odd = __builtin_popcount(neg) & 1;
    float best = INFINITY;
    int flip = -1;
    if constexpr (!kIq3) {
      const uint16_t* c = cb.candidates(t);
      for (int k = 0; k < cb.K; ++k) {
        float e = entry_err(cb, c[k], t, ws);
        int at = -1;
        if (odd) e += flip_cost(cb, c[k], t, ws, &at);
        if (e < best) { best = e; g.idx[l] = static_cast<uint8_t>(c[k]); flip = at; }
      }
    } else {
      const uint16_t* ca = cb.candidates(t);
      const uint16_t* cbb = cb.candidates(t + 4);
      float ea[16], pa[16], eb[16], pb[16];
      int fa[16], fb[16];
      for (int k = 0; k < cb.K; ++k) {
        ea[k] = entry_err(cb, ca[k], t, ws);
        eb[k] = entry_err(cb, cbb[k], t + 4, ws + 4);
        pa[k] = odd ? flip_cost(cb, ca[k], t, ws, &fa[k]) : 0.f;
        pb[k] = odd ? flip_cost(cb, cbb[k], t + 4, ws + 4, &fb[k]) : 0.f;
      }
      for (int a = 0; a < cb.K; ++a)
        for (int b = 0; b < cb.K; ++b) {
          float e = ea[a] + eb[b];
          int at = -1;
          if (odd) {
            if (pa[a] <= pb[b]) { e += pa[a]; at = fa[a]; } else { e += pb[b]; at = 4 + fb[b]; }
          }
          if (e < best) {
            best = e;
            g.idx[2 * l] = static_cast<uint8_t>(ca[a]);
            g.idx[2 * l + 1] = static_cast<uint8_t>(cbb[b]);
            flip = at;
          }
        }
    }
    if (odd) neg ^= 1u << flip;
    g.sign7[l] = static_cast<uint8_t>(neg & 127u);
    total += best;
  }
  g.err = total * s * s;
  return g;
}

// Least-squares scale of a coded signed group: sum w |x| v' / sum w v'^2 (v' = the signed decoded value / scale).
template <bool kIq3>
float refit_signed(const float* x, const float* w, const SignedGroup& g) {
  const Codebook& cb = kIq3 ? iq3xxs_book() : iq2xxs_book();
  float num = 0, den = 0;
  for (int l = 0; l < 4; ++l) {
    const uint8_t signs = iq_signs8(g.sign7[l]);
    for (int j = 0; j < 8; ++j) {
      const float v = kIq3 ? cb.val[g.idx[2 * l + j / 4] * 4 + j % 4] : cb.val[g.idx[l] * 8 + j];
      const float sv = (signs >> j) & 1 ? -v : v;
      num += w[8 * l + j] * x[8 * l + j] * sv;
      den += w[8 * l + j] * sv * sv;
    }
  }
  return den > 0 ? num / den : 0.f;
}

// Best scale of one 32-group: a sweep of max/(vmax·f), then a refit.
template <bool kIq3>
float search_signed_scale(const float* x, const float* w) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  if (amax == 0) return 0.f;
  const float vmax = kIq3 ? 62.f : 43.f;
  float best_s = amax / vmax, best = INFINITY;
  for (int k = 0; k <= 8; ++k) {
    const float s = amax / (vmax * (0.5f + 0.075f * k));
    const SignedGroup g = code_signed_group<kIq3>(x, w, s);
    if (g.err < best) { best = g.err; best_s = s; }
  }
  const float r = refit_signed<kIq3>(x, w, code_signed_group<kIq3>(x, w, best_s));
  if (r > 0 && code_signed_group<kIq3>(x, w, r).err < best) best_s = r;
  return best_s;
}

void block_weights(const float* x, float* w) {
  float s2 = 0;
  for (int j = 0; j < QK_K; ++j) s2 += x[j] * x[j];
  s2 /= QK_K;
  for (int j = 0; j < QK_K; ++j) w[j] = s2 + x[j] * x[j];
}

// IQ2_XXS (kIq3 false) and IQ3_XXS (true): db = d·(2·ls + 1)/8 (IQ2) or /4 (IQ3), ls in 0..15.
template <bool kIq3>
void quantize_signed_grid(const float* src, uint8_t* dst, int64_t n) {
  constexpr size_t kBytes = kIq3 ? sizeof(BlockIQ3_XXS) : sizeof(BlockIQ2_XXS);
  constexpr float kDiv = kIq3 ? 4.f : 8.f;
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K, dst += kBytes) {
    std::memset(dst, 0, kBytes);
    float w[QK_K], scales[8], smax = 0;
    block_weights(src, w);
    for (int g = 0; g < 8; ++g) {
      scales[g] = search_signed_scale<kIq3>(src + 32 * g, w + 32 * g);
      smax = std::max(smax, scales[g]);
    }
    if (smax == 0) continue;
    const uint16_t dh = f32_to_fp16(kDiv * smax / 31);
    std::memcpy(dst, &dh, 2);
    const float d = fp16_to_f32(dh);
    if (d == 0) continue;
    for (int g = 0; g < 8; ++g) {
      const int ls0 = std::clamp(nearest_int_iq((kDiv * scales[g] / d - 1) / 2), 0, 15);
      SignedGroup best{};
      best.err = INFINITY;
      int best_ls = ls0;
      for (int ls = std::max(0, ls0 - 1); ls <= std::min(15, ls0 + 1); ++ls) {
        // the decoder's scale, in the decoder's f32 order
        const float db = kIq3 ? d * (0.5f + static_cast<float>(ls)) * 0.5f : d * (0.5f + static_cast<float>(ls)) * 0.25f;
        const SignedGroup c = code_signed_group<kIq3>(src + 32 * g, w + 32 * g, db);
        if (c.err < best.err) { best = c; best_ls = ls; }
      }
      uint32_t aux = static_cast<uint32_t>(best_ls) << 28;
      for (int l = 0; l < 4; ++l) aux |= static_cast<uint32_t>(best.sign7[l]) << (7 * l);
      if constexpr (kIq3) {
        std::memcpy(dst + 2 + 8 * g, best.idx, 8);
        std::memcpy(dst + 2 + 64 + 4 * g, &aux, 4);
      } else {
        std::memcpy(dst + 2 + 8 * g, best.idx, 4);
        std::memcpy(dst + 2 + 8 * g + 4, &aux, 4);
      }
    }
  }
}

// ---- IQ1_S: y = dl·(v + delta), v in {-1, 0, 1}, dl = d·(2s + 1), s in 0..7, delta = ±0.125 per 32-group.

struct Iq1Group {
  uint16_t idx[4];
  float err;
};

Iq1Group code_iq1_group(const float* x, const float* w, float dl, float delta) {
  const Codebook& cb = iq1s_book();
  Iq1Group g{};
  const float il = 1 / dl;
  float total = 0;
  for (int l = 0; l < 4; ++l) {
    float t[8];
    for (int j = 0; j < 8; ++j) t[j] = x[8 * l + j] * il - delta;
    const uint16_t* c = cb.candidates(t);
    float best = INFINITY;
    for (int k = 0; k < cb.K; ++k) {
      const float e = entry_err(cb, c[k], t, w + 8 * l);
      if (e < best) { best = e; g.idx[l] = c[k]; }
    }
    total += best;
  }
  g.err = total * dl * dl;
  return g;
}

float refit_iq1(const float* x, const float* w, const Iq1Group& g, float delta) {
  const Codebook& cb = iq1s_book();
  float num = 0, den = 0;
  for (int l = 0; l < 4; ++l)
    for (int j = 0; j < 8; ++j) {
      const float v = cb.val[g.idx[l] * 8 + j] + delta;
      num += w[8 * l + j] * x[8 * l + j] * v;
      den += w[8 * l + j] * v * v;
    }
  return den > 0 ? num / den : 0.f;
}

// Best (dl, delta) of one 32-group.
float search_iq1_scale(const float* x, const float* w) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  if (amax == 0) return 0.f;
  float best_dl = amax, best = INFINITY, best_delta = 0.125f;
  for (float delta : {0.125f, -0.125f})
    for (int k = 0; k <= 9; ++k) {
      const float dl = amax / (1.125f * (0.3f + 0.1f * k));
      const Iq1Group g = code_iq1_group(x, w, dl, delta);
      if (g.err < best) { best = g.err; best_dl = dl; best_delta = delta; }
    }
  const float r = refit_iq1(x, w, code_iq1_group(x, w, best_dl, best_delta), best_delta);
  if (r > 0 && code_iq1_group(x, w, r, best_delta).err < best) best_dl = r;
  return best_dl;
}

}  // namespace

void quantize_iq2_xxs(const float* src, void* dst, int64_t n) {
  quantize_signed_grid<false>(src, static_cast<uint8_t*>(dst), n);
}

void quantize_iq3_xxs(const float* src, void* dst, int64_t n) {
  quantize_signed_grid<true>(src, static_cast<uint8_t*>(dst), n);
}

void quantize_iq1_s(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockIQ1_S*>(dst);
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    std::memset(&y[i], 0, sizeof(BlockIQ1_S));
    float w[QK_K], dls[8], dmax = 0;
    block_weights(src, w);
    for (int g = 0; g < 8; ++g) {
      dls[g] = search_iq1_scale(src + 32 * g, w + 32 * g);
      dmax = std::max(dmax, dls[g]);
    }
    if (dmax == 0) continue;
    y[i].d = f32_to_fp16(dmax / 15);
    const float d = fp16_to_f32(y[i].d);
    if (d == 0) continue;
    for (int g = 0; g < 8; ++g) {
      const int s0 = std::clamp(nearest_int_iq((dls[g] / d - 1) / 2), 0, 7);
      Iq1Group best{};
      best.err = INFINITY;
      int best_s = s0;
      bool best_neg = false;
      for (int s = std::max(0, s0 - 1); s <= std::min(7, s0 + 1); ++s)
        for (bool neg : {false, true}) {
          const float dl = d * static_cast<float>(2 * s + 1);
          const Iq1Group c = code_iq1_group(src + 32 * g, w + 32 * g, dl, neg ? -kIq1sDelta : kIq1sDelta);
          if (c.err < best.err) { best = c; best_s = s; best_neg = neg; }
        }
      uint16_t h = static_cast<uint16_t>((best_s << 12) | (best_neg ? 0x8000 : 0));
      for (int l = 0; l < 4; ++l) {
        y[i].qs[4 * g + l] = static_cast<uint8_t>(best.idx[l] & 0xFF);
        h = static_cast<uint16_t>(h | (((best.idx[l] >> 8) & 7) << (3 * l)));
      }
      y[i].qh[g] = h;
    }
  }
}

}  // namespace latte::ref
