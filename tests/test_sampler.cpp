// Sampler tests: deterministic properties (greedy, top-k=1, filters, seeds) and statistical checks with fixed
// seeds (draw frequencies vs the exact softmax; tolerance ≈ 5 standard errors of a binomial frequency).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "formats/error.h"
#include "runtime/session/sampler.h"

using namespace latte;

namespace {

SamplerParams plain(float temp) {
  SamplerParams p;
  p.temp = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  p.seed = 1234;
  return p;
}

std::vector<double> softmax(const std::vector<float>& l, float temp) {
  std::vector<double> p(l.size());
  double mx = -1e300, s = 0;
  for (float v : l) mx = std::max(mx, double(v) / temp);
  for (size_t i = 0; i < l.size(); ++i) s += p[i] = std::exp(double(l[i]) / temp - mx);
  for (auto& v : p) v /= s;
  return p;
}

std::vector<double> frequencies(Sampler& s, const std::vector<float>& l, int draws) {
  std::vector<double> f(l.size(), 0.0);
  for (int i = 0; i < draws; ++i) f[size_t(s.sample(l, {}))] += 1.0;
  for (auto& v : f) v /= draws;
  return f;
}

// Log-probabilities: logits whose softmax at temp 1 is exactly `p`.
std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double v : p) l.push_back(float(std::log(v)));
  return l;
}

std::vector<float> random_logits(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> l(n);
  for (auto& v : l) v = d(g);
  return l;
}

}  // namespace

TEST_CASE("argmax: first maximum wins, NaN never wins") {
  std::vector<float> l = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  CHECK(argmax(l) == 1);
  std::vector<float> n = {NAN, -5.0f, -1.0f, NAN};
  CHECK(argmax(n) == 2);
  CHECK_THROWS_AS(argmax(std::span<const float>{}), ArgumentError);
}

TEST_CASE("greedy (temp <= 0) picks the argmax, lowest id on ties") {
  for (float t : {0.0f, -1.0f}) {
    SamplerParams p;  // default filters stay on: greedy ignores them
    p.temp = t;
    Sampler s(p);
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      auto l = random_logits(1000, seed);
      CHECK(s.sample(l, {}) == argmax(l));
    }
    std::vector<float> tie = {0.0f, 2.0f, 1.0f, 2.0f};
    CHECK(s.sample(tie, {}) == 1);
  }
}

TEST_CASE("top-k = 1 equals greedy at any temperature and seed") {
  for (float t : {0.5f, 1.0f, 3.0f}) {
    auto p = plain(t);
    p.top_k = 1;
    for (uint64_t seed = 1; seed <= 30; ++seed) {
      p.seed = seed;
      Sampler s(p);
      auto l = random_logits(4096, seed * 7);
      CHECK(s.sample(l, {}) == argmax(l));
    }
  }
}

TEST_CASE("same seed gives the same sequence; other seeds differ; reseed restarts") {
  auto l = random_logits(512, 99);
  for (auto& v : l) v *= 0.2f;  // flat enough that draws vary
  auto p = plain(1.0f);
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.01f;
  Sampler a(p), b(p);
  std::vector<int32_t> sa, sb;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.sample(l, sa));
    sb.push_back(b.sample(l, sb));
  }
  CHECK(sa == sb);
  p.seed = 4321;
  Sampler c(p);
  std::vector<int32_t> sc;
  for (int i = 0; i < 200; ++i) sc.push_back(c.sample(l, sc));
  CHECK(sc != sa);
  a.reseed(p.seed);
  std::vector<int32_t> sr;
  for (int i = 0; i < 200; ++i) sr.push_back(a.sample(l, sr));
  CHECK(sr == sc);
}

TEST_CASE("draw frequencies match the softmax (temp 1 and 0.5)") {
  std::vector<float> l = {1.0f, 0.5f, 2.0f, -1.0f, 0.0f, 1.5f, -0.5f, 0.2f};
  const int N = 200000;
  for (float t : {1.0f, 0.5f}) {
    auto p = plain(t);
    p.seed = 77;
    Sampler s(p);
    auto f = frequencies(s, l, N);
    auto q = softmax(l, t);
    for (size_t i = 0; i < l.size(); ++i) {
      double se = std::sqrt(q[i] * (1 - q[i]) / N);
      INFO("temp " << t << " id " << i << " freq " << f[i] << " expected " << q[i]);
      CHECK(std::abs(f[i] - q[i]) <= 5 * se + 1e-4);
    }
  }
}

TEST_CASE("top-k keeps exactly the k best, renormalised") {
  std::vector<double> q = {0.05, 0.30, 0.10, 0.25, 0.20, 0.10};
  auto p = plain(1.0f);
  p.top_k = 3;  // ids 1, 3, 4 (0.30, 0.25, 0.20)
  Sampler s(p);
  const int N = 100000;
  auto f = frequencies(s, logits_of(q), N);
  CHECK(f[0] == 0.0);
  CHECK(f[2] == 0.0);
  CHECK(f[5] == 0.0);
  const double m = 0.75;
  for (int i : {1, 3, 4}) {
    double e = q[size_t(i)] / m;
    CHECK(std::abs(f[size_t(i)] - e) <= 5 * std::sqrt(e * (1 - e) / N));
  }
}

TEST_CASE("top-p keeps the smallest prefix reaching p, renormalised") {
  std::vector<double> q = {0.15, 0.5, 0.05, 0.3};  // sorted: 1 (0.5), 3 (0.3), 0 (0.15), 2 (0.05)
  const int N = 100000;
  SUBCASE("p = 0.8 keeps ids 1 and 3") {
    auto p = plain(1.0f);
    p.top_p = 0.79f;  // 0.5 + 0.3 = 0.8 >= 0.79; 0.5 < 0.79
    Sampler s(p);
    auto f = frequencies(s, logits_of(q), N);
    CHECK(f[0] == 0.0);
    CHECK(f[2] == 0.0);
    double e1 = 0.5 / 0.8;
    CHECK(std::abs(f[1] - e1) <= 5 * std::sqrt(e1 * (1 - e1) / N));
  }
  SUBCASE("p = 0.9 keeps three") {
    auto p = plain(1.0f);
    p.top_p = 0.9f;
    Sampler s(p);
    auto f = frequencies(s, logits_of(q), N);
    CHECK(f[2] == 0.0);
    CHECK(f[0] > 0.0);
    double e0 = 0.15 / 0.95;
    CHECK(std::abs(f[0] - e0) <= 5 * std::sqrt(e0 * (1 - e0) / N));
  }
  SUBCASE("tiny p keeps only the best") {
    auto p = plain(1.0f);
    p.top_p = 0.01f;
    Sampler s(p);
    auto f = frequencies(s, logits_of(q), 2000);
    CHECK(f[1] == 1.0);
  }
  SUBCASE("large vocabulary: survivors form the nucleus") {
    auto l = random_logits(129280, 5);
    auto sm = softmax(l, 1.0f);
    std::vector<size_t> order(l.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sm[a] > sm[b]; });
    double cum = 0;
    size_t cut = 0;
    while (cum < 0.9) cum += sm[order[cut++]];
    std::vector<bool> in(l.size(), false);
    for (size_t i = 0; i < cut; ++i) in[order[i]] = true;
    auto p = plain(1.0f);
    p.top_p = 0.9f;
    Sampler s(p);
    for (int i = 0; i < 60; ++i) CHECK(in[size_t(s.sample(l, {}))]);
  }
}

TEST_CASE("min-p drops candidates below min_p * p_max") {
  std::vector<double> q = {0.5, 0.3, 0.12, 0.08};
  auto p = plain(1.0f);
  p.min_p = 0.2f;  // threshold 0.1: id 3 dropped
  Sampler s(p);
  const int N = 100000;
  auto f = frequencies(s, logits_of(q), N);
  CHECK(f[3] == 0.0);
  CHECK(f[2] > 0.0);
  double e = 0.12 / 0.92;
  CHECK(std::abs(f[2] - e) <= 5 * std::sqrt(e * (1 - e) / N));
  p.min_p = 1.0f;  // only the maximum survives
  Sampler s1(p);
  auto f1 = frequencies(s1, logits_of(q), 1000);
  CHECK(f1[0] == 1.0);
}

TEST_CASE("repetition penalty: divides positive logits, multiplies negative ones, within the window") {
  auto p = plain(0.0f);  // greedy shows the effect
  p.repeat_penalty = 1.5f;
  p.repeat_last_n = 2;
  Sampler s(p);
  std::vector<float> l = {1.0f, 1.8f, 2.0f, -0.5f};
  CHECK(s.sample(l, {}) == 2);
  std::vector<int32_t> h = {0, 2};
  CHECK(s.sample(l, h) == 1);  // 2.0 / 1.5 = 1.33 < 1.8
  std::vector<int32_t> old = {2, 0, 0};  // 2 is outside the last 2
  CHECK(s.sample(l, old) == 2);
  std::vector<int32_t> dup = {2, 2};  // applied once per distinct id: 1.33, not 0.89
  std::vector<float> l2 = {1.2f, 1.0f, 2.0f};
  CHECK(s.sample(l2, dup) == 2);
  // Negative logits move further down: all negative, penalised best loses.
  std::vector<float> neg = {-1.0f, -1.2f};
  std::vector<int32_t> h0 = {0};
  CHECK(s.sample(neg, h0) == 1);  // -1.5 < -1.2
  // Ids outside the vocabulary in the history are ignored.
  std::vector<int32_t> bad = {-3, 999};
  CHECK(s.sample(l, bad) == 2);
}

TEST_CASE("masked logits and invalid parameters") {
  auto p = plain(1.0f);
  Sampler s(p);
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> l = {-inf, 0.0f, -inf, NAN};
  for (int i = 0; i < 50; ++i) CHECK(s.sample(l, {}) == 1);
  std::vector<float> all = {-inf, -inf};
  CHECK(s.sample(all, {}) == 0);
  CHECK_THROWS_AS(s.sample(std::span<const float>{}, {}), ArgumentError);
  auto bad = plain(1.0f);
  bad.top_p = 1.5f;
  CHECK_THROWS_AS(Sampler{bad}, ArgumentError);
  bad = plain(1.0f);
  bad.min_p = -0.1f;
  CHECK_THROWS_AS(Sampler{bad}, ArgumentError);
  bad = plain(1.0f);
  bad.top_k = -2;
  CHECK_THROWS_AS(Sampler{bad}, ArgumentError);
  bad = plain(1.0f);
  bad.repeat_penalty = 0.0f;
  CHECK_THROWS_AS(Sampler{bad}, ArgumentError);
}
