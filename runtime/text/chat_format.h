// DeepSeek chat formats (GGUF_DEEPSEEK.md §E.8, DEEPSEEK_V4.md §10): render a conversation exactly as the official
// Jinja templates do (V2 / V2-Lite Chat, V3 / V3-0324, R1) or as DeepSeek-V4's Python encoder does (V4: thinking
// on / off / max, tools and calls in DSML, tool results as user content), including assistant tool calls and tool
// results in the models' own tool syntax, detect the format from `tokenizer.chat_template`, and split streamed
// model output into reasoning (between <think> and </think>) and content. Parsing tool calls back out of the
// output: tool_calls.h. Which format a loaded model uses is decided by the loader (Model::chat_format).
// Thread-safety: the free functions are pure; a ReasoningSplitter is one stream's state (one thread at a time).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/text/literal_text.h"

namespace latte {

class Tokenizer;

// One function call of an assistant message (OpenAI's tool_calls[i].function).
struct ToolCall {
  std::string id;         // client-visible id ("call_..."); the DeepSeek formats do not render it
  std::string name;
  std::string arguments;  // JSON text, rendered verbatim
};

// A tool the model may call (OpenAI's tools[i].function).
struct ToolSpec {
  std::string name;
  std::string description;  // "" = none
  std::string parameters;   // JSON Schema text, compact; "" = none
};

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool" (V3/R1/V4), "latest_reminder" (V4)
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant only (V3/R1/V4); rendered after the content
  std::string tool_call_id;          // tool only; V3/R1: not rendered (results are matched by order); V4: orders
                                     // consecutive results like the calls of the assistant message before them
  std::string reasoning;             // assistant only (V4): the reasoning of the turn (OpenAI's reasoning_content);
                                     // "" = the text before the last </think> of `content`, if any
};

enum class ChatFormat { DeepSeekV2, DeepSeekV3, DeepSeekR1, DeepSeekV4 };

const char* chat_format_name(ChatFormat f);  // "deepseek-v2", "deepseek-v3", "deepseek-r1", "deepseek-v4"
// Accepts the names above (and "deepseek2", "deepseek3", "deepseek4", "v2", "v3", "r1", "v4"); UnsupportedError
// lists the known ones.
ChatFormat chat_format_from_name(std::string_view name);

// V4's thinking modes (DEEPSEEK_V4.md §10): Off = "chat" (generation prompt <｜Assistant｜></think>), On =
// "thinking" (<｜Assistant｜><think>), Max = thinking with the official encoder's fixed "Reasoning Effort" instruction
// at the start of the prompt (meant for contexts of 384K tokens and more). R1 always thinks; V2/V3 never do.
enum class ThinkingMode { Off, On, Max };
const char* thinking_mode_name(ThinkingMode t);  // "off", "on", "max"
// "on" / "off" / "max"; ArgumentError otherwise.
ThinkingMode thinking_mode_from_name(std::string_view name);

// How to render a conversation.
struct ChatOptions {
  bool add_generation_prompt = true;
  ThinkingMode thinking = ThinkingMode::On;  // V4 only
};
// Recognises the template text (substring rules of §E.8). UnsupportedError for an empty or unknown template.
ChatFormat detect_chat_format(std::string_view chat_template);

// Renders `messages` as prompt text: BOS text first, role markers as their token text. With
// add_generation_prompt the text ends with the assistant opener (R1: "<｜Assistant｜><think>\n").
// `tools` (V3/R1) are described in a "## Tools" block after the system text (the official V3/R1 templates render no
// tool list; Latte's block follows DeepSeek-V3.1's wording in the V3 call syntax). Assistant tool calls are always
// closed with <｜tool▁calls▁end｜><｜end▁of▁sentence｜> (the official template omits that after a single call; the
// models themselves emit it), and an assistant turn after tool results opens with <｜tool▁outputs▁end｜> (what the
// generation prompt after tool results ends with), so a rendered history is a prefix of the next turn's prompt.
// ArgumentError for a role the format does not know, or tools / tool calls in a format without tool syntax (V2).
// `literal` (optional) receives the byte ranges of the text that came from the messages and tools (contents, tool
// names, descriptions, parameters, call arguments), in order: tokenize with encode_with_literals (literal_text.h)
// so that control-token text written there stays text.
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos_text, std::string_view eos_text,
                        const std::vector<ToolSpec>& tools = {}, std::vector<TextRange>* literal = nullptr);
// V4 (DEEPSEEK_V4.md §10, the official Python encoder's rules): BOS, system messages in place (the tools block after
// the first one's text: "\n\n## Tools ..." with one python_json schema line per tool; a system message with empty
// text is put first when there is none), user turns as <｜User｜>TEXT, tool results as user content
// "<tool_result>RESULT</tool_result>" (consecutive results and user texts merge into one user turn, joined by
// "\n\n"; results ordered like the calls of the assistant message before them), assistant turns as
// [REASONING</think>]CONTENT["\n\n" DSML block]<｜end▁of▁sentence｜>, each user turn followed by <｜Assistant｜>
// and <think> (thinking) or </think>. Earlier reasoning (turns before the last user turn) is dropped, and those
// turns open with </think>, unless tools are given. Thinking Off never renders reasoning. With
// add_generation_prompt false a conversation that ends with a user turn ends without the <｜Assistant｜> opener.
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, const ChatOptions& options,
                        std::string_view bos_text, std::string_view eos_text,
                        const std::vector<ToolSpec>& tools = {}, std::vector<TextRange>* literal = nullptr);
// render_chat with the tokenizer's BOS/EOS texts, tokenized with no extra BOS: the markup's control tokens become
// control ids, control-token text inside the messages stays text (encode_with_literals).
std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, ChatFormat f, const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt, const std::vector<ToolSpec>& tools = {});
std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, ChatFormat f, const std::vector<ChatMessage>& messages,
                                        const ChatOptions& options, const std::vector<ToolSpec>& tools = {});
// True when the format's generation prompt already opens a <think> block (R1; V4 unless thinking is Off).
bool chat_format_opens_think(ChatFormat f, ThinkingMode thinking = ThinkingMode::On);
// True when the generation prompt of a conversation whose last message has role `last_role` ends inside an opened
// <think> (R1 opens none after tool results; V4 renders tool results as a user turn, so it opens one there too).
bool generation_opens_think(ChatFormat f, ThinkingMode thinking, std::string_view last_role);
// True when the format has a tool-call syntax (V3, R1, V4).
bool chat_format_has_tools(ChatFormat f);
// True when a call's arguments are written as one JSON object (V3, R1); V4 writes DSML parameters instead (which
// tool_call_grammar constrains parameter by parameter).
bool chat_format_json_arguments(ChatFormat f);
// The text that forces a tool call when appended to a generation prompt: the block and call openers, the type and
// separator, and, when `name` is not empty, the name and the opening of the arguments fence ("\n```json\n"), so
// that the model continues with the arguments JSON. `close_think`: the prompt ends inside an opened <think> (R1's
// generation prompt), which is closed first with an empty reasoning block.
// V4: ["</think>"] "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"" [NAME "\">\n"]: the model continues with the
// name or the parameters.
std::string tool_call_prefix(ChatFormat f, std::string_view name, bool close_think);
// The text between a call's arguments and the end of the block when exactly one call is made:
// "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>" (V3/R1), "\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>" (V4).
std::string tool_call_suffix(ChatFormat f);
// Renders calls as the model writes them (block opener to block closer, no end-of-sentence).
std::string render_tool_calls(ChatFormat f, const std::vector<ToolCall>& calls);

// Streaming splitter of generated text into reasoning and content. Text between <think> and </think> is
// reasoning; everything else is content. A <think> is recognised only before any content (leading whitespace
// allowed); tags split across pieces are handled by holding back a possible partial tag. Whitespace right after
// <think> and right after </think> is dropped.
class ReasoningSplitter {
 public:
  // `in_think`: the prompt already opened <think> (chat_format_opens_think).
  explicit ReasoningSplitter(bool in_think = false);
  struct Parts {
    std::string reasoning, content;
  };
  Parts push(std::string_view piece);
  Parts flush();  // end of stream: releases any held-back text
  bool in_think() const { return in_think_; }

 private:
  void emit(Parts& out, std::string_view s);
  bool in_think_;
  bool seen_content_ = false;  // content (or a closed think block) has been emitted: no further <think>
  bool trim_ = false;          // drop whitespace at the start of the current channel
  std::string pending_;
};

}  // namespace latte
