// Latent KV cache storage and conversions (see latent_cache.h).
#include "runtime/latent_cache.h"

#include <cmath>
#include <cstring>
#include <vector>
#include <string>

#include "quant/float16.h"
#include "quant/types.h"
#include "runtime/error.h"
#include "runtime/threads.h"

namespace latte {
namespace {

// In-place orthonormal fast Walsh-Hadamard transform of n (a power of two) values; its own inverse.
void hadamard(float* x, int64_t n) {
  for (int64_t len = 1; len < n; len <<= 1)
    for (int64_t i = 0; i < n; i += 2 * len)
      for (int64_t j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
  const float s = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace

const char* cache_type_name(CacheType t) {
  switch (t) {
    case CacheType::F32: return "f32";
    case CacheType::F16: return "f16";
    case CacheType::BF16: return "bf16";
    case CacheType::Q8_0: return "q8_0";
    case CacheType::Q4_H: return "q4_h";
  }
  return "?";
}

bool parse_cache_type(const std::string& s, CacheType& out) {
  for (CacheType t : {CacheType::F32, CacheType::F16, CacheType::BF16, CacheType::Q8_0, CacheType::Q4_H}) {
    if (s == cache_type_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

LatentCache::LatentCache(int64_t n_layer, int64_t n_ctx, int64_t nkv, int64_t rope, CacheType type)
    : n_layer_(n_layer), n_ctx_(n_ctx), nkv_(nkv), rope_(rope), type_(type) {
  const int64_t w = nkv + rope;
  switch (type) {
    case CacheType::F32: row_bytes_ = static_cast<size_t>(w) * 4; break;
    case CacheType::F16:
    case CacheType::BF16: row_bytes_ = static_cast<size_t>(w) * 2; break;
    case CacheType::Q8_0:
      if (nkv % 32 != 0)
        throw ArgumentError("cache type q8_0 needs kv_lora_rank % 32 == 0 (got " + std::to_string(nkv) + ")");
      row_bytes_ = latte::row_bytes(DType::Q8_0, nkv) + static_cast<size_t>(rope) * 2;
      break;
    case CacheType::Q4_H:
      if (nkv < 32 || (nkv & (nkv - 1)) != 0)
        throw ArgumentError("cache type q4_h needs kv_lora_rank a power of two >= 32 (got " + std::to_string(nkv) + ")");
      row_bytes_ = latte::row_bytes(DType::Q4_0, nkv) + static_cast<size_t>(rope) * 2;
      break;
    default: throw ArgumentError(std::string("cache type ") + cache_type_name(type) + " is not supported");
  }
  data_.resize(static_cast<size_t>(n_layer));
  for (auto& d : data_) d.assign(static_cast<size_t>(n_ctx) * row_bytes_, 0);
}

void LatentCache::write(int64_t layer, int64_t pos, const float* c_kv, const float* k_pe) {
  uint8_t* dst = raw(layer, pos);
  switch (type_) {
    case CacheType::F32:
      std::memcpy(dst, c_kv, static_cast<size_t>(nkv_) * 4);
      std::memcpy(dst + nkv_ * 4, k_pe, static_cast<size_t>(rope_) * 4);
      break;
    case CacheType::F16:
    case CacheType::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(dst);
      const bool f16 = type_ == CacheType::F16;
      for (int64_t i = 0; i < nkv_; ++i) h[i] = f16 ? f32_to_fp16(c_kv[i]) : f32_to_bf16(c_kv[i]);
      for (int64_t i = 0; i < rope_; ++i) h[nkv_ + i] = f16 ? f32_to_fp16(k_pe[i]) : f32_to_bf16(k_pe[i]);
      break;
    }
    case CacheType::Q8_0: {
      const size_t cb = latte::row_bytes(DType::Q8_0, nkv_);
      type_traits(DType::Q8_0).quantize_row(c_kv, dst, nkv_);
      auto* h = reinterpret_cast<uint16_t*>(dst + cb);
      for (int64_t i = 0; i < rope_; ++i) h[i] = f32_to_fp16(k_pe[i]);
      break;
    }
    case CacheType::Q4_H: {
      const size_t cb = latte::row_bytes(DType::Q4_0, nkv_);
      std::vector<float> tmp(c_kv, c_kv + nkv_);
      hadamard(tmp.data(), nkv_);
      type_traits(DType::Q4_0).quantize_row(tmp.data(), dst, nkv_);
      auto* h = reinterpret_cast<uint16_t*>(dst + cb);
      for (int64_t i = 0; i < rope_; ++i) h[i] = f32_to_fp16(k_pe[i]);
      break;
    }
    default: break;
  }
}

void LatentCache::read(int64_t layer, int64_t pos, float* dst) const {
  const uint8_t* src = raw(layer, pos);
  const int64_t w = width();
  switch (type_) {
    case CacheType::F32: std::memcpy(dst, src, static_cast<size_t>(w) * 4); break;
    case CacheType::F16: {
      const auto* h = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < w; ++i) dst[i] = fp16_to_f32(h[i]);
      break;
    }
    case CacheType::BF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < w; ++i) dst[i] = bf16_to_f32(h[i]);
      break;
    }
    case CacheType::Q8_0: {
      const size_t cb = latte::row_bytes(DType::Q8_0, nkv_);
      type_traits(DType::Q8_0).dequantize_row(src, dst, nkv_);
      const auto* h = reinterpret_cast<const uint16_t*>(src + cb);
      for (int64_t i = 0; i < rope_; ++i) dst[nkv_ + i] = fp16_to_f32(h[i]);
      break;
    }
    case CacheType::Q4_H: {
      const size_t cb = latte::row_bytes(DType::Q4_0, nkv_);
      type_traits(DType::Q4_0).dequantize_row(src, dst, nkv_);
      hadamard(dst, nkv_);
      const auto* h = reinterpret_cast<const uint16_t*>(src + cb);
      for (int64_t i = 0; i < rope_; ++i) dst[nkv_ + i] = fp16_to_f32(h[i]);
      break;
    }
    default: break;
  }
}

const float* LatentCache::rows_f32(int64_t layer, int64_t n, std::vector<float>& scratch,
                                   const ThreadPool* pool) const {
  if (type_ == CacheType::F32) return reinterpret_cast<const float*>(raw(layer, 0));
  const int64_t w = width();
  if (scratch.size() < static_cast<size_t>(n * w)) scratch.resize(static_cast<size_t>(n * w));
  float* out = scratch.data();
  auto body = [&](int64_t a, int64_t b, int) {
    for (int64_t p = a; p < b; ++p) read(layer, p, out + p * w);
  };
  if (pool && n >= 256) pool->parallel_for(n, body, 64);
  else body(0, n, 0);
  return out;
}

// k_pe storage: F32 rows keep it as f32 after c_kv, F16/BF16 rows in their type, Q8_0/Q4_H rows as f16 after
// the quantized c_kv blocks.
void LatentCache::read_k_pe(int64_t layer, int64_t pos, float* k_pe) const {
  const uint8_t* row = raw(layer, pos);
  switch (type_) {
    case CacheType::F32: std::memcpy(k_pe, row + nkv_ * 4, static_cast<size_t>(rope_) * 4); return;
    case CacheType::BF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(row) + nkv_;
      for (int64_t i = 0; i < rope_; ++i) k_pe[i] = bf16_to_f32(h[i]);
      return;
    }
    default: {
      const size_t off = type_ == CacheType::F16 ? static_cast<size_t>(nkv_) * 2 : row_bytes_ - static_cast<size_t>(rope_) * 2;
      const auto* h = reinterpret_cast<const uint16_t*>(row + off);
      for (int64_t i = 0; i < rope_; ++i) k_pe[i] = fp16_to_f32(h[i]);
      return;
    }
  }
}

void LatentCache::write_k_pe(int64_t layer, int64_t pos, const float* k_pe) {
  uint8_t* row = raw(layer, pos);
  switch (type_) {
    case CacheType::F32: std::memcpy(row + nkv_ * 4, k_pe, static_cast<size_t>(rope_) * 4); return;
    case CacheType::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(row) + nkv_;
      for (int64_t i = 0; i < rope_; ++i) h[i] = f32_to_bf16(k_pe[i]);
      return;
    }
    default: {
      const size_t off = type_ == CacheType::F16 ? static_cast<size_t>(nkv_) * 2 : row_bytes_ - static_cast<size_t>(rope_) * 2;
      auto* h = reinterpret_cast<uint16_t*>(row + off);
      for (int64_t i = 0; i < rope_; ++i) h[i] = f32_to_fp16(k_pe[i]);
      return;
    }
  }
}

void LatentCache::move_rows(int64_t dst, int64_t src, int64_t n) {
  if (n <= 0 || dst == src) return;
  for (auto& d : data_) std::memmove(d.data() + offset(dst), d.data() + offset(src), static_cast<size_t>(n) * row_bytes_);
}

}  // namespace latte
