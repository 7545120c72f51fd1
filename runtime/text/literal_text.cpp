#include "runtime/text/literal_text.h"

#include <algorithm>
#include <array>
#include <string>

#include "runtime/text/tokenizer.h"

namespace latte {

namespace {

struct Candidate {
  std::string_view text;  // the token's vocabulary string (for special tokens: the literal text)
  int32_t id;
  bool control;  // CONTROL / UNKNOWN: not split out inside literal ranges
};

}  // namespace

std::vector<int32_t> encode_with_literals(const Tokenizer& tok, std::string_view text, bool add_bos,
                                          std::span<const TextRange> literal) {
  // The same partition as Tokenizer::encode: leftmost, longest special token first; here the position decides
  // whether CONTROL tokens count (outside literal ranges) or not (inside, like parse_special = false). Between
  // the special tokens, encode(..., parse_special = false) is exactly encode's own fragment encoding.
  std::array<std::vector<Candidate>, 256> by_first;
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const TokenType ty = tok.type(id);
    if (ty != TokenType::Control && ty != TokenType::UserDefined && ty != TokenType::Unknown) continue;
    const std::string& s = tok.text(id);
    if (!s.empty()) by_first[uint8_t(s[0])].push_back({s, id, ty != TokenType::UserDefined});
  }
  for (auto& list : by_first)
    std::stable_sort(list.begin(), list.end(),
                     [](const Candidate& a, const Candidate& b) { return a.text.size() > b.text.size(); });

  std::vector<int32_t> out;
  if (add_bos && tok.add_bos() && tok.bos() >= 0) out.push_back(tok.bos());
  auto add_text = [&](std::string_view frag) {
    if (frag.empty()) return;
    std::vector<int32_t> ids = tok.encode(frag, /*add_bos=*/false, /*parse_special=*/false);
    out.insert(out.end(), ids.begin(), ids.end());
  };
  size_t r = 0;  // first literal range that may still contain or follow pos
  size_t frag = 0, pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    while (r < literal.size() && literal[r].end <= pos) ++r;
    const Candidate* hit = nullptr;
    for (const Candidate& c : by_first[uint8_t(text[pos])]) {
      if (c.text.size() > n - pos || text.compare(pos, c.text.size(), c.text) != 0) continue;
      // a control token may neither start in nor reach into a literal range
      if (c.control && r < literal.size() && literal[r].begin < pos + c.text.size()) continue;
      hit = &c;
      break;
    }
    if (!hit) {
      ++pos;
      continue;
    }
    add_text(text.substr(frag, pos - frag));
    out.push_back(hit->id);
    pos += hit->text.size();
    frag = pos;
  }
  add_text(text.substr(frag));
  return out;
}

}  // namespace latte
