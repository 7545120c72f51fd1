// Hugging Face tokenizer files (tokenizer.json + tokenizer_config.json [+ config.json ids]) -> the GGUF
// `tokenizer.*` keys of a byte-level BPE vocabulary (GGUF_DEEPSEEK.md §E.1). Used by `latte convert`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace latte::tools {

struct HfVocab {
  std::string model = "gpt2";          // tokenizer.ggml.model
  std::string pre;                     // tokenizer.ggml.pre (deepseek-v3 / deepseek-llm / deepseek-coder)
  std::vector<std::string> tokens;     // index = id; ids absent from the HF vocab are "[PAD<id>]"
  std::vector<int32_t> token_types;    // 1 normal, 3 control, 4 user-defined, 5 unused
  std::vector<std::string> merges;     // "left right", rank order
  std::optional<uint32_t> bos, eos, unk, sep, pad, cls, mask;
  std::optional<bool> add_bos, add_eos;
  std::optional<std::string> chat_template;
};

// Reads `dir`/tokenizer.json, tokenizer_config.json (optional) and config.json (optional: bos/eos fallback).
// `vocab_size` > 0 pads/limits the token list to that many ids (the model's embedding rows).
// `pre_override` non-empty replaces pre-tokenizer detection. Throws FormatError / UnsupportedError / IoError.
HfVocab load_hf_vocab(const std::string& dir, int64_t vocab_size, const std::string& pre_override = "");

// Writes the vocabulary's keys in the order llama.cpp's converter does.
void write_vocab(gguf::Writer& w, const HfVocab& v);

}  // namespace latte::tools
