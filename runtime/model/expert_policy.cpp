// Expert-cache replacement policies (see expert_policy.h).
#include "runtime/model/expert_policy.h"

#include <cmath>

#include "formats/error.h"

namespace latte {
namespace {

class Lru final : public ReplacementPolicy {
 public:
  explicit Lru(int64_t n) : last_(static_cast<size_t>(n), -1) {}
  const char* name() const override { return "lru"; }
  void advance(int64_t n) override { now_ += n; }
  void touch(int32_t key, double) override { last_[static_cast<size_t>(key)] = ++seq_; }
  int32_t victim(const int32_t* c, int64_t n) const override {
    int32_t best = c[0];
    for (int64_t i = 1; i < n; ++i)
      if (last_[static_cast<size_t>(c[i])] < last_[static_cast<size_t>(best)]) best = c[i];
    return best;
  }

 private:
  std::vector<int64_t> last_;  // per key: sequence number of its last use (-1 = never)
  int64_t now_ = 0, seq_ = 0;
};

class DecayedLfu final : public ReplacementPolicy {
 public:
  DecayedLfu(int64_t n, double half_life)
      : score_(static_cast<size_t>(n), 0.0), at_(static_cast<size_t>(n), 0), last_(static_cast<size_t>(n), -1),
        ln_decay_(std::log(0.5) / half_life) {}
  const char* name() const override { return "lfu"; }
  void advance(int64_t n) override { now_ += n; }
  void touch(int32_t key, double w) override {
    const size_t k = static_cast<size_t>(key);
    score_[k] = score_at(k) + w;
    at_[k] = now_;
    last_[k] = ++seq_;
  }
  int32_t victim(const int32_t* c, int64_t n) const override {
    int32_t best = c[0];
    double bs = score_at(static_cast<size_t>(best));
    for (int64_t i = 1; i < n; ++i) {
      const size_t k = static_cast<size_t>(c[i]);
      const double s = score_at(k);
      if (s < bs || (s == bs && last_[k] < last_[static_cast<size_t>(best)])) {
        best = c[i];
        bs = s;
      }
    }
    return best;
  }

 private:
  // Score decayed to the current time: score · decay^(now − at).
  double score_at(size_t k) const { return score_[k] * std::exp(ln_decay_ * static_cast<double>(now_ - at_[k])); }
  std::vector<double> score_;
  std::vector<int64_t> at_, last_;
  double ln_decay_;
  int64_t now_ = 0, seq_ = 0;
};

}  // namespace

std::unique_ptr<ReplacementPolicy> make_policy(const std::string& name, int64_t n_keys, double half_life) {
  if (name == "lru") return std::make_unique<Lru>(n_keys);
  if (name == "lfu" || name.empty()) return std::make_unique<DecayedLfu>(n_keys, half_life > 0 ? half_life : kDefaultHalfLife);
  throw ArgumentError("expert cache policy: unknown '" + name + "' (expected lru or lfu)");
}

}  // namespace latte
