// Kernel microbenchmark: gemv throughput (GB/s of weight bytes read) per weight type and per ISA, against a
// streaming-read probe of the same thread count, on matrices far larger than the last-level cache.
//   bench_kernels [-t THREADS] [-r REPS] [-m MIB] [-n ROW_LEN] [--types q4_k,q8_0,...] [--isa avx2,...] [--json]
// Each case: median (min..max) over REPS passes after one warm-up; activations quantized once (as in decode).
// "cpu GB/s" = bytes / (max over threads of the thread's CPU time in the pass): what the kernel reads while it is
// scheduled, the figure to compare on a machine shared with other jobs (wall GB/s then mostly measures contention).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/memory_bandwidth.h"
#include "quant/kernels.h"
#include "quant/types.h"
#include "runtime/compute/threads.h"

using namespace latte;

namespace {

struct Stat { double med = 0, lo = 0, hi = 0; };

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Stat stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stat s;
  if (v.empty()) return s;
  s.lo = v.front();
  s.hi = v.back();
  const size_t n = v.size();
  s.med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}


}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 7;
  int64_t mib = 256, n = 4096;
  bool json = false;
  std::vector<std::string> type_names = {"q4_k", "q5_0", "q6_k", "q8_0", "q4_0", "bf16", "f32", "q5_k",
                                         "q2_k", "q3_k", "iq4_xs", "iq4_nl", "q4_1", "q5_1", "f16", "mxfp4",
                                         "iq3_xxs", "iq2_xxs", "iq1_s"};
  std::vector<std::string> isa_names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "missing value for %s\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "-t") threads = std::atoi(next().c_str());
    else if (a == "-r") reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "-m") mib = std::max<int64_t>(1, std::atoll(next().c_str()));
    else if (a == "-n") n = std::max<int64_t>(32, std::atoll(next().c_str()) / 32 * 32);  // per type: whole blocks
    else if (a == "--types") type_names = latte::bench::split_list(next());
    else if (a == "--isa") isa_names = latte::bench::split_list(next());
    else if (a == "--json") json = true;
    else { std::fprintf(stderr, "usage: bench_kernels [-t N] [-r REPS] [-m MIB] [-n ROW_LEN] [--types a,b] [--isa a,b] [--json]\n"); return 2; }
  }
  std::vector<Isa> isas;
  if (isa_names.empty()) {
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
      if (isa_supported(isa)) isas.push_back(isa);
  } else {
    for (const auto& s : isa_names)
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (s == isa_name(isa) && isa_supported(isa)) isas.push_back(isa);
  }

  ThreadPool pool(threads);
  const bench::BandwidthResult bw = bench::measure_read_bandwidth(pool, uint64_t(mib) << 20, reps);
  if (!json) {
    std::printf("read probe: %.2f GB/s median (%.2f..%.2f), %d thread(s), %.0f MiB buffer; gemv rows of %lld, ~%lld MiB weights\n",
                bw.median_gbs, bw.min_gbs, bw.max_gbs, bw.threads, double(bw.buffer_bytes) / (1 << 20),
                static_cast<long long>(n), static_cast<long long>(mib));
    std::printf("| %-7s | %-7s | %10s | %17s | %7s | %8s |\n", "type", "isa", "GB/s", "min..max", "% probe", "cpu GB/s");
    std::printf("|---------|---------|------------|-------------------|---------|----------|\n");
  } else {
    std::printf("{\"probe_gbs\": %.3f, \"threads\": %d, \"row_len\": %lld, \"cases\": [", bw.median_gbs, bw.threads,
                static_cast<long long>(n));
  }
  bool first = true;
  for (const auto& tn : type_names) {
    DType t;
    if (!parse_type_name(tn, t)) { std::fprintf(stderr, "unknown type %s\n", tn.c_str()); return 2; }
    const TypeTraits& tt = type_traits(t);
    const TypeTraits& at = type_traits(tt.vec_dot_type);
    // Row length for this type: n rounded down to whole weight and activation blocks (rows of 1408 run the 32-blocks
    // at 1408 and the K-quants at 1280; such a case is labelled type@len).
    const int64_t blk = std::max<int64_t>(tt.block_elems, at.block_elems);
    const int64_t n_req = n;
    const int64_t n = n_req / blk * blk;
    if (n == 0) { std::fprintf(stderr, "skipping %s: row length %lld < block\n", tt.name, static_cast<long long>(n_req)); continue; }
    const std::string label = n == n_req ? std::string(tt.name) : std::string(tt.name) + "@" + std::to_string(n);
    const size_t rb = row_bytes(tt, n);
    const int64_t nrows = std::max<int64_t>(16, int64_t((uint64_t(mib) << 20) / rb));
    // 64 distinct quantized rows, replicated (quantizing the whole matrix with the reference quantizer is slow).
    std::vector<uint8_t> w(rb * size_t(nrows));
    {
      const int64_t distinct = std::min<int64_t>(64, nrows);
      std::vector<float> x(n);
      uint32_t s = 12345;
      for (int64_t r = 0; r < distinct; ++r) {
        for (auto& v : x) { s = s * 1664525u + 1013904223u; v = (float(s >> 8) / float(1 << 24) - 0.5f) * 2.f; }
        tt.quantize_row(x.data(), w.data() + size_t(r) * rb, n);
      }
      for (int64_t r = distinct; r < nrows; ++r) std::memcpy(w.data() + size_t(r) * rb, w.data() + size_t(r % distinct) * rb, rb);
    }
    std::vector<float> xf(n);
    for (int64_t i = 0; i < n; ++i) xf[i] = float((i * 7919) % 1000) / 500.f - 1.f;
    std::vector<uint8_t> act(row_bytes(at, n));
    std::vector<float> y(nrows);
    for (Isa isa : isas) {
      const KernelTable& kt = kernel_table(isa);
      kt.quantize_act[static_cast<uint32_t>(at.type)](xf.data(), act.data(), n);
      const GemvFn gemv = kt.gemv[static_cast<uint32_t>(t)];
      std::vector<double> gbs, cpu_gbs;
      std::vector<double> tcpu(size_t(pool.size()), 0.0);
      const int r_isa = isa == Isa::Scalar ? std::min(reps, 3) : reps;
      for (int rep = 0; rep <= r_isa; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        std::fill(tcpu.begin(), tcpu.end(), 0.0);
        pool.parallel_for(nrows, [&](int64_t b, int64_t e, int ti) {
          const double c0 = thread_cpu_seconds();
          gemv(n, w.data() + size_t(b) * rb, rb, act.data(), y.data() + b, e - b);
          tcpu[size_t(ti)] = thread_cpu_seconds() - c0;
        }, 16);
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double csec = *std::max_element(tcpu.begin(), tcpu.end());
        if (rep > 0) gbs.push_back(double(w.size()) / sec / 1e9);
        if (rep > 0 && csec > 0) cpu_gbs.push_back(double(w.size()) / csec / 1e9);
      }
      const Stat st = stats(gbs), cst = stats(cpu_gbs);
      if (!json) {
        std::printf("| %-7s | %-7s | %10.2f | %7.2f..%-7.2f | %6.1f%% | %8.2f |\n", label.c_str(), isa_name(isa), st.med, st.lo,
                    st.hi, 100.0 * st.med / bw.median_gbs, cst.med);
      } else {
        std::printf("%s{\"type\": \"%s\", \"row_len\": %lld, \"isa\": \"%s\", \"gbs\": %.3f, \"min\": %.3f, \"max\": %.3f, \"cpu_gbs\": %.3f}",
                    first ? "" : ", ", tt.name, static_cast<long long>(n), isa_name(isa), st.med, st.lo, st.hi, cst.med);
        first = false;
      }
      std::fflush(stdout);
    }
  }
  if (json) std::printf("]}\n");
  return 0;
}
