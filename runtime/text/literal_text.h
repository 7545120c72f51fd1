// Tokenizing text in which some byte ranges are literal: a chat prompt is markup (control tokens such as
// <｜User｜>, <｜end▁of▁sentence｜>) around content that came from a user, a tool or a client. The markup's control
// tokens must become control ids; the same strings typed inside content must stay text, or a user could end a
// turn or open a tool call by writing the token. Thread-safe (reads the tokenizer only).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace latte {

class Tokenizer;

// Half-open byte range [begin, end) of a text.
struct TextRange {
  size_t begin = 0, end = 0;
};

// Text -> ids as tok.encode(text, add_bos, /*parse_special=*/true) gives them, except that no CONTROL / UNKNOWN
// token is split out where its text would start in or overlap a `literal` range (there it is ordinary text, as
// with parse_special = false). USER_DEFINED tokens are split out everywhere, as in encode(). `literal` must be
// sorted and non-overlapping; ranges past the end of the text are clipped.
std::vector<int32_t> encode_with_literals(const Tokenizer& tok, std::string_view text, bool add_bos,
                                          std::span<const TextRange> literal);

}  // namespace latte
