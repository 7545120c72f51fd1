// DeepSeek-V4 prompt rendering (see chat_format.h, render_chat). The rules follow the official Python encoder
// (encoding_dsv4.py, DEEPSEEK_V4.md §10): tool messages merge into user turns, earlier reasoning is dropped unless
// tools are given, and each user turn is followed by the assistant opener and <think> or </think>.
// The texts of the tools block and of the "max" instruction are the encoder's own (data the model was trained on;
// DEEPSEEK_V4.md marks the tools block unverified, they were read from a public copy of the encoder).
#include "runtime/text/chat_format_v4.h"

#include <algorithm>
#include <map>

#include "formats/error.h"
#include "runtime/text/deepseek_markers.h"
#include "runtime/text/dsml.h"

namespace latte {

namespace {

using namespace markers;

#define LATTE_DSML "\xEF\xBD\x9C" "DSML" "\xEF\xBD\x9C"
// The tools block (appended to the first system message after "\n\n"); {SCHEMAS} = one schema line per tool.
constexpr std::string_view kToolsHead =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    "\"<" LATTE_DSML "tool_calls>\" block like the following:\n\n"
    "<" LATTE_DSML "tool_calls>\n"
    "<" LATTE_DSML "invoke name=\"$TOOL_NAME\">\n"
    "<" LATTE_DSML "parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</" LATTE_DSML
    "parameter>\n"
    "...\n"
    "</" LATTE_DSML "invoke>\n"
    "<" LATTE_DSML "invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</" LATTE_DSML "invoke>\n"
    "</" LATTE_DSML "tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, booleans, "
    "arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";
constexpr std::string_view kToolsTail =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";
#undef LATTE_DSML

// Thinking "max": put before the first message.
constexpr std::string_view kReasoningEffortMax =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, "
    "rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

constexpr std::string_view kToolResultOpen = "<tool_result>";
constexpr std::string_view kToolResultClose = "</tool_result>";

void add_literal(std::string& out, std::string_view text, std::vector<TextRange>* literal) {
  if (literal && !text.empty()) literal->push_back({out.size(), out.size() + text.size()});
  out += text;
}

// One turn after merging: tool messages become blocks of user turns.
struct Turn {
  std::string role;                      // "system", "user", "assistant", "latest_reminder"
  const ChatMessage* msg = nullptr;      // system (nullptr = the empty one carrying the tools), assistant, reminder
  std::vector<const ChatMessage*> parts;  // user: user texts and tool results, in order
  bool tools = false;                    // system: the tools block follows its text
};

std::vector<Turn> merge_turns(const std::vector<ChatMessage>& msgs, bool with_tools) {
  std::vector<Turn> turns;
  std::map<std::string, size_t> call_order;  // id -> position in the last assistant message's calls
  for (const auto& m : msgs) {
    if (m.role == "user" || m.role == "tool") {
      if (turns.empty() || turns.back().role != "user") turns.push_back(Turn{"user", nullptr, {}, false});
      turns.back().parts.push_back(&m);
      continue;
    }
    if (m.role != "system" && m.role != "assistant" && m.role != "latest_reminder")
      throw ArgumentError("chat format deepseek-v4: unsupported message role '" + m.role + "'");
    turns.push_back(Turn{m.role, &m, {}, false});
  }
  // Tool results of one turn in the order of the calls that asked for them (ids unknown to the calls count as 0;
  // a stable sort, so equal keys keep their order). Other parts keep their places.
  for (auto& t : turns) {
    if (t.role == "assistant") {
      if (!t.msg->tool_calls.empty()) {
        call_order.clear();
        for (size_t k = 0; k < t.msg->tool_calls.size(); ++k)
          if (!t.msg->tool_calls[k].id.empty()) call_order[t.msg->tool_calls[k].id] = k;
      }
      continue;
    }
    if (t.role != "user" || call_order.empty()) continue;
    std::vector<const ChatMessage*> results;
    for (auto* p : t.parts)
      if (p->role == "tool") results.push_back(p);
    if (results.size() < 2) continue;
    auto key = [&](const ChatMessage* p) {
      auto it = call_order.find(p->tool_call_id);
      return it == call_order.end() ? size_t(0) : it->second;
    };
    std::stable_sort(results.begin(), results.end(),
                     [&](const ChatMessage* a, const ChatMessage* b) { return key(a) < key(b); });
    size_t r = 0;
    for (auto*& p : t.parts)
      if (p->role == "tool") p = results[r++];
  }
  if (with_tools) {
    auto sys = std::find_if(turns.begin(), turns.end(), [](const Turn& t) { return t.role == "system"; });
    if (sys == turns.end()) sys = turns.insert(turns.begin(), Turn{"system", nullptr, {}, false});
    sys->tools = true;
  }
  return turns;
}

// An assistant message's reasoning and answer: `reasoning` if given, else the text before the last </think> of the
// content (a leading <think> removed); the answer is the content after that </think>.
void split_assistant(const ChatMessage& m, std::string_view& reasoning, std::string_view& content) {
  content = m.content;
  reasoning = m.reasoning;
  size_t p = content.rfind(kThinkClose);
  if (p == std::string_view::npos) return;
  if (reasoning.empty()) {
    reasoning = content.substr(0, p);
    size_t k = 0;
    while (k < reasoning.size() && (reasoning[k] == ' ' || reasoning[k] == '\n')) ++k;
    if (reasoning.substr(k, kThinkOpen.size()) == kThinkOpen) reasoning.remove_prefix(k + kThinkOpen.size());
  }
  content = content.substr(p + kThinkClose.size());
}

}  // namespace

std::string render_chat_v4(const std::vector<ChatMessage>& messages, const ChatOptions& options,
                           std::string_view bos_text, std::string_view eos_text, const std::vector<ToolSpec>& tools,
                           std::vector<TextRange>* literal) {
  const std::vector<Turn> turns = merge_turns(messages, !tools.empty());
  const bool thinking = options.thinking != ThinkingMode::Off;
  const bool drop = tools.empty();  // earlier reasoning is dropped unless tools are given
  long last_user = -1;
  for (size_t i = 0; i < turns.size(); ++i)
    if (turns[i].role == "user") last_user = long(i);

  std::string out(bos_text);
  for (size_t i = 0; i < turns.size(); ++i) {
    const Turn& t = turns[i];
    if (i == 0 && options.thinking == ThinkingMode::Max) out += kReasoningEffortMax;
    if (t.role == "system") {
      if (t.msg) add_literal(out, t.msg->content, literal);
      if (t.tools) {
        out += "\n\n";
        out += kToolsHead;
        for (size_t k = 0; k < tools.size(); ++k) {
          if (k) out += "\n";
          add_literal(out, dsml_tool_schema(tools[k]), literal);
        }
        out += kToolsTail;
      }
    } else if (t.role == "user") {
      out += kUser;
      for (size_t k = 0; k < t.parts.size(); ++k) {
        if (k) out += "\n\n";
        const ChatMessage& p = *t.parts[k];
        if (p.role == "tool") {
          out += kToolResultOpen;
          add_literal(out, p.content, literal);
          out += kToolResultClose;
        } else {
          add_literal(out, p.content, literal);
        }
      }
    } else if (t.role == "latest_reminder") {
      out += kLatestReminder;
      add_literal(out, t.msg->content, literal);
    } else {  // assistant
      std::string_view reasoning, content;
      split_assistant(*t.msg, reasoning, content);
      if (thinking && (!drop || long(i) > last_user)) {
        add_literal(out, reasoning, literal);
        out += kThinkClose;
      }
      add_literal(out, content, literal);
      if (!t.msg->tool_calls.empty()) {
        out += "\n\n";
        append_dsml_block(out, t.msg->tool_calls, literal);
      }
      out += eos_text;
    }
    // The assistant opener follows a user turn that an assistant turn (or a reminder, or the generation) follows.
    const bool last = i + 1 == turns.size();
    if (!last && turns[i + 1].role != "assistant" && turns[i + 1].role != "latest_reminder") continue;
    if (t.role != "user" || (last && !options.add_generation_prompt)) continue;
    out += kAssistant;
    out += thinking && (!drop || long(i) >= last_user) ? kThinkOpen : kThinkClose;
  }
  return out;
}

}  // namespace latte
