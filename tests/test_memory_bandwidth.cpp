// The bandwidth probe behind `latte bench`: buffer well above the LLC, plausible figures, median within min..max.
#include <doctest/doctest.h>

#include "bench/memory_bandwidth.h"

using namespace latte;

TEST_CASE("bandwidth probe: auto-sized buffer exceeds the LLC and reports ordered, plausible figures") {
  ThreadPool pool(0);
  auto r = bench::measure_read_bandwidth(pool, 0, 3);
  CHECK(r.threads == pool.size());
  CHECK(r.reps == 3);
  CHECK(r.buffer_bytes >= (256ull << 20) - 64 * 8 * uint64_t(pool.size()));
  if (r.llc_bytes > 0) CHECK(r.buffer_bytes >= std::min<uint64_t>(8 * r.llc_bytes, 1ull << 30) / 2);
  CHECK(r.min_gbs > 0.1);       // any machine that runs Latte reads faster than 100 MB/s
  CHECK(r.max_gbs < 20000.0);   // and slower than 20 TB/s: a larger figure means the reads were optimised away
  CHECK(r.min_gbs <= r.median_gbs);
  CHECK(r.median_gbs <= r.max_gbs);
}

TEST_CASE("bandwidth probe: explicit size is honoured (rounded to whole cache lines per thread)") {
  ThreadPool pool(2);
  auto r = bench::measure_read_bandwidth(pool, 8ull << 20, 2);
  CHECK(r.buffer_bytes <= (8ull << 20));
  CHECK(r.buffer_bytes >= (8ull << 20) - 2 * 64);
  CHECK(r.threads == 2);
}
