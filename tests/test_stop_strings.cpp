// StopMatcher: stop strings split across pieces are never emitted; text that only looked like a stop prefix is
// released as soon as it cannot be one; the concatenation of emitted text equals the input up to the stop.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/session/generate.h"

using namespace latte;

namespace {

// Feeds `pieces`, returns (emitted text, stopped).
std::pair<std::string, bool> feed(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  std::string out;
  for (const auto& p : pieces) {
    out += m.push(p);
    if (m.stopped()) return {out, true};
  }
  out += m.flush();
  return {out, false};
}

}  // namespace

TEST_CASE("no stop strings: everything passes through at once") {
  StopMatcher m({});
  CHECK(m.push("abc") == "abc");
  CHECK(m.push("") == "");
  CHECK(m.flush() == "");
  CHECK_FALSE(m.stopped());
  StopMatcher e({""});  // empty stop strings are ignored
  CHECK(e.push("x") == "x");
}

TEST_CASE("a stop string inside one piece cuts the text before it") {
  auto [out, stopped] = feed({"</s>"}, {"Hello</s>world"});
  CHECK(stopped);
  CHECK(out == "Hello");
}

TEST_CASE("a stop string split across pieces is held back and never emitted") {
  StopMatcher m({"User:"});
  CHECK(m.push("Hi there.\nUs") == "Hi there.\n");  // "Us" held
  CHECK(m.push("e") == "");                          // "Use" held
  CHECK(m.push("r:") == "");
  CHECK(m.stopped());
  CHECK(m.flush() == "");
}

TEST_CASE("held text is released when it stops matching, and at flush") {
  StopMatcher m({"User:"});
  CHECK(m.push("Us") == "");
  CHECK(m.push("ed to") == "Used to");
  CHECK(m.push(" say U") == " say ");
  CHECK(m.flush() == "U");
  CHECK_FALSE(m.stopped());
}

TEST_CASE("several stop strings: the earliest occurrence wins; overlapping prefixes") {
  CHECK(feed({"bc", "ab"}, {"xabc"}).first == "x");
  CHECK(feed({"\n\n", "###"}, {"a\n", "#", "##"}).first == "a\n");
  // "aab" with stop "ab": the first 'a' is released only once it cannot start the stop.
  StopMatcher m({"ab"});
  CHECK(m.push("a") == "");
  CHECK(m.push("a") == "a");
  CHECK(m.push("b") == "");
  CHECK(m.stopped());
}

TEST_CASE("after stopping, later pushes return nothing") {
  StopMatcher m({"."});
  CHECK(m.push("end. more") == "end");
  CHECK(m.push("more") == "");
  CHECK(m.flush() == "");
}

TEST_CASE("random splits: output equals the input cut at the first stop") {
  std::mt19937 g(42);
  const std::string alphabet = "ab\n#xyz";
  const std::vector<std::string> stops = {"ab#", "\n\n", "zzz"};
  for (int trial = 0; trial < 500; ++trial) {
    std::string text;
    std::uniform_int_distribution<int> len(0, 40), ch(0, int(alphabet.size()) - 1);
    for (int i = len(g); i > 0; --i) text += alphabet[size_t(ch(g))];
    size_t cut = std::string::npos;
    for (const auto& s : stops) cut = std::min(cut, text.find(s));
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      size_t n = std::min(text.size() - i, size_t(1 + g() % 4));
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    auto [out, stopped] = feed(stops, pieces);
    INFO("text: " << text);
    CHECK(stopped == (cut != std::string::npos));
    CHECK(out == text.substr(0, cut));
  }
}
