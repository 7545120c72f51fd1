// Load-time weight repack: copies the weight matrices that products read into one anonymous, 2 MiB-aligned
// mapping backed by transparent huge pages (MADV_HUGEPAGE: one TLB entry per 2 MiB instead of per 4 KiB page), in
// the row-interleaved layout (tensor_view.h, factor kInterleave) for the types whose kernel table has an
// interleaved gemv (KernelTable::gemv_il) and plain otherwise; then releases the copied ranges of the file mapping
// (MADV_DONTNEED: the process's resident size does not double; the file's pages stay in the page cache, and any
// later read of the old bytes simply faults them back in). Generic over views: no model-specific code.
// The copy runs on `threads` threads, each writing (and so first-touching) a contiguous share.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/compute/tensor_view.h"

namespace latte {
struct KernelTable;

// Owner of the anonymous mapping; views into it stay valid while it lives. Not copyable.
class RepackArena {
 public:
  RepackArena(void* base, size_t bytes) : base_(base), bytes_(bytes) {}
  ~RepackArena();
  RepackArena(const RepackArena&) = delete;
  RepackArena& operator=(const RepackArena&) = delete;
  size_t bytes() const { return bytes_; }

 private:
  void* base_;
  size_t bytes_;
};

struct RepackStats {
  uint64_t bytes = 0;              // bytes copied (= the arena's payload)
  uint64_t interleaved_bytes = 0;  // of which in the interleaved layout
  int64_t tensors = 0, interleaved = 0;
  bool huge_pages = false;         // madvise(MADV_HUGEPAGE) accepted
};

// Bytes repack_views would copy for these views (each view's rows of all matrices, 64-byte aligned per view).
uint64_t repack_bytes(const std::vector<TensorView*>& views);

// Copies every valid view of `views` (duplicates ignored) into a new arena and points the views at it (data, nb1,
// nb2 = contiguous, ilv). Views that are not valid or already repacked are left alone. The old bytes of views
// that lie inside [release_base, release_base + release_bytes) (the read-only file mapping) are released with
// MADV_DONTNEED; others (heap arenas) are left as they are. Throws ResourceError if the anonymous mapping cannot be
// made. progress(f), f in [0, 1], is called from the calling thread.
std::unique_ptr<RepackArena> repack_views(const std::vector<TensorView*>& views, const KernelTable& kt, int threads,
                                          const void* release_base, size_t release_bytes,
                                          RepackStats* stats = nullptr,
                                          const std::function<void(float)>& progress = {});

}  // namespace latte
