// DeepSeek chat formats and the reasoning splitter; see chat_format.h. Rendering mirrors the official Jinja
// templates (GGUF_DEEPSEEK.md §E.8), including their quirks (V3/R1 tool-output numbering is never reset).
#include "runtime/text/chat_format.h"

#include "formats/error.h"
#include "runtime/text/chat_format_v4.h"
#include "runtime/text/deepseek_markers.h"
#include "runtime/text/dsml.h"
#include "runtime/text/literal_text.h"
#include "runtime/text/tokenizer.h"

namespace latte {

namespace {

using namespace markers;

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v'; }

// Length of the longest proper prefix of `tag` that `s` ends with.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k)
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  return 0;
}

[[noreturn]] void bad_role(ChatFormat f, const std::string& role) {
  throw ArgumentError(std::string("chat format ") + chat_format_name(f) + ": unsupported message role '" + role +
                      "'");
}

// Appends text that came from a message, a tool or a client (not markup); records its range when asked.
void add_literal(std::string& out, std::string_view text, std::vector<TextRange>* literal) {
  if (literal && !text.empty()) literal->push_back({out.size(), out.size() + text.size()});
  out += text;
}

// The "## Tools" block (DeepSeek-V3.1's wording, V3's call syntax) appended to the system text.
void append_tools_block(std::string& t, const std::vector<ToolSpec>& tools, std::vector<TextRange>* literal) {
  t += "## Tools\nYou have access to the following tools:\n";
  for (const auto& tool : tools) {
    t += "\n### ";
    add_literal(t, tool.name, literal);
    if (!tool.description.empty()) {
      t += "\nDescription: ";
      add_literal(t, tool.description, literal);
    }
    t += "\n\nParameters: ";
    if (tool.parameters.empty()) t += "{}";
    else add_literal(t, tool.parameters, literal);
    t += "\n";
  }
  t += "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n";
  t += kToolCallsBegin;
  t += kToolCallBegin;
  t += "function";
  t += kToolSep;
  t += "tool_call_name\n```json\ntool_call_arguments\n```";
  t += kToolCallEnd;
  t += "{{additional_tool_calls}}";
  t += kToolCallsEnd;
  t += "\n\nWhere:\n\n- `tool_call_name` must be an exact match to one of the available tools\n"
       "- `tool_call_arguments` must be valid JSON that strictly follows the tool's Parameters Schema\n"
       "- For multiple tool calls, separate them by a newline\n";
}

void append_tool_calls(std::string& out, ChatFormat f, const std::vector<ToolCall>& calls,
                       std::vector<TextRange>* literal);

[[noreturn]] void no_tools(ChatFormat f) {
  throw ArgumentError(std::string("chat format ") + chat_format_name(f) + " has no tool-call syntax");
}

// V3 and R1 share the official template's structure; R1 cuts assistant content to the text after the last
// </think> and opens <think> in the generation prompt.
std::string render_v3_family(ChatFormat f, const std::vector<ChatMessage>& msgs, bool add_gen,
                             std::string_view bos, std::string_view eos, const std::vector<ToolSpec>& tools,
                             std::vector<TextRange>* literal) {
  const bool r1 = f == ChatFormat::DeepSeekR1;
  std::string out(bos);
  bool first_sp = true;
  for (const auto& m : msgs) {
    if (m.role != "system") continue;
    if (!first_sp) out += "\n\n";
    add_literal(out, m.content, literal);
    first_sp = false;
  }
  if (!tools.empty()) {
    if (!first_sp) out += "\n\n";
    append_tools_block(out, tools, literal);
  }
  bool is_tool = false, is_output_first = true;
  for (const auto& m : msgs) {
    if (m.role == "system") continue;
    if (m.role == "user") {
      is_tool = false;
      out += kUser;
      add_literal(out, m.content, literal);
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      if (is_tool) {
        out += kToolOutputsEnd;
      } else {
        if (r1) {
          size_t p = content.rfind(kThinkClose);
          if (p != std::string_view::npos) content = content.substr(p + kThinkClose.size());
        }
        out += kAssistant;
      }
      add_literal(out, content, literal);
      if (!m.tool_calls.empty()) append_tool_calls(out, f, m.tool_calls, literal);
      out += eos;
      is_tool = false;
    } else if (m.role == "tool") {
      is_tool = true;
      if (is_output_first) {
        out += kToolOutputsBegin;
        is_output_first = false;
      } else {
        out += "\n";
      }
      out += kToolOutputBegin;
      add_literal(out, m.content, literal);
      out += kToolOutputEnd;
    } else {
      bad_role(f, m.role);
    }
  }
  if (is_tool) out += kToolOutputsEnd;
  if (add_gen && !is_tool) {
    out += kAssistant;
    if (r1) out += "<think>\n";
  }
  return out;
}

std::string render_v2(const std::vector<ChatMessage>& msgs, bool add_gen, std::string_view bos,
                      std::string_view eos, std::vector<TextRange>* literal) {
  std::string out(bos);
  for (const auto& m : msgs) {
    if (m.role == "system") {
      add_literal(out, m.content, literal);
      out += "\n\n";
    } else if (m.role == "user") {
      out += "User: ";
      add_literal(out, m.content, literal);
      out += "\n\n";
    } else if (m.role == "assistant") {
      if (!m.tool_calls.empty()) no_tools(ChatFormat::DeepSeekV2);
      out += "Assistant: ";
      add_literal(out, m.content, literal);
      out += eos;
    } else {
      bad_role(ChatFormat::DeepSeekV2, m.role);
    }
  }
  if (add_gen) out += "Assistant:";
  return out;
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::DeepSeekV2: return "deepseek-v2";
    case ChatFormat::DeepSeekV3: return "deepseek-v3";
    case ChatFormat::DeepSeekR1: return "deepseek-r1";
    case ChatFormat::DeepSeekV4: return "deepseek-v4";
  }
  return "?";
}

const char* thinking_mode_name(ThinkingMode t) {
  switch (t) {
    case ThinkingMode::Off: return "off";
    case ThinkingMode::On: return "on";
    case ThinkingMode::Max: return "max";
  }
  return "?";
}

ThinkingMode thinking_mode_from_name(std::string_view n) {
  if (n == "on") return ThinkingMode::On;
  if (n == "off") return ThinkingMode::Off;
  if (n == "max") return ThinkingMode::Max;
  throw ArgumentError("unknown thinking mode '" + std::string(n) + "' (known: on, off, max)");
}

ChatFormat chat_format_from_name(std::string_view n) {
  if (n == "deepseek-v2" || n == "deepseek2" || n == "v2") return ChatFormat::DeepSeekV2;
  if (n == "deepseek-v3" || n == "deepseek3" || n == "v3") return ChatFormat::DeepSeekV3;
  if (n == "deepseek-r1" || n == "r1") return ChatFormat::DeepSeekR1;
  if (n == "deepseek-v4" || n == "deepseek4" || n == "v4") return ChatFormat::DeepSeekV4;
  throw UnsupportedError("unknown chat format '" + std::string(n) +
                         "' (known: deepseek-v2, deepseek-v3, deepseek-r1, deepseek-v4)");
}

ChatFormat detect_chat_format(std::string_view t) {
  if (t.empty())
    throw UnsupportedError("the model has no tokenizer.chat_template; choose one with --chat-format "
                           "(deepseek-v2, deepseek-v3, deepseek-r1)");
  if (contains(t, "'Assistant: ' + message['content'] + eos_token")) return ChatFormat::DeepSeekV2;
  if (contains(t, kAssistant) && contains(t, kUser)) {
    // R1 templates cut earlier reasoning at </think> and/or open <think> in the generation prompt.
    if (contains(t, kThinkClose) || contains(t, kThinkOpen)) return ChatFormat::DeepSeekR1;
    return ChatFormat::DeepSeekV3;
  }
  throw UnsupportedError("tokenizer.chat_template is not a DeepSeek V2/V3/R1 template (" +
                         std::to_string(t.size()) + " bytes); choose one with --chat-format "
                         "(deepseek-v2, deepseek-v3, deepseek-r1)");
}

std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, const ChatOptions& options,
                        std::string_view bos_text, std::string_view eos_text, const std::vector<ToolSpec>& tools,
                        std::vector<TextRange>* literal) {
  if (literal) literal->clear();
  if (!tools.empty() && !chat_format_has_tools(f)) no_tools(f);
  const bool add_gen = options.add_generation_prompt;
  if (f == ChatFormat::DeepSeekV2) return render_v2(messages, add_gen, bos_text, eos_text, literal);
  if (f == ChatFormat::DeepSeekV4) return render_chat_v4(messages, options, bos_text, eos_text, tools, literal);
  return render_v3_family(f, messages, add_gen, bos_text, eos_text, tools, literal);
}

std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos_text, std::string_view eos_text, const std::vector<ToolSpec>& tools,
                        std::vector<TextRange>* literal) {
  ChatOptions o;
  o.add_generation_prompt = add_generation_prompt;
  return render_chat(f, messages, o, bos_text, eos_text, tools, literal);
}

std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, ChatFormat f, const std::vector<ChatMessage>& messages,
                                        const ChatOptions& options, const std::vector<ToolSpec>& tools) {
  std::string bos = tok.bos() >= 0 ? tok.text(tok.bos()) : std::string();
  std::string eos = tok.eos() >= 0 ? tok.text(tok.eos()) : std::string(kEndOfSentence);
  std::vector<TextRange> literal;
  const std::string text = render_chat(f, messages, options, bos, eos, tools, &literal);
  return encode_with_literals(tok, text, /*add_bos=*/false, literal);
}

std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, ChatFormat f, const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt, const std::vector<ToolSpec>& tools) {
  ChatOptions o;
  o.add_generation_prompt = add_generation_prompt;
  return chat_prompt_tokens(tok, f, messages, o, tools);
}

bool chat_format_opens_think(ChatFormat f, ThinkingMode thinking) {
  return f == ChatFormat::DeepSeekR1 || (f == ChatFormat::DeepSeekV4 && thinking != ThinkingMode::Off);
}

bool generation_opens_think(ChatFormat f, ThinkingMode thinking, std::string_view last_role) {
  if (f == ChatFormat::DeepSeekR1) return last_role != "tool";
  return chat_format_opens_think(f, thinking);
}

bool chat_format_has_tools(ChatFormat f) { return f != ChatFormat::DeepSeekV2; }

bool chat_format_json_arguments(ChatFormat f) { return f == ChatFormat::DeepSeekV3 || f == ChatFormat::DeepSeekR1; }

namespace {
void append_tool_calls(std::string& out, ChatFormat f, const std::vector<ToolCall>& calls,
                       std::vector<TextRange>* literal) {
  if (!chat_format_has_tools(f)) no_tools(f);
  out += kToolCallsBegin;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i) out += "\n";
    out += kToolCallBegin;
    out += "function";
    out += kToolSep;
    add_literal(out, calls[i].name, literal);
    out += "\n```json\n";
    add_literal(out, calls[i].arguments, literal);
    out += "\n```";
    out += kToolCallEnd;
  }
  out += kToolCallsEnd;
}
}  // namespace

std::string render_tool_calls(ChatFormat f, const std::vector<ToolCall>& calls) {
  std::string out;
  if (f == ChatFormat::DeepSeekV4) append_dsml_block(out, calls, nullptr);
  else append_tool_calls(out, f, calls, nullptr);
  return out;
}

std::string tool_call_prefix(ChatFormat f, std::string_view name, bool close_think) {
  if (!chat_format_has_tools(f)) no_tools(f);
  if (f == ChatFormat::DeepSeekV4) {  // the assistant turn: [reasoning</think>] content "\n\n" block
    std::string out = close_think ? std::string(kThinkClose) : std::string();
    out += "\n\n";
    out += kDsmlToolCallsOpen;
    out += "\n";
    out += kDsmlInvokeOpen;
    out += " name=\"";
    if (!name.empty()) {
      out += name;
      out += "\">\n";
    }
    return out;
  }
  std::string out = close_think ? "</think>\n\n" : "";
  out += kToolCallsBegin;
  out += kToolCallBegin;
  out += "function";
  out += kToolSep;
  if (!name.empty()) {
    out += name;
    out += "\n```json\n";
  }
  return out;
}

std::string tool_call_suffix(ChatFormat f) {
  if (!chat_format_has_tools(f)) no_tools(f);
  if (f == ChatFormat::DeepSeekV4) {
    std::string out = "\n";
    out += kDsmlInvokeClose;
    out += "\n";
    out += kDsmlToolCallsClose;
    return out;
  }
  std::string out = "\n```";
  out += kToolCallEnd;
  out += kToolCallsEnd;
  return out;
}

// ---- ReasoningSplitter ----

ReasoningSplitter::ReasoningSplitter(bool in_think) : in_think_(in_think), trim_(in_think) {}

void ReasoningSplitter::emit(Parts& out, std::string_view s) {
  if (trim_) {
    size_t k = 0;
    while (k < s.size() && is_ws(s[k])) ++k;
    s.remove_prefix(k);
    if (!s.empty()) trim_ = false;
  }
  if (s.empty()) return;
  (in_think_ ? out.reasoning : out.content).append(s);
  if (!in_think_) seen_content_ = true;
}

ReasoningSplitter::Parts ReasoningSplitter::push(std::string_view piece) {
  Parts out;
  std::string buf = std::move(pending_);
  pending_.clear();
  buf.append(piece);
  std::string_view rest = buf;
  while (!rest.empty()) {
    if (in_think_) {
      size_t p = rest.find(kThinkClose);
      if (p != std::string_view::npos) {
        emit(out, rest.substr(0, p));
        in_think_ = false;
        seen_content_ = true;  // one reasoning block per reply
        trim_ = true;
        rest.remove_prefix(p + kThinkClose.size());
        continue;
      }
      size_t h = partial_tag_suffix(rest, kThinkClose);
      emit(out, rest.substr(0, rest.size() - h));
      pending_ = std::string(rest.substr(rest.size() - h));
      break;
    }
    if (!seen_content_) {
      size_t j = 0;
      while (j < rest.size() && is_ws(rest[j])) ++j;
      std::string_view after = rest.substr(j);
      if (after.empty()) {  // only whitespace so far: it may precede <think>
        pending_ = std::string(rest);
        break;
      }
      if (after.substr(0, kThinkOpen.size()) == kThinkOpen) {
        in_think_ = true;
        trim_ = true;
        rest = after.substr(kThinkOpen.size());
        continue;
      }
      if (after.size() < kThinkOpen.size() && kThinkOpen.substr(0, after.size()) == after) {
        pending_ = std::string(rest);  // could still become <think>
        break;
      }
    }
    emit(out, rest);
    break;
  }
  return out;
}

ReasoningSplitter::Parts ReasoningSplitter::flush() {
  Parts out;
  std::string rest = std::move(pending_);
  pending_.clear();
  emit(out, rest);
  return out;
}

}  // namespace latte
