// Row-interleaving experiment (issue 4 "Layout"), kept for reproducibility; not part of the build (.cc, not globbed).
// Compares, on one matrix far above the LLC, gemv over
//   base   : the shipped KernelTable gemv (Q8_0: 4 rows / 4 streams; Q4_K: 1 row at a time),
//   sep4   : a 4-row kernel reading 4 separate row streams (row-major layout, as shipped for the 32-block types),
//   int4   : the same 4-row kernel on the row-interleaved layout (block i of rows r..r+3 adjacent: one stream),
// at -t 1 and 2. Build (AVX-512 flags as quant/isa/*_avx512.cpp):
//   c++ -O3 -std=c++20 -fopenmp -I. -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512dq -mavx512vl
//       -mavx512vnni -mavx512bf16 bench/probes/repack_probe.cc build-b/liblatte_static.a -o /tmp/repack_probe
// Time: wall (median, max over reps) and per-thread CPU time (max over threads; robust to preemption on a loaded
// machine). GB/s = weight bytes / time.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/memory_bandwidth.h"
#include "quant/isa/kernels_x86.h"
#include "quant/types.h"
#include "runtime/compute/threads.h"

using namespace latte;
using namespace latte::simd;
using A = Avx512;

namespace {

double thread_cpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Q8_0, R rows; kInter: block i of row k at base[(i*R + k)], else at rows k*stride apart.
template <int R, bool kInter, int kPfEvery = kInter ? 1 : 2>
void q8_0_rows(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_0* yb, float* out) {
  __m256 acc[R];
  for (int k = 0; k < R; ++k) acc[k] = _mm256_setzero_ps();
  auto blk = [&](int k, int64_t i) -> const BlockQ8_0& {
    if constexpr (kInter) return reinterpret_cast<const BlockQ8_0*>(base)[i * R + k];
    else return reinterpret_cast<const BlockQ8_0*>(base + size_t(k) * stride)[i];
  };
  int pf = 0;
  for (int64_t i = 0; i < nb; ++i) {
    if (--pf <= 0) {
      pf = kPfEvery;
      if constexpr (kInter) prefetch_block<A, 2>(&blk(0, i), R * sizeof(BlockQ8_0));
      else for (int k = 0; k < R; ++k) prefetch_block<A, (R + 1) / 2>(&blk(k, i), 1);
    }
    const __m256i av = loadu256<A>(yb[i].qs);
    const __m256 da = _mm256_set1_ps(h2f<A>(yb[i].d));
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const BlockQ8_0& b = blk(k, i);
      const __m256i p = dot_s8s8<A>(_mm256_setzero_si256(), loadu256<A>(b.qs), av);
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(_mm256_set1_ps(h2f<A>(b.d)), da), acc[k]);
    }
  }
  for (int k = 0; k < R; ++k) out[k] = hsum_ps<A>(acc[k]);
}

// Q4_K, R rows, same addressing; body = vd_q45_k's per-block work.
template <int R, bool kInter>
void q4_k_rows(int64_t nb, const uint8_t* base, size_t stride, const BlockQ8_K* y, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[R];
  __m128 acc_m[R];
  for (int k = 0; k < R; ++k) { acc[k] = _mm256_setzero_ps(); acc_m[k] = _mm_setzero_ps(); }
  auto blk = [&](int k, int64_t i) -> const BlockQ4_K& {
    if constexpr (kInter) return reinterpret_cast<const BlockQ4_K*>(base)[i * R + k];
    else return reinterpret_cast<const BlockQ4_K*>(base + size_t(k) * stride)[i];
  };
  for (int64_t i = 0; i < nb; ++i) {
    if constexpr (kInter) prefetch_block<A, 2>(&blk(0, i), R * sizeof(BlockQ4_K));
    else for (int k = 0; k < R; ++k) prefetch_block<A, (R + 1) / 2>(&blk(k, i), sizeof(BlockQ4_K));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums + 8));
    const __m128i bs = _mm_hadd_epi16(b0, b1);
    const int8_t* q8 = y[i].qs;
    __m256i a8[8];
    for (int j = 0; j < 8; ++j) a8[j] = loadu256<A>(q8 + 32 * j);
    LATTE_UNROLL
    for (int k = 0; k < R; ++k) {
      const BlockQ4_K& x = blk(k, i);
      const __m256i sm16 = _mm256_cvtepu8_epi16(k_scales_mins_vec<A>(x.scales));
      const __m256i sc = _mm256_permute2x128_si256(sm16, sm16, 0x00);
      const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), bs);
      acc_m[k] = _mm_fmadd_ps(_mm_cvtepi32_ps(pm), _mm_set1_ps(y[i].d * h2f<A>(x.dmin)), acc_m[k]);
      __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
      LATTE_UNROLL
      for (int j = 0; j < 4; ++j) {
        const __m256i raw = loadu256<A>(x.qs + 32 * j);
        const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a8[2 * j]), _mm256_shuffle_epi8(sc, bcast16_mask<A>(2 * j))));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a8[2 * j + 1]), _mm256_shuffle_epi8(sc, bcast16_mask<A>(2 * j + 1))));
      }
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(y[i].d * h2f<A>(x.d)), acc[k]);
    }
  }
  for (int k = 0; k < R; ++k) {
    __m128 m = _mm_add_ps(acc_m[k], _mm_movehl_ps(acc_m[k], acc_m[k]));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    out[k] = hsum_ps<A>(acc[k]) - _mm_cvtss_f32(m);
  }
}

// Interleave rows in groups of R: block i of row g*R+k goes to group g's slot i*R+k. nrows % R == 0.
std::vector<uint8_t> interleave(const std::vector<uint8_t>& w, size_t rb, size_t bs, int64_t nrows, int R) {
  std::vector<uint8_t> out(w.size());
  const int64_t nb = int64_t(rb / bs);
  for (int64_t g = 0; g < nrows / R; ++g)
    for (int k = 0; k < R; ++k)
      for (int64_t i = 0; i < nb; ++i)
        std::memcpy(&out[size_t(g) * R * rb + (size_t(i) * R + k) * bs], &w[(size_t(g) * R + k) * rb + size_t(i) * bs], bs);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int64_t n = argc > 2 ? std::atoll(argv[2]) : 2048;
  const int64_t mib = argc > 3 ? std::atoll(argv[3]) : 256;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 9;
  ThreadPool pool(threads);
  const KernelTable& kt = kernel_table(Isa::Avx512);
  auto bw = bench::measure_read_bandwidth(pool, uint64_t(mib) << 20, reps, &kt);
  std::printf("probe %.2f GB/s (max %.2f), %d thread(s), rows of %lld, %lld MiB\n", bw.median_gbs, bw.max_gbs, threads,
              (long long)n, (long long)mib);
  for (DType t : {DType::Q8_0, DType::Q4_K}) {
    const TypeTraits& tt = type_traits(t);
    const TypeTraits& at = type_traits(tt.vec_dot_type);
    const size_t rb = row_bytes(tt, n), bs = tt.block_bytes;
    const int64_t nrows = int64_t((uint64_t(mib) << 20) / rb) / 64 * 64;
    std::vector<uint8_t> w(rb * size_t(nrows));
    std::vector<float> x(n);
    uint32_t s = 1;
    for (int64_t r = 0; r < 64; ++r) {
      for (auto& v : x) { s = s * 1664525u + 1013904223u; v = (float(s >> 8) / float(1 << 24) - 0.5f) * 2.f; }
      tt.quantize_row(x.data(), w.data() + size_t(r) * rb, n);
    }
    for (int64_t r = 64; r < nrows; ++r) std::memcpy(&w[size_t(r) * rb], &w[size_t(r % 64) * rb], rb);
    const std::vector<uint8_t> w4 = interleave(w, rb, bs, nrows, 4);
    std::vector<uint8_t> act(row_bytes(at, n));
    kt.quantize_act[uint32_t(at.type)](x.data(), act.data(), n);
    std::vector<float> y0(nrows), y1(nrows), y2(nrows);
    const int64_t nb = n / tt.block_elems;
    auto run = [&](const char* name, std::vector<float>& y, auto&& body) {
      std::vector<double> wall, cpu;
      for (int rep = 0; rep <= reps; ++rep) {
        std::vector<double> tc(threads, 0);
        auto t0 = std::chrono::steady_clock::now();
        pool.parallel_for(nrows, [&](int64_t b, int64_t e, int ti) {
          const double c0 = thread_cpu();
          body(b, e);
          tc[ti] = thread_cpu() - c0;
        }, 64);
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (rep > 0) { wall.push_back(w.size() / sec / 1e9); cpu.push_back(w.size() / *std::max_element(tc.begin(), tc.end()) / 1e9); }
      }
      std::sort(wall.begin(), wall.end());
      std::sort(cpu.begin(), cpu.end());
      std::printf("  %-5s %-5s wall %6.2f GB/s (max %6.2f) | cpu-time %6.2f GB/s (max %6.2f)\n", tt.name, name,
                  wall[wall.size() / 2], wall.back(), cpu[cpu.size() / 2], cpu.back());
    };
    // Alternate the variants twice so that load drift hits all of them alike.
    for (int round = 0; round < 2; ++round) {
      run("read", y0, [&](int64_t b, int64_t e) {
        volatile uint64_t sink = kt.stream_read(&w[size_t(b) * rb], size_t(e - b) * rb);
        (void)sink;
      });
      run("base", y0, [&](int64_t b, int64_t e) { kt.gemv[uint32_t(t)](n, &w[size_t(b) * rb], rb, act.data(), &y0[b], e - b); });
      run("sep4", y1, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; r += 4) {
          if (t == DType::Q8_0) q8_0_rows<4, false>(nb, &w[size_t(r) * rb], rb, (const BlockQ8_0*)act.data(), &y1[r]);
          else q4_k_rows<4, false>(nb, &w[size_t(r) * rb], rb, (const BlockQ8_K*)act.data(), &y1[r]);
        }
      });
      if (t == DType::Q8_0)
        run("sep4p", y1, [&](int64_t b, int64_t e) {
          for (int64_t r = b; r < e; r += 4) q8_0_rows<4, false, 1>(nb, &w[size_t(r) * rb], rb, (const BlockQ8_0*)act.data(), &y1[r]);
        });
      run("int4", y2, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; r += 4) {
          if (t == DType::Q8_0) q8_0_rows<4, true>(nb, &w4[size_t(r) * rb], rb, (const BlockQ8_0*)act.data(), &y2[r]);
          else q4_k_rows<4, true>(nb, &w4[size_t(r) * rb], rb, (const BlockQ8_K*)act.data(), &y2[r]);
        }
      });
    }
    double md = 0;
    for (int64_t r = 0; r < nrows; ++r) md = std::max({md, double(std::abs(y1[r] - y0[r])), double(std::abs(y2[r] - y0[r]))});
    std::printf("  %-5s max |variant - base| = %.3g (|y| ~ %.3g)\n", tt.name, md, double(std::abs(y0[0])));
  }
  return 0;
}
