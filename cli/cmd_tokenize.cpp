// `latte tokenize`: text -> ids (or ids -> text with --ids) using only the GGUF's tokenizer keys, so it works on
// vocabulary-only files and never maps the weights into the forward pass. Control tokens written in the text
// (e.g. "<｜User｜>") are split out by default, as Hugging Face tokenizers and llama.cpp's llama-tokenize do, and
// rendered by --ids; --no-special keeps them text. (Chat and server prompts never parse them in user content.)
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "cli/session_options.h"
#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/text/tokenizer.h"

namespace latte::cli {
namespace {

struct TokenizeOptions {
  CommonModelOptions model;
  std::string text, file, ids;
  bool have_text = false;
  bool json = false, no_bos = false, no_special = false, special = false;  // special: the default, kept as a flag
};


int run(const TokenizeOptions& o) {
  auto file = gguf::File::open(o.model.model);
  auto tok = Tokenizer::from_gguf(*file);

  if (!o.ids.empty()) {
    auto ids = parse_id_list(o.ids);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->n_vocab())
        throw ArgumentError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                            std::to_string(tok->n_vocab() - 1) + ")");
    std::string text = tok->decode(ids, /*render_special=*/!o.no_special);
    if (o.json) {
      nlohmann::json j;
      j["text"] = text;
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << text << "\n";
    }
    return 0;
  }

  std::string text = o.text;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) throw IoError("cannot read " + o.file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  } else if (!o.have_text) {
    throw ArgumentError("give --text, --file or --ids");
  }
  require_utf8(text, o.file.empty() ? "--text" : "--file");
  auto ids = tok->encode(text, !o.no_bos, /*parse_special=*/!o.no_special);
  if (o.json) {
    nlohmann::json j;
    j["ids"] = ids;
    auto& toks = j["tokens"] = nlohmann::json::array();
    for (int32_t id : ids) toks.push_back(tok->text(id));
    j["n_tokens"] = ids.size();
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::ostringstream os;
    for (size_t i = 0; i < ids.size(); ++i) os << (i ? " " : "") << ids[i];
    std::cout << os.str() << "\n";
  }
  return 0;
}

const Registrar reg{Command{
    "tokenize", "convert text to token ids (or ids to text with --ids)",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<TokenizeOptions>();
      add_model_options(sub, o->model);
      auto* t = sub.add_option("--text", o->text, "text to tokenize");
      sub.add_option("--file", o->file, "read the text from a file")->excludes(t);
      sub.add_option("--ids", o->ids, "token ids to detokenize, e.g. 1,2,3")->excludes(t);
      sub.add_flag("--json", o->json, "print JSON ({ids, tokens, n_tokens} or {text})");
      sub.add_flag("--no-bos", o->no_bos, "do not prepend BOS");
      auto* ns = sub.add_flag("--no-special", o->no_special,
                              "keep control-token text (e.g. <｜User｜>) as text, and render no control tokens with "
                              "--ids (default: control tokens in the text are parsed, as Hugging Face tokenizers and "
                              "llama-tokenize do)");
      sub.add_flag("--special", o->special, "parse and render control tokens (the default)")->excludes(ns);
      return [o, t] {
        o->have_text = t->count() > 0;
        return run(*o);
      };
    },
    80}};

}  // namespace
}  // namespace latte::cli
