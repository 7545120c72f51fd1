#include "runtime/compute/threads.h"

#include "runtime/compute/profile.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace latte {

int physical_cores() {
  // Count distinct (physical id, core id) pairs from /proc/cpuinfo; fall back to online CPUs.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  int phys = 0, core = -1;
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string val = line.substr(colon + 1);
    if (key == "physical id") phys = std::atoi(val.c_str());
    if (key == "core id") {
      core = std::atoi(val.c_str());
      cores.insert({phys, core});
    }
  }
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int n = cores.empty() ? static_cast<int>(online) : static_cast<int>(cores.size());
  if (online > 0) n = std::min<int>(n, static_cast<int>(online));
  return std::max(1, n);
}

int default_threads() { return physical_cores(); }

ThreadPool::ThreadPool(int n_threads) : n_(n_threads > 0 ? n_threads : default_threads()) {}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& body,
                              int64_t grain) const {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t units = (n + grain - 1) / grain;
  const int nt = static_cast<int>(std::min<int64_t>(n_, units));
  if (nt <= 1) {
    body(0, n, 0);
    return;
  }
  auto chunk = [&](int t) {
    const int64_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
    const int64_t b = std::min(n, u0 * grain), e = std::min(n, u1 * grain);
    if (b < e) body(b, e, t);
  };
  if (profile::enabled()) {
    std::vector<double> busy(static_cast<size_t>(nt), 0.0);
    const auto t0 = profile::Clock::now();
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const auto s0 = profile::Clock::now();
      chunk(t);
      busy[static_cast<size_t>(t)] = profile::seconds_since(s0);
    }
    profile::note_region(profile::seconds_since(t0), busy.data(), nt);
    return;
  }
#pragma omp parallel num_threads(nt)
  chunk(omp_get_thread_num());
}

void ThreadPool::parallel_items(int64_t n, const std::function<void(int64_t, int)>& body) const {
  if (n <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(n_, n));
  if (nt <= 1) {
    for (int64_t i = 0; i < n; ++i) body(i, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  auto drain = [&](int t) {
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed))
      body(i, t);
  };
  if (profile::enabled()) {
    std::vector<double> busy(static_cast<size_t>(nt), 0.0);
    const auto t0 = profile::Clock::now();
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const auto s0 = profile::Clock::now();
      drain(t);
      busy[static_cast<size_t>(t)] = profile::seconds_since(s0);
    }
    profile::note_region(profile::seconds_since(t0), busy.data(), nt);
    return;
  }
#pragma omp parallel num_threads(nt)
  drain(omp_get_thread_num());
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& body) const {
  if (n_ <= 1) {
    body(0, 1);
    return;
  }
  if (profile::enabled()) {
    std::vector<double> busy(static_cast<size_t>(n_), 0.0);
    int team = n_;
    const auto t0 = profile::Clock::now();
#pragma omp parallel num_threads(n_)
    {
      const int t = omp_get_thread_num();
      if (t == 0) team = omp_get_num_threads();
      const auto s0 = profile::Clock::now();
      body(t, omp_get_num_threads());
      busy[static_cast<size_t>(t)] = profile::seconds_since(s0);
    }
    profile::note_region(profile::seconds_since(t0), busy.data(), team);
    return;
  }
#pragma omp parallel num_threads(n_)
  body(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace latte
