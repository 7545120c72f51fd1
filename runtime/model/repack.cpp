// Load-time repack into huge-page-backed anonymous memory (see repack.h).
#include "runtime/model/repack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <set>
#include <string>

#include "formats/error.h"
#include "quant/kernels.h"
#include "runtime/compute/threads.h"
#include "runtime/compute/weight_layout.h"

namespace latte {
namespace {

constexpr size_t kHuge = size_t{2} << 20;  // 2 MiB
constexpr size_t kAlign = 64;

size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

std::vector<TensorView*> unique_valid(const std::vector<TensorView*>& views) {
  std::vector<TensorView*> out;
  std::set<const TensorView*> seen;
  for (TensorView* v : views)
    if (v && v->valid() && v->tt && !v->interleaved() && seen.insert(v).second) out.push_back(v);
  return out;
}

// One unit of copy work: matrix `mat`, rows [r0, r0 + nr) of view `view` (r0 and nr multiples of the group).
struct Piece {
  size_t view;
  int64_t mat, r0, nr;
  uint64_t cost_end;  // cumulative bytes through this piece
};

}  // namespace

RepackArena::~RepackArena() {
  if (base_) ::munmap(base_, bytes_);
}

uint64_t repack_bytes(const std::vector<TensorView*>& views) {
  uint64_t total = 0;
  for (const TensorView* v : unique_valid(views)) total += align_up(v->bytes(), kAlign);
  return total;
}

std::unique_ptr<RepackArena> repack_views(const std::vector<TensorView*>& views_in, const KernelTable& kt,
                                          int threads, const void* release_base, size_t release_bytes,
                                          RepackStats* stats, const std::function<void(float)>& progress) {
  const std::vector<TensorView*> views = unique_valid(views_in);
  RepackStats st;
  std::vector<size_t> offset(views.size());
  std::vector<int> ilv(views.size(), 1);
  size_t total = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    const TensorView& v = *views[i];
    offset[i] = total;
    total += align_up(v.bytes(), kAlign);
    if (kt.gemv_il[static_cast<uint32_t>(v.type())] && v.ne[1] >= kInterleave && v.tt->block_elems > 1)
      ilv[i] = kInterleave;
  }
  if (views.empty() || total == 0) return nullptr;

  // Anonymous mapping, over-allocated by 2 MiB so that the used part starts on a huge-page boundary.
  const size_t map_bytes = align_up(total, kHuge) + kHuge;
  void* raw = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED)
    throw ResourceError("repack: cannot map " + std::to_string(map_bytes) + " bytes of anonymous memory");
  auto arena = std::make_unique<RepackArena>(raw, map_bytes);
  uint8_t* base = reinterpret_cast<uint8_t*>(align_up(reinterpret_cast<uintptr_t>(raw), kHuge));
#ifdef MADV_HUGEPAGE
  st.huge_pages = ::madvise(base, align_up(total, kHuge), MADV_HUGEPAGE) == 0;
#endif

  // Pieces of ~1 MiB (whole groups) so the split balances and progress moves.
  std::vector<Piece> pieces;
  uint64_t cost = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    const TensorView& v = *views[i];
    const size_t rb = v.row_bytes();
    const int64_t g = ilv[i];
    int64_t step = std::max<int64_t>(1, static_cast<int64_t>((size_t{1} << 20) / std::max<size_t>(rb, 1)));
    step = std::max<int64_t>(g, step / g * g);
    for (int64_t m = 0; m < v.ne[2]; ++m)
      for (int64_t r0 = 0; r0 < v.ne[1]; r0 += step) {
        const int64_t nr = std::min(step, v.ne[1] - r0);
        cost += static_cast<uint64_t>(nr) * rb;
        pieces.push_back({i, m, r0, nr, cost});
      }
  }
  std::atomic<uint64_t> done{0};
  auto copy = [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      const Piece& p = pieces[k];
      const TensorView& v = *views[p.view];
      const size_t rb = v.row_bytes();
      uint8_t* dst = base + offset[p.view] + (static_cast<size_t>(p.mat) * static_cast<size_t>(v.ne[1]) +
                                              static_cast<size_t>(p.r0)) * rb;
      // A piece holds whole groups except possibly the matrix's last piece, whose tail rows stay plain.
      interleave_rows(v.row(p.r0, p.mat), v.nb1, p.nr, rb, v.tt->block_bytes, ilv[p.view], dst);
      done.fetch_add(static_cast<uint64_t>(p.nr) * rb, std::memory_order_relaxed);
    }
  };
  ThreadPool pool(std::max(1, threads));
  const size_t n = pieces.size();
  pool.run_on_all([&](int t, int T) {
    auto bound = [&](int j) -> size_t {
      if (j >= T) return n;
      const uint64_t c = cost * static_cast<uint64_t>(j) / static_cast<uint64_t>(T);
      return static_cast<size_t>(std::upper_bound(pieces.begin(), pieces.end(), c,
                                                  [](uint64_t x, const Piece& p) { return x < p.cost_end; }) -
                                 pieces.begin());
    };
    const size_t b = t == 0 ? 0 : bound(t), e = bound(t + 1);
    if (t != 0 || !progress) {
      copy(b, e);
      return;
    }
    // Thread 0 copies its share piece by piece and reports everyone's progress in between.
    for (size_t k = b; k < e; ++k) {
      copy(k, k + 1);
      if ((k - b) % 64 == 0) progress(static_cast<float>(static_cast<double>(done.load()) / static_cast<double>(cost)));
    }
  });
  if (progress) progress(1.0f);

  // Point the views at the copies and release the copied ranges of the old mapping (whole pages inside them).
  const long page = ::sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < views.size(); ++i) {
    TensorView& v = *views[i];
    const uint8_t* old_begin = v.data;
    const uint8_t* old_end = v.data + (static_cast<size_t>(v.ne[2] - 1) * v.nb2 + static_cast<size_t>(v.ne[1]) * v.nb1);
    const size_t rb = v.row_bytes();
    v.data = base + offset[i];
    v.nb1 = rb;
    v.nb2 = rb * static_cast<size_t>(v.ne[1]);
    v.ilv = ilv[i];
    st.bytes += v.bytes();
    ++st.tensors;
    if (ilv[i] > 1) {
      st.interleaved_bytes += v.bytes();
      ++st.interleaved;
    }
    const auto* rb0 = static_cast<const uint8_t*>(release_base);
    if (page > 0 && rb0 && old_begin >= rb0 && old_end <= rb0 + release_bytes) {
      const uintptr_t a = align_up(reinterpret_cast<uintptr_t>(old_begin), static_cast<size_t>(page));
      const uintptr_t e = reinterpret_cast<uintptr_t>(old_end) / static_cast<uintptr_t>(page) * static_cast<uintptr_t>(page);
      if (e > a) ::madvise(reinterpret_cast<void*>(a), e - a, MADV_DONTNEED);  // best effort
    }
  }
  if (stats) *stats = st;
  return arena;
}

}  // namespace latte
