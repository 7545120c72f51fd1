// deepseek2's Sequence: the latent KV cache (runtime/cache/latent_cache.h) and the MLA forward pass.
#include <vector>

#include "runtime/cache/latent_cache.h"
#include "runtime/model/forward.h"
#include "runtime/session/sequence.h"

namespace latte {
namespace {

class LatentSequence final : public Sequence {
 public:
  LatentSequence(const Model& m, int64_t n_ctx, CacheType type)
      : cache_(m.hparams().n_layer, n_ctx, m.hparams().kv_lora_rank, m.hparams().qk_rope, type), fs_(m) {}

  int64_t n_ctx() const override { return cache_.n_ctx(); }
  CacheType cache_type() const override { return cache_.type(); }
  void eval(Ops& ops, const int32_t* tokens, int64_t n, int64_t pos0, float* logits, bool all_rows) override {
    forward(fs_, ops, cache_, tokens, n, pos0, logits, all_rows);
  }
  // Rows are indexed by position: the first n stay valid as they are.
  void truncate(Ops&, const std::vector<int32_t>&, int64_t) override {}
  bool shiftable() const override { return true; }
  void shift(int64_t keep, int64_t discard, int64_t n_past) override {
    // Move the rows' bytes (c_kv is position-free and keeps its exact stored bytes), then rotate each moved k_pe by
    // -discard positions, from p to p - discard.
    const Hparams& hp = fs_.model.hparams();
    cache_.move_rows(keep, keep + discard, n_past - keep - discard);
    std::vector<float> kpe(static_cast<size_t>(hp.qk_rope)), cs(static_cast<size_t>(hp.qk_rope));
    fs_.rope.cos_sin(-discard, cs.data());
    for (int64_t il = 0; il < hp.n_layer; ++il) {
      for (int64_t p = keep; p < n_past - discard; ++p) {
        cache_.read_k_pe(il, p, kpe.data());
        fs_.rope.rotate(kpe.data(), cs.data());
        cache_.write_k_pe(il, p, kpe.data());
      }
    }
  }
  bool save(FILE* f, int64_t n_past) const override {
    bool ok = true;
    for (int64_t il = 0; ok && il < cache_.n_layer(); ++il)
      if (n_past > 0)
        ok = std::fwrite(cache_.raw(il, 0), cache_.row_bytes(), static_cast<size_t>(n_past), f) ==
             static_cast<size_t>(n_past);
    return ok;
  }
  bool load(FILE* f, int64_t n_past) override {
    bool ok = true;
    for (int64_t il = 0; ok && il < cache_.n_layer(); ++il)
      if (n_past > 0)
        ok = std::fread(cache_.raw(il, 0), cache_.row_bytes(), static_cast<size_t>(n_past), f) ==
             static_cast<size_t>(n_past);
    return ok;
  }
  uint64_t bytes_per_token() const override { return cache_.bytes_per_token(); }
  uint64_t total_bytes() const override { return cache_.total_bytes(); }
  uint64_t expert_evals() const override { return fs_.expert_evals; }

 private:
  LatentCache cache_;
  ForwardState fs_;
};

}  // namespace

std::unique_ptr<Sequence> make_latent_sequence(const Model& m, int64_t n_ctx, CacheType type) {
  return std::make_unique<LatentSequence>(m, n_ctx, type);
}

}  // namespace latte
