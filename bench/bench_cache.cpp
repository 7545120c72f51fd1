// Latent-cache attention microbenchmark at V2-Lite decode shapes: one new token (H query heads) attending over
// N cached rows in each of L layers, per cache type, reading the encoded rows directly (cache_attention), plus the
// older approach of converting the whole layer cache to f32 first ("f16+copy").
//   bench_cache [-t THREADS] [-n ROWS] [-L LAYERS] [-H HEADS] [--nkv 512] [--rope 64] [-r REPS]
// Reports per cache type: bytes per token (all layers), cache size, and the median time of one decode step's
// attention over all layers (ms) with min..max over REPS passes after one warm-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/cache/cache_codec.h"
#include "runtime/compute/threads.h"

using namespace latte;

int main(int argc, char** argv) {
  int threads = 0, reps = 5;
  int64_t n = 8192, L = 27, H = 16, nkv = 512, rope = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (a == "-t") threads = static_cast<int>(v);
    else if (a == "-n") n = v;
    else if (a == "-L") L = v;
    else if (a == "-H") H = v;
    else if (a == "--nkv") nkv = v;
    else if (a == "--rope") rope = v;
    else if (a == "-r") reps = static_cast<int>(v);
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  ThreadPool pool(threads);
  const int64_t W = nkv + rope;
  std::printf("latent attention, decode step: %lld rows x %lld layers, %lld heads, kv_lora %lld + rope %lld, %d threads\n",
              static_cast<long long>(n), static_cast<long long>(L), static_cast<long long>(H),
              static_cast<long long>(nkv), static_cast<long long>(rope), pool.size());
  std::printf("%-10s %12s %12s %12s %18s\n", "cache", "B/token", "cache MiB", "ms/step", "(min..max)");

  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(H * W));
  for (auto& x : q) x = nd(rng) * 0.05f;
  std::vector<int64_t> lim(static_cast<size_t>(H), n);
  std::vector<float> olat(static_cast<size_t>(H * nkv)), row(static_cast<size_t>(W));

  struct Case { const char* name; CacheType t; bool copy; };
  const Case cases[] = {{"f32", CacheType::F32, false}, {"f16", CacheType::F16, false},
                        {"bf16", CacheType::BF16, false}, {"q8_0", CacheType::Q8_0, false},
                        {"q4_h", CacheType::Q4_H, false}, {"f16+copy", CacheType::F16, true}};
  for (const Case& cs : cases) {
    const CacheCodec c(cs.t, nkv, rope);
    const CacheCodec f32(CacheType::F32, nkv, rope);
    const size_t rb = c.row_bytes();
    std::vector<std::vector<uint8_t>> layers(static_cast<size_t>(L));
    // Encode one random layer, replicate (distinct memory per layer, so the last-level cache does not hold it).
    std::vector<uint8_t> base(rb * static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      for (auto& x : row) x = nd(rng);
      c.encode(row.data(), row.data() + nkv, base.data() + static_cast<size_t>(j) * rb);
    }
    for (auto& l : layers) l = base;
    std::vector<uint8_t> copy(cs.copy ? f32.row_bytes() * static_cast<size_t>(n) : 0);
    CacheAttnScratch s;
    std::vector<double> times;
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t l = 0; l < L; ++l) {
        const uint8_t* rows = layers[static_cast<size_t>(l)].data();
        if (cs.copy) {  // whole-layer conversion to f32, then attention over the copy
          pool.parallel_for(n, [&](int64_t a, int64_t b, int) {
            for (int64_t j = a; j < b; ++j)
              c.decode(rows + static_cast<size_t>(j) * rb, reinterpret_cast<float*>(copy.data()) + j * W);
          }, 64);
          cache_attention(f32, copy.data(), q.data(), lim.data(), H, 0.1f, olat.data(), s, &pool);
        } else {
          cache_attention(c, rows, q.data(), lim.data(), H, 0.1f, olat.data(), s, &pool);
        }
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    std::printf("%-10s %12zu %12.1f %12.2f %8.2f..%-8.2f\n", cs.name, rb * static_cast<size_t>(L),
                static_cast<double>(rb) * static_cast<double>(n * L) / (1 << 20), times[times.size() / 2],
                times.front(), times.back());
  }
  return 0;
}
