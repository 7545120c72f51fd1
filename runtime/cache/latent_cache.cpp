// Latent KV cache storage and conversions (see latent_cache.h).
#include "runtime/cache/latent_cache.h"

#include <cmath>
#include <cstring>
#include <vector>
#include <string>

#include "quant/float16.h"
#include "quant/types.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"

namespace latte {

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
    : n_layer_(n_layer), n_ctx_(n_ctx), nkv_(nkv), rope_(rope), type_(type), codec_(type, nkv, rope),
      row_bytes_(codec_.row_bytes()) {
  data_.resize(static_cast<size_t>(n_layer));
  for (auto& d : data_) d.assign(static_cast<size_t>(n_ctx) * row_bytes_, 0);
}

void LatentCache::write(int64_t layer, int64_t pos, const float* c_kv, const float* k_pe) {
  codec_.encode(c_kv, k_pe, raw(layer, pos));
}

void LatentCache::read(int64_t layer, int64_t pos, float* dst) const { codec_.decode(raw(layer, pos), dst); }

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

void LatentCache::read_k_pe(int64_t layer, int64_t pos, float* k_pe) const { codec_.decode_kpe(raw(layer, pos), k_pe); }

void LatentCache::write_k_pe(int64_t layer, int64_t pos, const float* k_pe) { codec_.encode_kpe(k_pe, raw(layer, pos)); }

void LatentCache::move_rows(int64_t dst, int64_t src, int64_t n) {
  if (n <= 0 || dst == src) return;
  for (auto& d : data_) std::memmove(d.data() + offset(dst), d.data() + offset(src), static_cast<size_t>(n) * row_bytes_);
}

}  // namespace latte
