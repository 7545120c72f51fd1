// Tile-kernel microbenchmark: GFLOP/s (2 * n * nrows * ntok / time) of KernelTable::gemm_tile against the per-token
// gemv loop it replaces (runtime fallback when gemm_tile is null), one thread, one 16-row weight block and ntok
// activation rows (L2-resident, as for one expert's row block in MoE prefill).
//   bench_tile [--isa avx2|avx512] [--types q4_k,q8_0,...] [-n N] [--rows R] [--toks 8,16,48,64] [--secs S]
//              [--stream MIB]
// --stream MIB: the weights are MIB of rows (far beyond the LLC), walked block of `rows` rows after block as
// matmul_3d does over expert matrices, so every block comes from DRAM (weight fetch + prefetch included).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "quant/kernels.h"
#include "quant/types.h"

using namespace latte;

namespace {

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}


// Best-of-5 seconds per call of f, each sample running f for about `secs` / 5.
template <class F>
double time_call(F&& f, double secs) {
  f();
  double best = 1e30;
  for (int s = 0; s < 5; ++s) {
    int64_t iters = 0;
    const double t0 = thread_cpu_seconds();
    double t1 = t0;
    do {
      for (int k = 0; k < 8; ++k) f();
      iters += 8;
      t1 = thread_cpu_seconds();
    } while (t1 - t0 < secs / 5);
    best = std::min(best, (t1 - t0) / double(iters));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string isa_s = "", types_s = "q4_k,q5_k,q8_0,q5_0,q4_0";
  std::vector<int64_t> toks = {8, 16, 48, 64};
  int64_t n_arg = 0, rows = 16, stream_mib = 0;
  double secs = 0.5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--isa") isa_s = next();
    else if (a == "--types") types_s = next();
    else if (a == "-n") n_arg = std::atoll(next().c_str());
    else if (a == "--rows") rows = std::atoll(next().c_str());
    else if (a == "--secs") secs = std::atof(next().c_str());
    else if (a == "--stream") stream_mib = std::atoll(next().c_str());
    else if (a == "--toks") {
      toks.clear();
      for (auto& s : latte::bench::split_list(next())) toks.push_back(std::atoll(s.c_str()));
    } else {
      std::fprintf(stderr, "usage: bench_tile [--isa I] [--types a,b] [-n N] [--rows R] [--toks 8,16] [--secs S]\n");
      return 2;
    }
  }
  Isa isa = select_isa();
  if (isa_s == "avx2") isa = Isa::Avx2;
  else if (isa_s == "avx512") isa = Isa::Avx512;
  const KernelTable& kt = kernel_table(isa);
  const KernelTable& ref = kernel_table(Isa::Scalar);
  std::printf("isa %s, %lld rows, 1 thread (GFLOP/s = 2*n*rows*ntok / thread CPU time)\n", isa_name(isa),
              static_cast<long long>(rows));
  std::printf("%-6s %6s %5s %12s %12s %8s\n", "type", "n", "ntok", "tile GF/s", "gemv GF/s", "speedup");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (const auto& name : latte::bench::split_list(types_s)) {
    DType dt;
    if (!parse_type_name(name, dt)) {
      std::fprintf(stderr, "unknown type %s\n", name.c_str());
      continue;
    }
    const TypeTraits& tt = type_traits(dt);
    const uint32_t wid = static_cast<uint32_t>(tt.type);
    const int64_t n = n_arg > 0 ? n_arg : (tt.block_elems == 32 ? 1408 : 2048);
    const DType at = tt.vec_dot_type;
    const size_t rb = row_bytes(tt.type, n), arb = row_bytes(at, n);
    std::vector<float> x(static_cast<size_t>(n));
    const int64_t nblk = stream_mib > 0 ? std::max<int64_t>(1, (stream_mib << 20) / static_cast<int64_t>(rb * rows)) : 1;
    std::vector<uint8_t> w(rb * rows * nblk);
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : x) v = nd(rng);
      tt.quantize_row(x.data(), w.data() + r * rb, n);
    }
    for (int64_t b = 1; b < nblk; ++b) std::memcpy(w.data() + b * rb * rows, w.data(), rb * rows);
    const int64_t maxtok = *std::max_element(toks.begin(), toks.end());
    std::vector<uint8_t> act(arb * maxtok);
    for (int64_t t = 0; t < maxtok; ++t) {
      for (auto& v : x) v = nd(rng);
      ref.quantize_act[static_cast<uint32_t>(at)](x.data(), act.data() + t * arb, n);
    }
    std::vector<float> y(static_cast<size_t>(rows * maxtok));
    for (int64_t ntok : toks) {
      const double flop = 2.0 * double(n) * double(rows) * double(ntok) * double(nblk);
      double tt_tile = 0;
      if (kt.gemm_tile[wid])
        tt_tile = time_call(
            [&] {
              for (int64_t b = 0; b < nblk; ++b)
                kt.gemm_tile[wid](n, w.data() + b * rb * rows, rb, act.data(), arb, y.data(), rows, rows, ntok);
            },
            secs);
      const double tt_gemv = time_call(
          [&] {
            for (int64_t b = 0; b < nblk; ++b)
              for (int64_t t = 0; t < ntok; ++t)
                kt.gemv[wid](n, w.data() + b * rb * rows, rb, act.data() + t * arb, y.data() + t * rows, rows);
          },
          secs);
      std::printf("%-6s %6lld %5lld %12.1f %12.1f %8.2f\n", tt.name, static_cast<long long>(n),
                  static_cast<long long>(ntok), tt_tile > 0 ? flop / tt_tile * 1e-9 : 0.0, flop / tt_gemv * 1e-9,
                  tt_tile > 0 ? tt_gemv / tt_tile : 0.0);
    }
  }
  return 0;
}
