// UTF-8 helpers for the tokenizer and streaming detokenization (GGUF_DEEPSEEK.md §E.3, §E.7).
// Pure functions on byte strings; thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace latte::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length in bytes of the sequence announced by lead byte `b` (1..4), or 0 if `b` cannot start a sequence.
int sequence_length(uint8_t b);

// Decodes one code point at s[i]. On success sets `len` (1..4) and returns the code point. On an invalid or
// truncated sequence (overlong forms, surrogates, > U+10FFFF included) returns kReplacement with len = 1.
char32_t decode(std::string_view s, size_t i, int& len);

// Appends the UTF-8 encoding of `cp` (cp must be <= U+10FFFF) to `out`.
void append(std::string& out, char32_t cp);
std::string encode(char32_t cp);

// True when `s` is well-formed UTF-8.
bool is_valid(std::string_view s);

// Copy of `s` in which every byte that is not part of a well-formed sequence is replaced by U+FFFD.
std::string sanitize(std::string_view s);

// Number of bytes at the end of `s` that form an incomplete (but so far valid) sequence: 0..3.
size_t incomplete_tail(std::string_view s);

}  // namespace latte::utf8
