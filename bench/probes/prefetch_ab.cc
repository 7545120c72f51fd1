// A/B harness for the prefetch-step fix (bench/results/repack.md). Not part of the build. Build twice: once with
// -I<copy of quant/ with the old kEvery formula> before -I. (the checkout root), once without; flags as quant/isa/*_avx512.cpp.
#include <time.h>
#include <algorithm>
#include <cstdio>
#include <vector>
#include "quant/isa/kernels_x86.h"
#include "quant/types.h"
using namespace latte;
static double tc() { timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
int main() {
  KernelTable kt; simd::fill_x86<simd::Avx512>(kt);
  const int64_t n = 2048;
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::IQ4_NL, DType::Q5_0}) {
    const TypeTraits& tt = type_traits(t); const TypeTraits& at = type_traits(tt.vec_dot_type);
    const size_t rb = row_bytes(tt, n); const int64_t nrows = (256ll << 20) / rb / 16 * 16;
    std::vector<uint8_t> w(rb * nrows); std::vector<float> x(n); uint32_t s = 1;
    for (int64_t r = 0; r < 64; ++r) { for (auto& v : x) { s = s * 1664525u + 1013904223u; v = (float(s >> 8) / float(1 << 24) - 0.5f); } tt.quantize_row(x.data(), &w[r * rb], n); }
    for (int64_t r = 64; r < nrows; ++r) std::memcpy(&w[r * rb], &w[(r % 64) * rb], rb);
    std::vector<uint8_t> act(row_bytes(at, n)); kt.quantize_act[uint32_t(at.type)](x.data(), act.data(), n);
    std::vector<float> y(nrows); std::vector<double> g;
    for (int rep = 0; rep < 8; ++rep) { double c0 = tc(); for (int64_t r = 0; r < nrows; r += 16) kt.gemv[uint32_t(t)](n, &w[r * rb], rb, act.data(), &y[r], 16); double c = tc() - c0; if (rep) g.push_back(w.size() / c / 1e9); }
    std::sort(g.begin(), g.end()); std::printf("%-7s cpu GB/s median %.2f (min %.2f max %.2f)\n", tt.name, g[g.size()/2], g.front(), g.back());
  }
}
