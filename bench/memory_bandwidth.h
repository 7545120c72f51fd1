// Read-bandwidth probe: a multi-threaded streaming read over a buffer much larger than the last-level cache,
// run in-process (same threads as the model), repeated; the median is the roofline `latte bench` compares to.
// The read itself is KernelTable::stream_read of the best ISA (full-width vector loads, eight accumulators, the
// same load width as the gemv kernels), so the probe is never limited by load issue rate. Measured on the 2-core
// Zen 4 dev VM (1 thread, 512 MiB, thread CPU time): the former 64-bit-word loop (which GCC -O3 vectorises to
// SSE2) and this kernel both read ~19-21 GB/s there, i.e. the old probe was not measurably low on that machine;
// wall-clock figures on a loaded machine are dominated by CPU contention, not by the probe's loop.
// This header stays portable (no intrinsics): the ISA code lives in quant/isa.
// Header-only (bench/*.cpp are executables; this is shared by `latte bench` and its test).
// Units: bytes and GB/s (1 GB = 1e9 bytes). Not re-entrant (uses the pool's team).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "quant/kernels.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"

#if defined(__linux__)
#include <unistd.h>
#endif

namespace latte::bench {

struct BandwidthResult {
  double median_gbs = 0, min_gbs = 0, max_gbs = 0;  // over `reps` passes
  uint64_t buffer_bytes = 0;
  uint64_t llc_bytes = 0;  // detected last-level cache (0 if unknown)
  int threads = 0, reps = 0;
};

// Largest cache of CPU 0 from sysfs (bytes), 0 if unknown.
inline uint64_t last_level_cache_bytes() {
  uint64_t best = 0;
  for (int idx = 0; idx < 8; ++idx) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/size");
    std::string s;
    if (!(f >> s) || s.empty()) continue;
    uint64_t v = std::strtoull(s.c_str(), nullptr, 10);
    char u = s.back();
    if (u == 'K') v <<= 10;
    else if (u == 'M') v <<= 20;
    else if (u == 'G') v <<= 30;
    best = std::max(best, v);
  }
#if defined(__linux__) && defined(_SC_LEVEL3_CACHE_SIZE)
  if (best == 0) {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) best = uint64_t(l3);
  }
#endif
  return best;
}


// bytes = 0: max(16 × LLC, 256 MiB), capped at 1 GiB. Each thread first-touches and then reads its own slice.
// kernels = nullptr: the table of select_isa() (LATTE_ISA honoured), i.e. the loads the model's kernels use.
inline BandwidthResult measure_read_bandwidth(const ThreadPool& pool, uint64_t bytes = 0, int reps = 7,
                                              const KernelTable* kernels = nullptr) {
  const KernelTable& kt = kernels ? *kernels : kernel_table(select_isa());
  if (!kt.stream_read) throw UnsupportedError(std::string("bandwidth probe: no stream_read kernel for ") + isa_name(kt.isa));
  BandwidthResult r;
  r.llc_bytes = last_level_cache_bytes();
  if (bytes == 0) bytes = std::min<uint64_t>(std::max<uint64_t>(16 * r.llc_bytes, 256ull << 20), 1ull << 30);
  const int nt = pool.size();
  const size_t words_per_thread = size_t(bytes / 8 / uint64_t(nt)) / 8 * 8;  // multiple of 8 words
  const size_t words = words_per_thread * size_t(nt);
  r.buffer_bytes = words * 8;
  r.threads = nt;
  r.reps = std::max(1, reps);
  if (words == 0) throw ArgumentError("bandwidth probe: buffer too small");
  struct Free { void operator()(void* p) const { std::free(p); } };
  std::unique_ptr<uint64_t, Free> buf(static_cast<uint64_t*>(std::aligned_alloc(64, r.buffer_bytes)));
  if (!buf) throw ResourceError("bandwidth probe: cannot allocate " + std::to_string(r.buffer_bytes) + " bytes");
  uint64_t* base = buf.get();
  pool.run_on_all([&](int t, int) {
    uint64_t* p = base + size_t(t) * words_per_thread;
    for (size_t i = 0; i < words_per_thread; ++i) p[i] = i * 0x9E3779B97F4A7C15ull + uint64_t(t);
  });
  std::vector<uint64_t> sinks(size_t(nt) * 8, 0);  // one cache line per thread
  std::vector<double> gbs;
  for (int rep = 0; rep < r.reps + 1; ++rep) {  // first pass is a warm-up
    auto t0 = std::chrono::steady_clock::now();
    pool.run_on_all([&](int t, int) {
      sinks[size_t(t) * 8] += kt.stream_read(base + size_t(t) * words_per_thread, words_per_thread * 8);
    });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0 && s > 0) gbs.push_back(double(r.buffer_bytes) / s / 1e9);
  }
  volatile uint64_t keep = 0;
  for (auto v : sinks) keep = keep + v;
  (void)keep;
  std::sort(gbs.begin(), gbs.end());
  if (!gbs.empty()) {
    r.min_gbs = gbs.front();
    r.max_gbs = gbs.back();
    size_t n = gbs.size();
    r.median_gbs = n % 2 ? gbs[n / 2] : 0.5 * (gbs[n / 2 - 1] + gbs[n / 2]);
  }
  return r;
}

}  // namespace latte::bench
