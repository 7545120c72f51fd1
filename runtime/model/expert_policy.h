// Replacement policies of the expert cache (expert_cache.h): which resident expert to evict for a missing one.
// Keys are dense integers (layer * n_expert + expert). Time is counted in tokens (advance()), so the policies see
// routing frequency per token, not per call.
//   - Lru:         evict the expert whose last use is oldest.
//   - DecayedLfu:  score = Σ over uses of decay^(tokens since that use) (exponential decay per token, half-life
//                  `half_life` tokens); evict the lowest score, ties -> older last use. Frequency-aware: an expert
//                  that most tokens route to survives a burst of one-off experts.
// Not thread-safe: the cache calls it under its own lock.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace latte {

class ReplacementPolicy {
 public:
  virtual ~ReplacementPolicy() = default;
  virtual const char* name() const = 0;
  // Time moves on by n tokens.
  virtual void advance(int64_t n) = 0;
  // Key was used by `weight` tokens at the current time (hit or miss).
  virtual void touch(int32_t key, double weight = 1.0) = 0;
  // Of the candidates (resident, evictable keys), the one to evict; candidates must be non-empty.
  virtual int32_t victim(const int32_t* candidates, int64_t n) const = 0;
};

// Decayed LFU's default half-life, in tokens. Chosen by replaying recorded routing (bench/expert_policy_sim.py,
// README "Models larger than RAM"): 8-16 tokens beat 4 and 64 on the trained tiny model and on V2-Lite's shape.
constexpr double kDefaultHalfLife = 8.0;

// "lru" or "lfu" (decayed LFU, the default: it measured better, see the README's expert-cache section).
// n_keys: keys are in [0, n_keys). half_life: tokens (decayed LFU only). ArgumentError for another name.
std::unique_ptr<ReplacementPolicy> make_policy(const std::string& name, int64_t n_keys, double half_life = kDefaultHalfLife);

}  // namespace latte
