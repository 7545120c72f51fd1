// The i-quant layouts against llama.cpp: llama.cpp's own quantizer (../shared/peers, the Feb 2025 build, which has
// no MXFP4) writes tiny-dsv3 as IQ3_XXS, IQ2_XXS and IQ1_S; Latte's dequantizer must read every such tensor back
// close to the f32 source (a wrong bit, index or sign layout gives errors near or above 100 %), its SIMD kernels
// must agree with the oracle on them, and Latte's own reference quantizer is reported next to llama.cpp's on the
// same tensors (token_embd and output forced to Q8_0: the mixes put IQ3_S there, which Latte does not read). llama-quantize refuses IQ2_XXS / IQ1_S without an importance matrix: the test writes a uniform one
// (every column weight 1, i.e. plain squared error) in llama.cpp's legacy imatrix layout. Skipped (with a message)
// where the peer cannot run (no tarball, or a CPU without AVX2: peer exit code 3).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "formats/gguf.h"
#include "quant/kernels.h"
#include "quant/types.h"
#include "test_support.h"

using namespace latte;

namespace {

// Legacy imatrix: i32 count; per tensor: i32 name length, name, i32 ncall, i32 nval, nval f32; then i32 chunk.
void write_uniform_imatrix(const gguf::File& f, const std::string& path) {
  std::vector<const gguf::TensorInfo*> ts;
  for (const auto& t : f.tensors())
    if (t.n_dims >= 2 && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0 &&
        t.name.find("norm") == std::string::npos)
      ts.push_back(&t);
  FILE* out = std::fopen(path.c_str(), "wb");
  REQUIRE(out != nullptr);
  auto i32 = [&](int32_t v) { std::fwrite(&v, 4, 1, out); };
  i32(static_cast<int32_t>(ts.size()));
  for (const auto* t : ts) {
    i32(static_cast<int32_t>(t->name.size()));
    std::fwrite(t->name.data(), 1, t->name.size(), out);
    const int64_t nval = t->ne[0] * (t->n_dims > 2 ? t->ne[2] : 1);
    i32(1);
    i32(static_cast<int32_t>(nval));
    const std::vector<float> ones(static_cast<size_t>(nval), 1.0f);
    std::fwrite(ones.data(), 4, ones.size(), out);
  }
  i32(1);
  std::fclose(out);
}

double rel_rmse(const float* ref, const float* got, size_t n) {
  double e = 0, s = 0;
  for (size_t i = 0; i < n; ++i) {
    e += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
    s += double(ref[i]) * ref[i];
  }
  return s > 0 ? std::sqrt(e / s) : std::sqrt(e);
}

}  // namespace

TEST_CASE("llama.cpp-written IQ3_XXS / IQ2_XXS / IQ1_S files decode close to the f32 source") {
  const std::string peer = test::shared_dir() + "/peers/peer";
  const std::string f32 = test::model_path("tiny-dsv3/tiny-dsv3-f32.gguf");
  if (!std::filesystem::exists(peer) || !std::filesystem::exists(f32)) {
    MESSAGE("skipped: no peer tarball or tiny-dsv3");
    return;
  }
  const std::string dir = test::scratch_dir("peer_iquants");
  const auto src = gguf::File::open(f32);
  const std::string imatrix = dir + "/uniform.imatrix";
  write_uniform_imatrix(*src, imatrix);
  // Relative RMS bounds per type for llama.cpp's tensors: measured worst 0.184 / 0.349 / 0.498 (means 0.182 /
  // 0.344 / 0.486; Latte's quantizer on the same tensors 0.185 / 0.351 / 0.489); a layout error gives ~1 or more.
  struct Case { const char* type; DType t; double bound; };
  for (Case c : {Case{"IQ3_XXS", DType::IQ3_XXS, 0.22}, Case{"IQ2_XXS", DType::IQ2_XXS, 0.40},
                 Case{"IQ1_S", DType::IQ1_S, 0.56}}) {
    const std::string type_name = c.type;
    CAPTURE(type_name);
    const std::string out = dir + "/llama-" + c.type + ".gguf";
    const std::string cmd = "\"" + peer + "\" llama.cpp llama-quantize --allow-requantize --token-embedding-type q8_0 --output-tensor-type q8_0 --imatrix \"" + imatrix +
                            "\" \"" + f32 + "\" \"" + out + "\" " + c.type + " 2 >\"" + dir + "/quantize.log\" 2>&1";
    const int rc = std::system(cmd.c_str());
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) {
      MESSAGE("skipped: this CPU cannot run the llama.cpp peer build");
      return;
    }
    REQUIRE_MESSAGE(rc == 0, "llama-quantize failed, see " << dir << "/quantize.log");
    const auto q = gguf::File::open(out);
    int n_type = 0;
    double worst = 0, sum_theirs = 0, sum_ours = 0;
    for (const auto& ti : q->tensors()) {
      if (ti.type != static_cast<uint32_t>(c.t)) continue;
      const gguf::TensorInfo* rt = src->find_tensor(ti.name);
      REQUIRE(rt != nullptr);
      REQUIRE(rt->n_elements() == ti.n_elements());
      CAPTURE(ti.name);
      const TypeTraits& tt = type_traits(c.t);
      REQUIRE(row_bytes(tt, ti.n_elements()) == ti.nbytes);
      const auto* x = reinterpret_cast<const float*>(rt->data);
      std::vector<float> got(static_cast<size_t>(ti.n_elements()));
      tt.dequantize_row(ti.data, got.data(), ti.n_elements());
      const double theirs = rel_rmse(x, got.data(), got.size());
      CHECK(theirs <= c.bound);
      worst = std::max(worst, theirs);
      sum_theirs += theirs;
      // Latte's reference quantizer on the same tensor, for the record.
      std::vector<uint8_t> ours(ti.nbytes);
      tt.quantize_row(x, ours.data(), ti.n_elements());
      std::vector<float> back(got.size());
      tt.dequantize_row(ours.data(), back.data(), ti.n_elements());
      sum_ours += rel_rmse(x, back.data(), back.size());
      // Every SIMD kernel equals the scalar oracle on llama.cpp's blocks (first rows of the tensor).
      const int64_t n = ti.ne[0], rows = std::min<int64_t>(8, ti.n_elements() / n);
      std::mt19937 rng(7);
      std::normal_distribution<float> nd(0.f, 1.f);
      std::vector<float> a(static_cast<size_t>(n));
      for (auto& v : a) v = nd(rng);
      const KernelTable& ref = kernel_table(Isa::Scalar);
      std::vector<uint8_t> act(row_bytes(tt.vec_dot_type, n));
      ref.quantize_act[static_cast<uint32_t>(tt.vec_dot_type)](a.data(), act.data(), n);
      std::vector<float> y_ref(static_cast<size_t>(rows)), y(static_cast<size_t>(rows));
      ref.gemv[static_cast<uint32_t>(c.t)](n, ti.data, row_bytes(tt, n), act.data(), y_ref.data(), rows);
      for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
        if (!isa_supported(isa)) continue;
        kernel_table(isa).gemv[static_cast<uint32_t>(c.t)](n, ti.data, row_bytes(tt, n), act.data(), y.data(), rows);
        for (int64_t r = 0; r < rows; ++r) CHECK(y[r] == doctest::Approx(y_ref[r]).epsilon(1e-4).scale(1e-3));
      }
      ++n_type;
    }
    MESSAGE(type_name << ": " << n_type << " llama.cpp tensors, rel rmse mean " << sum_theirs / std::max(1, n_type)
                   << " worst " << worst << "; Latte's quantizer on the same tensors: mean "
                   << sum_ours / std::max(1, n_type));
    CHECK(n_type >= 10);
    std::remove(out.c_str());
  }
}
