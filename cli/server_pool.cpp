// Slot pool of `latte serve` (see server_pool.h).
#include "cli/server_pool.h"

#include <stdexcept>

namespace latte::server {

SlotPool::SlotPool(int n_slots, PrefixFn common_prefix)
    : common_prefix_(std::move(common_prefix)), busy_(size_t(n_slots > 0 ? n_slots : 1), false) {}

SlotPool::Lease& SlotPool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    reset();
    pool_ = o.pool_;
    slot_ = o.slot_;
    o.pool_ = nullptr;
  }
  return *this;
}

void SlotPool::Lease::reset() {
  if (pool_) pool_->release(slot_);
  pool_ = nullptr;
}

SlotPool::Lease SlotPool::acquire(std::span<const int32_t> prompt) {
  std::unique_lock lock(mu_);
  for (;;) {
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < int(busy_.size()); ++i) {
      if (busy_[size_t(i)]) continue;
      size_t len = common_prefix_ ? common_prefix_(i, prompt) : 0;
      if (best < 0 || len > best_len) {
        best = i;
        best_len = len;
      }
    }
    if (best >= 0) {
      busy_[size_t(best)] = true;
      return Lease(this, best);
    }
    cv_.wait(lock);
  }
}

int SlotPool::n_busy() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (bool b : busy_) n += b;
  return n;
}

void SlotPool::release(int slot) {
  {
    std::lock_guard lock(mu_);
    busy_[size_t(slot)] = false;
  }
  cv_.notify_one();
}

}  // namespace latte::server
