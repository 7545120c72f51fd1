// Byte-level BPE tokenizer (GGUF_DEEPSEEK.md §E.2–§E.7): special-token partitioning, regex pre-tokenization,
// byte-level mapping, BPE by merge rank, and byte-exact detokenization.
#include "runtime/text/tokenizer.h"

#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include "formats/gguf.h"
#include "runtime/text/byte_level.h"
#include "formats/error.h"
#include "runtime/text/pretokenizer.h"
#include "runtime/text/utf8.h"

namespace latte {

namespace {

struct Special {
  std::string_view text;  // view into Impl::tokens
  int32_t id;
  bool needs_parse_special;  // CONTROL / UNKNOWN: only split out when parse_special
};

struct MergeInfo {
  int32_t rank;
  int32_t result;  // id of left+right
};

inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// A BPE symbol in the doubly linked list of one word.
struct Sym {
  int32_t id;  // token id of the symbol's text, -1 if the byte has no token
  int32_t prev, next;
  bool alive;
};

struct Candidate {
  int32_t rank, left, right, lid, rid;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
};

const char* const kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",  "<end_of_turn>",
                                 "<|endoftext|>", "<EOT>", "_<EOT>", ("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>")};

}  // namespace

struct Tokenizer::Impl {
  std::string model, pre;
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<std::string> pieces;        // decoded bytes per id (what decode() emits for Normal/UserDefined)
  std::unordered_map<std::string_view, int32_t> id_of;  // views into `tokens`
  std::unordered_map<uint64_t, MergeInfo> merges;       // (left id, right id) -> rank, result id
  size_t n_merges = 0;
  std::array<int32_t, 256> byte_tok{};    // id of the single-byte token for each byte, -1 if absent
  std::array<std::vector<Special>, 256> specials_by_first;  // by first byte, longest first
  std::vector<int32_t> eog;
  int32_t bos = -1, eos = -1;
  bool add_bos = true, add_eos = false;
  std::unique_ptr<PreTokenizer> pretok;

  void bpe(std::string_view word, std::vector<int32_t>& out) const;
  void encode_text(std::string_view frag, std::vector<int32_t>& out,
                   std::unordered_map<std::string_view, std::vector<int32_t>>& cache) const;
};

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& f) {
  VocabData v;
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model) throw FormatError(f.path() + ": missing key tokenizer.ggml.model");
  v.model = std::string(*model);
  if (v.model != "gpt2")
    throw UnsupportedError(f.path() + ": tokenizer.ggml.model = '" + v.model + "' is not supported (only 'gpt2')");
  if (auto pre = f.get_string("tokenizer.ggml.pre")) v.pre = std::string(*pre);
  if (!PreTokenizer::known(v.pre))
    throw UnsupportedError(f.path() + ": tokenizer.ggml.pre = '" + v.pre + "' is not supported");
  for (auto sv : f.get_string_array("tokenizer.ggml.tokens")) v.tokens.emplace_back(sv);
  if (v.tokens.empty()) throw FormatError(f.path() + ": tokenizer.ggml.tokens is missing or empty");
  for (auto t : f.get_int_array("tokenizer.ggml.token_type")) v.types.push_back(int32_t(t));
  if (!v.types.empty() && v.types.size() != v.tokens.size())
    throw FormatError(f.path() + ": tokenizer.ggml.token_type has " + std::to_string(v.types.size()) +
                      " entries, tokenizer.ggml.tokens has " + std::to_string(v.tokens.size()));
  for (auto sv : f.get_string_array("tokenizer.ggml.merges")) v.merges.emplace_back(sv);
  auto id_key = [&](const char* key, int32_t& dst) {
    if (auto x = f.get_int(key)) {
      if (*x < 0 || *x >= int64_t(v.tokens.size()))
        throw FormatError(f.path() + ": " + key + " = " + std::to_string(*x) + " is outside the vocabulary (" +
                          std::to_string(v.tokens.size()) + " tokens)");
      dst = int32_t(*x);
    }
  };
  id_key("tokenizer.ggml.bos_token_id", v.bos);
  id_key("tokenizer.ggml.eos_token_id", v.eos);
  id_key("tokenizer.ggml.eot_token_id", v.eot);
  id_key("tokenizer.ggml.eom_token_id", v.eom);
  if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
  if (auto b = f.get_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *b;
  return from_vocab(std::move(v));
}

std::unique_ptr<Tokenizer> Tokenizer::from_vocab(VocabData v) {
  if (v.model != "gpt2") throw UnsupportedError("tokenizer model '" + v.model + "' is not supported (only 'gpt2')");
  if (v.tokens.empty()) throw FormatError("tokenizer: empty vocabulary");
  if (v.tokens.size() > size_t(INT32_MAX)) throw FormatError("tokenizer: vocabulary too large");
  if (!v.types.empty() && v.types.size() != v.tokens.size())
    throw FormatError("tokenizer: token_type count " + std::to_string(v.types.size()) + " != token count " +
                      std::to_string(v.tokens.size()));
  const auto n = int32_t(v.tokens.size());
  for (int32_t* id : {&v.bos, &v.eos, &v.eot, &v.eom})
    if (*id >= n) throw FormatError("tokenizer: special token id " + std::to_string(*id) + " outside vocabulary");

  std::unique_ptr<Tokenizer> t(new Tokenizer());
  Impl& m = *t->impl_;
  m.model = v.model;
  m.pre = v.pre;
  m.pretok = std::make_unique<PreTokenizer>(v.pre);
  m.tokens = std::move(v.tokens);
  m.types.resize(size_t(n), TokenType::Normal);
  for (size_t i = 0; i < v.types.size(); ++i) {
    int32_t ty = v.types[i];
    m.types[i] = (ty >= 0 && ty <= 6) ? TokenType(ty) : TokenType::Undefined;
  }
  m.bos = v.bos;
  m.eos = v.eos;
  m.add_bos = v.add_bos && v.bos >= 0;
  m.add_eos = v.add_eos && v.eos >= 0;

  m.id_of.reserve(size_t(n) * 2);
  m.pieces.resize(size_t(n));
  for (int32_t id = 0; id < n; ++id) {
    const std::string& s = m.tokens[size_t(id)];
    m.id_of.emplace(std::string_view(s), id);  // first id wins on duplicates
    TokenType ty = m.types[size_t(id)];
    if (ty == TokenType::UserDefined || ty == TokenType::Control || ty == TokenType::Unknown ||
        ty == TokenType::Unused) {
      m.pieces[size_t(id)] = s;  // raw text (CONTROL/UNKNOWN/UNUSED only emitted with render_special)
    } else {
      bool ok = true;
      std::string bytes = byte_level::decode(s, &ok);
      m.pieces[size_t(id)] = ok ? std::move(bytes) : s;  // not byte-level text: emit as is (HF behaviour)
    }
    if ((ty == TokenType::Control || ty == TokenType::UserDefined || ty == TokenType::Unknown) && !s.empty()) {
      m.specials_by_first[uint8_t(s[0])].push_back(
          {std::string_view(s), id, ty != TokenType::UserDefined});
    }
  }
  for (auto& list : m.specials_by_first)
    std::stable_sort(list.begin(), list.end(),
                     [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });

  for (int b = 0; b < 256; ++b) {
    auto it = m.id_of.find(byte_level::byte_to_utf8(uint8_t(b)));
    m.byte_tok[size_t(b)] = it == m.id_of.end() ? -1 : it->second;
  }

  // Merges: "left right", split at the first space after position 0. A merge whose parts or result are not in
  // the vocabulary can never fire on id symbols; it is skipped.
  m.merges.reserve(v.merges.size() * 2);
  m.n_merges = v.merges.size();
  std::string joined;
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& s = v.merges[r];
    size_t sp = s.find(' ', 1);
    if (sp == std::string::npos)
      throw FormatError("tokenizer.ggml.merges[" + std::to_string(r) + "] has no space: '" + s + "'");
    std::string_view left(s.data(), sp), right(s.data() + sp + 1, s.size() - sp - 1);
    auto li = m.id_of.find(left), ri = m.id_of.find(right);
    if (li == m.id_of.end() || ri == m.id_of.end()) continue;
    joined.assign(left);
    joined.append(right);
    auto ji = m.id_of.find(joined);
    if (ji == m.id_of.end()) continue;
    m.merges.emplace(pair_key(li->second, ri->second), MergeInfo{int32_t(r), ji->second});  // lowest rank wins
  }

  auto add_eog = [&](int32_t id) {
    if (id >= 0 && std::find(m.eog.begin(), m.eog.end(), id) == m.eog.end()) m.eog.push_back(id);
  };
  add_eog(v.eos);
  add_eog(v.eot);
  add_eog(v.eom);
  for (const char* txt : kEotTexts) {
    auto it = m.id_of.find(txt);
    if (it != m.id_of.end()) {
      TokenType ty = m.types[size_t(it->second)];
      if (ty == TokenType::Control || ty == TokenType::UserDefined) add_eog(it->second);
    }
  }
  return t;
}

// BPE over one pre-tokenized word (raw UTF-8 bytes). Symbols start as single bytes (= single byte-level code
// points); the lowest-ranked adjacent pair is merged first, ties to the leftmost. O(n log n) per word.
void Tokenizer::Impl::bpe(std::string_view word, std::vector<int32_t>& out) const {
  const auto n = int32_t(word.size());
  if (n == 1) {
    int32_t id = byte_tok[uint8_t(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  std::vector<Sym> sym(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) sym[size_t(i)] = {byte_tok[uint8_t(word[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1, true};
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> q;
  auto try_push = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t a = sym[size_t(l)].id, b = sym[size_t(r)].id;
    if (a < 0 || b < 0) return;
    auto it = merges.find(pair_key(a, b));
    if (it != merges.end()) q.push({it->second.rank, l, r, a, b});
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_push(i, i + 1);
  while (!q.empty()) {
    Candidate c = q.top();
    q.pop();
    Sym& L = sym[size_t(c.left)];
    Sym& R = sym[size_t(c.right)];
    if (!L.alive || !R.alive || L.next != c.right || L.id != c.lid || R.id != c.rid) continue;  // stale
    L.id = merges.find(pair_key(c.lid, c.rid))->second.result;
    R.alive = false;
    L.next = R.next;
    if (R.next >= 0) sym[size_t(R.next)].prev = c.left;
    try_push(L.prev, c.left);
    try_push(c.left, L.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next)
    if (sym[size_t(i)].id >= 0) out.push_back(sym[size_t(i)].id);
}

void Tokenizer::Impl::encode_text(std::string_view frag, std::vector<int32_t>& out,
                                  std::unordered_map<std::string_view, std::vector<int32_t>>& cache) const {
  std::vector<std::string_view> words;
  pretok->split(frag, words);
  for (auto w : words) {
    if (w.size() > 64) {  // long words are rare: not worth caching
      bpe(w, out);
      continue;
    }
    auto it = cache.find(w);
    if (it == cache.end()) {
      std::vector<int32_t> ids;
      bpe(w, ids);
      it = cache.emplace(w, std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text_in, bool add_bos, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text_in.size() / 3 + 2);
  if (add_bos && m.add_bos) out.push_back(m.bos);
  const std::string text = utf8::sanitize(text_in);
  std::unordered_map<std::string_view, std::vector<int32_t>> cache;  // word -> ids, valid during this call

  // Special-token partitioning, leftmost-longest (HF added-vocabulary semantics).
  size_t frag = 0, pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    const auto& cands = m.specials_by_first[uint8_t(text[pos])];
    const Special* hit = nullptr;
    for (const Special& s : cands) {
      if (s.needs_parse_special && !parse_special) continue;
      if (s.text.size() <= n - pos && std::string_view(text).compare(pos, s.text.size(), s.text) == 0) {
        hit = &s;
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    if (pos > frag) m.encode_text(std::string_view(text).substr(frag, pos - frag), out, cache);
    out.push_back(hit->id);
    pos += hit->text.size();
    frag = pos;
  }
  if (frag < n) m.encode_text(std::string_view(text).substr(frag), out, cache);
  if (add_bos && m.add_eos) out.push_back(m.eos);
  return out;
}

std::vector<std::string> Tokenizer::pretokenize(std::string_view text) const {
  const std::string clean = utf8::sanitize(text);
  std::vector<std::string> r;
  for (auto w : impl_->pretok->split(clean)) r.emplace_back(w);
  return r;
}

std::string Tokenizer::token_bytes(int32_t id, bool render_special) const {
  const Impl& m = *impl_;
  if (id < 0 || id >= n_vocab())
    throw ArgumentError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                        std::to_string(n_vocab() - 1) + ")");
  TokenType ty = m.types[size_t(id)];
  if ((ty == TokenType::Control || ty == TokenType::Unknown || ty == TokenType::Unused) && !render_special) return {};
  return m.pieces[size_t(id)];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id, render_special);
  return out;
}

int32_t Tokenizer::n_vocab() const { return int32_t(impl_->tokens.size()); }
int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::is_eog(int32_t id) const {
  return std::find(impl_->eog.begin(), impl_->eog.end(), id) != impl_->eog.end();
}
TokenType Tokenizer::type(int32_t id) const {
  if (id < 0 || id >= n_vocab()) throw ArgumentError("token id " + std::to_string(id) + " is outside the vocabulary");
  return impl_->types[size_t(id)];
}
const std::string& Tokenizer::text(int32_t id) const {
  if (id < 0 || id >= n_vocab()) throw ArgumentError("token id " + std::to_string(id) + " is outside the vocabulary");
  return impl_->tokens[size_t(id)];
}
int32_t Tokenizer::find_token(std::string_view raw_text) const {
  auto it = impl_->id_of.find(raw_text);
  return it == impl_->id_of.end() ? -1 : it->second;
}
const std::string& Tokenizer::model() const { return impl_->model; }
const std::string& Tokenizer::pre() const { return impl_->pre; }
size_t Tokenizer::n_merges() const { return impl_->n_merges; }

}  // namespace latte
