// A byte-level recogniser for JSON documents restricted by a (compiled) JSON Schema, plus literal text around them
// (tool-call markup). The grammar is a graph of nodes (json_schema.h builds it); the recogniser's state is a small set
// of stacks of frames (one stack per live alternative of anyOf / enum / optional-key choices), advanced one byte
// at a time: a text is accepted as a prefix exactly when some stack survives all its bytes.
//   - Strings are checked as UTF-8 byte by byte (overlongs, surrogates and > U+10FFFF refused), so a token may end in
//     the middle of a character and the next one continue it; escapes \" \\ \/ \b \f \n \r \t \uXXXX.
//   - Whitespace: at most `max_ws` bytes (space, \n, \r, \t) in a row between structural characters; none before or
//     after the document, none inside numbers.
//   - Numbers are at most kMaxNumberBytes bytes; nesting is at most `max_depth` frames.
//   - min_remaining(): the length in bytes of the shortest completion of the text so far to a whole document (exact:
//     one byte lowers it by at most one), used to close a document when the token budget runs out.
// Thread-safety: a JsonGrammar is immutable once built and may be shared; a StateSet is one stream's state.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latte {

enum class GrammarKind : uint8_t { Root, Seq, Alt, Literal, String, Number, Integer, Object, Array };

struct GrammarNode {
  GrammarKind kind = GrammarKind::Literal;
  // Literal: exact bytes (non-empty).
  std::string text;
  // Root (one child), Seq (children in order), Alt (one of the children).
  std::vector<int32_t> children;
  // String: length bounds in characters (code points; an escape is one).
  uint32_t min_len = 0, max_len = UINT32_MAX;
  // Array: item node and count bounds.
  int32_t item = -1;
  uint32_t min_items = 0, max_items = UINT32_MAX;
  // Object: declared properties in order (keys as JSON string text, quotes included), written in this order, the
  // optional ones may be left out. With no properties (free_keys) any string keys, each value matching `extra`.
  struct Prop {
    std::string key;   // "\"name\""
    int32_t value = -1;
    bool required = false;
  };
  std::vector<Prop> props;
  bool free_keys = false;
  int32_t extra = -1;        // free_keys: value node
  int32_t key_node = -1;     // free_keys: the String node of the keys
  // Derived (JsonGrammar::finish): shortest complete text in bytes; Object: for each index a, the cost of the required
  // properties at >= a (keys, colons, values; commas not included) and their count.
  uint32_t min_bytes = 0;
  std::vector<uint32_t> req_cost, req_count;
};

// One frame of a recogniser stack. Meaning of a / b / phase per kind in json_grammar.cpp.
struct GrammarFrame {
  int32_t node = 0;
  uint32_t a = 0;
  uint16_t b = 0;
  uint8_t phase = 0;
  uint8_t ws = 0;  // whitespace bytes in the current run (String: the UTF-8 state)
  bool operator==(const GrammarFrame& o) const {
    return node == o.node && a == o.a && b == o.b && phase == o.phase && ws == o.ws;
  }
};

// The recogniser state: stacks stored back to back (stack i = frames[ends[i-1], ends[i])). Empty = dead.
struct GrammarState {
  std::vector<GrammarFrame> frames;
  std::vector<uint32_t> ends;
  size_t n_stacks() const { return ends.size(); }
  bool dead() const { return ends.empty(); }
  void clear() {
    frames.clear();
    ends.clear();
  }
};

// Inside a JSON string: the UTF-8 state (0 = at a character boundary) after byte c, or -1 when c cannot come next.
// ASCII bytes keep state 0 (the caller excludes '"', '\\' and control bytes).
int json_string_utf8_next(int state, uint8_t c);

class JsonGrammar {
 public:
  static constexpr uint32_t kMaxNumberBytes = 16;
  static constexpr size_t kMaxStacks = 64;  // live alternatives kept (more are dropped: never admits invalid text)

  std::vector<GrammarNode> nodes;
  int32_t root = -1;
  int max_ws = 8;
  int max_depth = 48;

  int32_t add(GrammarNode n) {
    nodes.push_back(std::move(n));
    return int32_t(nodes.size() - 1);
  }
  // Computes the derived fields and checks the graph (ArgumentError on a dangling index or an empty literal).
  // Sets root to a Root node over `top`.
  void finish(int32_t top);

  GrammarState initial() const;
  // Advances every stack of `in` by byte c into `out` (cleared first). literal_only: the byte must be consumed by a
  // Literal frame (special tokens may only spell markup, never string content).
  void step(const GrammarState& in, uint8_t c, GrammarState& out, bool literal_only = false) const;
  // Feeds bytes; false (and `s` unchanged) when they leave the language.
  bool feed(GrammarState& s, std::string_view bytes) const;
  bool accepting(const GrammarState& s) const;
  uint32_t min_remaining(const GrammarState& s) const;  // UINT32_MAX when dead
  // True (and the UTF-8 state in *utf8) when s is one stack whose top is inside an unbounded string (nothing but
  // the closing quote, an escape or a control byte can leave it): the token mask's fast path.
  bool in_free_string(const GrammarState& s, int* utf8) const;
  // The same state with the string's UTF-8 state set to 0 (as after a complete character).
  void reset_string_utf8(GrammarState& s) const;

 private:
  void step_stack(std::vector<GrammarFrame>& st, uint8_t c, GrammarState& out, bool literal_only, int fuel) const;
  uint32_t frame_cost(const GrammarFrame& f) const;
  bool endable(const GrammarFrame& f) const;
};

}  // namespace latte
