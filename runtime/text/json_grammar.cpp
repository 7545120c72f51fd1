// The byte-level recogniser of json_grammar.h.
// A stack's top frame is the innermost open construct. A byte is offered to the top frame: it consumes it, or (a
// finished number) pops and lets its parent see the byte, or opens a child (pushes) and lets the child see it, or
// refuses it (the stack dies). Alt frames are replaced by each of their children (one stack per child); an object
// that may write one of several keys next forks one stack per candidate key. Finished frames (a literal's last byte,
// a closing quote / brace / bracket, a sequence's last child) are popped at once, so equal states compare equal.
// Frame fields per kind (a, b, phase; `ws` counts whitespace in a run, or holds a string's UTF-8 state):
//   Root     phase 0 = child not started, 1 = child started (accepting once the child can end)
//   Seq      a = next child
//   Literal  a = bytes matched
//   String   phase S_*; a = characters so far (only when the node has length bounds); b = \u digits seen
//   Number   phase N_*; b = bytes so far
//   Object   phase O_*; a = first property index still writable (in O_KEY: bytes of the key matched); b = the
//            property being written
//   Array    phase A_*; a = items started
#include "runtime/text/json_grammar.h"

#include <algorithm>
#include <cstring>

#include "formats/error.h"

namespace latte {

namespace {

enum : uint8_t { S_OPEN, S_IN, S_ESC, S_HEX };
enum : uint8_t { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum : uint8_t { O_OPEN, O_FIRST, O_KEY, O_COLON, O_VALUE, O_AFTER, O_NEXT };
enum : uint8_t { A_OPEN, A_FIRST, A_AFTER, A_NEXT };
// UTF-8 states inside a string: what the next byte must be.
enum : uint8_t { U0, UC1, UC2, UC3, UE0, UED, UF0, UF4 };

constexpr uint32_t kInf = 1u << 30;

inline bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
inline bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
inline uint32_t sat(uint64_t v) { return v >= kInf ? kInf : uint32_t(v); }

// Next number phase after byte c, or -1.
int number_next(uint8_t phase, uint8_t c, bool integer) {
  const bool e = (c == 'e' || c == 'E') && !integer;
  switch (phase) {
    case N_START: return c == '-' ? N_MINUS : c == '0' ? N_ZERO : is_digit(c) ? N_INT : -1;
    case N_MINUS: return c == '0' ? N_ZERO : is_digit(c) ? N_INT : -1;
    case N_ZERO: return (c == '.' && !integer) ? N_DOT : e ? N_E : -1;
    case N_INT: return is_digit(c) ? N_INT : (c == '.' && !integer) ? N_DOT : e ? N_E : -1;
    case N_DOT: return is_digit(c) ? N_FRAC : -1;
    case N_FRAC: return is_digit(c) ? N_FRAC : e ? N_E : -1;
    case N_E: return (c == '+' || c == '-') ? N_ESIGN : is_digit(c) ? N_EXP : -1;
    case N_ESIGN:
    case N_EXP: return is_digit(c) ? N_EXP : -1;
  }
  return -1;
}
inline bool number_can_end(uint8_t phase) {
  return phase == N_ZERO || phase == N_INT || phase == N_FRAC || phase == N_EXP;
}

// UTF-8 inside strings: the state after byte c (c >= 0x80 or a pending sequence), or -1.
int utf8_next(uint8_t u, uint8_t c) {
  switch (u) {
    case U0:
      if (c >= 0xC2 && c <= 0xDF) return UC1;
      if (c == 0xE0) return UE0;
      if (c == 0xED) return UED;
      if (c >= 0xE1 && c <= 0xEF) return UC2;
      if (c == 0xF0) return UF0;
      if (c >= 0xF1 && c <= 0xF3) return UC3;
      if (c == 0xF4) return UF4;
      return -1;
    case UC1: return (c >= 0x80 && c <= 0xBF) ? U0 : -1;
    case UC2: return (c >= 0x80 && c <= 0xBF) ? UC1 : -1;
    case UC3: return (c >= 0x80 && c <= 0xBF) ? UC2 : -1;
    case UE0: return (c >= 0xA0 && c <= 0xBF) ? UC1 : -1;
    case UED: return (c >= 0x80 && c <= 0x9F) ? UC1 : -1;
    case UF0: return (c >= 0x90 && c <= 0xBF) ? UC2 : -1;
    case UF4: return (c >= 0x80 && c <= 0x8F) ? UC2 : -1;
  }
  return -1;
}
inline uint32_t utf8_pending(uint8_t u) {
  switch (u) {
    case UC1: return 1;
    case UC2: case UE0: case UED: return 2;
    case UC3: case UF0: case UF4: return 3;
    default: return 0;
  }
}

inline bool bounded(const GrammarNode& n) { return n.min_len > 0 || n.max_len != UINT32_MAX; }

// Index of the first required property at >= a, or props.size().
size_t first_required(const GrammarNode& n, size_t a) {
  while (a < n.props.size() && !n.props[a].required) ++a;
  return a;
}

}  // namespace

int json_string_utf8_next(int state, uint8_t c) {
  if (state == U0 && c < 0x80) return U0;
  return utf8_next(uint8_t(state), c);
}

// ---- building ----

void JsonGrammar::finish(int32_t top) {
  auto check = [&](int32_t i, const char* what) {
    if (i < 0 || size_t(i) >= nodes.size()) throw ArgumentError(std::string("json grammar: dangling ") + what);
  };
  check(top, "root");
  for (const auto& n : nodes) {
    for (int32_t c : n.children) check(c, "child");
    if (n.kind == GrammarKind::Literal && n.text.empty()) throw ArgumentError("json grammar: empty literal");
    if (n.kind == GrammarKind::Array) check(n.item, "array item");
    if (n.kind == GrammarKind::Object) {
      for (const auto& p : n.props) check(p.value, "property value");
      if (n.free_keys) {
        check(n.extra, "object value");
        check(n.key_node, "object key");
      }
    }
    if ((n.kind == GrammarKind::Alt || n.kind == GrammarKind::Seq) && n.children.empty())
      throw ArgumentError("json grammar: empty alternative list");
  }
  GrammarNode r;
  r.kind = GrammarKind::Root;
  r.children = {top};
  root = add(std::move(r));

  // Shortest texts: a fixpoint (free JSON values refer to themselves).
  for (auto& n : nodes) n.min_bytes = kInf;
  for (size_t iter = 0; iter <= nodes.size() + 1; ++iter) {
    bool changed = false;
    for (auto& n : nodes) {
      uint64_t m = kInf;
      switch (n.kind) {
        case GrammarKind::Root: m = nodes[size_t(n.children[0])].min_bytes; break;
        case GrammarKind::Seq:
          m = 0;
          for (int32_t c : n.children) m += nodes[size_t(c)].min_bytes;
          break;
        case GrammarKind::Alt:
          for (int32_t c : n.children) m = std::min<uint64_t>(m, nodes[size_t(c)].min_bytes);
          break;
        case GrammarKind::Literal: m = n.text.size(); break;
        case GrammarKind::String: m = 2 + uint64_t(n.min_len); break;
        case GrammarKind::Number:
        case GrammarKind::Integer: m = 1; break;
        case GrammarKind::Array: {
          uint64_t mi = nodes[size_t(n.item)].min_bytes;
          m = 2 + (n.min_items ? uint64_t(n.min_items) * mi + n.min_items - 1 : 0);
          break;
        }
        case GrammarKind::Object: {
          const size_t np = n.props.size();
          n.req_cost.assign(np + 1, 0);
          n.req_count.assign(np + 1, 0);
          for (size_t j = np; j-- > 0;) {
            n.req_cost[j] = n.req_cost[j + 1];
            n.req_count[j] = n.req_count[j + 1];
            if (n.props[j].required) {
              n.req_cost[j] = sat(uint64_t(n.req_cost[j]) + n.props[j].key.size() + 1 +
                                  nodes[size_t(n.props[j].value)].min_bytes);
              n.req_count[j] += 1;
            }
          }
          m = 2 + uint64_t(n.req_cost[0]) + (n.req_count[0] ? n.req_count[0] - 1 : 0);
          break;
        }
      }
      uint32_t v = sat(m);
      if (v != n.min_bytes) {
        n.min_bytes = v;
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (const auto& n : nodes)
    if (n.min_bytes >= kInf) throw ArgumentError("json grammar: a node has no finite text (unsatisfiable schema)");
}

GrammarState JsonGrammar::initial() const {
  GrammarState s;
  s.frames.push_back(GrammarFrame{root, 0, 0, 0, 0});
  s.ends.push_back(1);
  return s;
}

// ---- stepping ----

void JsonGrammar::step(const GrammarState& in, uint8_t c, GrammarState& out, bool literal_only) const {
  out.clear();
  thread_local std::vector<GrammarFrame> st;
  uint32_t begin = 0;
  for (uint32_t end : in.ends) {
    st.assign(in.frames.begin() + begin, in.frames.begin() + end);
    begin = end;
    step_stack(st, c, out, literal_only, 64);
  }
}

bool JsonGrammar::feed(GrammarState& s, std::string_view bytes) const {
  GrammarState a = s, b;
  for (char ch : bytes) {
    step(a, uint8_t(ch), b);
    if (b.dead()) return false;
    std::swap(a, b);
  }
  s = std::move(a);
  return true;
}

void JsonGrammar::step_stack(std::vector<GrammarFrame>& st, uint8_t c, GrammarState& out, bool literal_only,
                             int fuel) const {
  if (fuel <= 0) return;
  // Appends the settled stack to out (dropping duplicates).
  auto emit = [&] {
    for (;;) {  // pop finished literals and sequences
      const GrammarFrame& f = st.back();
      const GrammarNode& n = nodes[size_t(f.node)];
      if ((n.kind == GrammarKind::Literal && f.a == n.text.size()) ||
          (n.kind == GrammarKind::Seq && f.a == n.children.size()))
        st.pop_back();
      else
        break;
    }
    uint32_t begin = 0;
    for (uint32_t end : out.ends) {
      if (end - begin == st.size() && std::equal(st.begin(), st.end(), out.frames.begin() + begin)) return;
      begin = end;
    }
    if (out.ends.size() >= kMaxStacks) return;
    out.frames.insert(out.frames.end(), st.begin(), st.end());
    out.ends.push_back(uint32_t(out.frames.size()));
  };
  auto push = [&](int32_t node) -> bool {
    if (int(st.size()) >= max_depth) return false;
    st.push_back(GrammarFrame{node, 0, 0, 0, 0});
    return true;
  };
  // Whitespace in a run of at most max_ws bytes.
  auto take_ws = [&](GrammarFrame& f) -> bool {
    if (!is_ws(c) || f.ws >= max_ws || literal_only) return false;
    ++f.ws;
    return true;
  };

  for (;;) {
    if (st.empty()) return;
    GrammarFrame& f = st.back();
    const GrammarNode& n = nodes[size_t(f.node)];
    switch (n.kind) {
      case GrammarKind::Root:
        if (f.phase != 0) return;  // nothing after the document
        f.phase = 1;
        if (!push(n.children[0])) return;
        continue;
      case GrammarKind::Seq:
        if (f.a >= n.children.size()) {
          st.pop_back();
          continue;
        }
        if (!push(n.children[f.a++])) return;
        continue;
      case GrammarKind::Alt: {
        st.pop_back();
        const size_t depth = st.size();
        for (int32_t child : n.children) {
          std::vector<GrammarFrame> copy(st.begin(), st.begin() + std::ptrdiff_t(depth));
          if (int(copy.size()) >= max_depth) return;
          copy.push_back(GrammarFrame{child, 0, 0, 0, 0});
          step_stack(copy, c, out, literal_only, fuel - 1);
        }
        return;
      }
      case GrammarKind::Literal:
        if (uint8_t(n.text[f.a]) != c) return;
        ++f.a;
        emit();
        return;
      case GrammarKind::String: {
        if (literal_only) return;
        const bool count = bounded(n);
        switch (f.phase) {
          case S_OPEN:
            if (c != '"') return;
            f.phase = S_IN;
            emit();
            return;
          case S_IN:
            if (f.ws != U0) {
              int u = utf8_next(f.ws, c);
              if (u < 0) return;
              f.ws = uint8_t(u);
              emit();
              return;
            }
            if (c == '"') {
              if (count && f.a < n.min_len) return;
              st.pop_back();
              emit();
              return;
            }
            if (c < 0x20) return;
            if (count && f.a >= n.max_len) return;
            if (c == '\\') {
              f.phase = S_ESC;
            } else if (c >= 0x80) {
              int u = utf8_next(U0, c);
              if (u < 0) return;
              f.ws = uint8_t(u);
            }
            if (count) ++f.a;
            emit();
            return;
          case S_ESC:
            if (c == 'u') {
              f.phase = S_HEX;
              f.b = 0;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                       c == 't') {
              f.phase = S_IN;
            } else {
              return;
            }
            emit();
            return;
          case S_HEX:
            if (!is_hex(c)) return;
            if (++f.b == 4) {
              f.phase = S_IN;
              f.b = 0;
            }
            emit();
            return;
        }
        return;
      }
      case GrammarKind::Number:
      case GrammarKind::Integer: {
        int next = number_next(f.phase, c, n.kind == GrammarKind::Integer);
        // A byte after which the number cannot end yet ('-', '.', 'e', the exponent sign) needs room for one more
        // byte (a digit) within kMaxNumberBytes: otherwise it would be a dead end that no token can leave.
        const uint32_t room = number_can_end(uint8_t(next >= 0 ? next : 0)) ? 1u : 2u;
        if (next >= 0 && f.b + room <= kMaxNumberBytes && !literal_only) {
          f.phase = uint8_t(next);
          ++f.b;
          emit();
          return;
        }
        if (!number_can_end(f.phase)) return;
        st.pop_back();
        continue;  // the parent sees c
      }
      case GrammarKind::Array:
        switch (f.phase) {
          case A_OPEN:
            if (c != '[' || literal_only) return;
            f.phase = A_FIRST;
            emit();
            return;
          case A_FIRST:
          case A_NEXT:
            if (take_ws(f)) {
              emit();
              return;
            }
            if (f.phase == A_FIRST && c == ']') {
              if (n.min_items > 0 || literal_only) return;
              st.pop_back();
              emit();
              return;
            }
            if (f.a >= n.max_items) return;
            f.phase = A_AFTER;
            f.ws = 0;
            ++f.a;
            if (!push(n.item)) return;
            continue;
          case A_AFTER:
            if (take_ws(f)) {
              emit();
              return;
            }
            if (literal_only) return;
            if (c == ',' && f.a < n.max_items) {
              f.phase = A_NEXT;
              f.ws = 0;
              emit();
              return;
            }
            if (c == ']' && f.a >= n.min_items) {
              st.pop_back();
              emit();
            }
            return;
        }
        return;
      case GrammarKind::Object:
        switch (f.phase) {
          case O_OPEN:
            if (c != '{' || literal_only) return;
            f.phase = O_FIRST;
            emit();
            return;
          case O_FIRST:
          case O_NEXT: {
            if (take_ws(f)) {
              emit();
              return;
            }
            if (literal_only) return;
            if (f.phase == O_FIRST && c == '}') {
              if (!n.free_keys && n.req_count[0] > 0) return;
              st.pop_back();
              emit();
              return;
            }
            if (c != '"') return;
            if (n.free_keys) {
              f.phase = O_COLON;
              f.ws = 0;
              if (!push(n.key_node)) return;
              continue;
            }
            // One stack per key that may come next: the optional ones up to the first required one.
            if (f.a >= n.props.size()) return;
            const size_t last = std::min(first_required(n, f.a), n.props.size() - 1);
            for (size_t j = f.a; j <= last; ++j) {
              std::vector<GrammarFrame> copy(st);
              GrammarFrame& g = copy.back();
              g.phase = O_KEY;
              g.b = uint16_t(j);
              g.a = 1;  // the opening quote
              g.ws = 0;
              std::swap(st, copy);
              emit();
              std::swap(st, copy);
            }
            return;
          }
          case O_KEY: {
            const std::string& key = n.props[f.b].key;
            if (literal_only || uint8_t(key[f.a]) != c) return;
            if (++f.a == key.size()) {
              f.phase = O_COLON;
              f.a = uint32_t(f.b) + 1;
              f.ws = 0;
            }
            emit();
            return;
          }
          case O_COLON:
            if (take_ws(f)) {
              emit();
              return;
            }
            if (c != ':' || literal_only) return;
            f.phase = O_VALUE;
            f.ws = 0;
            emit();
            return;
          case O_VALUE:
            if (take_ws(f)) {
              emit();
              return;
            }
            f.phase = O_AFTER;
            f.ws = 0;
            if (!push(n.free_keys ? n.extra : n.props[f.b].value)) return;
            continue;
          case O_AFTER:
            if (take_ws(f)) {
              emit();
              return;
            }
            if (literal_only) return;
            if (c == ',' && (n.free_keys || f.a < n.props.size())) {
              f.phase = O_NEXT;
              f.ws = 0;
              emit();
              return;
            }
            if (c == '}' && (n.free_keys || n.req_count[f.a] == 0)) {
              st.pop_back();
              emit();
            }
            return;
        }
        return;
    }
    return;
  }
}

// ---- queries ----

bool JsonGrammar::endable(const GrammarFrame& f) const {
  const GrammarNode& n = nodes[size_t(f.node)];
  switch (n.kind) {
    case GrammarKind::Literal: return f.a == n.text.size();
    case GrammarKind::Seq: return f.a == n.children.size();
    case GrammarKind::Number:
    case GrammarKind::Integer: return number_can_end(f.phase);
    default: return false;
  }
}

bool JsonGrammar::accepting(const GrammarState& s) const {
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    for (uint32_t i = end; i-- > begin;) {
      const GrammarFrame& f = s.frames[i];
      if (nodes[size_t(f.node)].kind == GrammarKind::Root) {
        if (f.phase == 1) return true;
        break;
      }
      if (!endable(f)) break;
    }
    begin = end;
  }
  return false;
}

uint32_t JsonGrammar::frame_cost(const GrammarFrame& f) const {
  const GrammarNode& n = nodes[size_t(f.node)];
  auto minb = [&](int32_t i) -> uint64_t { return nodes[size_t(i)].min_bytes; };
  // Required properties at >= a, with a comma before each (or before all but the first when none was written).
  auto req = [&](size_t a, bool first) -> uint64_t {
    uint64_t k = n.req_count[a];
    return uint64_t(n.req_cost[a]) + (k ? (first ? k - 1 : k) : 0);
  };
  switch (n.kind) {
    case GrammarKind::Root: return f.phase == 0 ? n.min_bytes : 0;
    case GrammarKind::Seq: {
      uint64_t m = 0;
      for (size_t i = f.a; i < n.children.size(); ++i) m += minb(n.children[i]);
      return sat(m);
    }
    case GrammarKind::Alt: return n.min_bytes;
    case GrammarKind::Literal: return uint32_t(n.text.size() - f.a);
    case GrammarKind::String: {
      uint64_t rem = n.min_len > f.a ? n.min_len - f.a : 0;
      switch (f.phase) {
        case S_OPEN: return n.min_bytes;
        case S_IN: return sat(utf8_pending(f.ws) + rem + 1);
        case S_ESC: return sat(1 + rem + 1);
        case S_HEX: return sat(uint64_t(4 - f.b) + rem + 1);
      }
      return kInf;
    }
    case GrammarKind::Number:
    case GrammarKind::Integer: return number_can_end(f.phase) ? 0 : 1;
    case GrammarKind::Array: {
      const uint64_t mi = minb(n.item), mn = n.min_items;
      switch (f.phase) {
        case A_OPEN: return n.min_bytes;
        case A_FIRST: return mn == 0 ? 1 : sat(mn * mi + (mn - 1) + 1);
        case A_AFTER: return f.a >= mn ? 1 : sat((mn - f.a) * (1 + mi) + 1);
        case A_NEXT: return sat(mi + (mn > f.a + 1 ? (mn - f.a - 1) * (1 + mi) : 0) + 1);
      }
      return kInf;
    }
    case GrammarKind::Object: {
      if (n.free_keys) {
        switch (f.phase) {
          case O_OPEN: return n.min_bytes;
          case O_FIRST: return 1;
          case O_COLON: return sat(1 + minb(n.extra) + 1);
          case O_VALUE: return sat(minb(n.extra) + 1);
          case O_AFTER: return 1;
          case O_NEXT: return sat(minb(n.key_node) + 1 + minb(n.extra) + 1);
        }
        return kInf;
      }
      switch (f.phase) {
        case O_OPEN: return n.min_bytes;
        case O_FIRST: return sat(req(0, true) + 1);
        case O_KEY: {
          const auto& p = n.props[f.b];
          return sat((p.key.size() - f.a) + 1 + minb(p.value) + req(size_t(f.b) + 1, false) + 1);
        }
        case O_COLON: return sat(1 + minb(n.props[f.b].value) + req(f.a, false) + 1);
        case O_VALUE: return sat(minb(n.props[f.b].value) + req(f.a, false) + 1);
        case O_AFTER: return sat(req(f.a, false) + 1);
        case O_NEXT: {
          uint64_t best = kInf;
          const size_t last = std::min(first_required(n, f.a), n.props.size() - 1);
          for (size_t j = f.a; j <= last && j < n.props.size(); ++j)
            best = std::min(best, n.props[j].key.size() + 1 + minb(n.props[j].value) + req(j + 1, false));
          return sat(best + 1);
        }
      }
      return kInf;
    }
  }
  return kInf;
}

uint32_t JsonGrammar::min_remaining(const GrammarState& s) const {
  uint32_t best = UINT32_MAX;
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    uint64_t sum = 0;
    for (uint32_t i = begin; i < end; ++i) sum += frame_cost(s.frames[i]);
    best = std::min(best, sat(sum));
    begin = end;
  }
  return best;
}

bool JsonGrammar::in_free_string(const GrammarState& s, int* utf8) const {
  if (s.ends.size() != 1) return false;
  const GrammarFrame& f = s.frames.back();
  const GrammarNode& n = nodes[size_t(f.node)];
  if (n.kind != GrammarKind::String || f.phase != S_IN || bounded(n)) return false;
  *utf8 = f.ws;
  return true;
}

void JsonGrammar::reset_string_utf8(GrammarState& s) const {
  if (!s.frames.empty()) s.frames.back().ws = U0;
}

}  // namespace latte
