// Thread facade: the only place that knows about OpenMP. Model code says "parallel over rows".
// A ThreadPool is a thread count plus OpenMP's persistent worker team (no thread creation per op
// after the first region). Not re-entrant: do not call parallel_for from inside a parallel_for body.
#pragma once
#include <cstdint>
#include <functional>

namespace latte {

// Physical cores of this machine (hyper-threads not counted); at least 1.
int physical_cores();
// The thread count used when none is given (-t 0 / n_threads = 0): physical cores (one thread per core; decode is
// memory-bound, hyper-threads add contention, not bandwidth).
int default_threads();

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads = 0);  // 0 = default_threads()
  int size() const { return n_; }

  // Splits [0, n) into at most size() contiguous chunks, aligned to `grain` items, and calls
  // body(begin, end, thread_index) once per chunk, concurrently. Returns when all are done.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& body, int64_t grain = 1) const;

  // Calls body(i, thread_index) once for every item i in [0, n): the team's threads take items one at a time from
  // a shared atomic counter (dynamic schedule; list the costliest items first so that the last ones are small).
  // Returns when all are done.
  void parallel_items(int64_t n, const std::function<void(int64_t, int)>& body) const;

  // Calls body(thread_index, n_threads) on every thread of the team (for custom splits).
  void run_on_all(const std::function<void(int, int)>& body) const;

 private:
  int n_;
};

}  // namespace latte
