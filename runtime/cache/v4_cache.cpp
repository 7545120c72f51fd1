// deepseek4 cache (see v4_cache.h).
#include "runtime/cache/v4_cache.h"

#include <cstring>
#include <string>

#include "formats/error.h"
#include "quant/types.h"

namespace latte {
namespace {

// Encoding of the compressed rows / indexer keys, and of the raw ring.
DType row_type(CacheType t) {
  switch (t) {
    case CacheType::F32: return DType::F32;
    case CacheType::F16: return DType::F16;
    case CacheType::BF16: return DType::BF16;
    case CacheType::Q8_0: return DType::Q8_0;
    case CacheType::Q4_H: return DType::IQ4_NL;
  }
  throw ArgumentError("unknown cache type");
}
DType ring_type(CacheType t) { return t == CacheType::Q4_H ? DType::Q8_0 : row_type(t); }

size_t encoded(const TypeTraits& tt, int64_t n, const char* what) {
  if (n % tt.block_elems != 0)
    throw ArgumentError(std::string("cache type ") + tt.name + " cannot encode " + what + " rows of " +
                        std::to_string(n) + " values");
  return row_bytes(tt, n);
}

}  // namespace

int64_t v4_state_floats(const V4Hparams& hp, int64_t il) {
  const int64_t m = hp.ratio[static_cast<size_t>(il)];
  switch (hp.kind[static_cast<size_t>(il)]) {
    case V4LayerKind::Window: return 0;
    case V4LayerKind::Hca: return m * 2 * hp.head_dim;
    case V4LayerKind::Csa: return 2 * m * 2 * (2 * hp.head_dim) + 2 * m * 2 * (2 * hp.idx_dim);
  }
  return 0;
}

uint64_t V4Checkpoint::bytes() const {
  uint64_t b = 0;
  for (const auto& r : ring) b += r.size();
  for (const auto& s : state) b += s.size() * 4;
  return b;
}

V4Cache::V4Cache(const V4Hparams& hp, int64_t n_ctx, CacheType type)
    : tt_(&type_traits(row_type(type))), ring_(&type_traits(ring_type(type))), type_(type), n_ctx_(n_ctx), W_(hp.window), Dh_(hp.head_dim),
      Di_(hp.idx_dim) {
  if (n_ctx <= 0) throw ArgumentError("context size must be > 0");
  ring_bytes_ = encoded(*ring_, Dh_, "head");
  raw_bytes_ = encoded(*tt_, Dh_, "head");
  key_bytes_ = Di_ > 0 ? encoded(*tt_, Di_, "indexer key") : 0;
  layers_.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    Layer& L = layers_[static_cast<size_t>(il)];
    L.ratio = hp.ratio[static_cast<size_t>(il)];
    L.ring.assign(static_cast<size_t>(W_) * ring_bytes_, 0);
    if (L.ratio > 0) {
      L.cap = n_ctx / L.ratio;
      L.row_data.assign(static_cast<size_t>(L.cap) * raw_bytes_, 0);
      if (hp.kind[static_cast<size_t>(il)] == V4LayerKind::Csa)
        L.key_data.assign(static_cast<size_t>(L.cap) * key_bytes_, 0);
    }
    L.state.assign(static_cast<size_t>(v4_state_floats(hp, il)), 0.0f);
  }
}

void V4Cache::write_raw(int64_t il, int64_t pos, const float* kv) {
  Layer& L = layers_[static_cast<size_t>(il)];
  ring_->quantize_row(kv, L.ring.data() + static_cast<size_t>(pos % W_) * ring_bytes_, Dh_);
}

void V4Cache::read_raw(int64_t il, int64_t pos, float* dst) const {
  const Layer& L = layers_[static_cast<size_t>(il)];
  ring_->dequantize_row(L.ring.data() + static_cast<size_t>(pos % W_) * ring_bytes_, dst, Dh_);
}

void V4Cache::append_row(int64_t il, const float* row, const float* key) {
  Layer& L = layers_[static_cast<size_t>(il)];
  if (L.rows >= L.cap) throw ResourceError("deepseek4 cache: compressed rows of layer " + std::to_string(il) + " full");
  tt_->quantize_row(row, L.row_data.data() + static_cast<size_t>(L.rows) * raw_bytes_, Dh_);
  if (key && !L.key_data.empty())
    tt_->quantize_row(key, L.key_data.data() + static_cast<size_t>(L.rows) * key_bytes_, Di_);
  ++L.rows;
}

void V4Cache::read_row(int64_t il, int64_t j, float* dst) const {
  const Layer& L = layers_[static_cast<size_t>(il)];
  tt_->dequantize_row(L.row_data.data() + static_cast<size_t>(j) * raw_bytes_, dst, Dh_);
}

void V4Cache::read_key(int64_t il, int64_t j, float* dst) const {
  const Layer& L = layers_[static_cast<size_t>(il)];
  tt_->dequantize_row(L.key_data.data() + static_cast<size_t>(j) * key_bytes_, dst, Di_);
}

void V4Cache::clear() {
  for (Layer& L : layers_) {
    L.rows = 0;
    std::fill(L.state.begin(), L.state.end(), 0.0f);
  }
}

V4Checkpoint V4Cache::checkpoint(int64_t pos) const {
  V4Checkpoint c;
  c.pos = pos;
  for (const Layer& L : layers_) {
    c.ring.push_back(L.ring);
    c.state.push_back(L.state);
    c.rows.push_back(L.rows);
  }
  return c;
}

void V4Cache::restore(const V4Checkpoint& c) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].ring = c.ring[i];
    layers_[i].state = c.state[i];
    layers_[i].rows = c.rows[i];
  }
}

double V4Cache::bytes_per_token(const V4Hparams& hp, CacheType t) {
  const TypeTraits& tt = type_traits(row_type(t));
  double b = 0;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const int64_t m = hp.ratio[static_cast<size_t>(il)];
    if (m == 0) continue;
    double row = static_cast<double>(row_bytes(tt, hp.head_dim));
    if (hp.kind[static_cast<size_t>(il)] == V4LayerKind::Csa) row += static_cast<double>(row_bytes(tt, hp.idx_dim));
    b += row / static_cast<double>(m);
  }
  return b;
}

uint64_t V4Cache::fixed_bytes(const V4Hparams& hp, CacheType t) {
  const TypeTraits& tt = type_traits(ring_type(t));
  uint64_t b = 0;
  for (int64_t il = 0; il < hp.n_layer; ++il)
    b += static_cast<uint64_t>(hp.window) * row_bytes(tt, hp.head_dim) +
         static_cast<uint64_t>(v4_state_floats(hp, il)) * 4;
  return b;
}

double V4Cache::bytes_per_token() const {
  double b = 0;
  for (const Layer& L : layers_)
    if (L.ratio > 0) b += static_cast<double>(raw_bytes_ + (L.key_data.empty() ? 0 : key_bytes_)) / L.ratio;
  return b;
}

uint64_t V4Cache::fixed_bytes() const {
  uint64_t b = 0;
  for (const Layer& L : layers_) b += L.ring.size() + L.state.size() * 4;
  return b;
}

uint64_t V4Cache::total_bytes() const {
  uint64_t b = 0;
  for (const Layer& L : layers_) b += L.ring.size() + L.state.size() * 4 + L.row_data.size() + L.key_data.size();
  return b;
}

bool V4Cache::save(FILE* f) const {
  bool ok = true;
  for (const Layer& L : layers_) {
    ok = ok && std::fwrite(&L.rows, sizeof L.rows, 1, f) == 1;
    ok = ok && std::fwrite(L.ring.data(), 1, L.ring.size(), f) == L.ring.size();
    ok = ok && (L.state.empty() || std::fwrite(L.state.data(), 4, L.state.size(), f) == L.state.size());
    const size_t rb = static_cast<size_t>(L.rows) * raw_bytes_, kb = L.key_data.empty() ? 0 : L.rows * key_bytes_;
    ok = ok && (rb == 0 || std::fwrite(L.row_data.data(), 1, rb, f) == rb);
    ok = ok && (kb == 0 || std::fwrite(L.key_data.data(), 1, kb, f) == kb);
  }
  return ok;
}

bool V4Cache::load(FILE* f) {
  bool ok = true;
  for (Layer& L : layers_) {
    int64_t rows = 0;
    ok = ok && std::fread(&rows, sizeof rows, 1, f) == 1 && rows >= 0 && rows <= L.cap;
    if (!ok) break;
    L.rows = rows;
    ok = ok && std::fread(L.ring.data(), 1, L.ring.size(), f) == L.ring.size();
    ok = ok && (L.state.empty() || std::fread(L.state.data(), 4, L.state.size(), f) == L.state.size());
    const size_t rb = static_cast<size_t>(L.rows) * raw_bytes_, kb = L.key_data.empty() ? 0 : L.rows * key_bytes_;
    ok = ok && (rb == 0 || std::fread(L.row_data.data(), 1, rb, f) == rb);
    ok = ok && (kb == 0 || std::fread(L.key_data.data(), 1, kb, f) == kb);
  }
  if (!ok) clear();
  return ok;
}

}  // namespace latte
