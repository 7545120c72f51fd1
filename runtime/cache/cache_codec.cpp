// Latent-cache row codecs and direct attention over encoded rows (see cache_codec.h).
#include "runtime/cache/cache_codec.h"

#include "quant/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "quant/float16.h"
#include "quant/hadamard.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "quant/isa/cache_codec_x86.h"
#define LATTE_CC_X86 1
#else
#define LATTE_CC_X86 0
#endif

namespace latte {
namespace {

constexpr int64_t G = CacheCodec::kGroup;
constexpr size_t kQ8Block = 34;  // f16 d + 32 int8
constexpr size_t kQ4Block = 18;  // f16 d + 16 bytes of nibbles

bool cpu_avx2() { return isa_supported(Isa::Avx2); }  // one CPU-feature check for the whole library

uint16_t load_u16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}
void store_u16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

// ---- block encoders (scalar: one row per token per layer, not on the hot path) ----

void encode_q8_block(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int64_t k = 0; k < G; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float d = amax / 127.0f;
  const uint16_t dh = f32_to_fp16(d);
  store_u16(out, dh);
  const float dr = fp16_to_f32(dh);
  const float inv = dr > 0.0f ? 1.0f / dr : 0.0f;
  auto* q = reinterpret_cast<int8_t*>(out + 2);
  for (int64_t k = 0; k < G; ++k) {
    const float v = std::nearbyint(x[k] * inv);
    q[k] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
  }
}

// Squared error of quantizing x with step d to levels -8..7.
float q4_error(const float* x, float d) {
  if (d == 0.0f) {
    float e = 0.0f;
    for (int64_t k = 0; k < G; ++k) e += x[k] * x[k];
    return e;
  }
  const float inv = 1.0f / d;
  float e = 0.0f;
  for (int64_t k = 0; k < G; ++k) {
    const float q = std::clamp(std::nearbyint(x[k] * inv), -8.0f, 7.0f);
    const float r = x[k] - d * q;
    e += r * r;
  }
  return e;
}

// 4-bit block: value = d*(nib-8); d searched over a small grid around the absmax scale (both signs, since the
// levels -8..7 are asymmetric), then refined by least squares; errors measured with d rounded to f16.
void encode_q4_block(const float* x, uint8_t* out) {
  float vmax = 0.0f;
  for (int64_t k = 0; k < G; ++k)
    if (std::fabs(x[k]) > std::fabs(vmax)) vmax = x[k];
  float best_d = 0.0f, best_e = q4_error(x, 0.0f);
  if (vmax != 0.0f) {
    auto consider = [&](float d) {
      d = fp16_to_f32(f32_to_fp16(d));
      const float e = q4_error(x, d);
      if (e < best_e) {
        best_e = e;
        best_d = d;
      }
    };
    for (int s = 0; s <= 16; ++s) {
      consider(-vmax / (8.0f - 0.125f * static_cast<float>(s)));  // extreme value near level -8
      consider(vmax / (7.0f - 0.125f * static_cast<float>(s)));   // extreme value near level +7
    }
    // Least-squares refinement of d for the chosen levels.
    const float inv = 1.0f / best_d;
    float sxq = 0.0f, sqq = 0.0f;
    for (int64_t k = 0; k < G; ++k) {
      const float q = std::clamp(std::nearbyint(x[k] * inv), -8.0f, 7.0f);
      sxq += x[k] * q;
      sqq += q * q;
    }
    if (sqq > 0.0f) consider(sxq / sqq);
  }
  const uint16_t dh = f32_to_fp16(best_d);
  store_u16(out, dh);
  const float d = fp16_to_f32(dh);
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  uint8_t nib[32];
  for (int64_t k = 0; k < G; ++k)
    nib[k] = static_cast<uint8_t>(std::clamp(std::nearbyint(x[k] * inv), -8.0f, 7.0f) + 8.0f);
  for (int64_t j = 0; j < 16; ++j) out[2 + j] = static_cast<uint8_t>(nib[j] | (nib[j + 16] << 4));
}

// ---- scalar decoders ----

void decode_q8_scalar(const uint8_t* b, int64_t nb, float* dst) {
  for (int64_t i = 0; i < nb; ++i, b += kQ8Block, dst += G) {
    const float d = fp16_to_f32(load_u16(b));
    const auto* q = reinterpret_cast<const int8_t*>(b + 2);
    for (int64_t k = 0; k < G; ++k) dst[k] = d * static_cast<float>(q[k]);
  }
}

void decode_q4_scalar(const uint8_t* b, int64_t nb, float* dst) {
  for (int64_t i = 0; i < nb; ++i, b += kQ4Block, dst += G) {
    const float d = fp16_to_f32(load_u16(b));
    for (int64_t j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>(static_cast<int>(b[2 + j] & 0x0F) - 8);
      dst[j + 16] = d * static_cast<float>(static_cast<int>(b[2 + j] >> 4) - 8);
    }
  }
}

void dot_multi_scalar(const float* row, int64_t n, const float* q, int64_t qstride, int64_t nq, float* out) {
  for (int64_t i = 0; i < nq; ++i) {
    const float* qi = q + i * qstride;
    float s = 0.0f;
    for (int64_t k = 0; k < n; ++k) s += row[k] * qi[k];
    out[i] = s;
  }
}

void axpy_multi_scalar(const float* x, int64_t n, const float* coef, int64_t coef_stride, int64_t nq, float* acc,
                       int64_t acc_stride) {
  for (int64_t i = 0; i < nq; ++i) {
    const float c = coef[i * coef_stride];
    if (c == 0.0f) continue;
    float* y = acc + i * acc_stride;
    for (int64_t k = 0; k < n; ++k) y[k] += c * x[k];
  }
}

}  // namespace

CacheCodec::CacheCodec(CacheType type, int64_t nkv, int64_t rope, bool simd)
    : type_(type), nkv_(nkv), rope_(rope), hblock_(1), simd_(simd && cpu_avx2()) {
  if (nkv <= 0 || rope < 0) throw ArgumentError("latent cache: bad shape (kv_lora_rank " + std::to_string(nkv) + ")");
  const bool blocked = nkv % G == 0;
  group_size_ = blocked ? G : nkv;
  n_groups_ = nkv / group_size_;
  const auto W = static_cast<size_t>(nkv + rope);
  switch (type) {
    case CacheType::F32: ckv_bytes_ = static_cast<size_t>(nkv) * 4; row_bytes_ = W * 4; break;
    case CacheType::F16:
    case CacheType::BF16: ckv_bytes_ = static_cast<size_t>(nkv) * 2; row_bytes_ = W * 2; break;
    case CacheType::Q8_0:
      if (!blocked)
        throw ArgumentError("cache type q8_0 needs kv_lora_rank % 32 == 0 (got " + std::to_string(nkv) + ")");
      hblock_ = hadamard_block(nkv);
      ckv_bytes_ = static_cast<size_t>(nkv / G) * kQ8Block;
      row_bytes_ = ckv_bytes_ + static_cast<size_t>(rope) * 2;
      break;
    case CacheType::Q4_H:
      if (!blocked)
        throw ArgumentError("cache type q4_h needs kv_lora_rank % 32 == 0 (got " + std::to_string(nkv) + ")");
      hblock_ = hadamard_block(nkv);
      ckv_bytes_ = static_cast<size_t>(nkv / G) * kQ4Block;
      row_bytes_ = ckv_bytes_ + 2 + static_cast<size_t>(rope);
      break;
    default: throw ArgumentError(std::string("cache type ") + cache_type_name(type) + " is not supported");
  }
}

void CacheCodec::rotate(float* v) const {
  if (rotated()) hadamard_blocks(v, nkv_, hblock_);
}

void CacheCodec::encode(const float* c_kv, const float* k_pe, uint8_t* dst) const {
  switch (type_) {
    case CacheType::F32: std::memcpy(dst, c_kv, static_cast<size_t>(nkv_) * 4); break;
    case CacheType::F16:
    case CacheType::BF16: {
      const bool f16 = type_ == CacheType::F16;
      for (int64_t i = 0; i < nkv_; ++i) store_u16(dst + 2 * i, f16 ? f32_to_fp16(c_kv[i]) : f32_to_bf16(c_kv[i]));
      break;
    }
    case CacheType::Q8_0: {
      std::vector<float> t(c_kv, c_kv + nkv_);
      hadamard_blocks(t.data(), nkv_, hblock_);
      for (int64_t b = 0; b < nkv_ / G; ++b) encode_q8_block(t.data() + b * G, dst + b * kQ8Block);
      break;
    }
    case CacheType::Q4_H: {
      std::vector<float> t(c_kv, c_kv + nkv_);
      hadamard_blocks(t.data(), nkv_, hblock_);
      for (int64_t b = 0; b < nkv_ / G; ++b) encode_q4_block(t.data() + b * G, dst + b * kQ4Block);
      break;
    }
    default: break;
  }
  encode_kpe(k_pe, dst);
}

void CacheCodec::encode_kpe(const float* k_pe, uint8_t* row) const {
  uint8_t* dst = row + ckv_bytes_;
  switch (type_) {
    case CacheType::F32: std::memcpy(dst, k_pe, static_cast<size_t>(rope_) * 4); break;
    case CacheType::F16:
    case CacheType::Q8_0:
      for (int64_t i = 0; i < rope_; ++i) store_u16(dst + 2 * i, f32_to_fp16(k_pe[i]));
      break;
    case CacheType::BF16:
      for (int64_t i = 0; i < rope_; ++i) store_u16(dst + 2 * i, f32_to_bf16(k_pe[i]));
      break;
    case CacheType::Q4_H: {  // int8 with one f16 scale per row
      float amax = 0.0f;
      for (int64_t i = 0; i < rope_; ++i) amax = std::max(amax, std::fabs(k_pe[i]));
      const uint16_t dh = f32_to_fp16(amax / 127.0f);
      const float d = fp16_to_f32(dh);
      const float inv = d > 0.0f ? 1.0f / d : 0.0f;
      store_u16(dst, dh);
      auto* q = reinterpret_cast<int8_t*>(dst + 2);
      for (int64_t i = 0; i < rope_; ++i)
        q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(k_pe[i] * inv), -127.0f, 127.0f));
      break;
    }
    default: break;
  }
}

void CacheCodec::decode_ckv(const uint8_t* src, int64_t g0, int64_t g1, float* dst) const {
  const int64_t n = (g1 - g0) * group_size_;
  switch (type_) {
    case CacheType::F32: std::memcpy(dst, src + g0 * group_size_ * 4, static_cast<size_t>(n) * 4); break;
    case CacheType::F16: {
      const uint8_t* p = src + g0 * group_size_ * 2;
#if LATTE_CC_X86
      if (simd_) { cc_avx2::decode_f16(reinterpret_cast<const uint16_t*>(p), n, dst); break; }
#endif
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(load_u16(p + 2 * i));
      break;
    }
    case CacheType::BF16: {
      const uint8_t* p = src + g0 * group_size_ * 2;
#if LATTE_CC_X86
      if (simd_) { cc_avx2::decode_bf16(reinterpret_cast<const uint16_t*>(p), n, dst); break; }
#endif
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(p + 2 * i));
      break;
    }
    case CacheType::Q8_0: {
      const uint8_t* p = src + static_cast<size_t>(g0) * kQ8Block;
#if LATTE_CC_X86
      if (simd_) { cc_avx2::decode_q8(p, g1 - g0, dst); break; }
#endif
      decode_q8_scalar(p, g1 - g0, dst);
      break;
    }
    case CacheType::Q4_H: {
      const uint8_t* p = src + static_cast<size_t>(g0) * kQ4Block;
#if LATTE_CC_X86
      if (simd_) { cc_avx2::decode_q4(p, g1 - g0, dst); break; }
#endif
      decode_q4_scalar(p, g1 - g0, dst);
      break;
    }
    default: break;
  }
}

void CacheCodec::decode_kpe(const uint8_t* src, float* dst) const {
  const uint8_t* p = src + ckv_bytes_;
  switch (type_) {
    case CacheType::F32: std::memcpy(dst, p, static_cast<size_t>(rope_) * 4); break;
    case CacheType::F16:
    case CacheType::Q8_0:
      for (int64_t i = 0; i < rope_; ++i) dst[i] = fp16_to_f32(load_u16(p + 2 * i));
      break;
    case CacheType::BF16:
      for (int64_t i = 0; i < rope_; ++i) dst[i] = bf16_to_f32(load_u16(p + 2 * i));
      break;
    case CacheType::Q4_H: {
      const float d = fp16_to_f32(load_u16(p));
      const auto* q = reinterpret_cast<const int8_t*>(p + 2);
      for (int64_t i = 0; i < rope_; ++i) dst[i] = d * static_cast<float>(q[i]);
      break;
    }
    default: break;
  }
}

void CacheCodec::decode(const uint8_t* src, float* dst) const {
  decode_ckv(src, 0, n_groups_, dst);
  rotate(dst);
  decode_kpe(src, dst + nkv_);
}

// ---- attention ----

namespace {

struct Kernels {
  void (*dot_multi)(const float*, int64_t, const float*, int64_t, int64_t, float*);
  void (*axpy_multi)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);
};

Kernels pick_kernels(bool simd) {
#if LATTE_CC_X86
  if (simd) return {cc_avx2::dot_multi, cc_avx2::axpy_multi};
#endif
  (void)simd;
  return {dot_multi_scalar, axpy_multi_scalar};
}

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

void cache_attention(const CacheCodec& c, const uint8_t* rows, const float* qcat, const int64_t* limit, int64_t nq,
                     float scale, float* olat, CacheAttnScratch& s, const ThreadPool* pool) {
  const int64_t Nkv = c.nkv(), W = c.width(), NG = c.n_groups(), GS = c.group_size();
  const size_t rb = c.row_bytes();
  const bool direct = c.type() == CacheType::F32;  // rows usable in place
  const Kernels k = pick_kernels(c.simd());
  const int nth = pool ? pool->size() : 1;
  constexpr int64_t kTile = 64;  // queries per pass: bounds the score buffer at kTile * n_rows floats

  for (int64_t i0 = 0; i0 < nq; i0 += kTile) {
    const int64_t nt = std::min(kTile, nq - i0);
    const int64_t* lim = limit + i0;
    const int64_t mx = lim[nt - 1];
    // Queries in the stored domain.
    float* q = grow(s.q, static_cast<size_t>(nt * W));
    std::memcpy(q, qcat + i0 * W, static_cast<size_t>(nt * W) * 4);
    if (c.rotated())
      for (int64_t i = 0; i < nt; ++i) c.rotate(q + i * W);
    float* sc = grow(s.scores, static_cast<size_t>(nt * mx));
    // Per-thread row buffer + dot results, padded apart by a cache line.
    const size_t rstride = static_cast<size_t>((W + nt + 15) / 16 * 16 + 16);
    float* rowbuf = grow(s.rows, static_cast<size_t>(nth) * rstride);

    // Scores: each row decoded once, dotted with every query that sees it.
    auto score_rows = [&](int64_t a, int64_t b, int th) {
      float* buf = rowbuf + static_cast<size_t>(th) * rstride;
      float* tmp = buf + W;
      int64_t qa = std::upper_bound(lim, lim + nt, a) - lim;  // first query with limit > a... recomputed below
      for (int64_t j = a; j < b; ++j) {
        while (qa > 0 && lim[qa - 1] > j) --qa;
        while (qa < nt && lim[qa] <= j) ++qa;
        if (qa >= nt) break;
        const uint8_t* src = rows + static_cast<size_t>(j) * rb;
        const float* r;
        if (direct) {
          r = reinterpret_cast<const float*>(src);
        } else {
          c.decode_ckv(src, 0, NG, buf);
          c.decode_kpe(src, buf + Nkv);
          r = buf;
        }
        k.dot_multi(r, W, q + qa * W, W, nt - qa, tmp);
        for (int64_t i = qa; i < nt; ++i) sc[i * mx + j] = scale * tmp[i - qa];
      }
    };
    if (pool && nt * mx * W >= 65536) pool->parallel_for(mx, score_rows, 16);
    else score_rows(0, mx, 0);

    // Softmax per query over its visible rows; invisible rows get weight 0.
    auto softmax_q = [&](int64_t a, int64_t b, int) {
      for (int64_t i = a; i < b; ++i) {
        float* p = sc + i * mx;
        const int64_t m = lim[i];
        float vmax = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < m; ++j) vmax = std::max(vmax, p[j]);
        double sum = 0.0;
        for (int64_t j = 0; j < m; ++j) {
          p[j] = std::exp(p[j] - vmax);
          sum += p[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < m; ++j) p[j] *= inv;
        for (int64_t j = m; j < mx; ++j) p[j] = 0.0f;
      }
    };
    if (pool && nt * mx >= 16384) pool->parallel_for(nt, softmax_q);
    else softmax_q(0, nt, 0);

    // Weighted sum in the stored domain, split over c_kv groups (no reduction needed). Each thread accumulates
    // into its own buffer [nt][len] (no false sharing on the shared output), copied out at the end.
    float* acc = grow(s.acc, static_cast<size_t>(nt * Nkv));
    const size_t pstride = static_cast<size_t>((nt * Nkv + 15) / 16 * 16 + 16);
    float* priv_all = grow(s.priv, static_cast<size_t>(nth) * pstride);
    auto accumulate = [&](int64_t g0, int64_t g1, int th) {
      const int64_t c0 = g0 * GS, len = (g1 - g0) * GS;
      float* priv = priv_all + static_cast<size_t>(th) * pstride;
      std::fill(priv, priv + nt * len, 0.0f);
      float* buf = rowbuf + static_cast<size_t>(th) * rstride;
      int64_t qa = 0;
      for (int64_t j = 0; j < mx; ++j) {
        while (qa < nt && lim[qa] <= j) ++qa;
        const uint8_t* src = rows + static_cast<size_t>(j) * rb;
        const float* x;
        if (direct) {
          x = reinterpret_cast<const float*>(src) + c0;
        } else {
          c.decode_ckv(src, g0, g1, buf);
          x = buf;
        }
        k.axpy_multi(x, len, sc + qa * mx + j, mx, nt - qa, priv + qa * len, len);
      }
      for (int64_t i = 0; i < nt; ++i)
        std::memcpy(acc + i * Nkv + c0, priv + i * len, static_cast<size_t>(len) * 4);
    };
    if (pool && nt * mx * Nkv >= 65536) pool->parallel_for(NG, accumulate);
    else accumulate(0, NG, 0);

    for (int64_t i = 0; i < nt; ++i) {
      float* o = olat + (i0 + i) * Nkv;
      std::memcpy(o, acc + i * Nkv, static_cast<size_t>(Nkv) * 4);
      c.rotate(o);
    }
  }
}

}  // namespace latte
