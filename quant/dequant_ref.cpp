// Scalar reference dequantization, bit-exact with GGUF_DEEPSEEK.md §B (one block at a time, f32 arithmetic in the
// order of the spec's formulas).
#include <cstring>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/iq_grids.h"
#include "quant/ref.h"

namespace latte::ref {

void dequantize_f32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void dequantize_i32(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    int32_t v;
    std::memcpy(&v, p + 4 * i, 4);
    dst[i] = static_cast<float>(v);
  }
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / QK4_0; ++i, dst += QK4_0) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>((b[i].qs[j] & 0x0F) - 8);
      dst[j + 16] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
    }
  }
}

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / QK4_1; ++i, dst += QK4_1) {
    const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>(b[i].qs[j] & 0x0F) + m;
      dst[j + 16] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
    }
  }
}

void dequantize_q5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / QK5_0; ++i, dst += QK5_0) {
    const float d = fp16_to_f32(b[i].d);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      dst[j] = d * static_cast<float>(lo - 16);
      dst[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
}

void dequantize_q5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / QK5_1; ++i, dst += QK5_1) {
    const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      dst[j] = d * static_cast<float>(lo) + m;
      dst[j + 16] = d * static_cast<float>(hi) + m;
    }
  }
}

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / QK8_0; ++i, dst += QK8_0) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < QK8_0; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void dequantize_q8_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / QK8_1; ++i, dst += QK8_1) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < QK8_1; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128, j = (e / 32) % 4, l = e % 32;
      const uint8_t sc = b[i].scales[e / 16];
      const int q = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
      dst[e] = d * static_cast<float>(sc & 0xF) * static_cast<float>(q) - dmin * static_cast<float>(sc >> 4);
    }
  }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K) {
    const float d = fp16_to_f32(b[i].d);
    int8_t S[16];
    q3k_scales(b[i].scales, S);
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128, j = (e / 32) % 4, l = e % 32;
      const int q2 = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
      const int hb = (b[i].hmask[e % 32] >> (e / 32)) & 1;
      const int q = q2 - (hb ? 0 : 4);
      dst[e] = d * static_cast<float>(S[e / 16]) * static_cast<float>(q);
    }
  }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      k_scale_min(s, b[i].scales, sc, m);
      const float D = d * sc, M = dmin * m;
      const uint8_t* q = b[i].qs + 32 * (s / 2);
      const int shift = (s % 2) * 4;
      for (int l = 0; l < 32; ++l) dst[32 * s + l] = D * static_cast<float>((q[l] >> shift) & 0x0F) - M;
    }
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      k_scale_min(s, b[i].scales, sc, m);
      const float D = d * sc, M = dmin * m;
      const uint8_t* q = b[i].qs + 32 * (s / 2);
      const int shift = (s % 2) * 4;
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0x0F) + 16 * ((b[i].qh[l] >> s) & 1);
        dst[32 * s + l] = D * static_cast<float>(v) - M;
      }
    }
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128, g = (e / 32) % 4, l = e % 32;
      const int low = (b[i].ql[64 * h + 32 * (g & 1) + l] >> (4 * (g >> 1))) & 0x0F;
      const int high = (b[i].qh[32 * h + l] >> (2 * g)) & 3;
      const int q = (low | (high << 4)) - 32;
      dst[e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>(q);
    }
  }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K)
    for (int j = 0; j < QK_K; ++j) dst[j] = b[i].d * static_cast<float>(b[i].qs[j]);
}

void dequantize_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / QK4_NL; ++i, dst += QK4_NL) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>(kIq4nlValues[b[i].qs[j] & 0x0F]);
      dst[j + 16] = d * static_cast<float>(kIq4nlValues[b[i].qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i, dst += QK_K) {
    const float d = fp16_to_f32(b[i].d);
    for (int k = 0; k < 8; ++k) {
      const float dl = d * static_cast<float>(iq4xs_scale(b[i], k) - 32);
      const uint8_t* q = b[i].qs + 16 * k;
      for (int j = 0; j < 16; ++j) {
        dst[32 * k + j] = dl * static_cast<float>(kIq4nlValues[q[j] & 0xF]);
        dst[32 * k + 16 + j] = dl * static_cast<float>(kIq4nlValues[q[j] >> 4]);
      }
    }
  }
}

void dequantize_mxfp4(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockMXFP4*>(src);
  for (int64_t i = 0; i < n / QK_MXFP4; ++i, dst += QK_MXFP4) {
    const float d = e8m0_half(b[i].e);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>(kMxfp4Values[b[i].qs[j] & 0x0F]);
      dst[j + 16] = d * static_cast<float>(kMxfp4Values[b[i].qs[j] >> 4]);
    }
  }
}

void dequantize_iq2_xxs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ2_XXS*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = b[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, q + 4, 4);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint64_t grid = kIq2xxsGrid[q[l]];
        const uint8_t signs = iq_signs8((aux >> (7 * l)) & 127u);
        for (int j = 0; j < 8; ++j)
          dst[j] = db * static_cast<float>((grid >> (8 * j)) & 0xFF) * ((signs >> j) & 1 ? -1.f : 1.f);
      }
    }
  }
}

void dequantize_iq3_xxs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ3_XXS*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int g = 0; g < 8; ++g) {
      const uint8_t* q = b[i].qs + 8 * g;
      uint32_t aux;
      std::memcpy(&aux, b[i].qs + 64 + 4 * g, 4);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint32_t g1 = kIq3xxsGrid[q[2 * l]], g2 = kIq3xxsGrid[q[2 * l + 1]];
        const uint8_t signs = iq_signs8((aux >> (7 * l)) & 127u);
        for (int j = 0; j < 4; ++j) {
          dst[j] = db * static_cast<float>((g1 >> (8 * j)) & 0xFF) * ((signs >> j) & 1 ? -1.f : 1.f);
          dst[j + 4] = db * static_cast<float>((g2 >> (8 * j)) & 0xFF) * ((signs >> (j + 4)) & 1 ? -1.f : 1.f);
        }
      }
    }
  }
}

void dequantize_iq1_s(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ1_S*>(src);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int g = 0; g < 8; ++g) {
      const uint16_t h = b[i].qh[g];
      const float dl = d * static_cast<float>(2 * ((h >> 12) & 7) + 1);
      const float delta = (h & 0x8000) ? -kIq1sDelta : kIq1sDelta;
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint64_t grid = kIq1sGrid[b[i].qs[4 * g + l] | (((h >> (3 * l)) & 7) << 8)];
        for (int j = 0; j < 8; ++j)
          dst[j] = dl * (static_cast<float>(static_cast<int8_t>((grid >> (8 * j)) & 0xFF)) + delta);
      }
    }
  }
}

}  // namespace latte::ref
