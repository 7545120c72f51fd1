// Scalar kernels: the oracle of every SIMD kernel. vec_dot of each weight type against its activation partner
// (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants and the 256-block i-quants, F32 for
// F32/F16/BF16), integer sums per block scaled in f32 (§B.8), gemv as a loop of vec_dot, activation quantizers = the
// reference quantizers.
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/iq_grids.h"
#include "quant/ref.h"

namespace latte::ref {
namespace {

float dot_f32_scalar(int64_t n, const float* a, const float* b) {
  // Four partial sums: keeps the oracle's rounding error comparable to SIMD accumulators.
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += a[i + k] * b[i + k];
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

void axpy_f32_scalar(int64_t n, float a, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

float exp_sum_f32_scalar(float* x, int64_t n, float sub) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - sub);
    s += x[i];
  }
  return s;
}

// 64-bit words with eight independent accumulators (the compiler may widen this to its baseline vectors).
uint64_t stream_read_scalar(const void* p, size_t bytes) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    uint64_t w[8];
    std::memcpy(w, b + i, 64);
    for (int k = 0; k < 8; ++k) a[k] ^= w[k];
  }
  uint64_t r = 0;
  for (; i < bytes; ++i) r = r * 131 + b[i];  // odd multiplier: every tail byte changes r
  for (int k = 0; k < 8; ++k) r ^= a[k] + uint64_t(k);
  return r;
}

float vd_f32(int64_t n, const void* w, const void* a) {
  return dot_f32_scalar(n, static_cast<const float*>(w), static_cast<const float*>(a));
}

float vd_f16(int64_t n, const void* w, const void* a) {
  const auto* h = static_cast<const uint16_t*>(w);
  const auto* x = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += fp16_to_f32(h[i]) * x[i];
  return s;
}

float vd_bf16(int64_t n, const void* w, const void* a) {
  const auto* h = static_cast<const uint16_t*>(w);
  const auto* x = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += bf16_to_f32(h[i]) * x[i];
  return s;
}

float vd_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int s = 0;
    for (int j = 0; j < 16; ++j)
      s += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    sum += static_cast<float>(s) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

float vd_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_1; ++i) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += (x[i].qs[j] & 0x0F) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
    sum += static_cast<float>(s) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return sum;
}

float vd_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    int s = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = ((x[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
      const int hi = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      s += lo * y[i].qs[j] + hi * y[i].qs[j + 16];
    }
    sum += static_cast<float>(s) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

float vd_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_1; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    int s = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
      const int hi = (x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      s += lo * y[i].qs[j] + hi * y[i].qs[j + 16];
    }
    sum += static_cast<float>(s) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return sum;
}

float vd_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int s = 0;
    for (int j = 0; j < QK8_0; ++j) s += x[i].qs[j] * y[i].qs[j];
    sum += static_cast<float>(s) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

float vd_iq4_nl(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int s = 0;
    for (int j = 0; j < 16; ++j)
      s += kIq4nlValues[x[i].qs[j] & 0x0F] * y[i].qs[j] + kIq4nlValues[x[i].qs[j] >> 4] * y[i].qs[j + 16];
    sum += static_cast<float>(s) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

float vd_mxfp4(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockMXFP4*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int s = 0;
    for (int j = 0; j < 16; ++j)
      s += kMxfp4Values[x[i].qs[j] & 0x0F] * y[i].qs[j] + kMxfp4Values[x[i].qs[j] >> 4] * y[i].qs[j + 16];
    sum += static_cast<float>(s) * (e8m0_half(x[i].e) * fp16_to_f32(y[i].d));
  }
  return sum;
}

float vd_q2_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, summ = 0;
    for (int s = 0; s < 16; ++s) {
      int si = 0;
      for (int k = 0; k < 16; ++k) {
        const int e = 16 * s + k, h = e / 128, j = (e / 32) % 4, l = e % 32;
        si += ((x[i].qs[32 * h + l] >> (2 * j)) & 3) * y[i].qs[e];
      }
      sumi += (x[i].scales[s] & 0xF) * si;
      summ += (x[i].scales[s] >> 4) * y[i].bsums[s];
    }
    sum += y[i].d * (fp16_to_f32(x[i].d) * static_cast<float>(sumi) - fp16_to_f32(x[i].dmin) * static_cast<float>(summ));
  }
  return sum;
}

float vd_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int8_t S[16];
    q3k_scales(x[i].scales, S);
    int sumi = 0;
    for (int s = 0; s < 16; ++s) {
      int si = 0;
      for (int k = 0; k < 16; ++k) {
        const int e = 16 * s + k, h = e / 128, j = (e / 32) % 4, l = e % 32;
        const int q2 = (x[i].qs[32 * h + l] >> (2 * j)) & 3;
        const int hb = (x[i].hmask[e % 32] >> (e / 32)) & 1;
        si += (q2 - (hb ? 0 : 4)) * y[i].qs[e];
      }
      sumi += S[s] * si;
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(sumi);
  }
  return sum;
}

template <class Block, bool kFifthBit>
float vd_qk_affine(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, summ = 0;
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      k_scale_min(s, x[i].scales, sc, m);
      const uint8_t* q = x[i].qs + 32 * (s / 2);
      const int shift = (s % 2) * 4;
      int si = 0;
      for (int l = 0; l < 32; ++l) {
        int v = (q[l] >> shift) & 0x0F;
        if constexpr (kFifthBit) v += 16 * ((x[i].qh[l] >> s) & 1);
        si += v * y[i].qs[32 * s + l];
      }
      sumi += sc * si;
      summ += m * (y[i].bsums[2 * s] + y[i].bsums[2 * s + 1]);
    }
    sum += y[i].d * (fp16_to_f32(x[i].d) * static_cast<float>(sumi) - fp16_to_f32(x[i].dmin) * static_cast<float>(summ));
  }
  return sum;
}

float vd_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0;
    for (int s = 0; s < 16; ++s) {
      int si = 0;
      for (int k = 0; k < 16; ++k) {
        const int e = 16 * s + k, h = e / 128, g = (e / 32) % 4, l = e % 32;
        const int low = (x[i].ql[64 * h + 32 * (g & 1) + l] >> (4 * (g >> 1))) & 0x0F;
        const int high = (x[i].qh[32 * h + l] >> (2 * g)) & 3;
        si += ((low | (high << 4)) - 32) * y[i].qs[e];
      }
      sumi += x[i].scales[s] * si;
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(sumi);
  }
  return sum;
}

float vd_iq4_xs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_XS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0;
    for (int k = 0; k < 8; ++k) {
      const uint8_t* q = x[i].qs + 16 * k;
      const int8_t* yq = y[i].qs + 32 * k;
      int si = 0;
      for (int j = 0; j < 16; ++j) si += kIq4nlValues[q[j] & 0xF] * yq[j] + kIq4nlValues[q[j] >> 4] * yq[j + 16];
      sumi += (iq4xs_scale(x[i], k) - 32) * si;
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(sumi);
  }
  return sum;
}

// IQ2_XXS / IQ3_XXS: per 32-group, (2·ls + 1) · sum(sign · grid · q8); block: d_w · d_a · sum / 8 (IQ2) or / 4.
float vd_iq2_xxs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ2_XXS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int bsum = 0;
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, q + 4, 4);
      int si = 0;
      for (int l = 0; l < 4; ++l) {
        const uint64_t grid = kIq2xxsGrid[q[l]];
        const uint8_t signs = iq_signs8((aux >> (7 * l)) & 127u);
        for (int j = 0; j < 8; ++j) {
          const int v = static_cast<int>((grid >> (8 * j)) & 0xFF);
          si += ((signs >> j) & 1 ? -v : v) * y[i].qs[32 * g + 8 * l + j];
        }
      }
      bsum += static_cast<int>(2 * (aux >> 28) + 1) * si;
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(bsum);
  }
  return 0.125f * sum;
}

float vd_iq3_xxs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ3_XXS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int bsum = 0;
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = x[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, x[i].qs + 64 + 4 * g, 4);
      int si = 0;
      for (int l = 0; l < 4; ++l) {
        const uint8_t signs = iq_signs8((aux >> (7 * l)) & 127u);
        for (int j = 0; j < 8; ++j) {
          const uint32_t grid = kIq3xxsGrid[q[2 * l + j / 4]];
          const int v = static_cast<int>((grid >> (8 * (j % 4))) & 0xFF);
          si += ((signs >> j) & 1 ? -v : v) * y[i].qs[32 * g + 8 * l + j];
        }
      }
      bsum += static_cast<int>(2 * (aux >> 28) + 1) * si;
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(bsum);
  }
  return 0.25f * sum;
}

// IQ1_S: d_w · d_a · (sum_g (2s+1) · sum(grid · q8) + 0.125 · sum_g (2s+1) · ±sum(q8)).
float vd_iq1_s(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ1_S*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, sumi1 = 0;
    for (int g = 0; g < 8; ++g) {
      const uint16_t h = x[i].qh[g];
      const int ls = 2 * ((h >> 12) & 7) + 1;
      int si = 0;
      for (int l = 0; l < 4; ++l) {
        const uint64_t grid = kIq1sGrid[x[i].qs[4 * g + l] | (((h >> (3 * l)) & 7) << 8)];
        for (int j = 0; j < 8; ++j)
          si += static_cast<int8_t>((grid >> (8 * j)) & 0xFF) * y[i].qs[32 * g + 8 * l + j];
      }
      sumi += ls * si;
      sumi1 += ls * ((h & 0x8000) ? -1 : 1) * (y[i].bsums[2 * g] + y[i].bsums[2 * g + 1]);
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * (static_cast<float>(sumi) + kIq1sDelta * static_cast<float>(sumi1));
  }
  return sum;
}

// y[r] = vec_dot(row r, act) for every row: the multi-row entry of the scalar table.
template <VecDotFn F>
void gemv_rows(int64_t n, const void* w, size_t w_stride, const void* act, float* y, int64_t nrows) {
  const auto* base = static_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < nrows; ++r) y[r] = F(n, base + static_cast<size_t>(r) * w_stride, act);
}

template <VecDotFn F>
void set(KernelTable& kt, DType t) {
  kt.vec_dot[static_cast<uint32_t>(t)] = F;
  kt.gemv[static_cast<uint32_t>(t)] = gemv_rows<F>;
}

}  // namespace

void fill_scalar_table(KernelTable& kt) {
  kt.isa = Isa::Scalar;
  set<vd_f32>(kt, DType::F32);
  set<vd_f16>(kt, DType::F16);
  set<vd_bf16>(kt, DType::BF16);
  set<vd_q4_0>(kt, DType::Q4_0);
  set<vd_q4_1>(kt, DType::Q4_1);
  set<vd_q5_0>(kt, DType::Q5_0);
  set<vd_q5_1>(kt, DType::Q5_1);
  set<vd_q8_0>(kt, DType::Q8_0);
  set<vd_q2_k>(kt, DType::Q2_K);
  set<vd_q3_k>(kt, DType::Q3_K);
  set<vd_qk_affine<BlockQ4_K, false>>(kt, DType::Q4_K);
  set<vd_qk_affine<BlockQ5_K, true>>(kt, DType::Q5_K);
  set<vd_q6_k>(kt, DType::Q6_K);
  set<vd_iq4_nl>(kt, DType::IQ4_NL);
  set<vd_iq4_xs>(kt, DType::IQ4_XS);
  set<vd_mxfp4>(kt, DType::MXFP4);
  set<vd_iq2_xxs>(kt, DType::IQ2_XXS);
  set<vd_iq3_xxs>(kt, DType::IQ3_XXS);
  set<vd_iq1_s>(kt, DType::IQ1_S);
  kt.quantize_act[static_cast<uint32_t>(DType::F32)] = quantize_f32;
  kt.quantize_act[static_cast<uint32_t>(DType::F16)] = quantize_f16;
  kt.quantize_act[static_cast<uint32_t>(DType::BF16)] = quantize_bf16;
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_0)] = quantize_q8_0;
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_1)] = quantize_q8_1;
  kt.quantize_act[static_cast<uint32_t>(DType::Q8_K)] = quantize_q8_k;
  kt.dot_f32 = dot_f32_scalar;
  kt.axpy_f32 = axpy_f32_scalar;
  kt.exp_sum_f32 = exp_sum_f32_scalar;
  kt.stream_read = stream_read_scalar;
}

}  // namespace latte::ref
