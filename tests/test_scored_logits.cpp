// Scored-logits files (round trip, malformed input) and the KL-divergence accumulator against hand-computed values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "formats/error.h"
#include "runtime/session/scored_logits.h"
#include "tests/test_support.h"

using namespace latte;

TEST_CASE("KldAccumulator: identical rows give KL 0, agreement 1, equal PPLs") {
  KldAccumulator a;
  std::vector<float> row = {1.0f, 2.0f, 0.5f, -1.0f};
  a.add(row.data(), row.data(), 4, 1);
  a.add(row.data(), row.data(), 4, 3);
  CHECK(a.n() == 2);
  CHECK(a.mean_kld() == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(a.top1_agreement() == 1.0);
  CHECK(a.base_ppl() == doctest::Approx(a.model_ppl()));
}

TEST_CASE("KldAccumulator: two-token case matches the closed form") {
  // base p = (0.8, 0.2), model q = (0.5, 0.5): KL = 0.8 ln(1.6) + 0.2 ln(0.4)
  std::vector<float> b = {float(std::log(0.8)), float(std::log(0.2))};
  std::vector<float> m = {0.0f, 0.0f};
  KldAccumulator a;
  a.add(b.data(), m.data(), 2, 0);
  CHECK(a.mean_kld() == doctest::Approx(0.8 * std::log(1.6) + 0.2 * std::log(0.4)).epsilon(1e-6));
  CHECK(a.top1_agreement() == 1.0);  // model tie -> lowest id 0, same as base
  CHECK(a.base_ppl() == doctest::Approx(1.0 / 0.8).epsilon(1e-6));
  CHECK(a.model_ppl() == doctest::Approx(2.0).epsilon(1e-6));
  std::vector<float> m2 = {-1.0f, 1.0f};
  a.add(b.data(), m2.data(), 2, 1);
  CHECK(a.top1_agreement() == 0.5);
  CHECK(a.kld_stderr() > 0.0);
}

TEST_CASE("scored-logits file: round trip and validation") {
  const std::string dir = test::scratch_dir("scored_logits");
  const std::string path = dir + "/base.kld";
  ScoredLogitsHeader h{5, 8, 2, 4, 3};
  std::vector<int32_t> t0 = {0, 1, 2, 3, 4, 0, 1, 2}, t1 = {0, 4, 4, 4, 3, 2, 1, 0};
  std::vector<float> l0(15), l1(15);
  for (int i = 0; i < 15; ++i) {
    l0[size_t(i)] = float(i) * 0.5f;
    l1[size_t(i)] = -float(i);
  }
  {
    ScoredLogitsWriter w(path, h);
    w.add_chunk(t0, l0.data());
    w.add_chunk(t1, l1.data());
    w.finish();
  }
  ScoredLogitsReader r(path);
  CHECK(r.header().n_vocab == 5);
  CHECK(r.header().n_chunks == 2);
  CHECK(r.header().n_scored == 3);
  auto c1 = r.chunk_tokens(1);
  CHECK(std::vector<int32_t>(c1.begin(), c1.end()) == t1);
  std::vector<float> back(15);
  r.read_chunk(0, back.data());
  CHECK(back == l0);
  r.read_chunk(1, back.data());
  CHECK(back == l1);
  CHECK_THROWS_AS(r.read_chunk(2, back.data()), ArgumentError);

  SUBCASE("an unfinished writer leaves no file") {
    const std::string p2 = dir + "/partial.kld";
    std::remove(p2.c_str());
    {
      ScoredLogitsWriter w(p2, h);
      w.add_chunk(t0, l0.data());
      CHECK_THROWS_AS(w.finish(), ArgumentError);  // 1 of 2 chunks
    }
    std::ifstream f(p2);
    CHECK_FALSE(f.good());
  }
  SUBCASE("truncated and foreign files are FormatErrors") {
    auto bytes = test::read_bytes(path);
    const std::string p3 = dir + "/trunc.kld";
    {
      std::ofstream o(p3, std::ios::binary);
      o.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size() - 4));
    }
    CHECK_THROWS_AS(ScoredLogitsReader{p3}, FormatError);
    const std::string p4 = dir + "/foreign.kld";
    {
      std::ofstream o(p4, std::ios::binary);
      o << "GGUF and some more bytes here";
    }
    CHECK_THROWS_AS(ScoredLogitsReader{p4}, FormatError);
    CHECK_THROWS_AS(ScoredLogitsReader{dir + "/missing.kld"}, IoError);
  }
}
