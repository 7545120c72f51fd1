// OpProfile: optional per-product accounting of a forward pass (latte bench --profile). Ops adds one entry per
// weight product call: the tensor's role ("ffn_gate_exps", "attn_output", …: its name without "blk.N." and
// ".weight"), its type, the weight bytes the call read and the wall time of the call (the parallel region
// included, so fork/join and load imbalance count). Time spent outside products (norms, routing, attention
// scores, activation quantization of non-batched products) is the session's wall time minus the sum.
// Not thread-safe: written by the thread that drives Ops (one per session), read after the pass.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace latte {

struct OpProfile {
  struct Entry {
    std::string role;   // tensor role, "+" joined with the other roles of a batched region ("ffn_gate_exps+…")
    std::string type;   // weight type name of the first product
    uint64_t calls = 0;
    uint64_t bytes = 0;   // weight bytes read (rows × row bytes)
    double seconds = 0;   // wall time of the calls
    double cpu_seconds = 0;  // CPU time of the calling thread in the calls (its share of the work + its waits;
                             // with one thread: the whole work, immune to other jobs on the machine)
  };
  std::vector<Entry> entries;

  void add(const std::string& role, const char* type, uint64_t bytes, double seconds, double cpu_seconds) {
    for (auto& e : entries)
      if (e.role == role && e.type == type) {
        ++e.calls;
        e.bytes += bytes;
        e.seconds += seconds;
        e.cpu_seconds += cpu_seconds;
        return;
      }
    entries.push_back({role, type, 1, bytes, seconds, cpu_seconds});
  }
  void clear() { entries.clear(); }

  // "blk.12.ffn_gate_exps.weight" -> "ffn_gate_exps"; other names unchanged apart from a ".weight" suffix.
  static std::string role_of(const char* name) {
    std::string s = name ? name : "";
    if (s.rfind("blk.", 0) == 0) {
      const size_t dot = s.find('.', 4);
      if (dot != std::string::npos) s = s.substr(dot + 1);
    }
    const size_t w = s.rfind(".weight");
    if (w != std::string::npos && w + 7 == s.size()) s.resize(w);
    return s;
  }
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  static double cpu_now() {  // CPU time of the calling thread
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
};

}  // namespace latte
