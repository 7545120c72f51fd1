// Scalar reference quantizers (no importance matrix), GGUF_DEEPSEEK.md §B.6-§B.7. Q8_0, Q4_0, Q4_K, Q6_K and Q8_K
// follow the documented reference algorithms (byte-identical with llama.cpp's reference path); Q2_K, Q3_K, Q5_K use
// the same search family (affine weighted search / symmetric search); Q4_1, Q5_0, Q5_1 are min/max or
// largest-magnitude scalings; IQ4_NL / IQ4_XS search a few scales over the non-linear table. All decode with
// dequant_ref.cpp. Pure functions, thread-safe.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/ref.h"

namespace latte::ref {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even (valid for |x| < 2^22).
inline int nearest_int(float x) {
  const float v = x + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007FFFFF) - 0x00400000;
}

// Weighted affine search x ~ scale*q + min, q in [0, nmax] (make_qkx2_quants). Returns scale; *neg_min = -min >= 0.
float affine_search(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, uint8_t* Laux,
                    float rmin, float rdelta, int nstep, bool use_mad) {
  float mn = x[0], mx = x[0], sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (mn > 0) mn = 0;
  if (mx == mn) {
    std::fill(L, L + n, 0);
    *neg_min = -mn;
    return 0.f;
  }
  float iscale = nmax / (mx - mn);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * (x[i] - mn)), 0, nmax);
    L[i] = static_cast<uint8_t>(l);
    float diff = scale * L[i] + mn - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += w[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (mx - mn);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - mn)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += w[i] * diff;
      }
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  *neg_min = -mn;
  return scale;
}

// Symmetric search x ~ scale*q, q in [-nmax, nmax-1], weights x^2 (make_qx_quants, rmse type 1). L gets q + nmax.
float symmetric_search(int n, int nmax, const float* x, int8_t* L) {
  float mx = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) { amax = ax; mx = x[i]; }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return 0.f;
  }
  float iscale = -nmax / mx;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 > 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / mx;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i)
        L[i] = static_cast<int8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Symmetric 3-bit search with coordinate-descent refinement (make_q3_quants with rmse). L gets q + nmax.
float symmetric_refine(int n, int nmax, const float* x, int8_t* L) {
  float mx = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) { amax = ax; mx = x[i]; }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return 0.f;
  }
  const float iscale = -nmax / mx;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int nl = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          slx += w * x[i] * nl;
          sl2 += w * nl * nl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0 ? sumlx / suml2 : 0.f;
}

// Index of the codebook entry nearest to v (first wins on ties).
inline int nearest_iq4(float v) {
  int best = 0;
  float bd = std::fabs(v - kIq4nlValues[0]);
  for (int k = 1; k < 16; ++k) {
    const float dd = std::fabs(v - kIq4nlValues[k]);
    if (dd < bd) { bd = dd; best = k; }
  }
  return best;
}

// Best scale for a block over the IQ4 codebook, weights x^2: tries max/127 and 15 nearby inverse scales.
float iq4_block_scale(int n, const float* x) {
  float mx = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) { amax = ax; mx = x[i]; }
  }
  if (amax < kGroupMaxEps) return 0.f;
  float d = -mx / kIq4nlValues[0];
  float best_scale = d, best = -1.f;
  for (int itry = -8; itry <= 7; ++itry) {
    const float id = itry == -8 ? 1 / d : (itry + kIq4nlValues[0]) / mx;
    float sumqx = 0, sumq2 = 0;
    for (int i = 0; i < n; ++i) {
      const float q = kIq4nlValues[nearest_iq4(id * x[i])];
      const float w = x[i] * x[i];
      sumqx += w * q * x[i];
      sumq2 += w * q * q;
    }
    if (sumq2 > 0 && (best < 0 || sumqx * sumqx > best * sumq2)) {
      best_scale = sumqx / sumq2;
      best = best_scale * sumqx;
    }
  }
  return best_scale;
}

// MXFP4 code (0..15) nearest to v = x / 2^(e-128) in the doubled E2M1 table (first wins on ties, so 0 not -0).
inline int nearest_mxfp4(float v) {
  int best = 0;
  float bd = std::fabs(v - kMxfp4Values[0]);
  for (int k = 1; k < 16; ++k) {
    const float dd = std::fabs(v - kMxfp4Values[k]);
    if (dd < bd) { bd = dd; best = k; }
  }
  return best;
}

// Squared error of one 32-block coded with exponent byte e.
float mxfp4_block_err(const float* x, uint8_t e) {
  const float d = e8m0_half(e), id = 1 / d;
  float err = 0;
  for (int j = 0; j < QK_MXFP4; ++j) {
    const float r = x[j] - d * kMxfp4Values[nearest_mxfp4(x[j] * id)];
    err += r * r;
  }
  return err;
}

}  // namespace

void quantize_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void quantize_f16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
}

void quantize_bf16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / QK8_0; ++i, src += QK8_0) {
    float amax = 0;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1 / d : 0;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::roundf(src[j] * id));
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / QK8_1; ++i, src += QK8_1) {
    float amax = 0;
    for (int j = 0; j < QK8_1; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1 / d : 0;
    int sum = 0;
    for (int j = 0; j < QK8_1; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::roundf(src[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = f32_to_fp16(d);
    y[i].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

void quantize_q4_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / QK4_0; ++i, src += QK4_0) {
    float amax = 0, mx = 0;
    for (int j = 0; j < QK4_0; ++j)
      if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); mx = src[j]; }
    const float d = mx / -8;
    const float id = d != 0 ? 1 / d : 0;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(src[j] * id + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(src[j + 16] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_q4_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / QK4_1; ++i, src += QK4_1) {
    float mn = src[0], mx = src[0];
    for (int j = 1; j < QK4_1; ++j) { mn = std::min(mn, src[j]); mx = std::max(mx, src[j]); }
    const float d = (mx - mn) / 15;
    const float id = d != 0 ? 1 / d : 0;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(mn);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>((src[j] - mn) * id + 0.5f));
      const int q1 = std::min(15, static_cast<int>((src[j + 16] - mn) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_q5_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / QK5_0; ++i, src += QK5_0) {
    float amax = 0, mx = 0;
    for (int j = 0; j < QK5_0; ++j)
      if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); mx = src[j]; }
    const float d = mx / -16;
    const float id = d != 0 ? 1 / d : 0;
    y[i].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, static_cast<int>(static_cast<int8_t>(src[j] * id + 16.5f)));
      const int q1 = std::min(31, static_cast<int>(static_cast<int8_t>(src[j + 16] * id + 16.5f)));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quantize_q5_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / QK5_1; ++i, src += QK5_1) {
    float mn = src[0], mx = src[0];
    for (int j = 1; j < QK5_1; ++j) { mn = std::min(mn, src[j]); mx = std::max(mx, src[j]); }
    const float d = (mx - mn) / 31;
    const float id = d != 0 ? 1 / d : 0;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, static_cast<int>((src[j] - mn) * id + 0.5f));
      const int q1 = std::min(31, static_cast<int>((src[j + 16] - mn) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    float amax = 0, mx = 0;
    for (int j = 0; j < QK_K; ++j)
      if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); mx = src[j]; }
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.f / mx;
    for (int j = 0; j < QK_K; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * src[j])));
    for (int g = 0; g < QK_K / 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += y[i].qs[16 * g + j];
      y[i].bsums[g] = static_cast<int16_t>(s);
    }
    y[i].d = 1 / iscale;
  }
}

// Packs 8 6-bit (scale, min) pairs into the 12-byte K-quant layout (§B.3).
static void pack_k_scales(const uint8_t ls[8], const uint8_t lm[8], uint8_t* B) {
  std::memset(B, 0, K_SCALE_SIZE);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      B[j] = ls[j];
      B[j + 4] = lm[j];
    } else {
      B[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      B[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      B[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared body of Q4_K (nmax 15) and Q5_K (nmax 31): 8 affine sub-blocks of 32. L gets 256 quants.
template <class Block>
static void quantize_kx(const float* x, Block& y, int nmax, float rmin, int nstep, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = affine_search(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    lm[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
  }
  pack_k_scales(ls, lm, y.scales);
  y.d = f32_to_fp16(max_scale / 63.f);
  y.dmin = f32_to_fp16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k_scale_min(j, y.scales, sc, m);
    const float d = fp16_to_f32(y.d) * sc;
    if (!d) continue;
    const float dm = fp16_to_f32(y.dmin) * m;
    for (int ii = 0; ii < 32; ++ii)
      L[32 * j + ii] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + ii] + dm) / d), 0, nmax));
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_K*>(dst);
  uint8_t L[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    quantize_kx(src, y[i], 15, -1.f, 20, L);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_K*>(dst);
  uint8_t L[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    quantize_kx(src, y[i], 31, -0.5f, 15, L);
    std::memset(y[i].qh, 0, sizeof(y[i].qh));
    uint8_t* q = y[i].qs;
    uint8_t m1 = 1, m2 = 2;
    for (int j = 0; j < QK_K; j += 64, q += 32, m1 = static_cast<uint8_t>(m1 << 2), m2 = static_cast<uint8_t>(m2 << 2)) {
      for (int l = 0; l < 32; ++l) {
        int l1 = L[j + l], l2 = L[j + l + 32];
        if (l1 > 15) { l1 -= 16; y[i].qh[l] |= m1; }
        if (l2 > 15) { l2 -= 16; y[i].qh[l] |= m2; }
        q[l] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
    }
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ6_K*>(dst);
  int8_t L[QK_K];
  float scales[16];
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      scales[ib] = symmetric_search(16, 32, src + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) { max_abs_scale = std::fabs(scales[ib]); max_scale = scales[ib]; }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f32_to_fp16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_f32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<int8_t>(std::clamp(nearest_int(src[16 * j + ii] / d), -32, 31) + 32);
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

void quantize_q3_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ3_K*>(dst);
  int8_t L[QK_K];
  float scales[16];
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = symmetric_refine(16, 4, src + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) { amax = std::fabs(scales[j]); max_scale = scales[j]; }
    }
    std::memset(y[i].scales, 0, sizeof(y[i].scales));
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        int l = std::clamp(nearest_int(iscale * scales[j]), -32, 31) + 32;
        if (j < 8) y[i].scales[j] = static_cast<uint8_t>(l & 0xF);
        else y[i].scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        l >>= 4;
        y[i].scales[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
      }
      y[i].d = f32_to_fp16(1 / iscale);
    } else {
      y[i].d = 0;
    }
    int8_t S[16];
    q3k_scales(y[i].scales, S);
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_f32(y[i].d) * S[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<int8_t>(std::clamp(nearest_int(src[16 * j + ii] / d), -4, 3) + 4);
    }
    std::memset(y[i].hmask, 0, sizeof(y[i].hmask));
    for (int e = 0; e < QK_K; ++e) {
      if (L[e] > 3) {
        y[i].hmask[e % 32] |= static_cast<uint8_t>(1u << (e / 32));
        L[e] = static_cast<int8_t>(L[e] - 4);
      }
    }
    uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 128, q += 32)
      for (int l = 0; l < 32; ++l)
        q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
  }
}

void quantize_q2_k(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ2_K*>(dst);
  uint8_t L[QK_K], Laux[16];
  float weights[16], mins[16], scales[16];
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * j + l]);
      scales[j] = affine_search(16, 3, src + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0) {
      const float iscale = 15.f / max_scale;
      for (int j = 0; j < 16; ++j) y[i].scales[j] = static_cast<uint8_t>(std::min(15, nearest_int(iscale * scales[j])));
      y[i].d = f32_to_fp16(max_scale / 15.f);
    } else {
      std::memset(y[i].scales, 0, sizeof(y[i].scales));
      y[i].d = 0;
    }
    if (max_min > 0) {
      const float iscale = 15.f / max_min;
      for (int j = 0; j < 16; ++j)
        y[i].scales[j] |= static_cast<uint8_t>(std::min(15, nearest_int(iscale * mins[j])) << 4);
      y[i].dmin = f32_to_fp16(max_min / 15.f);
    } else {
      y[i].dmin = 0;
    }
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = fp16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<uint8_t>(std::clamp(nearest_int((src[16 * j + ii] + dm) / d), 0, 3));
    }
    uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 128, q += 32)
      for (int l = 0; l < 32; ++l)
        q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
  }
}

void quantize_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / QK4_NL; ++i, src += QK4_NL) {
    const float d = iq4_block_scale(QK4_NL, src);
    y[i].d = f32_to_fp16(d);
    const float ds = fp16_to_f32(y[i].d);
    const float id = ds != 0 ? 1 / ds : 0;
    for (int j = 0; j < 16; ++j)
      y[i].qs[j] = static_cast<uint8_t>(nearest_iq4(id * src[j]) | (nearest_iq4(id * src[j + 16]) << 4));
  }
}

void quantize_iq4_xs(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t i = 0; i < n / QK_K; ++i, src += QK_K) {
    float scales[8], max_scale = 0, amax = 0;
    for (int k = 0; k < 8; ++k) {
      scales[k] = iq4_block_scale(32, src + 32 * k);
      if (std::fabs(scales[k]) > amax) { amax = std::fabs(scales[k]); max_scale = scales[k]; }
    }
    std::memset(&y[i], 0, sizeof(BlockIQ4_XS));
    if (amax == 0) continue;
    const float d = -max_scale / 32;
    const float id = 1 / d;
    y[i].d = f32_to_fp16(d);
    const float ds = fp16_to_f32(y[i].d);
    for (int k = 0; k < 8; ++k) {
      const int l = std::clamp(nearest_int(id * scales[k]), -32, 31) + 32;
      y[i].scales_l[k / 2] |= static_cast<uint8_t>((l & 0xF) << (4 * (k % 2)));
      y[i].scales_h = static_cast<uint16_t>(y[i].scales_h | ((l >> 4) << (2 * k)));
      const float dl = ds * static_cast<float>(l - 32);
      const float idl = dl != 0 ? 1 / dl : 0;
      const float* x = src + 32 * k;
      for (int j = 0; j < 16; ++j)
        y[i].qs[16 * k + j] = static_cast<uint8_t>(nearest_iq4(idl * x[j]) | (nearest_iq4(idl * x[j + 16]) << 4));
    }
  }
}

// MXFP4: the exponent from the block max: e_hi is the smallest exponent whose largest code (6 = 12 halves) reaches
// max|x|; e_hi - 1 doubles the resolution of the small values and clips the largest ones. The one with the
// smaller squared error wins (e_hi on ties); then each value takes its nearest code. All-zero blocks: e = 0.
void quantize_mxfp4(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockMXFP4*>(dst);
  for (int64_t i = 0; i < n / QK_MXFP4; ++i, src += QK_MXFP4) {
    float amax = 0;
    for (int j = 0; j < QK_MXFP4; ++j) amax = std::max(amax, std::fabs(src[j]));
    std::memset(&y[i], 0, sizeof(BlockMXFP4));
    if (!(amax > 0) || !std::isfinite(amax)) continue;
    int e = std::clamp(128 + static_cast<int>(std::ceil(std::log2(amax / 12))), 1, 254);
    while (e < 254 && 12 * e8m0_half(static_cast<uint8_t>(e)) < amax) ++e;  // log2 rounding: make sure it reaches
    while (e > 1 && 12 * e8m0_half(static_cast<uint8_t>(e - 1)) >= amax) --e;
    if (e > 1 && mxfp4_block_err(src, static_cast<uint8_t>(e - 1)) < mxfp4_block_err(src, static_cast<uint8_t>(e))) --e;
    y[i].e = static_cast<uint8_t>(e);
    const float id = 1 / e8m0_half(y[i].e);
    for (int j = 0; j < 16; ++j)
      y[i].qs[j] = static_cast<uint8_t>(nearest_mxfp4(src[j] * id) | (nearest_mxfp4(src[j + 16] * id) << 4));
  }
}

}  // namespace latte::ref
