// deepseek4's Sequence: the V4Cache (raw ring, compressed rows, indexer keys, compressor state) and the V4 forward.
//
// Prefix reuse: the ring and the compressor state cannot be rewound, so the sequence keeps checkpoints (ring +
// state + row counts; rows are append-only) taken at the end of an eval when none lies within kCheckpointGap
// tokens, at most kMaxCheckpoints (oldest dropped, the empty state always available). truncate(n) restores the
// latest checkpoint at or before n and re-evaluates the tokens from there to n. Session files hold the full state.
#include <algorithm>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/cache/v4_cache.h"
#include "runtime/model/v4_forward.h"
#include "runtime/session/sequence.h"

namespace latte {
namespace {

constexpr int64_t kCheckpointGap = 256;  // tokens
constexpr size_t kMaxCheckpoints = 8;
constexpr int64_t kReplayBatch = 512;

class V4Sequence final : public Sequence {
 public:
  V4Sequence(const Model& m, int64_t n_ctx, CacheType type) : cache_(m.v4_hparams(), n_ctx, type), fs_(m) {}

  int64_t n_ctx() const override { return cache_.n_ctx(); }
  CacheType cache_type() const override { return cache_.type(); }

  void eval(Ops& ops, const int32_t* tokens, int64_t n, int64_t pos0, float* logits, bool all_rows) override {
    if (pos0 != pos_)
      throw ArgumentError("deepseek4 sequence: eval at position " + std::to_string(pos0) + " but the cache holds " +
                          std::to_string(pos_) + " tokens");
    v4_forward(fs_, ops, cache_, tokens, n, pos0, logits, all_rows);
    pos_ = pos0 + n;
    const int64_t last = checkpoints_.empty() ? 0 : checkpoints_.back().pos;
    if (pos_ - last >= kCheckpointGap) {
      if (checkpoints_.size() >= kMaxCheckpoints) checkpoints_.erase(checkpoints_.begin());
      checkpoints_.push_back(cache_.checkpoint(pos_));
    }
  }

  void truncate(Ops& ops, const std::vector<int32_t>& hist, int64_t n) override {
    if (n >= pos_) return;
    while (!checkpoints_.empty() && checkpoints_.back().pos > n) checkpoints_.pop_back();
    if (checkpoints_.empty()) {
      cache_.clear();
      pos_ = 0;
    } else {
      cache_.restore(checkpoints_.back());
      pos_ = checkpoints_.back().pos;
    }
    while (pos_ < n) {
      const int64_t m = std::min(kReplayBatch, n - pos_);
      v4_forward(fs_, ops, cache_, hist.data() + pos_, m, pos_, nullptr, false);
      pos_ += m;
    }
  }

  bool shiftable() const override { return false; }
  void shift(int64_t, int64_t, int64_t) override {
    throw UnsupportedError("deepseek4: the cache cannot be shifted (compressed rows pool blocks at absolute positions)");
  }

  bool save(FILE* f, int64_t n_past) const override { return n_past == pos_ && cache_.save(f); }
  bool load(FILE* f, int64_t n_past) override {
    checkpoints_.clear();
    if (!cache_.load(f)) {
      pos_ = 0;
      return false;
    }
    pos_ = n_past;
    return true;
  }
  uint64_t bytes_per_token() const override { return static_cast<uint64_t>(cache_.bytes_per_token() + 0.5); }
  uint64_t total_bytes() const override {
    uint64_t b = cache_.total_bytes();
    for (const auto& c : checkpoints_) b += c.bytes();
    return b;
  }
  uint64_t expert_evals() const override { return fs_.expert_evals; }

 private:
  V4Cache cache_;
  V4ForwardState fs_;
  int64_t pos_ = 0;
  std::vector<V4Checkpoint> checkpoints_;
};

}  // namespace

std::unique_ptr<Sequence> make_v4_sequence(const Model& m, int64_t n_ctx, CacheType type) {
  return std::make_unique<V4Sequence>(m, n_ctx, type);
}

}  // namespace latte
