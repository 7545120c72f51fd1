// Phase profiler for the forward pass (`latte bench --profile`, LATTE_PROFILE=1): where a prompt's (or a decode
// step's) wall time goes, and how much of the threads' time is spent waiting.
//
// Model: the caller thread (the one that runs Session::eval) is always "in" one phase; Scope switches the phase for
// its lifetime and time is charged to the innermost phase only (exclusive), so the phases of a run sum to its wall
// time. Parallel regions (ThreadPool) report, per region, the region's wall time and each worker's busy time: a
// worker's idle time is the region's wall time minus its busy time (waiting at the join), plus the whole region for
// pool threads the region did not use. Time inside oneDNN / OpenBLAS calls (their own thread teams) is counted as
// "library" time of the phase (LibScope); the rest of a phase outside regions and libraries is serial (the other
// threads are idle then). GEMM products report their backend, weight type, shape and time (note_gemm).
//
// Cost when off: one branch on a global flag per Scope / region. When on: two steady_clock reads per scope switch
// and per worker per region.
// Thread-safety: the accumulated data is per caller thread (thread_local): profile one Session per thread; workers
// only write their own slot of a region's stack array, which the caller adds after the join. enable() is global.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace latte::profile {

enum class Phase : int {
  Other = 0,      // embeddings, norms, residuals, rope, cache writes, gathers (anything not named below)
  AttnProj,       // MLA / V4 attention projections (q, kv_a, q_b, k_b / v_b absorption, output)
  Attention,      // attention over the cache (scores, softmax, weighted sum)
  Router,         // router logits and top-k selection
  ActConvert,     // activation quantization / conversion for a product (Q8_K, Q8_0, bf16, s8)
  WeightConvert,  // per-call weight conversion for the BLAS / oneDNN backends
  RoutedExperts,  // routed-expert products (gate, up, down), SwiGLU, weighted sum
  SharedExperts,  // shared-expert products
  Dense,          // dense FFN layers
  OutputHead,     // final norm + output matrix
  kCount
};
constexpr int kPhases = static_cast<int>(Phase::kCount);
const char* phase_name(Phase p);

// Global switch (set once before a run; LATTE_PROFILE=1 sets it at start-up).
extern bool g_enabled;
inline bool enabled() { return g_enabled; }
void enable(bool on);

using Clock = std::chrono::steady_clock;

struct PhaseStats {
  double wall_s = 0;         // caller-thread time charged to the phase (exclusive)
  double region_s = 0;       // of which inside ThreadPool regions
  double lib_s = 0;          // of which inside oneDNN / OpenBLAS calls
  double idle_thread_s = 0;  // Σ over threads of time waiting inside the phase's regions
  uint64_t regions = 0;
};

struct GemmStats {
  std::string backend, type;  // e.g. "int8", "Q4_K"
  uint64_t calls = 0;
  double seconds = 0, flop = 0;  // flop = 2·n·m·k summed
};

struct Report {
  int threads = 0;
  double wall_s = 0;  // Σ phases
  PhaseStats phase[kPhases];
  std::vector<double> thread_idle_s;  // per pool thread: waiting inside regions + absent from regions
  std::vector<GemmStats> gemm;        // by (backend, type), first-use order
};

// Clears the calling thread's accumulated data; `threads` = pool size the idle columns refer to.
void reset(int threads);
// Snapshot of the calling thread's data (phase time of a still-open scope counted up to now).
Report snapshot();

// RAII phase switch (no-op when disabled at construction).
class Scope {
 public:
  explicit Scope(Phase p) {
    if (g_enabled) enter(p);
  }
  ~Scope() {
    if (active_) leave();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void enter(Phase p);
  void leave();
  bool active_ = false;
  Phase saved_ = Phase::Other;
};

// RAII: the enclosed time is library time (oneDNN / OpenBLAS run their own threads) of the current phase.
class LibScope {
 public:
  LibScope() {
    if (g_enabled) t0_ = Clock::now(), active_ = true;
  }
  ~LibScope();
  LibScope(const LibScope&) = delete;
  LibScope& operator=(const LibScope&) = delete;

 private:
  Clock::time_point t0_;
  bool active_ = false;
};

// Called by ThreadPool after a profiled region: wall seconds, busy seconds of the nt threads that ran.
void note_region(double wall_s, const double* busy_s, int nt);
// Called by the GEMM paths: one product of n tokens × m outputs × k inputs that took `seconds`.
void note_gemm(const char* backend, const char* type, int64_t n, int64_t m, int64_t k, double seconds);

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Markdown table of a report (title line, phases, per-thread idle, GEMM backends).
std::string format_markdown(const Report& r, const std::string& title);

}  // namespace latte::profile
