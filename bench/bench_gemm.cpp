// GEMM benchmark for prefill (runtime/compute/gemm.h):
//   1. peak: oneDNN matmul bf16×bf16→f32 and s8×s8→s32 (weights reordered to oneDNN's preferred layout once) and
//      OpenBLAS sgemm on large square shapes, GFLOP/s, per thread count;
//   2. gemm() on V2-Lite MoE expert shapes (k=2048, m=1408 gate/up; k=1408, m=2048 down) per weight type, row
//      count n and backend, with per-call tile conversion included ("bf16", "int8", "sgemm") and with the weight
//      converted once beforehand ("bf16+c", ...: steady state of the opt-in cache), plus the one-off conversion
//      time per weight;
//   3. with --table: the fastest per-call backend per (type, n), the rows of runtime/compute/gemm_table.cpp.
//   bench_gemm [-t 1,2] [-r REPS] [-s PEAK_SIZE] [-n 1,8,...] [--types q4_k,q8_0,q5_0] [--no-peak] [--table]
// Times: see time_reps (CPU-time median and best wall time over REPS runs after one warm-up). GFLOP/s = 2·n·m·k / time. Run with ONEDNN_VERBOSE=1 to see the
// oneDNN kernels (avx512_core_amx / avx512_core_bf16 / avx512_core_vnni ...).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "quant/kernels.h"
#include "quant/types.h"
#include "runtime/compute/gemm.h"
#include "runtime/compute/gemm_impl.h"  // the converters, timed alone
#include "runtime/compute/threads.h"

using namespace latte;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The dev machine is shared (load 12-17 on 2 cores while this was written), so wall time mostly measures the other
// tenants. Each case reports: cpu = median over reps of (process CPU seconds / threads) — what an unloaded run of
// `threads` threads would take if every thread is busy or spinning (OpenMP / OpenBLAS workers spin while waiting,
// so imbalance is still counted); best = the fastest wall time (an unloaded window, if one came).
int g_threads = 1;
struct Times { double cpu, best; };
Times time_reps(int reps, const std::function<void()>& f) {
  f();  // warm-up
  std::vector<double> c;
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now(), c0 = cpu_now();
    f();
    best = std::min(best, now() - t0);
    c.push_back((cpu_now() - c0) / g_threads);
  }
  std::sort(c.begin(), c.end());
  return {c[c.size() / 2], best};
}

// oneDNN peak: Y[S][S] = X[S][S] · W[S][S], weights in oneDNN's preferred layout (reordered once).
Times onednn_peak(dnnl::memory::data_type src, dnnl::memory::data_type dst, int64_t S, int reps) {
  using namespace dnnl;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc src_md({S, S}, src, memory::format_tag::ab);
  const memory::desc wei_any({S, S}, src, memory::format_tag::any);
  const memory::desc wei_plain({S, S}, src, memory::format_tag::ab);
  const memory::desc dst_md({S, S}, dst, memory::format_tag::ab);
  const matmul::primitive_desc pd(matmul::desc(src_md, wei_any, dst_md), eng);
  matmul prim(pd);
  memory sm(src_md, eng), wp(wei_plain, eng), wm(pd.weights_desc(), eng), dm(dst_md, eng);
  const size_t esz = src == memory::data_type::bf16 ? 2 : 1;
  std::memset(sm.get_data_handle(), 1, static_cast<size_t>(S * S) * esz);  // bf16 0x0101 / s8 1: finite values
  std::memset(wp.get_data_handle(), 1, static_cast<size_t>(S * S) * esz);
  reorder(wp, wm).execute(strm, wp, wm);
  strm.wait();
  const Times t = time_reps(reps, [&] {
    prim.execute(strm, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dm}});
    strm.wait();
  });
  const double f = 2.0 * static_cast<double>(S) * S * S * 1e-9;
  return {f / t.cpu, f / t.best};
}

Times sgemm_peak(int64_t S, int reps) {
  std::vector<float> a(static_cast<size_t>(S * S), 0.5f), b(a), c(a);
  const Times t = time_reps(reps, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(S), static_cast<blasint>(S),
                static_cast<blasint>(S), 1.0f, a.data(), static_cast<blasint>(S), b.data(), static_cast<blasint>(S),
                0.0f, c.data(), static_cast<blasint>(S));
  });
  const double f = 2.0 * static_cast<double>(S) * S * S * 1e-9;
  return {f / t.cpu, f / t.best};
}

struct Weight {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Weight make_weight(DType t, int64_t m, int64_t k) {
  const TypeTraits& tt = type_traits(t);
  Weight w;
  const size_t rb = row_bytes(tt, k);
  w.bytes.resize(rb * static_cast<size_t>(m));
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < m; ++r) {
    for (auto& v : row) v = nd(rng);
    tt.quantize_row(row.data(), w.bytes.data() + rb * static_cast<size_t>(r), k);
  }
  w.view.tt = &tt;
  w.view.ne[0] = k;
  w.view.ne[1] = m;
  w.view.nb1 = rb;
  w.view.nb2 = rb * static_cast<size_t>(m);
  w.view.data = w.bytes.data();
  w.view.name = "bench";
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> threads = {1, 2}, ns = {1, 8, 16, 32, 64, 128, 256, 512};
  int reps = 5;
  int64_t S = 2048;
  bool peak = true, table = false;
  std::vector<std::string> types = {"q4_k", "q8_0", "q5_0"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "-t") threads = latte::bench::split_ints(next());
    else if (a == "-r") reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "-s") S = std::atoll(next().c_str());
    else if (a == "-n") ns = latte::bench::split_ints(next());
    else if (a == "--no-peak") peak = false;
    else if (a == "--table") table = true;
    else if (a == "--types") {
      types = latte::bench::split_list(next());
    } else {
      std::fprintf(stderr, "usage: bench_gemm [-t 1,2] [-r REPS] [-s PEAK_SIZE] [-n 1,8,..] [--types ..] "
                           "[--no-peak] [--table]\n");
      return 2;
    }
  }
  const KernelTable& kt = kernel_table(select_isa());
  std::printf("isa %s, oneDNN %d.%d.%d\n", isa_name(kt.isa), dnnl_version()->major, dnnl_version()->minor,
              dnnl_version()->patch);

  if (peak) {
    std::printf("\n== peak GFLOP/s (cpu-time median / best wall), %lld^3, %d reps ==\n", static_cast<long long>(S), reps);
    std::printf("%-8s %16s %16s %16s\n", "threads", "onednn_bf16", "onednn_int8", "sgemm_f32");
    for (int64_t t : threads) {
      g_threads = static_cast<int>(t);
      omp_set_num_threads(static_cast<int>(t));
      openblas_set_num_threads(static_cast<int>(t));
      const Times bf = onednn_peak(dnnl::memory::data_type::bf16, dnnl::memory::data_type::f32, S, reps);
      const Times i8 = onednn_peak(dnnl::memory::data_type::s8, dnnl::memory::data_type::s32, S, reps);
      const Times sg = sgemm_peak(S, reps);
      std::printf("%-8lld %7.1f /%7.1f %7.1f /%7.1f %7.1f /%7.1f\n", static_cast<long long>(t), bf.cpu, bf.best,
                  i8.cpu, i8.best, sg.cpu, sg.best);
      std::fflush(stdout);
    }
  }

  struct Shape { const char* name; int64_t m, k; };
  const Shape shapes[] = {{"gate/up", 1408, 2048}, {"down", 2048, 1408}};
  const GemmBackend per_call[] = {GemmBackend::Rows, GemmBackend::Sgemm, GemmBackend::OnednnBf16,
                                  GemmBackend::OnednnInt8};
  const GemmBackend cachable[] = {GemmBackend::Sgemm, GemmBackend::OnednnBf16, GemmBackend::OnednnInt8};
  // best per-call backend per (type, threads, n)
  std::map<std::tuple<std::string, int64_t, int64_t>, std::pair<double, GemmBackend>> best;
  for (int64_t t : threads) {
    ThreadPool pool(static_cast<int>(t));
    g_threads = static_cast<int>(t);
    std::printf("\n== gemm() GFLOP/s (cpu-time median / best wall) on expert shapes, %lld thread(s), %d reps (conversion included unless "
                "+c) ==\n", static_cast<long long>(t), reps);
    std::printf("%-6s %-8s %5s %11s %11s %11s %11s %11s %11s %11s  %s\n", "type", "shape", "n", "rows", "sgemm",
                "bf16", "int8", "sgemm+c", "bf16+c", "int8+c", "fastest per-call (cpu)");
    for (const std::string& tn : types) {
      DType dt;
      if (!parse_type_name(tn, dt)) continue;
      for (const Shape& sh : shapes) {
        if (sh.k % type_traits(dt).block_elems != 0) continue;  // Q4_K has no k=1408 (llama.cpp uses Q5_0/Q8_0)
        Weight w = make_weight(dt, sh.m, sh.k);
        // conversion time per whole weight (into preallocated buffers: the per-call tile path's cost per call)
        {
          const int64_t mk = sh.m * sh.k;
          std::vector<float> f(static_cast<size_t>(mk)), sc(static_cast<size_t>(sh.m));
          std::vector<uint16_t> bf(static_cast<size_t>(mk));
          std::vector<int8_t> s8(static_cast<size_t>(mk));
          const Times a = time_reps(reps, [&] { convert_rows_f32(w.view, 0, sh.m, f.data(), pool); });
          const Times b = time_reps(reps, [&] { convert_rows_bf16(w.view, 0, sh.m, bf.data(), pool); });
          const Times c = time_reps(reps, [&] { convert_rows_s8(w.view, 0, sh.m, s8.data(), sc.data(), pool); });
          std::printf("  convert %s %s (%lld x %lld) ms cpu/best: f32 %.2f/%.2f  bf16 %.2f/%.2f  s8 %.2f/%.2f  "
                      "(bf16 %.2f Gelem/s by cpu)\n", type_traits(dt).name, sh.name, static_cast<long long>(sh.m),
                      static_cast<long long>(sh.k), a.cpu * 1e3, a.best * 1e3, b.cpu * 1e3, b.best * 1e3,
                      c.cpu * 1e3, c.best * 1e3, static_cast<double>(mk) / b.cpu * 1e-9);
        }
        GemmContext ctx(kt, pool, false), cctx(kt, pool, true);
        for (int64_t n : ns) {
          std::vector<float> X(static_cast<size_t>(n * sh.k)), Y(static_cast<size_t>(n * sh.m));
          std::mt19937 rng(3);
          std::normal_distribution<float> nd;
          for (auto& v : X) v = nd(rng);
          const double flop = 2.0 * static_cast<double>(n) * sh.m * sh.k;
          std::printf("%-6s %-8s %5lld", type_traits(dt).name, sh.name, static_cast<long long>(n));
          std::pair<double, GemmBackend> b_best{0.0, GemmBackend::Rows};
          for (GemmBackend b : per_call) {
            const Times tm = time_reps(reps, [&] { gemm(w.view, X.data(), n, Y.data(), ctx, {0, 0, b}); });
            const double gf = flop / tm.cpu * 1e-9;
            if (gf > b_best.first) b_best = {gf, b};
            std::printf(" %5.1f/%-5.1f", gf, flop / tm.best * 1e-9);
            std::fflush(stdout);
          }
          for (GemmBackend b : cachable) {
            const Times tm = time_reps(reps, [&] { gemm(w.view, X.data(), n, Y.data(), cctx, {0, 0, b}); });
            std::printf(" %5.1f/%-5.1f", flop / tm.cpu * 1e-9, flop / tm.best * 1e-9);
            std::fflush(stdout);
          }
          std::printf("  %s\n", gemm_backend_name(b_best.second));
          best[{type_traits(dt).name, t, n}] = b_best;
        }
      }
    }
  }
  if (table) {
    std::printf("\n== fastest per-call backend (summed over the shapes of the type) ==\n");
    for (const auto& [key, v] : best)
      std::printf("  {%s, threads %lld, n %lld} -> %s (%.1f GFLOP/s)\n", std::get<0>(key).c_str(),
                  static_cast<long long>(std::get<1>(key)), static_cast<long long>(std::get<2>(key)),
                  gemm_backend_name(v.second), v.first);
  }
  return 0;
}
