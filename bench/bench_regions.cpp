// bench_regions [MAX_THREADS] [REGIONS]: fork/join cost of the thread facade. For T = 1, 2, 4, ... MAX_THREADS
// prints the median wall time of one ThreadPool::parallel_for whose body does (almost) nothing, and of one whose
// body reads a 4 KiB slice per thread (a stand-in for a tiny decode matvec). Decode runs ~9 regions per layer per
// token, so this cost × regions/token is the part of a token's time that does not shrink with more threads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime/compute/threads.h"

int main(int argc, char** argv) {
  const int max_t = argc > 1 ? std::atoi(argv[1]) : latte::physical_cores();
  const int regions = argc > 2 ? std::atoi(argv[2]) : 20000;
  std::vector<float> data(size_t{1} << 20, 1.0f);
  std::vector<float> sink(1024, 0.0f);
  std::printf("| threads | empty region µs (median of 5) | 4 KiB/thread region µs |\n| ---: | ---: | ---: |\n");
  for (int t = 1; t <= max_t; t = t < 2 ? 2 : (t * 2 > max_t && t < max_t ? max_t : t * 2)) {
    latte::ThreadPool pool(t);
    auto time_it = [&](bool touch) {
      std::vector<double> us;
      for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < regions; ++r)
          pool.parallel_for(t, [&](int64_t b, int64_t e, int tid) {
            float s = 0.0f;
            if (touch)
              for (int64_t i = b * 1024; i < e * 1024; ++i) s += data[static_cast<size_t>(i + (r % 64) * 16384)];
            sink[static_cast<size_t>(tid) * 16] += s;
          });
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        us.push_back(dt * 1e6 / regions);
      }
      std::sort(us.begin(), us.end());
      return us[2];
    };
    const double e = time_it(false), r = time_it(true);
    std::printf("| %d | %.2f | %.2f |\n", t, e, r);
    if (t == max_t) break;
  }
  return sink[0] > 1e30f ? 1 : 0;
}
