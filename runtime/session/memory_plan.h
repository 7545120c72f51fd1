// Memory planning for models larger than RAM (issue 9): before a session allocates its latent cache, compare the
// mapped model file and the session's working set (latent cache + scratch buffers) with the memory this process
// may use (MemAvailable from /proc/meminfo, capped by the cgroup v2 limit in /sys/fs/cgroup/memory.max), and say
// what will happen:
//   - InRam:        file + working set fit; weights stay in the page cache after the first pass.
//   - PagesFromFile: the working set fits but the weights do not; the kernel pages weights in from the mapped file
//                   on demand, so every token re-reads the part of its active weights that is not resident
//                   (disk_bytes_per_token) — generation becomes disk-bound.
//   - TooLarge:     the working set itself (anonymous memory, cannot be paged back from the file) does not fit;
//                   check_memory() throws ResourceError with numbers and a -c that would fit, before allocating.
// Also lock_mapping(): mlock() a region (--mlock) with a clear RLIMIT_MEMLOCK error.
// All byte counts are bytes. Pure functions apart from read_system_memory() / lock_mapping(); thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "runtime/session/session.h"

namespace latte {

// What this process may use. 0 = unknown / no limit (for the cgroup fields).
struct SystemMemory {
  uint64_t mem_total = 0;       // MemTotal
  uint64_t mem_available = 0;   // MemAvailable (free + reclaimable page cache)
  uint64_t cgroup_limit = 0;    // memory.max of our cgroup (0 = "max" / no cgroup v2)
  uint64_t cgroup_usage = 0;    // memory.current of our cgroup (includes its page cache)
  // What a new allocation can get: min(MemAvailable, cgroup_limit - cgroup_usage), ignoring unknown values.
  uint64_t available() const;
};

// Parses the text of /proc/meminfo ("MemTotal:  16318460 kB" lines) and the cgroup files' text ("max\n" or a byte
// count). Missing or unparsable fields stay 0. Never throws.
SystemMemory parse_system_memory(std::string_view meminfo, std::string_view cgroup_max = {},
                                 std::string_view cgroup_current = {});
// Reads /proc/meminfo and, if present, /sys/fs/cgroup/memory.{max,current} (our own cgroup v2 directory from
// /proc/self/cgroup when it is mounted there), else cgroup v1's memory.{limit_in_bytes,usage_in_bytes} of our own
// group (the "memory" line of /proc/self/cgroup under /sys/fs/cgroup/memory, else that hierarchy's root); inactive
// file pages do not count as used. Never throws; fields it cannot read stay 0.
SystemMemory read_system_memory();

// What a model + session will need.
struct MemoryNeeds {
  uint64_t file_bytes = 0;              // mapped weights (whole file)
  uint64_t active_bytes_per_token = 0;  // weight bytes read per generated token (routed experts: top-k share)
  uint64_t routed_bytes_total = 0;      // all routed-expert bytes (0 for a dense model)
  uint64_t routed_bytes_per_token = 0;  // the routed share of active_bytes_per_token
  uint64_t owned_weight_bytes = 0;      // weights copied into anonymous memory (repack arena); part of the working set
  int64_t n_ctx = 0;                    // effective context (tokens) of each session
  int n_sessions = 1;                   // concurrent sessions, each with its own cache and buffers
  uint64_t cache_bytes_per_token = 0;   // latent cache bytes per token (all layers)
  uint64_t buffer_bytes_fixed = 0;      // scratch independent of n_ctx (activations, logits, overhead)
  uint64_t buffer_bytes_per_ctx = 0;    // scratch growing with n_ctx (f32 copy of a layer's cache rows, scores)
  uint64_t sessions() const { return n_sessions > 0 ? static_cast<uint64_t>(n_sessions) : 1; }
  uint64_t cache_bytes() const { return cache_bytes_per_token * static_cast<uint64_t>(n_ctx) * sessions(); }
  uint64_t buffer_bytes() const {
    return (buffer_bytes_fixed + buffer_bytes_per_ctx * static_cast<uint64_t>(n_ctx)) * sessions();
  }
  uint64_t working_set() const { return cache_bytes() + buffer_bytes() + owned_weight_bytes; }
};

enum class MemoryFit { InRam, PagesFromFile, TooLarge };
const char* memory_fit_name(MemoryFit f);

struct MemoryPlan {
  MemoryFit fit = MemoryFit::InRam;
  MemoryNeeds needs;
  SystemMemory sys;
  uint64_t available = 0;            // sys.available() at planning time
  uint64_t weight_budget = 0;        // page cache left for weights after the working set (available - working set)
  uint64_t disk_bytes_per_token = 0; // expected weight bytes read from disk per token (PagesFromFile; else 0)
  int64_t max_ctx = 0;               // largest context whose working set fits (0 if none does); a suggestion for -c
};

// Pure: classifies `needs` against `sys`. Never throws.
MemoryPlan plan_memory(const MemoryNeeds& needs, const SystemMemory& sys);
// Fills MemoryNeeds from a loaded model (mapping only: Model::load does not read the weights) and the session
// settings (n_ctx clamped like Session does, cache type, n_batch, n_threads) for `n_sessions` concurrent sessions
// (serve --parallel), then plans against read_system_memory(). Throws ArgumentError for an unusable cache type /
// n_ctx (like Session would).
MemoryNeeds memory_needs(const Model& model, const SessionParams& sp, int n_sessions = 1);
MemoryPlan plan_memory(const Model& model, const SessionParams& sp, int n_sessions = 1);

// Human-readable summary, one line per fact, e.g.
//   "memory: model 5.3 MiB mapped, working set 3.1 MiB (latent cache 1.0 MiB for n_ctx 4096 + buffers 2.1 MiB);
//    12.0 GiB available: fits in RAM"
// For PagesFromFile it names the resident share and the expected disk reads per token.
std::string describe(const MemoryPlan& p);
// Throws ResourceError when p.fit == TooLarge, e.g. "latent cache for n_ctx 163840 needs 10.8 GiB (+ 0.4 GiB
// buffers), only 6.2 GiB available (cgroup limit 8.0 GiB); use -c 90112 or less". Otherwise does nothing.
void check_memory(const MemoryPlan& p);

// "1.5 GiB", "12.0 MiB", "512 B" (binary units, one decimal).
std::string format_bytes(uint64_t bytes);

// mlock()s [addr, addr+bytes) (--mlock). First refuses (ResourceError) a lock larger than the available memory
// (locking it would push the process into an OOM kill); then throws ResourceError naming `what`, the size and the
// cause: the RLIMIT_MEMLOCK soft/hard limits for EPERM/ENOMEM/EAGAIN with the remedy (ulimit -l / CAP_IPC_LOCK /
// memlock in limits.conf). bytes == 0 does nothing. Undo with munlock() or by unmapping.
void lock_mapping(const void* addr, size_t bytes, const std::string& what);
// Message lock_mapping() would throw for errno `err` (exposed for tests). limits: RLIMIT_MEMLOCK soft/hard
// (RLIM_INFINITY shown as "unlimited").
std::string mlock_error_message(const std::string& what, size_t bytes, int err, uint64_t soft_limit,
                                uint64_t hard_limit);

// Maps every page of the read-only file mapping [addr, addr+bytes) into this process up front
// (MADV_POPULATE_READ, or one read per page on kernels older than 5.14), reading from disk what is not cached.
// Without it each first touch of a page during generation is a page fault (~1 µs per 64 KiB fault-around: on a
// 10 GB MoE model, a 10-20 % decode slowdown until every expert was used once). Does nothing and returns false
// when the mapping would not fit in available memory (it would only evict itself); returns true when populated.
// progress(f) (optional) is called with f in [0, 1]. Never throws.
bool populate_mapping(const void* addr, size_t bytes, const std::function<void(float)>& progress = {});

}  // namespace latte
