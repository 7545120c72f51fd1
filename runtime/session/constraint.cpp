// Token masks from a JsonGrammar (see constraint.h).
#include "runtime/session/constraint.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "formats/error.h"
#include "runtime/text/tokenizer.h"

namespace latte {

namespace {

inline bool special_byte(uint8_t c) { return c == '"' || c == '\\' || c < 0x20; }

// Continuation bytes still due in UTF-8 state u (json_grammar.cpp's order: 0, C1, C2, C3, E0, ED, F0, F4).
inline int pending(int u) {
  static constexpr int kPending[8] = {0, 1, 2, 3, 2, 2, 3, 3};
  return kPending[u];
}

// Trie under construction: children as (byte, node) lists, flattened by finish().
struct TrieBuilder {
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> kids;
    std::vector<int32_t> toks;
  };
  std::vector<Node> nodes{1};
  size_t max_len = 0;

  void insert(std::string_view key, int32_t id) {
    uint32_t at = 0;
    for (char ch : key) {
      const uint8_t c = uint8_t(ch);
      uint32_t next = UINT32_MAX;
      for (const auto& [b, child] : nodes[at].kids)
        if (b == c) {
          next = child;
          break;
        }
      if (next == UINT32_MAX) {
        next = uint32_t(nodes.size());
        nodes[at].kids.push_back({c, next});
        nodes.emplace_back();
      }
      at = next;
    }
    nodes[at].toks.push_back(id);
    max_len = std::max(max_len, key.size());
  }

  VocabIndex::Trie finish() {
    VocabIndex::Trie t;
    t.max_len = max_len;
    t.nodes.resize(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto& kids = nodes[i].kids;
      std::sort(kids.begin(), kids.end());
      auto& n = t.nodes[i];
      n.edge_begin = uint32_t(t.edges.size());
      for (const auto& [b, child] : kids) t.edges.push_back({b, child});
      n.edge_end = uint32_t(t.edges.size());
      n.tok_begin = uint32_t(t.tokens.size());
      t.tokens.insert(t.tokens.end(), nodes[i].toks.begin(), nodes[i].toks.end());
      n.tok_end = uint32_t(t.tokens.size());
    }
    return t;
  }
};

}  // namespace

VocabIndex::VocabIndex(const Tokenizer& tok, bool render_special) : render_special_(render_special) {
  n_vocab_ = tok.n_vocab();
  const size_t words = (size_t(n_vocab_) + 63) / 64;
  for (auto& per_u : plain)
    for (auto& p : per_u) p.assign(words, 0);
  prefix_ok.assign(size_t(n_vocab_), 0);
  bytes_.resize(size_t(n_vocab_));
  kind_.assign(size_t(n_vocab_), Kind::Never);
  TrieBuilder all_b, special_b, control_b;
  for (int32_t id = 0; id < n_vocab_; ++id) {
    if (tok.is_eog(id)) {
      kind_[size_t(id)] = Kind::Eog;
      eog.push_back(id);
      continue;
    }
    const TokenType ty = tok.type(id);
    if (ty == TokenType::Unknown || ty == TokenType::Unused) continue;
    std::string b = tok.token_bytes(id, render_special);
    if (b.empty()) continue;
    if (ty == TokenType::Control) {
      kind_[size_t(id)] = Kind::Control;
      control_b.insert(b, id);
      bytes_[size_t(id)] = std::move(b);
      continue;
    }
    kind_[size_t(id)] = Kind::Normal;
    all_b.insert(b, id);
    size_t first = 0;
    while (first < b.size() && !special_byte(uint8_t(b[first]))) ++first;
    for (int u = 0; u < 8; ++u) {
      int st = u;
      for (size_t i = 0; i < first && st >= 0; ++i) st = json_string_utf8_next(st, uint8_t(b[i]));
      if (first == b.size()) {
        if (st >= 0) plain[u][pending(st)][size_t(id) >> 6] |= uint64_t(1) << (id & 63);
      } else if (st == 0) {
        prefix_ok[size_t(id)] |= uint8_t(1u << u);
      }
    }
    if (first < b.size()) special_b.insert(std::string_view(b).substr(first), id);
    bytes_[size_t(id)] = std::move(b);
  }
  all = all_b.finish();
  special = special_b.finish();
  control = control_b.finish();
}

// ---- TokenConstraint ----

TokenConstraint::TokenConstraint(std::shared_ptr<const JsonGrammar> g, std::shared_ptr<const VocabIndex> v)
    : g_(std::move(g)), v_(std::move(v)) {
  if (!g_ || !v_) throw ArgumentError("token constraint: no grammar or vocabulary");
  state_ = g_->initial();
  bits_.assign((size_t(v_->n_vocab()) + 63) / 64, 0);
  level_.resize(std::max({v_->all.max_len, v_->special.max_len, v_->control.max_len}) + 2);
}

void TokenConstraint::walk(const VocabIndex::Trie& t, uint32_t node, size_t depth, bool literal_only, int prefix_u) {
  const auto& nd = t.nodes[node];
  for (uint32_t e = nd.edge_begin; e < nd.edge_end; ++e) {
    const auto& ed = t.edges[e];
    GrammarState& nx = level_[depth + 1];
    g_->step(level_[depth], ed.byte, nx, literal_only);
    if (nx.dead()) continue;
    const auto& cn = t.nodes[ed.child];
    if (cn.tok_begin != cn.tok_end && (limit_ == INT64_MAX || int64_t(g_->min_remaining(nx)) <= limit_)) {
      for (uint32_t k = cn.tok_begin; k < cn.tok_end; ++k) {
        const int32_t id = t.tokens[k];
        if (prefix_u < 0 || ((v_->prefix_ok[size_t(id)] >> prefix_u) & 1)) set(id);
      }
    }
    if (cn.edge_begin != cn.edge_end) walk(t, ed.child, depth + 1, literal_only, prefix_u);
  }
}

const std::vector<uint64_t>& TokenConstraint::mask() {
  std::fill(bits_.begin(), bits_.end(), 0);
  if (state_.dead()) return bits_;
  limit_ = budget_ == INT64_MAX ? INT64_MAX : budget_ - 2;
  // A budget that cannot hold the shortest completion any more (it was too small from the start): unlimited.
  if (limit_ != INT64_MAX && int64_t(g_->min_remaining(state_)) > limit_ + 1) limit_ = INT64_MAX;
  fill();
  if (limit_ != INT64_MAX && !std::any_of(bits_.begin(), bits_.end(), [](uint64_t w) { return w != 0; })) {
    limit_ = INT64_MAX;  // the budget cannot hold any completion (it was too small from the start): go on unlimited
    fill();
  }
  return bits_;
}

void TokenConstraint::fill() {
  const uint32_t d0 = g_->min_remaining(state_);
  int u = 0;
  level_[0] = state_;
  if (g_->in_free_string(state_, &u)) {
    // Plain string bytes change the shortest completion only by the UTF-8 bytes they leave pending.
    for (int p = 0; p < 4; ++p) {
      if (limit_ != INT64_MAX && int64_t(d0) - pending(u) + p > limit_) continue;
      const auto& bm = v_->plain[u][p];
      for (size_t i = 0; i < bits_.size(); ++i) bits_[i] |= bm[i];
    }
    g_->reset_string_utf8(level_[0]);
    walk(v_->special, 0, 0, false, u);
  } else {
    walk(v_->all, 0, 0, false, -1);
  }
  if (!v_->control.nodes.empty() && v_->control.nodes[0].edge_begin != v_->control.nodes[0].edge_end) {
    level_[0] = state_;
    walk(v_->control, 0, 0, true, -1);
  }
  if (accepting())
    for (int32_t id : v_->eog) set(id);
}

size_t TokenConstraint::apply(std::span<float> logits) {
  if (int64_t(logits.size()) != v_->n_vocab())
    throw ArgumentError("token constraint: " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                        std::to_string(v_->n_vocab()));
  mask();
  size_t n = 0;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (size_t w = 0; w < bits_.size(); ++w) {
    const uint64_t m = bits_[w];
    const size_t base = w * 64, end = std::min(base + 64, logits.size());
    if (m == ~uint64_t(0)) {
      n += end - base;
      continue;
    }
    for (size_t i = base; i < end; ++i) {
      if ((m >> (i - base)) & 1)
        ++n;
      else
        logits[i] = ninf;
    }
  }
  return n;
}

bool TokenConstraint::accept(int32_t token) {
  if (token < 0 || token >= v_->n_vocab()) return false;
  if (v_->is_eog(token)) return accepting();
  const std::string& b = v_->bytes(token);
  if (b.empty()) return false;
  const bool lit = v_->is_control(token);
  GrammarState a = state_, n;
  for (char c : b) {
    g_->step(a, uint8_t(c), n, lit);
    if (n.dead()) return false;
    std::swap(a, n);
  }
  state_ = std::move(a);
  return true;
}


}  // namespace latte
