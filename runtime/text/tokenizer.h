// Byte-level BPE tokenizer built from GGUF metadata (tokenizer.ggml.*), GGUF_DEEPSEEK.md §E.
// Pre-tokenizers deepseek-v3 / deepseek-llm / deepseek-coder (+ GPT-2 "default") via PCRE2 (UTF-8 + UCP), i.e. with
// true Unicode categories like HF `tokenizers` (ASCII '~' is a symbol: " ~~~" is one word; see pretokenizer.h).
// Special tokens are matched leftmost-longest inside the text (HF added-vocabulary semantics); BPE merges by rank
// on token ids (hash map keyed by the id pair). Verified against tokenizer-refs/*.json (tests/test_tokenizer.cpp).
// Thread-safety: immutable after construction; encode/decode may run concurrently.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace latte {
namespace gguf { class File; }

enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// Everything a tokenizer is built from, as read from the tokenizer.ggml.* keys (§E.1). Used by from_gguf and by
// tests / fuzzers that build a vocabulary without a file.
struct VocabData {
  std::string model = "gpt2";         // tokenizer.ggml.model
  std::string pre = "default";        // tokenizer.ggml.pre ("default" when the key is absent)
  std::vector<std::string> tokens;    // byte-level text, index = id
  std::vector<int32_t> types;         // TokenType per id (empty = all Normal)
  std::vector<std::string> merges;    // "left right", rank = index
  int32_t bos = -1, eos = -1, eot = -1, eom = -1;
  bool add_bos = true, add_eos = false;
};

class Tokenizer {
 public:
  // Throws FormatError / UnsupportedError (unknown tokenizer.ggml.model or .pre) naming the key.
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& f);
  // Same checks as from_gguf; errors name the VocabData field instead of the GGUF key.
  static std::unique_ptr<Tokenizer> from_vocab(VocabData v);
  ~Tokenizer();

  // Text -> ids. add_bos: prepend BOS if the vocabulary says add_bos_token. parse_special: split CONTROL tokens
  // out of the text (USER_DEFINED tokens are always split out). Invalid UTF-8 bytes become U+FFFD.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
  // Ids -> bytes (exact; CONTROL tokens render nothing unless render_special). Throws ArgumentError on an id
  // outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;
  // Bytes of one token (may be a partial UTF-8 sequence; see Utf8Stream).
  std::string token_bytes(int32_t id, bool render_special = false) const;

  int32_t n_vocab() const;
  int32_t bos() const;
  int32_t eos() const;  // -1 if none
  bool add_bos() const;
  bool is_eog(int32_t id) const;           // end-of-generation (EOS / EOT)
  TokenType type(int32_t id) const;
  const std::string& text(int32_t id) const;  // raw vocabulary string (byte-level form)
  int32_t find_token(std::string_view raw_text) const;  // exact vocab string -> id, -1 if absent
  const std::string& model() const;  // "gpt2"
  const std::string& pre() const;    // "deepseek-v3"
  size_t n_merges() const;
  // Pre-tokenizer words of `text` (no special-token splitting; text sanitized like encode()). For tests/tools.
  std::vector<std::string> pretokenize(std::string_view text) const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Streaming detokenizer: feed token bytes, get back only complete UTF-8 sequences; flush() returns the rest.
class Utf8Stream {
 public:
  std::string push(std::string_view bytes);
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace latte
