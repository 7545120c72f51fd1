// libFuzzer target: the chat formatter, the streaming reasoning splitter and the DSML tool-call parser.
// Input layout: byte 0 picks the format (and V4's thinking mode), then messages separated by 0x00, each starting
// with a role byte.
// Invariants: rendering never crashes (unknown roles raise latte::Error); tokenizing the rendered prompt yields ids
// inside the vocabulary; the splitter, fed the input in odd-sized pieces, loses no text outside the think tags; the
// V4 tool-call parser, fed the same pieces, never throws and gives the whole input back as text when it finds no call.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "runtime/text/chat_format.h"
#include "formats/error.h"
#include "runtime/text/tokenizer.h"
#include "runtime/text/tool_calls.h"

namespace {
const latte::Tokenizer& tokenizer() {
  static std::shared_ptr<const latte::gguf::File> file;
  static std::unique_ptr<latte::Tokenizer> tok;
  if (!tok) {
    const char* env = std::getenv("LATTE_FUZZ_VOCAB");
    file = latte::gguf::File::open(env ? env : LATTE_SHARED_DIR "/models/deepseek-v3-vocab.gguf");
    tok = latte::Tokenizer::from_gguf(*file);
  }
  return *tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const latte::ChatFormat kFormats[] = {latte::ChatFormat::DeepSeekV2, latte::ChatFormat::DeepSeekV3,
                                               latte::ChatFormat::DeepSeekR1, latte::ChatFormat::DeepSeekV4};
  static const latte::ThinkingMode kThinking[] = {latte::ThinkingMode::Off, latte::ThinkingMode::On,
                                                  latte::ThinkingMode::Max, latte::ThinkingMode::On};
  static const char* kRoles[] = {"system", "user", "assistant", "tool", "bogus", "latest_reminder"};
  const auto fmt = kFormats[data[0] % 4];
  std::vector<latte::ChatMessage> msgs;
  std::string all(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t start = 0;
  while (start < all.size() && msgs.size() < 16) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    if (end > start) msgs.push_back({kRoles[uint8_t(all[start]) % 6], all.substr(start + 1, end - start - 1)});
    start = end + 1;
  }
  try {
    latte::ChatOptions opt;
    opt.add_generation_prompt = (data[0] & 4) != 0;
    opt.thinking = kThinking[(data[0] >> 4) % 4];
    auto ids = latte::chat_prompt_tokens(tokenizer(), fmt, msgs, opt);
    for (int32_t id : ids)
      if (id < 0 || id >= tokenizer().n_vocab()) __builtin_trap();
  } catch (const latte::Error&) {
  }
  // Splitter: text fed in pieces of 1..7 bytes; reasoning + content must not exceed the input.
  latte::ReasoningSplitter sp((data[0] & 8) != 0);
  std::string reasoning, content;
  size_t step = 1 + data[0] % 7;
  for (size_t i = 0; i < all.size(); i += step) {
    auto p = sp.push(std::string_view(all).substr(i, step));
    reasoning += p.reasoning;
    content += p.content;
  }
  auto p = sp.flush();
  reasoning += p.reasoning;
  content += p.content;
  if (reasoning.size() + content.size() > all.size()) __builtin_trap();
  // DSML parser: the same pieces; no call found -> every byte back as content, in order.
  latte::ToolCallParser tp(latte::ChatFormat::DeepSeekV4, {});
  std::string text;
  size_t n_calls = 0;
  auto take = [&](const latte::ToolCallParser::Output& out) {
    for (const auto& seg : out) {
      if (seg.is_call) ++n_calls;
      else text += seg.content;
    }
  };
  for (size_t i = 0; i < all.size(); i += step) take(tp.push(std::string_view(all).substr(i, step)));
  take(tp.flush());
  if (n_calls == 0 && text != all) __builtin_trap();
  return 0;
}
