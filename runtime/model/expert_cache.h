// ExpertCache: routed experts of a model larger than its memory budget (issue 18), served from fixed-size slots
// in one anonymous, huge-page-advised mapping and filled by explicit reads (pread, O_DIRECT when the file system
// allows it, so the page cache does not hold a second copy charged to the cgroup) instead of kernel paging.
//
// One slot = one expert of one layer: its gate [E, Fe], up [E, Fe] and down [Fe, E] rows. In the GGUF the rows of
// an expert are contiguous inside each stacked tensor (matrix e = rows e*Fe .. (e+1)*Fe), so a slot is three reads.
// A slot hands the kernels three 2-D TensorViews, exactly like ModelWeights' matrix(e) (plain, or row-interleaved
// as the load-time repack makes them when `interleave` is set: the bytes are read into a staging buffer and
// interleaved into the slot), so gemv / tile kernels run unchanged and the products are bit-identical to the fully
// resident model with the same layout.
//
// Use: acquire() pins a set of experts of one layer (hits stay, misses take an unpinned slot chosen by the
// replacement policy and are queued to the I/O threads); the caller computes the ready ones first, wait()s for the
// rest, then release()s. Pinned slots are never evicted.
// Thread-safety: all members may be called from any thread (one mutex; the I/O threads read outside it).
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "runtime/compute/tensor_view.h"
#include "runtime/model/expert_policy.h"

namespace latte {

struct ExpertViews {
  TensorView gate, up, down;  // 2-D views of one expert (ne[2] = 1), pointing into its slot
};

struct ExpertCacheStats {
  uint64_t hits = 0, misses = 0;  // expert acquisitions (per layer and call: decode = per token)
  uint64_t bytes_read = 0;        // bytes read from the file (including O_DIRECT alignment)
  double read_seconds = 0.0;      // wall time during which at least one read was in flight
  double stall_seconds = 0.0;     // time callers waited in wait()
  int64_t tokens = 0;             // tokens advanced
  double hit_rate() const { return hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0.0; }
};
ExpertCacheStats operator-(const ExpertCacheStats& a, const ExpertCacheStats& b);

struct ExpertCacheConfig {
  std::string path;                      // the GGUF file (opened again for reads)
  const uint8_t* file_base = nullptr;    // the mapping's base: a view's file offset is data - file_base
  // Per layer: the stacked 3-D routed-expert views [gate, up, down] as mapped (invalid for dense layers).
  std::vector<std::array<TensorView, 3>> layers;
  int64_t n_expert = 0;                  // X
  int64_t n_slots = 0;
  std::array<int32_t, 3> ilv = {1, 1, 1};  // layout in the slot per part (1 = plain; see tensor_view.h)
  std::string policy = "lfu";            // expert_policy.h
  double half_life = kDefaultHalfLife;   // tokens (decayed LFU)
  int io_threads = 4;
  bool direct = true;                    // try O_DIRECT
  std::string trace_path;                // "": no trace; else acquisitions and token advances are written there
  bool prefault = true;                  // fault every slot in from a background thread (MADV_POPULATE_WRITE)
};

class ExpertCache {
 public:
  // Maps the slots and starts the I/O threads. ResourceError if the mapping fails, IoError if the file cannot be
  // opened.
  explicit ExpertCache(ExpertCacheConfig cfg);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  // Bytes of one slot (the three parts, 4 KiB-aligned, with room for O_DIRECT alignment).
  static uint64_t slot_bytes_for(const std::array<TensorView, 3>& parts);
  // Bytes of the slot of a cache over these layers: each part as large as its largest layer's (invalid ignored).
  static uint64_t slot_bytes_for(const std::vector<std::array<TensorView, 3>>& layers);
  uint64_t slot_bytes() const { return slot_bytes_; }
  int64_t n_slots() const { return static_cast<int64_t>(slots_.size()); }
  uint64_t bytes() const { return slot_bytes_ * slots_.size(); }
  int64_t n_keys() const { return static_cast<int64_t>(key_slot_.size()); }  // layers × X (dense layers too)
  int64_t n_experts() const { return n_experts_; }  // routed experts of the MoE layers (what could be cached)
  // Most experts one caller should pin at once (half the slots, at least 1).
  int64_t max_pin() const { return std::max<int64_t>(1, n_slots() / 2); }
  const char* policy_name() const;
  bool direct_io() const { return fd_direct_ >= 0; }

  struct Ticket {
    int32_t layer = -1;
    std::vector<int32_t> slot;  // per acquired expert
  };
  // Pins experts ids[0..n) (distinct) of `layer`; tokens[i] = tokens using expert i in this call (policy weight;
  // nullptr = 1 each). Misses are queued for reading. When not enough slots are unpinned, waits for releases if
  // `wait_for_slots`, else returns false having pinned nothing. ArgumentError if n > n_slots().
  bool acquire(int32_t layer, const int32_t* ids, const int32_t* tokens, int64_t n, Ticket& t,
               bool wait_for_slots = true);
  bool ready(const Ticket& t, int64_t i) const;
  // Waits until expert i of the ticket is loaded; throws IoError if its read failed.
  const ExpertViews& wait(const Ticket& t, int64_t i);
  const ExpertViews& views(const Ticket& t, int64_t i) const;  // a ready one
  void release(Ticket& t);

  void advance(int64_t tokens);  // the policy's clock
  ExpertCacheStats stats() const;

 private:
  enum class State : uint8_t { Empty, Loading, Ready, Failed };
  struct Slot {
    int32_t key = -1;
    State state = State::Empty;
    int32_t pins = 0;
    uint8_t* mem = nullptr;
    ExpertViews v;
    std::string error;
  };
  void io_loop();
  void load(Slot& s, int32_t key, std::vector<uint8_t>& staging);  // outside the lock

  ExpertCacheConfig cfg_;
  uint64_t slot_bytes_ = 0;
  int64_t n_experts_ = 0;
  std::array<uint64_t, 3> part_off_{}, part_cap_{};
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  int fd_direct_ = -1, fd_ = -1;
  std::unique_ptr<ReplacementPolicy> policy_;

  mutable std::mutex mu_;
  std::condition_variable cv_io_, cv_done_;
  std::vector<Slot> slots_;
  std::vector<int32_t> key_slot_;  // key -> slot or -1
  std::deque<int32_t> queue_;      // slots to read
  std::vector<int32_t> cand_;      // scratch: evictable keys
  std::vector<int32_t> cand_slot_;
  bool stop_ = false;
  int in_flight_ = 0;
  double busy_start_ = 0.0;
  ExpertCacheStats st_;
  std::FILE* trace_ = nullptr;
  std::vector<std::thread> io_;
  std::thread prefault_;                   // faults the slots in at start (cfg_.prefault)
  std::atomic<bool> stop_prefault_{false};
};

}  // namespace latte
