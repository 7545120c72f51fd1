// Token sampler: repetition penalty -> temperature -> top-k -> top-p -> min-p -> draw (seeded mt19937_64).
// temp <= 0 means greedy (argmax, lowest id on ties). Not thread-safe (owns its RNG state).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace latte {

struct SamplerParams {
  float temp = 0.8f;
  int top_k = 40;            // 0 = off
  float top_p = 0.95f;       // 1 = off
  float min_p = 0.05f;       // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off
  int repeat_last_n = 64;
  uint64_t seed = 0xC0FFEE;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // Picks the next token from logits [n_vocab] given the recent history (for the repetition penalty).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  void reseed(uint64_t seed);
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // scratch, reused
};

int32_t argmax(std::span<const float> logits);

}  // namespace latte
