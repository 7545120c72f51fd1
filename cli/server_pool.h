// A pool of N interchangeable slots (the server's sessions), free of the runtime: a request waits until a slot is
// free and gets the free slot whose cached tokens share the longest prefix with its prompt (so each session
// reuses its cached prefix). Thread-safe: acquire/release from any thread.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

namespace latte::server {

class SlotPool {
 public:
  // common_prefix(slot, prompt): how many leading prompt tokens the slot already holds. Called under the pool
  // lock, only for free slots (so it may read the slot's state without racing its user).
  using PrefixFn = std::function<size_t(int slot, std::span<const int32_t> prompt)>;

  SlotPool(int n_slots, PrefixFn common_prefix);

  // RAII lease of one slot; returns it to the pool on destruction.
  class Lease {
   public:
    Lease() = default;
    Lease(SlotPool* pool, int slot) : pool_(pool), slot_(slot) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), slot_(o.slot_) { o.pool_ = nullptr; }
    Lease& operator=(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { reset(); }
    int slot() const { return slot_; }
    explicit operator bool() const { return pool_ != nullptr; }
    void reset();

   private:
    SlotPool* pool_ = nullptr;
    int slot_ = -1;
  };

  // Blocks until a slot is free. Among free slots picks the longest common prefix (ties: lowest index).
  Lease acquire(std::span<const int32_t> prompt);
  int size() const { return int(busy_.size()); }
  int n_busy() const;

 private:
  void release(int slot);
  PrefixFn common_prefix_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> busy_;
};

}  // namespace latte::server
