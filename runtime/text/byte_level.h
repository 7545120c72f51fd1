// GPT-2 byte-level alphabet (GGUF_DEEPSEEK.md §E.3): every byte maps to one printable code point so that BPE
// vocabularies can be stored as text. Tables are built once (constexpr-style, no global mutable state).
// Thread-safety: all functions are pure / read-only.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace latte::byte_level {

// Code point that byte `b` maps to (U+0021..U+00FF kept, the other 68 bytes -> U+0100..U+0143).
char32_t byte_to_cp(uint8_t b);
// Inverse: the byte for code point `cp`, or -1 if cp is not in the byte-level alphabet.
int cp_to_byte(char32_t cp);
// UTF-8 encoding (2 bytes at most) of byte_to_cp(b).
std::string_view byte_to_utf8(uint8_t b);

// Maps raw bytes to their byte-level text (each byte -> UTF-8 of its code point).
std::string encode(std::string_view bytes);
// Maps byte-level text back to raw bytes. Code points outside the alphabet are copied as UTF-8 (ok = false then).
std::string decode(std::string_view text, bool* ok = nullptr);

}  // namespace latte::byte_level
