// Memory planning (see memory_plan.h): system memory readers, the working-set estimate of a session, the
// classification, its description and the --mlock helper.
#include "runtime/session/memory_plan.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/cache/latent_cache.h"
#include "runtime/cache/v4_cache.h"
#include "runtime/model/weights.h"

namespace latte {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
// Resident memory of the process that is not a session's: code, tokenizer tables, allocator slack, thread stacks.
constexpr uint64_t kProcessOverhead = 64 * kMiB;
// Disk read speed assumed when turning disk bytes per token into seconds (a typical NVMe SSD).
constexpr double kAssumedDiskBytesPerSecond = 2.0e9;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "MemTotal:       16318460 kB" -> bytes; 0 if absent.
uint64_t meminfo_field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    std::string_view rest = trim(line.substr(key.size() + 1));
    uint64_t mult = 1;
    if (rest.size() >= 2 && rest.substr(rest.size() - 2) == "kB") {
      mult = kKiB;
      rest = trim(rest.substr(0, rest.size() - 2));
    }
    uint64_t v = 0;
    if (!parse_u64(rest, v)) return 0;
    return v * mult;
  }
  return 0;
}

// cgroup memory.max: "max" or bytes. Values >= 2^60 (cgroup v1's "unlimited") count as no limit.
uint64_t cgroup_bytes(std::string_view text) {
  uint64_t v = 0;
  if (!parse_u64(text, v)) return 0;
  return v >= (uint64_t(1) << 60) ? 0 : v;
}

bool read_text(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), {});
  return true;
}

std::string fixed1(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string limit_text(uint64_t v) { return v == static_cast<uint64_t>(RLIM_INFINITY) ? "unlimited" : format_bytes(v); }

}  // namespace

uint64_t SystemMemory::available() const {
  uint64_t a = mem_available ? mem_available : mem_total;
  if (cgroup_limit) {
    const uint64_t room = cgroup_limit > cgroup_usage ? cgroup_limit - cgroup_usage : 0;
    a = a ? std::min(a, room) : room;
  }
  return a;
}

SystemMemory parse_system_memory(std::string_view meminfo, std::string_view cgroup_max,
                                 std::string_view cgroup_current) {
  SystemMemory m;
  m.mem_total = meminfo_field(meminfo, "MemTotal");
  m.mem_available = meminfo_field(meminfo, "MemAvailable");
  if (!m.mem_available) m.mem_available = meminfo_field(meminfo, "MemFree");  // pre-3.14 kernels
  m.cgroup_limit = cgroup_bytes(cgroup_max);
  if (m.cgroup_limit) m.cgroup_usage = cgroup_bytes(cgroup_current);
  return m;
}

SystemMemory read_system_memory() {
  std::string meminfo, cmax, ccur;
  read_text("/proc/meminfo", meminfo);
  // cgroup v2: "0::/path" in /proc/self/cgroup; the files live at /sys/fs/cgroup/path (or at the root inside a
  // container whose namespace hides the path).
  // cgroup v1: "N:memory:/path" (the memory controller's hierarchy under /sys/fs/cgroup/memory).
  std::string self, dir = "/sys/fs/cgroup", v1 = "/sys/fs/cgroup/memory";
  bool v1_path = false;
  if (read_text("/proc/self/cgroup", self)) {
    std::istringstream in(self);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("0::", 0) == 0 && line.size() > 4) dir += line.substr(3);
      const size_t c1 = line.find(':'), c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
      if (c2 != std::string::npos) {
        const std::string ctrls = "," + line.substr(c1 + 1, c2 - c1 - 1) + ",";
        if (ctrls.find(",memory,") != std::string::npos && line.size() > c2 + 2) {
          v1 += line.substr(c2 + 1);
          v1_path = true;
        }
      }
    }
  }
  std::string stat_key = "inactive_file";
  if (!read_text(dir + "/memory.max", cmax)) {
    dir = "/sys/fs/cgroup";
    if (!read_text(dir + "/memory.max", cmax)) {
      // cgroup v1: our own group if it has the files, else the hierarchy's root.
      dir = v1;
      if (!read_text(dir + "/memory.limit_in_bytes", cmax) && v1_path) {
        dir = "/sys/fs/cgroup/memory";
        if (!read_text(dir + "/memory.limit_in_bytes", cmax)) dir.clear();
      }
      if (!dir.empty()) {
        read_text(dir + "/memory.usage_in_bytes", ccur);
        stat_key = "total_inactive_file";
      }
    } else {
      read_text(dir + "/memory.current", ccur);
    }
  } else {
    read_text(dir + "/memory.current", ccur);
  }
  SystemMemory m = parse_system_memory(meminfo, cmax, ccur);
  // The cgroup's usage includes page cache that the kernel reclaims before an OOM kill: do not count the
  // inactive file pages as used (what `docker stats` does too).
  if (m.cgroup_limit && !dir.empty()) {
    std::string stat;
    if (read_text(dir + "/memory.stat", stat)) {
      std::istringstream in(stat);
      std::string key;
      uint64_t v = 0;
      while (in >> key >> v)
        if (key == stat_key) m.cgroup_usage = m.cgroup_usage > v ? m.cgroup_usage - v : 0;
    }
  }
  return m;
}

const char* memory_fit_name(MemoryFit f) {
  switch (f) {
    case MemoryFit::InRam: return "in_ram";
    case MemoryFit::PagesFromFile: return "pages_from_file";
    case MemoryFit::TooLarge: return "too_large";
  }
  return "unknown";
}

std::string format_bytes(uint64_t b) {
  if (b < kKiB) return std::to_string(b) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b) / kKiB;
  int u = 0;
  while (v >= 1024.0 && u < 3) {
    v /= 1024.0;
    ++u;
  }
  return fixed1(v) + " " + units[u];
}

MemoryPlan plan_memory(const MemoryNeeds& needs, const SystemMemory& sys) {
  MemoryPlan p;
  p.needs = needs;
  p.sys = sys;
  p.available = sys.available();
  const uint64_t ws = needs.working_set();
  const uint64_t per_ctx = (needs.cache_bytes_per_token + needs.buffer_bytes_per_ctx) * needs.sessions();
  if (p.available == 0) {  // unknown (no /proc): nothing to say, do not block
    p.fit = MemoryFit::InRam;
    p.max_ctx = needs.n_ctx;
    return p;
  }
  // Largest context that fits in 90 % of what is available (rounded down to 256 tokens), as a -c suggestion.
  const uint64_t usable = p.available / 10 * 9;
  const uint64_t fixed = needs.buffer_bytes_fixed * needs.sessions() + needs.owned_weight_bytes;
  if (per_ctx > 0 && usable > fixed) {
    uint64_t m = (usable - fixed) / per_ctx;
    if (m >= 256) m = m / 256 * 256;
    p.max_ctx = static_cast<int64_t>(std::min<uint64_t>(m, uint64_t(1) << 40));
  }
  if (ws > p.available) {
    p.fit = MemoryFit::TooLarge;
    return p;
  }
  p.weight_budget = p.available - ws;
  if (needs.file_bytes <= p.weight_budget) {
    p.fit = MemoryFit::InRam;
    return p;
  }
  // The weights do not all fit: pages are read from the mapped file on demand and evicted LRU-ish. The part read
  // by every token (attention, dense FFNs, shared experts, router, LM head) stays hot if the budget holds it; the
  // routed experts share what is left, each resident with probability ~ left / routed_total.
  p.fit = MemoryFit::PagesFromFile;
  const uint64_t active = needs.active_bytes_per_token;
  const uint64_t routed_tok = std::min(needs.routed_bytes_per_token, active);
  const uint64_t always = active - routed_tok;
  if (p.weight_budget >= always) {
    if (needs.routed_bytes_total > 0) {
      const double left = static_cast<double>(p.weight_budget - always);
      const double resident = std::min(1.0, left / static_cast<double>(needs.routed_bytes_total));
      p.disk_bytes_per_token = static_cast<uint64_t>(static_cast<double>(routed_tok) * (1.0 - resident));
    }
  } else {
    // A per-token scan larger than the cache: LRU keeps nothing useful, every active byte comes from disk.
    p.disk_bytes_per_token = active;
  }
  return p;
}

MemoryNeeds memory_needs(const Model& model, const SessionParams& sp, int n_sessions) {
  const Hparams& hp = model.hparams();
  MemoryNeeds n;
  n.n_sessions = std::max(n_sessions, 1);
  // Repacked weights live in anonymous memory (working set); only the rest of the file needs the page cache.
  n.owned_weight_bytes = model.repacked_bytes();
  n.file_bytes = model.file().file_size() - std::min<uint64_t>(model.file().file_size(), model.repacked_bytes());
  n.active_bytes_per_token = model.active_bytes_per_token();
  for (const auto& L : model.weights().layers) {
    if (!L.moe) continue;
    for (const TensorView* v : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps})
      if (v->valid()) n.routed_bytes_total += v->bytes();
  }
  if (model.expert_cache()) {
    // Routed experts come from the expert cache, sized by the --mem budget at load (Model::memory_note): they are
    // not paged from the mapping.
    n.file_bytes -= std::min(n.file_bytes, n.routed_bytes_total);
    n.routed_bytes_total = 0;
    // The repack arena and the slots were allocated (and faulted in) at load, inside the budget: what is available
    // now is what the sessions get.
    n.owned_weight_bytes = 0;
  }
  if (hp.n_expert > 0)
    n.routed_bytes_per_token =
        n.routed_bytes_total * static_cast<uint64_t>(hp.n_expert_used) / static_cast<uint64_t>(hp.n_expert);

  // Context as Session clamps it.
  int64_t n_ctx = sp.n_ctx > 0 ? sp.n_ctx : hp.n_ctx_train;
  if (hp.n_ctx_train > 0) n_ctx = std::min<int64_t>(n_ctx, hp.n_ctx_train);
  if (n_ctx <= 0) throw ArgumentError("context size must be > 0");
  n.n_ctx = n_ctx;
  // Bytes per token of the cache type: a one-token cache computes it exactly (and rejects unusable types).
  if (model.arch() == Arch::Deepseek4) {
    // Compressed rows per token, plus the fixed window rings and compressor state spread over the context.
    const V4Hparams& v4 = model.v4_hparams();
    n.cache_bytes_per_token = static_cast<uint64_t>(std::ceil(
        V4Cache::bytes_per_token(v4, sp.cache_type) +
        static_cast<double>(V4Cache::fixed_bytes(v4, sp.cache_type)) / static_cast<double>(n_ctx)));
  } else {
    n.cache_bytes_per_token =
        LatentCache(hp.n_layer, 1, hp.kv_lora_rank, hp.qk_rope, sp.cache_type).bytes_per_token();
  }

  // Scratch of one forward pass over a micro-batch of b tokens (forward.cpp, mla.cpp, moe.cpp, ffn.cpp), in floats.
  const uint64_t b = static_cast<uint64_t>(std::clamp<int64_t>(sp.n_batch, 1, n_ctx));
  const uint64_t E = hp.n_embd, H = hp.n_head, W = hp.latent_dim(), Nkv = hp.kv_lora_rank;
  const uint64_t Dqk = hp.qk_head_dim(), Dv = hp.v_dim, Nq = hp.q_lora_rank, V = hp.n_vocab;
  const uint64_t X = hp.n_expert, K = hp.n_expert_used;
  const uint64_t F = std::max<uint64_t>(hp.n_ff, hp.n_ff_exp * std::max<uint64_t>(hp.n_expert_shared, 1));
  uint64_t floats = 4 * b * E;                                     // x, h, a, xo
  floats += b * (Nq + H * Dqk + W + H * W + H * Nkv + H * Dv);     // cq, q, kv, qcat, olat, o
  floats += b * (X + 2 * K) + 2 * b * E + 2 * b * F;               // router, gathered rows, gate/up
  floats += 2 * V;                                                 // logits + micro-batch scratch
  n.buffer_bytes_fixed = floats * 4 + kProcessOverhead;
  unsigned nth = sp.n_threads > 0 ? static_cast<unsigned>(sp.n_threads) : std::thread::hardware_concurrency();
  if (nth == 0) nth = 1;
  // Per context token: f32 rows of one layer's cache (not needed when the cache is f32) + one score per thread.
  n.buffer_bytes_per_ctx = (sp.cache_type == CacheType::F32 ? 0 : W * 4) + uint64_t(nth) * 4;
  return n;
}

MemoryPlan plan_memory(const Model& model, const SessionParams& sp, int n_sessions) {
  return plan_memory(memory_needs(model, sp, n_sessions), read_system_memory());
}

namespace {

std::string available_text(const MemoryPlan& p) {
  std::string s = format_bytes(p.available) + " available";
  std::string detail;
  if (p.sys.mem_available) detail = "MemAvailable " + format_bytes(p.sys.mem_available);
  if (p.sys.mem_total) detail += (detail.empty() ? "" : " of ") + format_bytes(p.sys.mem_total);
  if (p.sys.cgroup_limit)
    detail += (detail.empty() ? "" : ", ") + std::string("cgroup limit ") + format_bytes(p.sys.cgroup_limit) +
              ", " + format_bytes(p.sys.cgroup_usage) + " used";
  if (!detail.empty()) s += " (" + detail + ")";
  return s;
}

std::string working_set_text(const MemoryNeeds& n) {
  std::string s = "working set " + format_bytes(n.working_set()) + " (latent cache " + format_bytes(n.cache_bytes()) +
                  " for n_ctx " + std::to_string(n.n_ctx);
  if (n.sessions() > 1) s += " x " + std::to_string(n.sessions()) + " sessions";
  s += " + buffers " + format_bytes(n.buffer_bytes());
  if (n.owned_weight_bytes) s += " + repacked weights " + format_bytes(n.owned_weight_bytes);
  return s + ")";
}

}  // namespace

std::string describe(const MemoryPlan& p) {
  const MemoryNeeds& n = p.needs;
  std::string s = "memory: model " + format_bytes(n.file_bytes) + " mapped, " + working_set_text(n) + "; ";
  if (p.available == 0) return s + "available memory unknown";
  s += available_text(p) + ": ";
  switch (p.fit) {
    case MemoryFit::InRam: return s + "fits in RAM";
    case MemoryFit::PagesFromFile: {
      const double secs = static_cast<double>(p.disk_bytes_per_token) / kAssumedDiskBytesPerSecond;
      return s + "the weights do not fit; about " + format_bytes(p.weight_budget) + " of them stay in the page " +
             "cache and the rest is paged in from the mapped file on demand\n" +
             "memory: expect about " + format_bytes(p.disk_bytes_per_token) + " of the " +
             format_bytes(n.active_bytes_per_token) + " read per token to come from disk (~" + fixed1(secs * 1000) +
             " ms per token at 2 GB/s): generation will be disk-bound; a smaller quantization or more RAM avoids it";
    }
    case MemoryFit::TooLarge: return s + "the working set does not fit";
  }
  return s;
}

void check_memory(const MemoryPlan& p) {
  if (p.fit != MemoryFit::TooLarge) return;
  const MemoryNeeds& n = p.needs;
  std::string msg = "latent cache for n_ctx " + std::to_string(n.n_ctx);
  if (n.sessions() > 1) msg += " x " + std::to_string(n.sessions()) + " sessions";
  msg += " needs " + format_bytes(n.cache_bytes()) + " (+ " + format_bytes(n.buffer_bytes()) + " buffers";
  if (n.owned_weight_bytes) msg += " + " + format_bytes(n.owned_weight_bytes) + " repacked weights";
  msg += "), only " + format_bytes(p.available) + " available";
  if (p.sys.cgroup_limit) msg += " (cgroup limit " + format_bytes(p.sys.cgroup_limit) + ")";
  if (p.max_ctx > 0) msg += "; use -c " + std::to_string(p.max_ctx) + " or less";
  else msg += "; even a tiny context does not fit: free memory or raise the limit";
  throw ResourceError(msg);
}

std::string mlock_error_message(const std::string& what, size_t bytes, int err, uint64_t soft, uint64_t hard) {
  std::string m = what + ": --mlock of " + format_bytes(bytes) + " failed: ";
  const std::string limits = "RLIMIT_MEMLOCK is " + limit_text(soft) + " (hard " + limit_text(hard) + ")";
  const std::string fix =
      "; raise it (ulimit -l unlimited; memlock in /etc/security/limits.conf, LimitMEMLOCK= for systemd, "
      "--ulimit memlock=-1 for docker) or run without --mlock";
  switch (err) {
    case EPERM: return m + "not permitted (" + limits + ", no CAP_IPC_LOCK)" + fix;
    case ENOMEM:
      if (soft != static_cast<uint64_t>(RLIM_INFINITY) && bytes > soft) return m + "larger than " + limits + fix;
      return m + "not enough RAM to lock it (" + limits + ")";
    case EAGAIN: return m + "some pages could not be locked (" + limits + ")" + fix;
    default: return m + std::strerror(err);
  }
}

void lock_mapping(const void* addr, size_t bytes, const std::string& what) {
  if (bytes == 0 || addr == nullptr) return;
  const SystemMemory sys = read_system_memory();
  if (const uint64_t avail = sys.available(); avail > 0 && bytes > avail)
    throw ResourceError(what + ": --mlock of " + format_bytes(bytes) + " refused: only " + format_bytes(avail) +
                        " available" + (sys.cgroup_limit ? " (cgroup limit " + format_bytes(sys.cgroup_limit) + ")" : "") +
                        "; run without --mlock (weights are then paged from the file)");
  if (::mlock(addr, bytes) == 0) return;
  const int err = errno;
  rlimit rl{};
  uint64_t soft = 0, hard = 0;
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
    soft = rl.rlim_cur;
    hard = rl.rlim_max;
  }
  throw ResourceError(mlock_error_message(what, bytes, err, soft, hard));
}

bool populate_mapping(const void* addr, size_t bytes, const std::function<void(float)>& progress) {
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif
  if (addr == nullptr || bytes == 0) return false;
  const uint64_t avail = read_system_memory().available();
  if (avail > 0 && bytes > avail / 10 * 9) return false;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = reinterpret_cast<uintptr_t>(addr) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(addr) + bytes;
  constexpr size_t kChunk = size_t{64} << 20;
  bool madvise_ok = true;
  for (uintptr_t p = first; p < end; p += kChunk) {
    const size_t len = std::min<uintptr_t>(kChunk, end - p);
    if (madvise_ok && ::madvise(reinterpret_cast<void*>(p), len, MADV_POPULATE_READ) != 0) madvise_ok = false;
    if (!madvise_ok) {
      volatile uint8_t sink = 0;
      for (uintptr_t q = std::max(p, reinterpret_cast<uintptr_t>(addr)); q < p + len; q += page)
        sink = sink + *reinterpret_cast<const volatile uint8_t*>(q);
      (void)sink;
    }
    if (progress) progress(static_cast<float>(static_cast<double>(p + len - first) / static_cast<double>(end - first)));
  }
  return true;
}

}  // namespace latte
