// Phase profiler (runtime/compute/profile.h) on the shared tiny model: the phases of an eval sum to its wall time
// measured outside, the phases the forward pass names are all present, products report their backends, and a
// disabled profiler records nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "runtime/compute/profile.h"
#include "runtime/session/session.h"
#include "tests/test_support.h"

using namespace latte;
namespace pf = latte::profile;

namespace {

std::shared_ptr<const Model> tiny() {
  static std::shared_ptr<const Model> m = [] {
    ModelParams mp;
    mp.path = test::model_path("tiny-dsv3/tiny-dsv3-q4_k_m.gguf");
    return Model::load(mp);
  }();
  return m;
}

std::vector<int32_t> prompt(int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (i * 37 + 11) % 4000 + 1;
  return t;
}

double phase_s(const pf::Report& r, pf::Phase p) { return r.phase[static_cast<int>(p)].wall_s; }

struct Enabled {
  Enabled() { pf::enable(true); }
  ~Enabled() { pf::enable(false); }
};

}  // namespace

TEST_CASE("profile: phases of prefill and decode sum to the measured wall time") {
  Enabled on;
  SessionParams sp;
  sp.n_ctx = 256;
  sp.n_threads = 2;
  Session s(tiny(), sp);
  const auto toks = prompt(96);  // ≥ 32 tokens: the batched attention and GEMM paths
  s.eval(toks);                  // warm-up (primitive caches, scratch growth)
  s.truncate(0);

  pf::reset(2);
  const auto t0 = std::chrono::steady_clock::now();
  s.eval(toks);
  for (int i = 0; i < 8; ++i) s.eval(std::vector<int32_t>{static_cast<int32_t>(100 + i)});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const pf::Report r = pf::snapshot();

  // Everything between the evals' first and last instruction is charged to some phase; the loop and the clock
  // reads outside them are a few microseconds.
  CHECK(r.wall_s <= wall * 1.0001);
  CHECK(r.wall_s >= wall * 0.97 - 1e-3);
  double sum = 0;
  for (int i = 0; i < pf::kPhases; ++i) {
    const pf::PhaseStats& p = r.phase[i];
    sum += p.wall_s;
    CHECK(p.wall_s >= 0.0);
    // A phase's time inside regions and libraries is part of its wall time (clock granularity aside).
    CHECK(p.region_s + p.lib_s <= p.wall_s * 1.001 + 1e-5);
    CHECK(p.idle_thread_s >= 0.0);
    CHECK(p.idle_thread_s <= 2.0 * p.region_s + 1e-9);
  }
  CHECK(std::fabs(sum - r.wall_s) < 1e-9);
  for (pf::Phase p : {pf::Phase::AttnProj, pf::Phase::Attention, pf::Phase::Router, pf::Phase::ActConvert,
                      pf::Phase::RoutedExperts, pf::Phase::SharedExperts, pf::Phase::Dense, pf::Phase::OutputHead,
                      pf::Phase::Other})
    CHECK_MESSAGE(phase_s(r, p) > 0.0, pf::phase_name(p));
  REQUIRE(r.thread_idle_s.size() == 2);
  for (double v : r.thread_idle_s) CHECK(v >= 0.0);
  // Products report their backends: the prompt's batched products and the decode steps' gemv batches.
  bool batched = false, decode = false;
  for (const auto& g : r.gemm) {
    CHECK(g.calls > 0);
    CHECK(g.flop > 0.0);
    if (g.backend == "gemv-batch") decode = true;
    else batched = true;
  }
  CHECK(batched);
  CHECK(decode);
  const std::string md = pf::format_markdown(r, "test");
  CHECK(md.find("routed experts") != std::string::npos);
}

TEST_CASE("profile: disabled, nothing is recorded") {
  pf::enable(false);
  SessionParams sp;
  sp.n_ctx = 128;
  sp.n_threads = 2;
  Session s(tiny(), sp);
  pf::reset(2);
  s.eval(prompt(40));
  const pf::Report r = pf::snapshot();
  CHECK(r.wall_s == 0.0);
  CHECK(r.gemm.empty());
  for (double v : r.thread_idle_s) CHECK(v == 0.0);
}
