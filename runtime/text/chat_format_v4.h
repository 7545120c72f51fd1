// DeepSeek-V4's prompt format (DEEPSEEK_V4.md §10; rules in chat_format.h at render_chat), used by render_chat.
// Thread-safety: pure.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "runtime/text/chat_format.h"

namespace latte {

std::string render_chat_v4(const std::vector<ChatMessage>& messages, const ChatOptions& options,
                           std::string_view bos_text, std::string_view eos_text, const std::vector<ToolSpec>& tools,
                           std::vector<TextRange>* literal);

}  // namespace latte
