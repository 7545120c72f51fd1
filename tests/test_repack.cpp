// Row-interleaved weights (runtime/compute/tensor_view.h, weight_layout.h) and the load-time repack
// (runtime/model/repack.h):
//  - the layout round-trips byte for byte (interleave_rows -> copy_rows_plain), dequantize_rows equals the plain rows;
//  - every interleaved gemv kernel (KernelTable::gemv_il, every ISA here) matches the scalar vec_dot on the plain
//    rows: |simd - scalar| <= 2e-5 * sum |w_i a_i| (f32 summation order only), for row counts that are and are not
//    multiples of the interleave (the plain tail), several row lengths, single-token (gemv) and multi-token (tile
//    kernels on plain copies) products through Ops;
//  - repack_views over heap views gives the same products;
//  - a repacked model gives the logits of the memory-mapped one (tiny quantized models, every ISA).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "quant/kernels.h"
#include "quant/types.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/threads.h"
#include "runtime/compute/weight_layout.h"
#include "runtime/model/model.h"
#include "runtime/model/repack.h"
#include "runtime/session/session.h"
#include "test_support.h"

using namespace latte;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) v.push_back(isa);
  return v;
}

// The hot weight types of the issue plus the other interleavable 32-block types.
const DType kTypes[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_0,  DType::Q5_0,
                        DType::Q4_0, DType::IQ4_XS, DType::IQ4_NL, DType::MXFP4};

// nrows plain rows of n elements quantized from gaussian data (row r with its own scale so rows differ).
std::vector<uint8_t> make_rows(DType t, int64_t n, int64_t nrows, uint32_t seed) {
  const size_t rb = row_bytes(t, n);
  std::vector<uint8_t> w(rb * static_cast<size_t>(nrows));
  for (int64_t r = 0; r < nrows; ++r) {
    const auto x = gaussian(static_cast<size_t>(n), seed * 31 + static_cast<uint32_t>(r), 0.5f + 0.1f * float(r % 7));
    type_traits(t).quantize_row(x.data(), w.data() + static_cast<size_t>(r) * rb, n);
  }
  return w;
}

double abs_dot(DType wt, const uint8_t* w, const float* x, int64_t n) {
  std::vector<float> wd(static_cast<size_t>(n));
  type_traits(wt).dequantize_row(w, wd.data(), n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(double(wd[static_cast<size_t>(i)]) * x[i]);
  return s;
}

TensorView view_of(DType t, int64_t n, int64_t rows, int64_t mats, const uint8_t* data, int ilv) {
  TensorView v;
  v.tt = &type_traits(t);
  v.ne[0] = n;
  v.ne[1] = rows;
  v.ne[2] = mats;
  v.nb1 = row_bytes(t, n);
  v.nb2 = v.nb1 * static_cast<size_t>(rows);
  v.data = data;
  v.name = "test";
  v.ilv = ilv;
  return v;
}

}  // namespace

TEST_CASE("interleaved layout: round trip, dequantize_rows, plain_rows (groups and plain tails)") {
  for (DType t : kTypes) {
    const TypeTraits& tt = type_traits(t);
    const int64_t n = 2 * std::max<int64_t>(tt.block_elems, 256);
    for (int64_t rows : {1, 3, 4, 5, 8, 13, 16, 17}) {
      CAPTURE(std::string(tt.name));
      CAPTURE(rows);
      const size_t rb = row_bytes(t, n);
      const auto plain = make_rows(t, n, rows * 2, 7 + static_cast<uint32_t>(rows));  // two matrices
      std::vector<uint8_t> il(plain.size());
      for (int m = 0; m < 2; ++m)
        interleave_rows(plain.data() + m * rows * rb, rb, rows, rb, tt.block_bytes, kInterleave,
                        il.data() + m * rows * rb);
      const TensorView v = view_of(t, n, rows, 2, il.data(), kInterleave);
      CHECK(v.interleaved_rows() == rows / kInterleave * kInterleave);
      if (rows >= 2 * kInterleave) CHECK(il != plain);  // the layout really differs
      std::vector<uint8_t> back(plain.size());
      for (int m = 0; m < 2; ++m) copy_rows_plain(v, 0, rows, m, back.data() + m * rows * rb);
      CHECK(back == plain);
      // a row range starting inside a group
      if (rows > 2) {
        std::vector<uint8_t> part(rb * static_cast<size_t>(rows - 1));
        copy_rows_plain(v, 1, rows - 1, 1, part.data());
        CHECK(std::equal(part.begin(), part.end(), plain.begin() + static_cast<long>((rows + 1) * rb)));
      }
      std::vector<float> f(static_cast<size_t>(n * rows)), g(static_cast<size_t>(n));
      dequantize_rows(v, 0, rows, 1, f.data());
      for (int64_t r = 0; r < rows; ++r) {
        tt.dequantize_row(plain.data() + (rows + r) * rb, g.data(), n);
        CHECK(std::equal(g.begin(), g.end(), f.begin() + r * n));
      }
      std::vector<uint8_t> scratch(rb * static_cast<size_t>(rows));
      const uint8_t* p = plain_rows(v, 0, rows, 0, scratch.data());
      CHECK(std::equal(p, p + rb * static_cast<size_t>(rows), plain.begin()));
    }
  }
}

TEST_CASE("interleaved gemv kernels match the scalar vec_dot on plain rows (every ISA, row counts, lengths)") {
  const KernelTable& ref = kernel_table(Isa::Scalar);
  int kernels_tested = 0;
  for (Isa isa : isas()) {
    const KernelTable& kt = kernel_table(isa);
    for (DType t : kTypes) {
      const TypeTraits& tt = type_traits(t);
      const uint32_t id = static_cast<uint32_t>(t);
      if (!kt.gemv_il[id]) continue;
      ++kernels_tested;
      const DType at = tt.vec_dot_type;
      const int64_t blk = std::max<int64_t>(tt.block_elems, type_traits(at).block_elems);
      for (int64_t n : {blk, 3 * blk, 5 * blk, int64_t{2048}, int64_t{1408} / blk * blk}) {
        if (n <= 0) continue;
        for (int64_t rows : {4, 8, 12, 32}) {
          CAPTURE(std::string(isa_name(isa)));
          CAPTURE(std::string(tt.name));
          CAPTURE(n);
          CAPTURE(rows);
          const size_t rb = row_bytes(t, n);
          const auto plain = make_rows(t, n, rows, static_cast<uint32_t>(n + rows));
          std::vector<uint8_t> il(plain.size());
          interleave_rows(plain.data(), rb, rows, rb, tt.block_bytes, kInterleave, il.data());
          const auto x = gaussian(static_cast<size_t>(n), 5 + static_cast<uint32_t>(n), 2.f);
          std::vector<uint8_t> act(row_bytes(at, n));
          ref.quantize_act[static_cast<uint32_t>(at)](x.data(), act.data(), n);
          std::vector<float> y(static_cast<size_t>(rows), -1.f);
          kt.gemv_il[id](n, il.data(), rb, act.data(), y.data(), rows);
          for (int64_t r = 0; r < rows; ++r) {
            CAPTURE(r);
            const float want = ref.vec_dot[id](n, plain.data() + r * rb, act.data());
            CHECK(std::fabs(double(y[static_cast<size_t>(r)]) - want) <=
                  2e-5 * abs_dot(t, plain.data() + r * rb, x.data(), n) + 1e-5);
          }
        }
      }
    }
  }
  MESSAGE("interleaved kernels tested (type x ISA): " << kernels_tested);
  if (isa_supported(Isa::Avx512)) CHECK(kernels_tested >= 8);
}

TEST_CASE("Ops on interleaved views: gemv_batch, matmul_3d (1 and 5 tokens) equal the plain views") {
  ThreadPool pool(2);
  for (Isa isa : isas()) {
    const KernelTable& kt = kernel_table(isa);
    Ops ops(kt, pool);
    for (DType t : kTypes) {
      const TypeTraits& tt = type_traits(t);
      const int64_t n = 512;
      for (int64_t rows : {4, 13, 16, 37, 64}) {
        CAPTURE(std::string(isa_name(isa)));
        CAPTURE(std::string(tt.name));
        CAPTURE(rows);
        const int64_t mats = 3;
        const size_t rb = row_bytes(t, n);
        const auto plain = make_rows(t, n, rows * mats, 11 + static_cast<uint32_t>(rows));
        std::vector<uint8_t> il(plain.size());
        for (int64_t m = 0; m < mats; ++m)
          interleave_rows(plain.data() + m * rows * rb, rb, rows, rb, tt.block_bytes, kInterleave,
                          il.data() + m * rows * rb);
        const TensorView vp = view_of(t, n, rows, mats, plain.data(), 1);
        const TensorView vi = view_of(t, n, rows, mats, il.data(), kInterleave);
        const int64_t ntok = 5;
        const auto X = gaussian(static_cast<size_t>(n * ntok), 3, 1.f);
        // gemv_batch: matrix 2 then matrix 0
        std::vector<float> yp(static_cast<size_t>(2 * rows)), yi(static_cast<size_t>(2 * rows), -7.f);
        GemvTask tp[2] = {{&vp, 2, X.data(), yp.data()}, {&vp, 0, X.data() + n, yp.data() + rows}};
        GemvTask ti[2] = {{&vi, 2, X.data(), yi.data()}, {&vi, 0, X.data() + n, yi.data() + rows}};
        ops.gemv_batch(tp, 2);
        ops.gemv_batch(ti, 2);
        for (size_t i = 0; i < yp.size(); ++i) {
          const int64_t r = static_cast<int64_t>(i) % rows, m = i < size_t(rows) ? 2 : 0;
          const double s = abs_dot(t, plain.data() + (m * rows + r) * rb, X.data() + (i < size_t(rows) ? 0 : n), n);
          CHECK(std::fabs(double(yi[i]) - yp[i]) <= 4e-5 * s + 1e-5);
        }
        // matmul_3d over all matrices, 1 token and 5 tokens (the multi-token path reads plain copies)
        for (int64_t nt : {int64_t{1}, ntok}) {
          std::vector<float> Yp(static_cast<size_t>(mats * nt * rows)), Yi(Yp.size(), -7.f);
          ops.matmul_3d(vp, X.data(), n, 0, Yp.data(), rows, nt * rows, nt);
          ops.matmul_3d(vi, X.data(), n, 0, Yi.data(), rows, nt * rows, nt);
          for (size_t i = 0; i < Yp.size(); ++i) {
            const double s = std::fabs(Yp[i]) + 1.0;
            CHECK(std::fabs(double(Yi[i]) - Yp[i]) <= 2e-4 * s);
            if (nt > 1) CHECK(Yi[i] == Yp[i]);  // same plain rows into the same kernels
          }
        }
      }
    }
  }
}

TEST_CASE("repack_views: copies into the arena, interleaves where a kernel exists, same products") {
  const KernelTable& kt = kernel_table(select_isa());
  ThreadPool pool(2);
  Ops ops(kt, pool);
  const int64_t n = 1024, rows = 70;
  std::vector<std::vector<uint8_t>> store;
  std::vector<TensorView> views, before;
  for (DType t : kTypes) {
    store.push_back(make_rows(t, n, rows * 2, 21 + static_cast<uint32_t>(t)));
    views.push_back(view_of(t, n, rows, 2, store.back().data(), 1));
  }
  before = views;
  std::vector<TensorView*> ptrs;
  for (auto& v : views) ptrs.push_back(&v);
  ptrs.push_back(&views[0]);  // a duplicate is copied once
  CHECK(repack_bytes(ptrs) >= static_cast<uint64_t>(views.size()) * views[0].bytes() / 2);
  RepackStats st;
  float last = -1;
  auto arena = repack_views(ptrs, kt, 2, nullptr, 0, &st, [&](float f) {
    CHECK(f >= last);
    last = f;
  });
  REQUIRE(arena);
  CHECK(last == 1.0f);
  CHECK(st.tensors == static_cast<int64_t>(views.size()));
  uint64_t total = 0;
  for (const auto& v : before) total += v.bytes();
  CHECK(st.bytes == total);
  const auto x = gaussian(static_cast<size_t>(n), 9);
  for (size_t i = 0; i < views.size(); ++i) {
    CAPTURE(std::string(views[i].tt->name));
    CHECK(views[i].data != before[i].data);
    CHECK(views[i].ilv == (kt.gemv_il[static_cast<uint32_t>(views[i].type())] ? kInterleave : 1));
    std::vector<float> a(static_cast<size_t>(rows)), b(static_cast<size_t>(rows));
    GemvTask ta{&before[i], 1, x.data(), a.data()}, tb{&views[i], 1, x.data(), b.data()};
    ops.gemv_batch(&ta, 1);
    ops.gemv_batch(&tb, 1);
    for (int64_t r = 0; r < rows; ++r) CHECK(std::fabs(a[size_t(r)] - b[size_t(r)]) <= 1e-4f * (std::fabs(a[size_t(r)]) + 1.f));
  }
  // repacking repacked (interleaved) views is a no-op for them
  std::vector<TensorView*> again{&views[0]};
  if (views[0].interleaved()) CHECK(repack_views(again, kt, 1, nullptr, 0) == nullptr);
}

TEST_CASE("a repacked model gives the memory-mapped model's logits (tiny quantized models, every ISA)") {
  const char* files[] = {"tiny-dsv3/tiny-dsv3-q4_k_m.gguf", "tiny-dsv3/tiny-dsv3-q8_0.gguf",
                         "tiny-dsv3/tiny-dsv3-q4_0.gguf", "tiny-dsv2/tiny-dsv2-q6_k.gguf",
                         "tiny-dsv3/tiny-dsv3-bf16.gguf"};
  // 40 prompt tokens (the multi-token paths: tile kernels, expanded attention on dequantized per-head matrices),
  // then 6 decode steps.
  std::vector<int32_t> ids;
  for (int i = 0; i < 46; ++i) ids.push_back(static_cast<int32_t>((i * 977 + 1) % 4000));
  for (const char* f : files) {
    for (Isa isa : isas()) {
      CAPTURE(std::string(f));
      CAPTURE(std::string(isa_name(isa)));
      ModelParams mp;
      mp.path = test::model_path(f);
      mp.isa = isa_name(isa);
      auto plain = Model::load(mp);
      mp.repack = true;
      auto packed = Model::load(mp);
      CHECK(plain->repacked_bytes() == 0);
      REQUIRE_MESSAGE(packed->repacked_bytes() > 0, packed->repack_note());
      if (isa == Isa::Avx512 && std::string(f).find("bf16") == std::string::npos) CHECK(packed->interleaved_bytes() > 0);
      const int64_t V = plain->hparams().n_vocab;
      SessionParams sp;
      sp.n_ctx = 64;
      sp.n_threads = 2;
      sp.cache_type = CacheType::F32;
      // prompt (multi-token path) and then token by token (decode path)
      Session a(plain, sp), b(packed, sp);
      std::vector<float> la(ids.size() * size_t(V)), lb(la.size());
      a.eval(std::span<const int32_t>(ids.data(), 40), la.data());
      b.eval(std::span<const int32_t>(ids.data(), 40), lb.data());
      for (size_t i = 40; i < ids.size(); ++i) {
        a.eval(std::span<const int32_t>(&ids[i], 1), la.data() + i * size_t(V));
        b.eval(std::span<const int32_t>(&ids[i], 1), lb.data() + i * size_t(V));
      }
      double worst = 0;
      for (size_t t = 0; t < ids.size(); ++t) {
        const float* p = la.data() + t * size_t(V);
        const float* q = lb.data() + t * size_t(V);
        const auto [lo, hi] = std::minmax_element(p, p + V);
        double md = 0;
        for (int64_t i = 0; i < V; ++i) md = std::max(md, double(std::fabs(p[i] - q[i])));
        worst = std::max(worst, md / double(*hi - *lo));
      }
      MESSAGE(std::string(f) << " [" << isa_name(isa) << "]: repacked vs mapped worst max|diff|/spread " << worst);
      // Q8_0 and the K-quants' interleaved kernels sum like the plain 4-row kernels (identical logits); Q4_0's plain
      // gemv takes the block-pair path, its interleaved one the 4-row path: f32 summation order differs (~1e-6
      // relative per product, tests above), which near-tied routing decisions of the tiny model amplify.
      const bool same_order = std::string(f).find("q4_0") == std::string::npos || isa == Isa::Scalar;
      CHECK(worst <= (same_order ? 1e-4 : 2e-2));
    }
  }
}
