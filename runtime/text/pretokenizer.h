// Pre-tokenizers of byte-level BPE vocabularies (GGUF_DEEPSEEK.md §E.4): an ordered list of regular expressions
// applied with HF `Split(behavior = Isolated)` semantics: each regex splits every current piece into its matches
// and the gaps between them (all kept, in order, no empty pieces); the next regex works on each piece separately.
// Regexes run under PCRE2 with PCRE2_UTF | PCRE2_UCP, i.e. true Unicode categories for \p{..} and \s
// (HF/Oniguruma behaviour; llama.cpp's collapsed classes differ for ASCII `~`, which is Sm: see §E.4).
// Thread-safety: immutable after construction; split() may run concurrently (per-call match data).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace latte {

class PreTokenizer {
 public:
  // `name` is the tokenizer.ggml.pre value: "deepseek-v3", "deepseek-llm", "deepseek-coder", or "default" (GPT-2).
  // Throws UnsupportedError for any other name.
  explicit PreTokenizer(std::string_view name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  static bool known(std::string_view name);
  const std::string& name() const { return name_; }
  // The regexes in PCRE2 syntax, in application order.
  const std::vector<std::string>& patterns() const { return patterns_; }

  // Appends the words of `text` (well-formed UTF-8, e.g. from utf8::sanitize) to `out` as views into `text`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  std::vector<std::string_view> split(std::string_view text) const {
    std::vector<std::string_view> v;
    split(text, v);
    return v;
  }

 private:
  struct Regex;
  std::string name_;
  std::vector<std::string> patterns_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace latte
