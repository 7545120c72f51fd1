// Grammar-constrained sampling: which tokens may come next so that the generated text stays a prefix of a document
// of a JsonGrammar (json_grammar.h, built by json_schema.h), and EOG only where the document is complete.
//   VocabIndex: the vocabulary as byte strings in a trie (token bytes as generate() streams them), built once per
//     (tokenizer, render_special) and shared read-only by any number of constraints (thread-safe after build).
//   TokenConstraint: one generation's grammar state. mask() walks the trie with the grammar state, dropping a
//     subtree at the first byte the grammar refuses, so the cost follows the number of tokens that stay valid for
//     a few bytes, not the vocabulary size. Inside a free string (where most of the vocabulary is allowed) tokens
//     without a quote, backslash or control byte are taken from precomputed bitmaps (one per UTF-8 state) and only
//     the other tokens are walked, from their first such byte. Control tokens (rendered special tokens) are
//     allowed only where the grammar spells them as literal markup (tool-call markers), never as string content.
//   Budget: with set_budget(L) (tokens that may still be generated, this one and the EOG included) a token is
//     allowed only if the shortest completion after it (in bytes, so in at most as many tokens) still fits in the
//     L - 2 tokens left after it and before the EOG. Since a one-byte token on a shortest completion always
//     qualifies, the document is complete (and EOG allowed) before the budget runs out, whenever the budget could
//     hold the shortest document at the start.
// Thread-safety: a TokenConstraint is one stream's state (one thread at a time).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/text/json_grammar.h"

namespace latte {

class Tokenizer;

class VocabIndex {
 public:
  // render_special: control tokens produce their text (as generate() with render_special does); otherwise they
  // produce nothing and are never allowed.
  VocabIndex(const Tokenizer& tok, bool render_special);

  struct Trie {
    struct Node {
      uint32_t edge_begin = 0, edge_end = 0;  // edges[edge_begin, edge_end), sorted by byte
      uint32_t tok_begin = 0, tok_end = 0;    // tokens[tok_begin, tok_end): tokens whose bytes end here
    };
    struct Edge {
      uint8_t byte;
      uint32_t child;
    };
    std::vector<Node> nodes;  // nodes[0] = root (empty string)
    std::vector<Edge> edges;
    std::vector<int32_t> tokens;
    size_t max_len = 0;
  };

  int32_t n_vocab() const { return n_vocab_; }
  bool render_special() const { return render_special_; }
  const std::string& bytes(int32_t id) const { return bytes_[size_t(id)]; }
  bool is_eog(int32_t id) const { return kind_[size_t(id)] == Kind::Eog; }
  bool is_control(int32_t id) const { return kind_[size_t(id)] == Kind::Control; }

  Trie all;       // normal tokens (not EOG, not control, non-empty)
  Trie special;   // normal tokens with a quote / backslash / control byte, from their first such byte
  Trie control;   // control tokens (render_special only)
  // plain[u][p]: tokens of string bytes only that are valid from UTF-8 state u and end with p continuation bytes
  // still pending (p = 0..3: how much longer they leave the shortest completion than a character boundary).
  std::vector<uint64_t> plain[8][4];
  std::vector<uint8_t> prefix_ok;   // per token in `special`: bit u = its bytes before the first special byte are
                                     // valid string content from UTF-8 state u and end at a character boundary
  std::vector<int32_t> eog;

 private:
  enum class Kind : uint8_t { Normal, Control, Eog, Never };
  int32_t n_vocab_ = 0;
  bool render_special_ = false;
  std::vector<std::string> bytes_;
  std::vector<Kind> kind_;
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const JsonGrammar> g, std::shared_ptr<const VocabIndex> v);

  // Allowed next tokens as a bitset over the vocabulary (bit i of word i/64), valid until the next call.
  const std::vector<uint64_t>& mask();
  // Sets logits[i] = -inf for every token mask() does not allow; returns how many are allowed.
  size_t apply(std::span<float> logits);
  // Advances by a sampled token; false (state unchanged) when the grammar does not allow it. EOG is accepted only
  // where the document is complete.
  bool accept(int32_t token);
  bool accepting() const { return g_->accepting(state_); }
  uint32_t min_remaining() const { return g_->min_remaining(state_); }  // bytes of the shortest completion
  // Tokens the caller may still generate, this one and the EOG included (INT64_MAX = no limit).
  void set_budget(int64_t tokens_left) { budget_ = tokens_left; }
  int64_t budget() const { return budget_; }
  const JsonGrammar& grammar() const { return *g_; }
  const VocabIndex& vocab() const { return *v_; }

 private:
  void fill();
  void walk(const VocabIndex::Trie& t, uint32_t node, size_t depth, bool literal_only, int prefix_u);
  void set(int32_t id) { bits_[size_t(id) >> 6] |= uint64_t(1) << (id & 63); }

  std::shared_ptr<const JsonGrammar> g_;
  std::shared_ptr<const VocabIndex> v_;
  GrammarState state_;
  int64_t budget_ = INT64_MAX;
  int64_t limit_ = INT64_MAX;  // during mask(): the largest min_remaining() allowed after a token
  std::vector<uint64_t> bits_;
  std::vector<GrammarState> level_;  // walk scratch: state after depth bytes
};

}  // namespace latte
