// Memory planning (runtime/session/memory_plan.h): /proc/meminfo + cgroup parsing, the fit classification with injected
// numbers, the error message with a -c suggestion, the working-set estimate against a real Session, mlock errors.
#include <doctest/doctest.h>

#include <cerrno>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/session/memory_plan.h"
#include "runtime/session/session.h"
#include "tests/test_support.h"

using namespace latte;

namespace {
constexpr uint64_t MiB = 1024ull * 1024, GiB = 1024 * MiB;

const char* kMeminfo =
    "MemTotal:       16318460 kB\n"
    "MemFree:         1000000 kB\n"
    "MemAvailable:    6500000 kB\n"
    "Buffers:          123456 kB\n"
    "HugePages_Total:       0\n";

MemoryNeeds big_moe_needs(int64_t n_ctx) {
  MemoryNeeds n;
  n.file_bytes = 40 * GiB;
  n.active_bytes_per_token = 2 * GiB;
  n.routed_bytes_total = 36 * GiB;
  n.routed_bytes_per_token = 1536 * MiB;  // always-read part: 512 MiB
  n.n_ctx = n_ctx;
  n.cache_bytes_per_token = 70272;  // 61 layers x (512 + 64) x 2 B
  n.buffer_bytes_fixed = 300 * MiB;
  n.buffer_bytes_per_ctx = 2304 + 64;
  return n;
}
}  // namespace

TEST_CASE("meminfo and cgroup parsing") {
  SystemMemory m = parse_system_memory(kMeminfo);
  CHECK(m.mem_total == 16318460ull * 1024);
  CHECK(m.mem_available == 6500000ull * 1024);
  CHECK(m.cgroup_limit == 0);
  CHECK(m.available() == 6500000ull * 1024);

  // cgroup v2 limit below MemAvailable: the room left in the cgroup wins.
  m = parse_system_memory(kMeminfo, "4294967296\n", "1073741824\n");
  CHECK(m.cgroup_limit == 4 * GiB);
  CHECK(m.cgroup_usage == 1 * GiB);
  CHECK(m.available() == 3 * GiB);
  // "max" = no limit; cgroup v1's huge "unlimited" value too.
  CHECK(parse_system_memory(kMeminfo, "max\n", "123").cgroup_limit == 0);
  CHECK(parse_system_memory(kMeminfo, "9223372036854771712\n", "123").available() == 6500000ull * 1024);
  // usage above the limit: nothing available.
  CHECK(parse_system_memory(kMeminfo, "1000", "2000").available() == 0);
  // Garbage never throws; unknown fields are 0.
  m = parse_system_memory("MemTotal: lots\nMemAvailable:\n", "banana", "");
  CHECK(m.mem_total == 0);
  CHECK(m.mem_available == 0);
  CHECK(m.cgroup_limit == 0);
  // Old kernels without MemAvailable fall back to MemFree.
  CHECK(parse_system_memory("MemTotal: 2048 kB\nMemFree: 1024 kB\n").available() == 1024 * 1024);

  // The live system: /proc/meminfo exists on Linux, MemTotal is positive.
  SystemMemory live = read_system_memory();
  CHECK(live.mem_total > 0);
  CHECK(live.available() > 0);
  CHECK(live.available() <= live.mem_total);
}

TEST_CASE("format_bytes") {
  CHECK(format_bytes(512) == "512 B");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(10 * MiB + MiB / 2) == "10.5 MiB");
  CHECK(format_bytes(6500000ull * 1024) == "6.2 GiB");
}

TEST_CASE("plan: fits in RAM") {
  SystemMemory sys = parse_system_memory("MemTotal: 134217728 kB\nMemAvailable: 125829120 kB\n");  // 120 GiB avail
  MemoryPlan p = plan_memory(big_moe_needs(4096), sys);
  CHECK(p.fit == MemoryFit::InRam);
  CHECK(p.disk_bytes_per_token == 0);
  CHECK(p.max_ctx >= 4096);
  CHECK_NOTHROW(check_memory(p));
  const std::string d = describe(p);
  CHECK(d.find("fits in RAM") != std::string::npos);
  CHECK(d.find("n_ctx 4096") != std::string::npos);
}

TEST_CASE("plan: weights larger than RAM page from the mapped file") {
  // 24 GiB available, 40 GiB file, small working set: weights page in from disk.
  SystemMemory sys = parse_system_memory("MemTotal: 33554432 kB\nMemAvailable: 25165824 kB\n");
  MemoryNeeds n = big_moe_needs(4096);
  MemoryPlan p = plan_memory(n, sys);
  REQUIRE(p.fit == MemoryFit::PagesFromFile);
  CHECK(p.weight_budget == 24 * GiB - n.working_set());
  // Always-read 512 MiB stays hot; the routed 36 GiB share the remaining budget.
  const double left = double(p.weight_budget - 512 * MiB);
  const double expect = 1536.0 * MiB * (1.0 - left / double(36 * GiB));
  CHECK(double(p.disk_bytes_per_token) == doctest::Approx(expect).epsilon(1e-6));
  CHECK(p.disk_bytes_per_token > 0);
  CHECK(p.disk_bytes_per_token < n.active_bytes_per_token);
  CHECK_NOTHROW(check_memory(p));
  const std::string d = describe(p);
  MESSAGE(d);
  CHECK(d.find("paged in from the mapped file") != std::string::npos);
  CHECK(d.find("from disk") != std::string::npos);

  // Budget below the always-read part: every active byte is re-read.
  sys = parse_system_memory("MemTotal: 2097152 kB\nMemAvailable: 786432 kB\n");  // 768 MiB
  n = big_moe_needs(512);  // working set ~335 MiB: budget ~433 MiB < 512 MiB always-read
  p = plan_memory(n, sys);
  REQUIRE(p.fit == MemoryFit::PagesFromFile);
  CHECK(p.disk_bytes_per_token == n.active_bytes_per_token);

  // A dense model (no routed experts) whose weights do not fit but whose per-token scan does: no disk estimate
  // beyond what LRU keeps (0 here since the whole scan is hot).
  n = big_moe_needs(512);
  n.routed_bytes_total = n.routed_bytes_per_token = 0;
  n.active_bytes_per_token = 256 * MiB;
  p = plan_memory(n, parse_system_memory("MemTotal: 2097152 kB\nMemAvailable: 1048576 kB\n"));
  CHECK(p.fit == MemoryFit::PagesFromFile);
  CHECK(p.disk_bytes_per_token == 0);
}

TEST_CASE("plan: working set too large -> ResourceError with numbers and a -c suggestion") {
  // 6.2 GiB available; n_ctx 163840 of 70272 B/token = 10.7 GiB of cache.
  SystemMemory sys = parse_system_memory(kMeminfo);
  MemoryNeeds n = big_moe_needs(163840);
  MemoryPlan p = plan_memory(n, sys);
  REQUIRE(p.fit == MemoryFit::TooLarge);
  CHECK(p.max_ctx > 0);
  CHECK(p.max_ctx < 163840);
  CHECK(p.max_ctx % 256 == 0);
  // The suggestion itself fits.
  MemoryNeeds smaller = n;
  smaller.n_ctx = p.max_ctx;
  CHECK(plan_memory(smaller, sys).fit != MemoryFit::TooLarge);
  std::string msg;
  try {
    check_memory(p);
  } catch (const ResourceError& e) {
    msg = e.what();
  }
  MESSAGE(msg);
  CHECK(msg.find("latent cache for n_ctx 163840 needs 10.7 GiB") == 0);
  CHECK(msg.find("only 6.2 GiB available") != std::string::npos);
  CHECK(msg.find("use -c " + std::to_string(p.max_ctx)) != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);

  // Within a cgroup: the limit is named.
  p = plan_memory(n, parse_system_memory(kMeminfo, "2147483648", "0"));
  REQUIRE(p.fit == MemoryFit::TooLarge);
  try {
    check_memory(p);
    FAIL("no throw");
  } catch (const ResourceError& e) {
    CHECK(std::string(e.what()).find("cgroup limit 2.0 GiB") != std::string::npos);
  }

  // Nothing fits at all.
  p = plan_memory(n, parse_system_memory("MemTotal: 1024 kB\nMemAvailable: 1024 kB\n"));
  REQUIRE(p.fit == MemoryFit::TooLarge);
  CHECK(p.max_ctx == 0);
  CHECK_THROWS_AS(check_memory(p), ResourceError);

  // Several sessions (serve --parallel) multiply the cache and buffers; the -c suggestion shrinks accordingly.
  MemoryNeeds four = big_moe_needs(16384);
  MemoryNeeds one = four;
  four.n_sessions = 4;
  CHECK(four.cache_bytes() == 4 * one.cache_bytes());
  CHECK(four.buffer_bytes() == 4 * one.buffer_bytes());
  MemoryPlan p1 = plan_memory(one, sys), p4 = plan_memory(four, sys);
  CHECK(p1.fit != MemoryFit::TooLarge);
  CHECK(p4.max_ctx < p1.max_ctx / 3);
  if (p4.fit == MemoryFit::TooLarge) {
    try {
      check_memory(p4);
    } catch (const ResourceError& e) {
      CHECK(std::string(e.what()).find("x 4 sessions") != std::string::npos);
    }
  }

  // Unknown system memory never blocks.
  p = plan_memory(n, SystemMemory{});
  CHECK(p.fit == MemoryFit::InRam);
  CHECK(describe(p).find("unknown") != std::string::npos);
}

TEST_CASE("memory_needs of the tiny model match a real Session") {
  ModelParams mp;
  mp.path = test::model_path("tiny-dsv3/tiny-dsv3-q4_k_m.gguf");
  auto model = Model::load(mp);
  for (CacheType ct : {CacheType::F16, CacheType::F32, CacheType::Q8_0}) {
    SessionParams sp;
    sp.n_ctx = 256;
    sp.n_threads = 1;
    sp.cache_type = ct;
    MemoryNeeds n = memory_needs(*model, sp);
    Session s(model, sp);
    SessionStats st = s.stats();
    CHECK(n.n_ctx == s.n_ctx());
    CHECK(n.cache_bytes_per_token == st.cache_bytes_per_token);
    CHECK(n.cache_bytes() == st.cache_bytes_total);
    CHECK(n.file_bytes == model->file().file_size());
    CHECK(n.active_bytes_per_token == model->active_bytes_per_token());
    CHECK(n.routed_bytes_per_token > 0);
    CHECK(n.routed_bytes_per_token < n.routed_bytes_total);
    CHECK(n.routed_bytes_per_token < n.active_bytes_per_token);
  }
  // n_ctx is clamped to the training context like Session does.
  SessionParams sp;
  sp.n_ctx = 1 << 30;
  CHECK(memory_needs(*model, sp).n_ctx == model->hparams().n_ctx_train);
  // The tiny model fits on any test machine.
  MemoryPlan p = plan_memory(*model, SessionParams{});
  MESSAGE(describe(p));
  CHECK(p.fit == MemoryFit::InRam);
  CHECK_NOTHROW(check_memory(p));
  // Locking the tiny model's mapping works (or fails with the RLIMIT_MEMLOCK message, never silently).
  try {
    lock_mapping(model->file().base(), model->file().file_size(), "tiny");
    munlock(model->file().base(), model->file().file_size());
  } catch (const ResourceError& e) {
    CHECK(std::string(e.what()).find("RLIMIT_MEMLOCK") != std::string::npos);
  }
  // A lock larger than the available memory is refused before mlock() is tried.
  const uint64_t avail = read_system_memory().available();
  if (avail > 0 && avail < (uint64_t(1) << 46)) {
    CHECK_THROWS_WITH_AS(lock_mapping(model->file().base(), avail + GiB, "huge"),
                         doctest::Contains("refused: only"), ResourceError);
  }
}

TEST_CASE("mlock errors name RLIMIT_MEMLOCK and the remedy") {
  const std::string m = mlock_error_message("m.gguf", 3 * GiB, ENOMEM, 8 * MiB, 8 * MiB);
  CHECK(m.find("m.gguf: --mlock of 3.0 GiB failed") == 0);
  CHECK(m.find("RLIMIT_MEMLOCK is 8.0 MiB (hard 8.0 MiB)") != std::string::npos);
  CHECK(m.find("ulimit -l") != std::string::npos);
  CHECK(mlock_error_message("m", 10, EPERM, 0, 0).find("not permitted") != std::string::npos);
  CHECK(mlock_error_message("m", 10, ENOMEM, RLIM_INFINITY, RLIM_INFINITY).find("unlimited") != std::string::npos);

  // A real mlock beyond a tiny soft limit fails with that message (skipped when we may lock anyway, e.g. root
  // with CAP_IPC_LOCK, where the lock succeeds and is undone).
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_MEMLOCK, &old) == 0);
  rlimit tiny = old;
  tiny.rlim_cur = 4096;
  if (setrlimit(RLIMIT_MEMLOCK, &tiny) == 0) {
    std::vector<char> buf(16 * MiB, 1);
    try {
      lock_mapping(buf.data(), buf.size(), "buffer");
      munlock(buf.data(), buf.size());
      MESSAGE("mlock succeeded despite a 4 KiB limit (CAP_IPC_LOCK)");
    } catch (const ResourceError& e) {
      CHECK(std::string(e.what()).find("buffer: --mlock of 16.0 MiB failed") == 0);
      CHECK(std::string(e.what()).find("RLIMIT_MEMLOCK is 4.0 KiB") != std::string::npos);
    }
    setrlimit(RLIMIT_MEMLOCK, &old);
  }
  CHECK_NOTHROW(lock_mapping(nullptr, 0, "nothing"));
}

TEST_CASE("populate_mapping maps a file mapping's pages, never throws, and refuses what cannot fit") {
  // An empty or absent region: nothing to do.
  CHECK_FALSE(populate_mapping(nullptr, 4096));
  // A real read-only file mapping (the tiny model), unaligned start: every page becomes resident (mincore).
  const std::string path = latte::test::shared_dir() + "/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf";
  auto f = gguf::File::open(path);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uint8_t* base = f->base() + 100;
  const size_t bytes = f->file_size() - 100;
  std::vector<float> seen;
  REQUIRE(populate_mapping(base, bytes, [&](float v) { seen.push_back(v); }));
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back() == doctest::Approx(1.0f));
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] >= seen[i - 1]);
  const uintptr_t first = reinterpret_cast<uintptr_t>(base) / page * page;
  const size_t span = reinterpret_cast<uintptr_t>(base) + bytes - first;
  std::vector<unsigned char> resident((span + page - 1) / page);
  REQUIRE(::mincore(reinterpret_cast<void*>(first), span, resident.data()) == 0);
  size_t in = 0;
  for (unsigned char r : resident) in += r & 1;
  CHECK(in == resident.size());
  // A region larger than any machine's memory is refused up front (and not touched: the pointer is bogus).
  CHECK_FALSE(populate_mapping(reinterpret_cast<const void*>(uintptr_t{1} << 40), size_t{1} << 62));
}
