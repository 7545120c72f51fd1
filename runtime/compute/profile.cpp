// Phase profiler (see profile.h).
#include "runtime/compute/profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace latte::profile {

namespace {
bool env_enabled() {
  const char* e = std::getenv("LATTE_PROFILE");
  return e && *e && std::strcmp(e, "0") != 0;
}

struct State {
  int threads = 1;
  int depth = 0;  // open scopes; time is charged only while > 0
  Phase cur = Phase::Other;
  Clock::time_point last{};
  PhaseStats phase[kPhases];
  std::vector<double> idle;
  std::vector<GemmStats> gemm;
};
thread_local State st;

inline double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

bool g_enabled = env_enabled();
void enable(bool on) { g_enabled = on; }

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Other: return "other";
    case Phase::AttnProj: return "attention projections";
    case Phase::Attention: return "attention over the cache";
    case Phase::Router: return "router";
    case Phase::ActConvert: return "activation conversion";
    case Phase::WeightConvert: return "weight conversion";
    case Phase::RoutedExperts: return "routed experts";
    case Phase::SharedExperts: return "shared experts";
    case Phase::Dense: return "dense FFN";
    case Phase::OutputHead: return "output head";
    case Phase::kCount: break;
  }
  return "?";
}

void reset(int threads) {
  const int depth = st.depth;
  const Phase cur = st.cur;
  st = State{};
  st.threads = threads > 0 ? threads : 1;
  st.idle.assign(static_cast<size_t>(st.threads), 0.0);
  st.depth = depth;  // a reset inside an open scope keeps charging it from now on
  st.cur = cur;
  st.last = Clock::now();
}

Report snapshot() {
  Report r;
  r.threads = st.threads;
  for (int i = 0; i < kPhases; ++i) r.phase[i] = st.phase[i];
  if (st.depth > 0) r.phase[static_cast<int>(st.cur)].wall_s += secs(st.last, Clock::now());
  for (int i = 0; i < kPhases; ++i) r.wall_s += r.phase[i].wall_s;
  r.thread_idle_s = st.idle;
  r.thread_idle_s.resize(static_cast<size_t>(r.threads), 0.0);
  r.gemm = st.gemm;
  return r;
}

void Scope::enter(Phase p) {
  const auto now = Clock::now();
  if (st.depth > 0) st.phase[static_cast<int>(st.cur)].wall_s += secs(st.last, now);
  ++st.depth;
  saved_ = st.cur;
  st.cur = p;
  st.last = now;
  active_ = true;
}

void Scope::leave() {
  const auto now = Clock::now();
  st.phase[static_cast<int>(st.cur)].wall_s += secs(st.last, now);
  --st.depth;
  st.cur = saved_;
  st.last = now;
}

LibScope::~LibScope() {
  if (active_) st.phase[static_cast<int>(st.cur)].lib_s += seconds_since(t0_);
}

void note_region(double wall_s, const double* busy_s, int nt) {
  PhaseStats& ps = st.phase[static_cast<int>(st.cur)];
  ps.region_s += wall_s;
  ++ps.regions;
  if (st.idle.size() < static_cast<size_t>(st.threads)) st.idle.resize(static_cast<size_t>(st.threads), 0.0);
  const int T = std::max(st.threads, nt);
  if (st.idle.size() < static_cast<size_t>(T)) st.idle.resize(static_cast<size_t>(T), 0.0);
  for (int t = 0; t < T; ++t) {
    const double w = t < nt ? std::max(0.0, wall_s - busy_s[t]) : wall_s;
    st.idle[static_cast<size_t>(t)] += w;
    ps.idle_thread_s += w;
  }
}

void note_gemm(const char* backend, const char* type, int64_t n, int64_t m, int64_t k, double seconds) {
  for (GemmStats& g : st.gemm)
    if (g.backend == backend && g.type == type) {
      ++g.calls;
      g.seconds += seconds;
      g.flop += 2.0 * static_cast<double>(n) * static_cast<double>(m) * static_cast<double>(k);
      return;
    }
  st.gemm.push_back({backend, type, 1, seconds, 2.0 * static_cast<double>(n) * static_cast<double>(m) * static_cast<double>(k)});
}

std::string format_markdown(const Report& r, const std::string& title) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "profile %s: %d threads, wall %.3f s\n\n", title.c_str(), r.threads, r.wall_s);
  out += buf;
  out += "| phase | s | % wall | in regions | in libraries | serial | thread idle in regions |\n";
  out += "| ----- | -: | -----: | ---------: | -----------: | -----: | ---------------------: |\n";
  const double wall = r.wall_s > 0 ? r.wall_s : 1.0;
  for (int i = 0; i < kPhases; ++i) {
    const PhaseStats& p = r.phase[i];
    if (p.wall_s <= 0) continue;
    const double serial = std::max(0.0, p.wall_s - p.region_s - p.lib_s);
    const double thread_s = p.region_s * r.threads;
    std::snprintf(buf, sizeof buf, "| %s | %.3f | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n",
                  phase_name(static_cast<Phase>(i)), p.wall_s, 100.0 * p.wall_s / wall, 100.0 * p.region_s / p.wall_s,
                  100.0 * p.lib_s / p.wall_s, 100.0 * serial / p.wall_s,
                  thread_s > 0 ? 100.0 * p.idle_thread_s / thread_s : 0.0);
    out += buf;
  }
  out += "\nidle per thread (s, waiting at joins + outside the regions it was not given):";
  for (size_t t = 0; t < r.thread_idle_s.size(); ++t) {
    std::snprintf(buf, sizeof buf, "%s t%zu %.3f", t ? "," : "", t, r.thread_idle_s[t]);
    out += buf;
  }
  out += "\n";
  if (!r.gemm.empty()) {
    out += "\n| product backend | weight type | calls | s | GFLOP/s |\n| --- | --- | --: | --: | --: |\n";
    for (const GemmStats& g : r.gemm) {
      std::snprintf(buf, sizeof buf, "| %s | %s | %llu | %.3f | %.1f |\n", g.backend.c_str(), g.type.c_str(),
                    static_cast<unsigned long long>(g.calls), g.seconds,
                    g.seconds > 0 ? g.flop / g.seconds * 1e-9 : 0.0);
      out += buf;
    }
  }
  return out;
}

}  // namespace latte::profile
