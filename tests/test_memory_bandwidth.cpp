// The bandwidth probe behind `latte bench`: buffer well above the LLC, plausible figures, median within min..max;
// its per-ISA read kernel (KernelTable::stream_read) reads every byte.
#include <doctest/doctest.h>

#include <vector>

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

TEST_CASE("stream_read: every ISA's read kernel depends on every byte, aligned or not, tails included") {
  std::vector<uint8_t> buf(4096 + 200);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(i * 37 + 11);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (!isa_supported(isa)) continue;
    const KernelTable& kt = kernel_table(isa);
    const bool has_kernel = kt.stream_read != nullptr;
    REQUIRE(has_kernel);
    for (size_t off : {size_t(0), size_t(1), size_t(7)}) {
      for (size_t n : {size_t(1), size_t(63), size_t(64), size_t(65), size_t(511), size_t(2048), size_t(4095)}) {
        CAPTURE(isa_name(isa));
        CAPTURE(off);
        CAPTURE(n);
        const uint64_t ref = kt.stream_read(buf.data() + off, n);
        for (size_t pos : {size_t(0), n / 2, n - 1}) {
          buf[off + pos] ^= 0x40;
          CHECK(kt.stream_read(buf.data() + off, n) != ref);
          buf[off + pos] ^= 0x40;
        }
        CHECK(kt.stream_read(buf.data() + off, n) == ref);  // pure: same bytes, same value
      }
    }
  }
}

TEST_CASE("bandwidth probe: runs with an explicit kernel table of every supported ISA") {
  ThreadPool pool(1);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (!isa_supported(isa)) continue;
    auto r = bench::measure_read_bandwidth(pool, 4ull << 20, 1, &kernel_table(isa));
    CHECK(r.median_gbs > 0.1);
  }
}
