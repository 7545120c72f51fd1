// The streaming tool-call parser (see tool_calls.h).
#include "runtime/text/tool_calls.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "formats/error.h"
#include "runtime/text/deepseek_markers.h"
#include "runtime/text/dsml.h"

namespace latte {

namespace {

using namespace markers;

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_suffix(std::string_view s, std::string_view tag) {
  for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k)
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  return 0;
}

// [b, e) of `s` with ASCII whitespace trimmed from both ends.
void trim(std::string_view s, size_t& b, size_t& e) {
  while (b < e && is_ws(s[b])) ++b;
  while (e > b && is_ws(s[e - 1])) --e;
}

void add_content(ToolCallParser::Output& out, std::string_view text) {
  if (text.empty()) return;
  if (!out.empty() && !out.back().is_call) {
    out.back().content.append(text);
    return;
  }
  ToolCallParser::Segment s;
  s.content = std::string(text);
  out.push_back(std::move(s));
}

// Name and argument bounds of one V3/R1 call body "function<｜tool▁sep｜>NAME\n```json\nARGS\n```".
// Lenient about whitespace, the type word (empty or "function") and the fence (optional). False when malformed.
bool parse_v3_body(std::string_view body, std::string& name, size_t& args_b, size_t& args_e) {
  size_t sep = body.find(kToolSep);
  if (sep == std::string_view::npos) return false;
  size_t tb = 0, te = sep;
  trim(body, tb, te);
  std::string_view type = body.substr(tb, te - tb);
  if (!type.empty() && type != "function") return false;
  size_t nb = sep + kToolSep.size();
  while (nb < body.size() && is_ws(body[nb])) ++nb;
  size_t ne = nb;
  while (ne < body.size() && !is_ws(body[ne]) && body[ne] != '`' && body[ne] != '{') ++ne;
  if (ne == nb) return false;
  name = std::string(body.substr(nb, ne - nb));
  size_t b = ne, e = body.size();
  trim(body, b, e);
  if (body.substr(b, 3) == "```") {  // opening fence with an optional language word
    b += 3;
    while (b < e && body[b] != '\n' && body[b] != '{') ++b;
    if (e - b >= 3 && body.substr(e - 3, 3) == "```") e -= 3;
    else return false;  // an opened fence must be closed
  }
  trim(body, b, e);
  args_b = b;
  args_e = e;
  return true;
}

bool is_json_object(std::string_view text) {
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return !j.is_discarded() && j.is_object();
}

}  // namespace

ToolCallParser::ToolCallParser(ChatFormat f, std::vector<std::string> names, std::string_view primed)
    : format_(f), names_(std::move(names)) {
  if (!chat_format_has_tools(f))
    throw ArgumentError(std::string("chat format ") + chat_format_name(f) + " has no tool-call syntax");
  if (!primed.empty()) push(primed);  // the prompt's part of the stream: nothing of it is reported
}

ToolCallParser::Output ToolCallParser::push(std::string_view piece) {
  Output out;
  buf_.append(piece);
  step(out);
  if (state_ == State::Call) cuts_.push_back(body_.size() + buf_.size());
  return out;
}

void ToolCallParser::step(Output& out) {
  if (format_ == ChatFormat::DeepSeekV4) {
    step_dsml(out);
    return;
  }
  for (;;) {
    std::string_view b = buf_;
    if (state_ == State::Text) {
      size_t p_block = b.find(kToolCallsBegin), p_call = b.find(kToolCallBegin);
      size_t p = std::min(p_block, p_call);
      if (p == std::string_view::npos) {
        size_t hold = std::max(partial_suffix(b, kToolCallsBegin), partial_suffix(b, kToolCallBegin));
        add_content(out, b.substr(0, b.size() - hold));
        buf_.erase(0, b.size() - hold);
        return;
      }
      add_content(out, b.substr(0, p));
      const bool block = p == p_block;  // a bare call opener is accepted as an implicit block start
      std::string_view marker = block ? kToolCallsBegin : kToolCallBegin;
      raw_ = std::string(marker);
      block_calls_ = 0;
      buf_.erase(0, p + marker.size());
      if (block) {
        state_ = State::Block;
      } else {
        state_ = State::Call;
        body_.clear();
        cuts_.clear();
      }
    } else if (state_ == State::Block) {
      if (!block_step(out, kToolCallBegin, kToolCallsEnd)) return;
    } else {  // Call
      if (!call_step(kToolCallEnd)) return;
      finish_call(out);
    }
  }
}

bool ToolCallParser::block_step(Output& out, std::string_view call_open, std::string_view block_close) {
  std::string_view b = buf_;
  size_t k = 0;
  while (k < b.size() && is_ws(b[k])) ++k;
  raw_.append(b.substr(0, k));
  buf_.erase(0, k);
  b = buf_;
  if (b.empty()) return false;
  if (starts_with(b, call_open)) {
    raw_.append(call_open);
    buf_.erase(0, call_open.size());
    state_ = State::Call;
    body_.clear();
    cuts_.clear();
  } else if (starts_with(b, block_close)) {
    buf_.erase(0, block_close.size());
    if (block_calls_ == 0) {  // an empty block is not a call: give it back as text
      raw_.append(block_close);
      malformed(out);
    } else {
      raw_.clear();
      state_ = State::Text;
    }
  } else if ((b.size() < call_open.size() && starts_with(call_open, b)) ||
             (b.size() < block_close.size() && starts_with(block_close, b))) {
    return false;  // could still become a marker
  } else {
    malformed(out);  // text where a call should start; it is scanned again as text
  }
  return true;
}

bool ToolCallParser::call_step(std::string_view call_close) {
  std::string_view b = buf_;
  size_t p = b.find(call_close);
  if (p == std::string_view::npos) {
    size_t hold = partial_suffix(b, call_close);
    body_.append(b.substr(0, b.size() - hold));
    raw_.append(b.substr(0, b.size() - hold));
    buf_.erase(0, b.size() - hold);
    return false;
  }
  body_.append(b.substr(0, p));
  raw_.append(b.substr(0, p + call_close.size()));
  buf_.erase(0, p + call_close.size());
  return true;
}

// DSML (V4 "tool_calls", V3.2 "function_calls"): the same three states; a call's body is the text between
// "<｜DSML｜invoke" and "</｜DSML｜invoke>". Whitespace right before a block opener is markup (the encoder writes
// "\n\n" there), so trailing whitespace of plain text is held back until it is known not to precede one.
void ToolCallParser::step_dsml(Output& out) {
  for (;;) {
    std::string_view b = buf_;
    if (state_ == State::Text) {
      size_t p_v4 = b.find(kDsmlToolCallsOpen), p_v32 = b.find(kDsmlFunctionCallsOpen);
      size_t p = std::min(p_v4, p_v32);
      if (p == std::string_view::npos) {
        size_t hold = std::max(partial_suffix(b, kDsmlToolCallsOpen), partial_suffix(b, kDsmlFunctionCallsOpen));
        while (hold < b.size() && is_ws(b[b.size() - hold - 1])) ++hold;
        add_content(out, b.substr(0, b.size() - hold));
        buf_.erase(0, b.size() - hold);
        return;
      }
      const bool v4 = p == p_v4;
      std::string_view open = v4 ? kDsmlToolCallsOpen : kDsmlFunctionCallsOpen;
      size_t text_end = p;
      while (text_end > 0 && is_ws(b[text_end - 1])) --text_end;
      add_content(out, b.substr(0, text_end));
      raw_ = std::string(b.substr(text_end, p + open.size() - text_end));
      block_close_ = v4 ? kDsmlToolCallsClose : kDsmlFunctionCallsClose;
      block_calls_ = 0;
      buf_.erase(0, p + open.size());
      state_ = State::Block;
    } else if (state_ == State::Block) {
      if (!block_step(out, kDsmlInvokeOpen, block_close_)) return;
    } else {  // Call
      if (!call_step(kDsmlInvokeClose)) return;
      ParsedToolCall call;
      bool ok = parse_dsml_invoke(body_, call.name, call.arguments);
      if (ok && !names_.empty()) ok = std::find(names_.begin(), names_.end(), call.name) != names_.end();
      if (!ok) {
        malformed(out);
        continue;
      }
      call.argument_fragments = {call.arguments};  // the JSON is built from the parameters, not generated as is
      emit_call(out, std::move(call));
    }
  }
}

void ToolCallParser::finish_call(Output& out) {
  ParsedToolCall call;
  size_t ab = 0, ae = 0;
  bool ok = chat_format_has_tools(format_) && parse_v3_body(body_, call.name, ab, ae);
  if (ok && !names_.empty()) ok = std::find(names_.begin(), names_.end(), call.name) != names_.end();
  if (ok) ok = is_json_object(std::string_view(body_).substr(ab, ae - ab));
  if (!ok) {
    malformed(out);
    return;
  }
  call.arguments = body_.substr(ab, ae - ab);
  size_t from = ab;
  for (size_t c : cuts_) {
    if (c <= from) continue;
    if (c >= ae) break;
    call.argument_fragments.push_back(body_.substr(from, c - from));
    from = c;
  }
  if (from < ae) call.argument_fragments.push_back(body_.substr(from, ae - from));
  emit_call(out, std::move(call));
}

void ToolCallParser::emit_call(Output& out, ParsedToolCall&& call) {
  Segment s;
  s.is_call = true;
  s.call = std::move(call);
  out.push_back(std::move(s));
  ++n_calls_;
  ++block_calls_;
  raw_.clear();
  body_.clear();
  cuts_.clear();
  state_ = State::Block;
}

void ToolCallParser::malformed(Output& out) {
  add_content(out, raw_);
  raw_.clear();
  body_.clear();
  cuts_.clear();
  state_ = State::Text;
}

ToolCallParser::Output ToolCallParser::flush() {
  Output out;
  if (state_ == State::Text) {
    add_content(out, buf_);
  } else {
    raw_.append(buf_);
    bool blank = std::all_of(raw_.begin(), raw_.end(), is_ws);
    if (!(state_ == State::Block && block_calls_ > 0 && blank)) add_content(out, raw_);
  }
  buf_.clear();
  raw_.clear();
  body_.clear();
  cuts_.clear();
  state_ = State::Text;
  return out;
}

}  // namespace latte
