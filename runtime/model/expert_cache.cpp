// Expert cache: slots, pinning, replacement and the I/O threads (see expert_cache.h).
#include "runtime/model/expert_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "formats/error.h"
#include "runtime/compute/weight_layout.h"

namespace latte {
namespace {

constexpr uint64_t kPage = 4096;                // O_DIRECT alignment (offset, length, buffer)
constexpr size_t kHuge = size_t{2} << 20;

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Reads exactly `len` bytes at `off` (short reads retried; EOF past `need` bytes is fine for O_DIRECT tails).
// Returns "" or the error text.
std::string read_full(int fd, uint8_t* dst, uint64_t len, uint64_t off, uint64_t need) {
  uint64_t got = 0;
  while (got < len) {
    const ssize_t r = ::pread(fd, dst + got, len - got, static_cast<off_t>(off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return std::strerror(errno);
    }
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  return got >= need ? "" : "short read";
}

}  // namespace

ExpertCacheStats operator-(const ExpertCacheStats& a, const ExpertCacheStats& b) {
  ExpertCacheStats d;
  d.hits = a.hits - b.hits;
  d.misses = a.misses - b.misses;
  d.bytes_read = a.bytes_read - b.bytes_read;
  d.read_seconds = a.read_seconds - b.read_seconds;
  d.stall_seconds = a.stall_seconds - b.stall_seconds;
  d.tokens = a.tokens - b.tokens;
  return d;
}

uint64_t ExpertCache::slot_bytes_for(const std::array<TensorView, 3>& parts) {
  uint64_t b = 0;
  for (const TensorView& v : parts)
    if (v.valid()) b += round_up(v.row_bytes() * static_cast<uint64_t>(v.ne[1]), kPage) + kPage;
  return b;
}

uint64_t ExpertCache::slot_bytes_for(const std::vector<std::array<TensorView, 3>>& layers) {
  uint64_t cap[3] = {0, 0, 0};
  for (const auto& L : layers)
    for (size_t p = 0; p < 3; ++p)
      if (L[p].valid()) cap[p] = std::max(cap[p], slot_bytes_for({L[p], TensorView{}, TensorView{}}));
  return cap[0] + cap[1] + cap[2];
}

ExpertCache::ExpertCache(ExpertCacheConfig cfg) : cfg_(std::move(cfg)) {
  // Part capacities: the largest part over the layers (+ a page for the O_DIRECT head misalignment).
  for (const auto& L : cfg_.layers)
    for (int p = 0; p < 3; ++p)
      if (L[static_cast<size_t>(p)].valid())
        part_cap_[static_cast<size_t>(p)] =
            std::max(part_cap_[static_cast<size_t>(p)],
                     round_up(L[static_cast<size_t>(p)].row_bytes() * static_cast<uint64_t>(L[static_cast<size_t>(p)].ne[1]), kPage) + kPage);
  part_off_ = {0, part_cap_[0], part_cap_[0] + part_cap_[1]};
  for (const auto& L : cfg_.layers) n_experts_ += L[0].valid() ? cfg_.n_expert : 0;
  slot_bytes_ = part_cap_[0] + part_cap_[1] + part_cap_[2];
  if (cfg_.n_slots <= 0 || slot_bytes_ == 0) throw ArgumentError("expert cache: no slots");
  policy_ = make_policy(cfg_.policy, static_cast<int64_t>(cfg_.layers.size()) * cfg_.n_expert, cfg_.half_life);

  fd_ = ::open(cfg_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError("expert cache: cannot open '" + cfg_.path + "': " + std::strerror(errno));
#ifdef O_DIRECT
  if (cfg_.direct) fd_direct_ = ::open(cfg_.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
#endif

  map_bytes_ = round_up(slot_bytes_ * static_cast<uint64_t>(cfg_.n_slots), kHuge) + kHuge;
  void* raw = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) {
    ::close(fd_);
    if (fd_direct_ >= 0) ::close(fd_direct_);
    throw ResourceError("expert cache: cannot map " + std::to_string(map_bytes_) + " bytes of anonymous memory");
  }
  map_ = raw;
  uint8_t* base = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(raw), kHuge));
  const size_t used = round_up(slot_bytes_ * static_cast<uint64_t>(cfg_.n_slots), kHuge);
#ifdef MADV_HUGEPAGE
  ::madvise(base, used, MADV_HUGEPAGE);  // best effort
#endif
  slots_.resize(static_cast<size_t>(cfg_.n_slots));
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].mem = base + i * slot_bytes_;
  key_slot_.assign(cfg_.layers.size() * static_cast<size_t>(cfg_.n_expert), -1);
  if (!cfg_.trace_path.empty()) trace_ = std::fopen(cfg_.trace_path.c_str(), "w");  // best effort (measurement)
  for (int i = 0; i < std::max(1, cfg_.io_threads); ++i) io_.emplace_back([this] { io_loop(); });
  // Fault the slots in early (zeroed huge pages; under a cgroup limit also the reclaim and compaction that finds
  // them), not inside the first reads of generation, where it cost more than the reads themselves (0.4 instead of
  // ~1 GB/s on the dev box). Best effort: without MADV_POPULATE_WRITE (Linux < 5.14) the reads fault them.
  // On a thread of its own, in 64 MiB steps from the end (slots are taken from the front, so the first reads rarely
  // meet it); a page already faulted in by a read is left as it is.
  if (cfg_.prefault) {
#ifdef MADV_POPULATE_WRITE
    prefault_ = std::thread([this, base, used] {
      constexpr size_t kStep = size_t{64} << 20;
      for (size_t end = used; end > 0 && !stop_prefault_.load(std::memory_order_relaxed);) {
        const size_t begin = end > kStep ? end - kStep : 0;
        if (::madvise(base + begin, end - begin, MADV_POPULATE_WRITE) != 0) break;  // best effort
        end = begin;
      }
    });
#endif
  }
}

ExpertCache::~ExpertCache() {
  stop_prefault_.store(true);
  if (prefault_.joinable()) prefault_.join();
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_io_.notify_all();
  for (auto& t : io_) t.join();
  if (map_) ::munmap(map_, map_bytes_);
  if (fd_ >= 0) ::close(fd_);
  if (fd_direct_ >= 0) ::close(fd_direct_);
  if (trace_) std::fclose(trace_);
}

const char* ExpertCache::policy_name() const { return policy_->name(); }

bool ExpertCache::acquire(int32_t layer, const int32_t* ids, const int32_t* tokens, int64_t n, Ticket& t,
                          bool wait_for_slots) {
  if (n > n_slots())
    throw ArgumentError("expert cache: " + std::to_string(n) + " experts at once, the cache has " +
                        std::to_string(n_slots()) + " slots");
  std::unique_lock<std::mutex> lk(mu_);
  const size_t kbase = static_cast<size_t>(layer) * static_cast<size_t>(cfg_.n_expert);
  for (;;) {
    int64_t need = 0;
    for (int64_t i = 0; i < n; ++i) need += key_slot_[kbase + static_cast<size_t>(ids[i])] < 0;
    int64_t free_slots = 0;
    for (const Slot& s : slots_) free_slots += s.pins == 0 && s.state != State::Loading;
    // Hits are pinned below, so only unpinned slots that are not hits can take misses; the check is exact
    // enough: a hit that is unpinned counts in free_slots, so require need + unpinned hits.
    int64_t unpinned_hits = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t s = key_slot_[kbase + static_cast<size_t>(ids[i])];
      if (s >= 0 && slots_[static_cast<size_t>(s)].pins == 0 && slots_[static_cast<size_t>(s)].state != State::Loading)
        ++unpinned_hits;
    }
    if (need + unpinned_hits <= free_slots) break;
    if (!wait_for_slots) return false;
    cv_done_.wait(lk);
  }
  t.layer = layer;
  t.slot.assign(static_cast<size_t>(n), -1);
  if (trace_)
    for (int64_t i = 0; i < n; ++i) std::fprintf(trace_, "%d %d %d\n", layer, ids[i], tokens ? tokens[i] : 1);
  // Hits first (pinned, so the misses cannot evict them).
  for (int64_t i = 0; i < n; ++i) {
    const int32_t key = static_cast<int32_t>(kbase) + ids[i];
    const int32_t s = key_slot_[static_cast<size_t>(key)];
    policy_->touch(key, tokens ? tokens[i] : 1.0);
    if (s < 0) continue;
    ++slots_[static_cast<size_t>(s)].pins;
    t.slot[static_cast<size_t>(i)] = s;
    ++st_.hits;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (t.slot[static_cast<size_t>(i)] >= 0) continue;
    const int32_t key = static_cast<int32_t>(kbase) + ids[i];
    // An empty (or failed) unpinned slot if any, else the policy's victim among the unpinned ready ones.
    int32_t chosen = -1;
    cand_.clear();
    cand_slot_.clear();
    for (size_t j = 0; j < slots_.size() && chosen < 0; ++j) {
      const Slot& s = slots_[j];
      if (s.pins != 0 || s.state == State::Loading) continue;
      if (s.key < 0) chosen = static_cast<int32_t>(j);
      else {
        cand_.push_back(s.key);
        cand_slot_.push_back(static_cast<int32_t>(j));
      }
    }
    if (chosen < 0) {
      const int32_t vk = policy_->victim(cand_.data(), static_cast<int64_t>(cand_.size()));
      chosen = key_slot_[static_cast<size_t>(vk)];
      key_slot_[static_cast<size_t>(vk)] = -1;
    }
    Slot& s = slots_[static_cast<size_t>(chosen)];
    s.key = key;
    s.state = State::Loading;
    s.pins = 1;
    s.error.clear();
    key_slot_[static_cast<size_t>(key)] = chosen;
    t.slot[static_cast<size_t>(i)] = chosen;
    queue_.push_back(chosen);
    ++st_.misses;
  }
  lk.unlock();
  cv_io_.notify_all();
  return true;
}

bool ExpertCache::ready(const Ticket& t, int64_t i) const {
  std::lock_guard<std::mutex> lk(mu_);
  return slots_[static_cast<size_t>(t.slot[static_cast<size_t>(i)])].state == State::Ready;
}

const ExpertViews& ExpertCache::views(const Ticket& t, int64_t i) const {
  return slots_[static_cast<size_t>(t.slot[static_cast<size_t>(i)])].v;
}

const ExpertViews& ExpertCache::wait(const Ticket& t, int64_t i) {
  Slot& s = slots_[static_cast<size_t>(t.slot[static_cast<size_t>(i)])];
  std::unique_lock<std::mutex> lk(mu_);
  if (s.state == State::Loading) {
    const double t0 = now_s();
    cv_done_.wait(lk, [&] { return s.state != State::Loading; });
    st_.stall_seconds += now_s() - t0;
  }
  if (s.state == State::Failed) throw IoError("expert cache: " + s.error);
  return s.v;
}

void ExpertCache::release(Ticket& t) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (int32_t si : t.slot) {
      if (si < 0) continue;
      Slot& s = slots_[static_cast<size_t>(si)];
      if (--s.pins == 0 && s.state == State::Failed) {
        if (s.key >= 0 && key_slot_[static_cast<size_t>(s.key)] == si) key_slot_[static_cast<size_t>(s.key)] = -1;
        s.key = -1;
        s.state = State::Empty;
      }
    }
    t.slot.clear();
  }
  cv_done_.notify_all();
}

void ExpertCache::advance(int64_t tokens) {
  std::lock_guard<std::mutex> lk(mu_);
  policy_->advance(tokens);
  st_.tokens += tokens;
  if (trace_) {
    std::fprintf(trace_, "t %lld\n", static_cast<long long>(tokens));
    std::fflush(trace_);
  }
}

ExpertCacheStats ExpertCache::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  ExpertCacheStats s = st_;
  if (in_flight_ > 0) s.read_seconds += now_s() - busy_start_;
  return s;
}

void ExpertCache::io_loop() {
  // Staging for the interleaved layout and for misaligned buffered reads: one part, page-aligned.
  std::vector<uint8_t> staging;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_io_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const int32_t si = queue_.front();
    queue_.pop_front();
    Slot& s = slots_[static_cast<size_t>(si)];
    const int32_t key = s.key;
    if (in_flight_++ == 0) busy_start_ = now_s();
    lk.unlock();
    load(s, key, staging);  // only this thread touches the slot while it is Loading
    lk.lock();
    if (--in_flight_ == 0) st_.read_seconds += now_s() - busy_start_;
    s.state = s.error.empty() ? State::Ready : State::Failed;
    if (s.state == State::Failed) {
      if (key_slot_[static_cast<size_t>(key)] == si) key_slot_[static_cast<size_t>(key)] = -1;
    }
    cv_done_.notify_all();
  }
}

void ExpertCache::load(Slot& s, int32_t key, std::vector<uint8_t>& staging) {
  const size_t layer = static_cast<size_t>(key) / static_cast<size_t>(cfg_.n_expert);
  const int64_t e = key % cfg_.n_expert;
  const auto& parts = cfg_.layers[layer];
  ExpertViews v;
  TensorView* out[3] = {&v.gate, &v.up, &v.down};
  uint64_t read_bytes = 0;
  for (size_t p = 0; p < 3; ++p) {
    const TensorView& src = parts[p];
    const uint64_t rb = src.row_bytes();
    const uint64_t len = rb * static_cast<uint64_t>(src.ne[1]);
    const uint64_t off = static_cast<uint64_t>(src.data - cfg_.file_base) + static_cast<uint64_t>(e) * src.nb2;
    uint8_t* region = s.mem + part_off_[p];
    const uint64_t a = off / kPage * kPage, b = round_up(off + len, kPage);
    const bool plain = cfg_.ilv[p] <= 1;
    // Plain: straight into the slot (the view starts at the in-page offset). Interleaved: into staging first.
    uint8_t* dst = region;
    if (!plain) {
      if (staging.size() < part_cap_[p] + kPage) staging.resize(part_cap_[p] + kPage);
      dst = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(staging.data()), kPage));
    }
    std::string err = fd_direct_ >= 0 ? read_full(fd_direct_, dst, b - a, a, off + len - a) : "no O_DIRECT";
    if (!err.empty()) {
      // Buffered fallback (file systems without O_DIRECT); drop the pages again so they do not stay cached.
      err = read_full(fd_, dst, b - a, a, off + len - a);
      ::posix_fadvise(fd_, static_cast<off_t>(a), static_cast<off_t>(b - a), POSIX_FADV_DONTNEED);
    }
    if (!err.empty()) {
      s.error = "read of " + std::string(src.name) + " expert " + std::to_string(e) + " from '" + cfg_.path +
                "' failed: " + err;
      return;
    }
    read_bytes += b - a;
    TensorView w = src.matrix(e);
    w.nb1 = rb;
    w.nb2 = len;
    w.ilv = cfg_.ilv[p];
    if (plain) {
      w.data = dst + (off - a);
    } else {
      interleave_rows(dst + (off - a), rb, src.ne[1], rb, src.tt->block_bytes, cfg_.ilv[p], region);
      w.data = region;
    }
    *out[p] = w;
  }
  s.v = v;
  std::lock_guard<std::mutex> lk(mu_);
  st_.bytes_read += read_bytes;
}

}  // namespace latte
