// bandwidth [THREADS] [MiB] [REPS]: prints the streaming-read bandwidth probe that `latte bench` uses.
#include <cstdio>
#include <cstdlib>

#include "bench/memory_bandwidth.h"

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  int reps = argc > 3 ? std::atoi(argv[3]) : 7;
  try {
    latte::ThreadPool pool(threads);
    auto r = latte::bench::measure_read_bandwidth(pool, mib << 20, reps);
    std::printf("read bandwidth: %.2f GB/s median (min %.2f, max %.2f) over %d passes of %.0f MiB, %d threads, "
                "LLC %.0f MiB\n", r.median_gbs, r.min_gbs, r.max_gbs, r.reps, r.buffer_bytes / 1048576.0, r.threads,
                r.llc_bytes / 1048576.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bandwidth: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
