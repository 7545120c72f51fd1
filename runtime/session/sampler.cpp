// Token sampler (see sampler.h). Pipeline over candidates (logit, id):
//   repetition penalty (last repeat_last_n ids of the history, each id once: positive logits ÷ penalty,
//   negative × penalty) -> greedy if temp <= 0 -> logits ÷ temp -> top-k -> softmax -> top-p (smallest
//   high-probability prefix whose mass reaches top_p, on the probabilities after top-k) -> min-p (drop
//   p < min_p · p_max) -> draw one uniform double from the seeded mt19937_64 and walk the cumulative mass.
// Ordering ties: higher logit first, then lower id, so results never depend on sort stability.
// Cost: O(n_vocab) per call plus selection + sort of a prefix holding the top-p nucleus.
#include "runtime/session/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "formats/error.h"

namespace latte {

namespace {

using Cand = std::pair<float, int32_t>;

// Strict order: larger logit first; lower id first among equals.
inline bool better(const Cand& a, const Cand& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// Uniform double in [0, 1) from 53 random bits (portable: does not depend on the library's distributions).
inline double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

}  // namespace

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) throw ArgumentError("argmax: empty logits");
  int32_t best = 0;
  float bv = logits[0];
  for (size_t i = 1; i < logits.size(); ++i) {
    // NaN never wins: `>` is false for NaN, and a NaN first element is replaced by any number.
    if (logits[i] > bv || (std::isnan(bv) && !std::isnan(logits[i]))) {
      bv = logits[i];
      best = int32_t(i);
    }
  }
  return best;
}

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {
  if (!(p.top_p >= 0.0f) || p.top_p > 1.0f) throw ArgumentError("sampler: top_p must be in [0, 1], got " + std::to_string(p.top_p));
  if (!(p.min_p >= 0.0f) || p.min_p > 1.0f) throw ArgumentError("sampler: min_p must be in [0, 1], got " + std::to_string(p.min_p));
  if (p.top_k < 0) throw ArgumentError("sampler: top_k must be >= 0, got " + std::to_string(p.top_k));
  if (!(p.repeat_penalty > 0.0f)) throw ArgumentError("sampler: repeat_penalty must be > 0, got " + std::to_string(p.repeat_penalty));
  if (std::isnan(p.temp)) throw ArgumentError("sampler: temperature is NaN");
}

void Sampler::reseed(uint64_t seed) {
  p_.seed = seed;
  rng_.seed(seed);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const size_t n = logits.size();
  if (n == 0) throw ArgumentError("sampler: empty logits");

  cand_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    float v = logits[i];
    cand_[i] = {std::isnan(v) ? -std::numeric_limits<float>::infinity() : v, int32_t(i)};
  }

  // 1. Repetition penalty over the distinct ids of the last repeat_last_n history entries.
  if (p_.repeat_penalty != 1.0f && p_.repeat_last_n != 0 && !history.empty()) {
    size_t last = p_.repeat_last_n < 0 ? history.size() : std::min(history.size(), size_t(p_.repeat_last_n));
    std::unordered_set<int32_t> seen;
    for (size_t i = history.size() - last; i < history.size(); ++i) {
      int32_t id = history[i];
      if (id < 0 || size_t(id) >= n || !seen.insert(id).second) continue;
      float& l = cand_[size_t(id)].first;
      l = l > 0.0f ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }

  // 2. Greedy.
  if (p_.temp <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
      if (better(cand_[i], cand_[best])) best = i;
    return cand_[best].second;
  }

  // 3. Temperature.
  const float inv_t = 1.0f / p_.temp;
  for (auto& c : cand_) c.first *= inv_t;

  // 4. Top-k: keep the k best, sorted.
  size_t m = n;
  if (p_.top_k > 0 && size_t(p_.top_k) < n) {
    m = size_t(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + m, cand_.end(), better);
    cand_.resize(m);
  }
  bool sorted = m < n;  // cand_[0..m) sorted descending?

  // 5. Softmax over the m candidates (probabilities replace logits in .first).
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < m; ++i) mx = std::max(mx, cand_[i].first);
  if (!std::isfinite(mx)) {
    // All -inf (everything masked) or +inf present: fall back to the best-ranked candidate.
    size_t best = 0;
    for (size_t i = 1; i < m; ++i)
      if (better(cand_[i], cand_[best])) best = i;
    return cand_[best].second;
  }
  double sum = 0;
  for (size_t i = 0; i < m; ++i) {
    float e = std::exp(cand_[i].first - mx);
    cand_[i].first = e;
    sum += e;
  }
  const float inv_sum = float(1.0 / sum);
  for (size_t i = 0; i < m; ++i) cand_[i].first *= inv_sum;

  // 6. Top-p: find a prefix holding the nucleus by selection (O(m) per try, k grown ×8), then sort only it.
  if (p_.top_p < 1.0f) {
    size_t k = std::min(m, size_t(64));
    for (;;) {
      if (!sorted && k < m) std::nth_element(cand_.begin(), cand_.begin() + k, cand_.begin() + m, better);
      double mass = 0;
      for (size_t i = 0; i < k; ++i) mass += cand_[i].first;
      if (mass >= p_.top_p || k == m) break;
      k = std::min(m, k * 8);
    }
    if (!sorted) std::sort(cand_.begin(), cand_.begin() + k, better);
    double cum = 0;
    size_t cut = k;  // rounding: if the prefix never reaches top_p, keep it all
    for (size_t i = 0; i < k; ++i) {
      cum += cand_[i].first;
      if (cum >= p_.top_p) {
        cut = i + 1;
        break;
      }
    }
    m = cut;
    cand_.resize(m);
  }

  // 7. Min-p relative to the most probable candidate (which every earlier step keeps).
  if (p_.min_p > 0.0f) {
    float pmax = 0;
    for (size_t i = 0; i < m; ++i) pmax = std::max(pmax, cand_[i].first);
    const float thr = p_.min_p * pmax;
    size_t w = 0;
    for (size_t i = 0; i < m; ++i)
      if (cand_[i].first >= thr) cand_[w++] = cand_[i];
    m = w;
    cand_.resize(m);
  }

  // 8. Draw from the renormalised survivors (order as left by the steps above: deterministic).
  double total = 0;
  for (size_t i = 0; i < m; ++i) total += cand_[i].first;
  const double u = uniform01(rng_) * total;
  double cum = 0;
  for (size_t i = 0; i < m; ++i) {
    cum += cand_[i].first;
    if (u < cum) return cand_[i].second;
  }
  return cand_[m - 1].second;  // u rounded to the total
}

}  // namespace latte
