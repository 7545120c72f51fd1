// DeepSeek chat formats (GGUF_DEEPSEEK.md §E.8): render a conversation exactly as the official Jinja templates do
// (V2 / V2-Lite Chat, V3 / V3-0324, R1), detect the format from `tokenizer.chat_template`, and split streamed
// model output into reasoning (between <think> and </think>) and content.
// Thread-safety: the free functions are pure; a ReasoningSplitter is one stream's state (one thread at a time).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latte {

class Tokenizer;

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool" (V3/R1 only)
  std::string content;
};

enum class ChatFormat { DeepSeekV2, DeepSeekV3, DeepSeekR1 };

const char* chat_format_name(ChatFormat f);  // "deepseek-v2", "deepseek-v3", "deepseek-r1"
// Accepts the names above (and "deepseek2", "deepseek3", "v2", "v3", "r1"); UnsupportedError lists the known ones.
ChatFormat chat_format_from_name(std::string_view name);
// Recognises the template text (substring rules of §E.8). UnsupportedError for an empty or unknown template.
ChatFormat detect_chat_format(std::string_view chat_template);

// Renders `messages` as prompt text: BOS text first, role markers as their token text. With
// add_generation_prompt the text ends with the assistant opener (R1: "<｜Assistant｜><think>\n").
// ArgumentError for a role the format does not know.
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos_text, std::string_view eos_text);
// render_chat with the tokenizer's BOS/EOS texts, tokenized with parse_special = true and no extra BOS.
std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, ChatFormat f, const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt);
// True when the format's generation prompt already opens a <think> block (R1).
bool chat_format_opens_think(ChatFormat f);

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
