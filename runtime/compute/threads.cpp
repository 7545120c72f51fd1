#include "runtime/compute/threads.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

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

ThreadPool::ThreadPool(int n_threads) : n_(n_threads > 0 ? n_threads : physical_cores()) {}

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
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int64_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
    const int64_t b = std::min(n, u0 * grain), e = std::min(n, u1 * grain);
    if (b < e) body(b, e, t);
  }
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& body) const {
  if (n_ <= 1) {
    body(0, 1);
    return;
  }
#pragma omp parallel num_threads(n_)
  body(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace latte
