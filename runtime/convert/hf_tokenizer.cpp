// tokenizer.json / tokenizer_config.json -> GGUF tokenizer keys (GGUF_DEEPSEEK.md §E.1, §E.4).
#include "runtime/convert/hf_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/error.h"

namespace latte::tools {

namespace {

using json = nlohmann::json;

json read_json(const std::string& path, bool required) {
  std::ifstream in(path);
  if (!in) {
    if (required) throw IoError(path + ": cannot open");
    return json();
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(path + ": not valid JSON: " + e.what());
  }
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// llama.cpp's converter marks added tokens that look like control markers as CONTROL even if not flagged special.
bool looks_special(const std::string& t) {
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  if (starts_with(t, "<|") && ends_with(t, "|>")) return true;
  if (starts_with(t, "<\xEF\xBD\x9C") && ends_with(t, "\xEF\xBD\x9C>")) return true;  // <｜ ... ｜> (U+FF5C)
  return starts_with(t, "<unused") && ends_with(t, ">");
}

// The Split regexes of a pre_tokenizer (a Sequence or a single Split), in order.
void collect_splits(const json& pt, std::vector<std::string>& out) {
  if (!pt.is_object()) return;
  std::string type = pt.value("type", "");
  if (type == "Sequence" && pt.contains("pretokenizers")) {
    for (const auto& p : pt["pretokenizers"]) collect_splits(p, out);
  } else if (type == "Split" && pt.contains("pattern") && pt["pattern"].is_object()) {
    const auto& pat = pt["pattern"];
    if (pat.contains("Regex") && pat["Regex"].is_string()) out.push_back(pat["Regex"].get<std::string>());
    else if (pat.contains("String") && pat["String"].is_string()) out.push_back(pat["String"].get<std::string>());
  }
}

// Names the pre-tokenizer by its regex list (the three DeepSeek families of §E.4).
std::string detect_pre(const json& tok, const std::string& path) {
  std::vector<std::string> s;
  if (tok.contains("pre_tokenizer")) collect_splits(tok["pre_tokenizer"], s);
  auto has = [&](const std::string& r) { return std::find(s.begin(), s.end(), r) != s.end(); };
  if (s.size() == 3 && s[0] == "\\p{N}{1,3}" && s[2].rfind("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+", 0) == 0)
    return "deepseek-v3";
  if (s.size() == 6 && has("[\r\n]") && has("\\s+$") && has("\\p{N}+")) return "deepseek-llm";
  if (s.size() == 5 && has("[\r\n]") && has("\\s?\\p{L}+") && has("\\s?\\p{P}+") && has("\\p{N}"))
    return "deepseek-coder";
  throw UnsupportedError(path + ": pre_tokenizer (" + std::to_string(s.size()) +
                         " split regexes) is not one of deepseek-v3 / deepseek-llm / deepseek-coder; pass --pre NAME");
}

// Content of a special token entry of tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> token_content(const json& cfg, const std::string& key) {
  if (!cfg.is_object() || !cfg.contains(key)) return std::nullopt;
  const auto& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

HfVocab load_hf_vocab(const std::string& dir, int64_t vocab_size, const std::string& pre_override) {
  const std::string tok_path = dir + "/tokenizer.json";
  json tok = read_json(tok_path, true);
  json cfg = read_json(dir + "/tokenizer_config.json", false);
  json model_cfg = read_json(dir + "/config.json", false);
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object())
    throw FormatError(tok_path + ": no \"model\" object");
  const json& m = tok["model"];
  if (m.value("type", "BPE") != "BPE")
    throw UnsupportedError(tok_path + ": tokenizer model type " + m.value("type", "?") + " (only BPE is supported)");
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw FormatError(tok_path + ": model.vocab is not an object");

  HfVocab v;
  v.pre = pre_override.empty() ? detect_pre(tok, tok_path) : pre_override;

  // id -> text for the BPE vocabulary and the added tokens.
  std::map<int64_t, std::string> by_id;
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw FormatError(tok_path + ": vocab entry '" + it.key() + "' has no valid id");
    by_id[it.value().get<int64_t>()] = it.key();
  }
  struct Added {
    std::string content;
    bool special;
  };
  std::map<int64_t, Added> added;
  std::map<std::string, int64_t> added_by_content;
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array())
    for (const auto& a : tok["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        throw FormatError(tok_path + ": malformed added_tokens entry");
      int64_t id = a["id"].get<int64_t>();
      if (id < 0) throw FormatError(tok_path + ": negative added token id");
      added[id] = {a["content"].get<std::string>(), a.value("special", false)};
      added_by_content[a["content"].get<std::string>()] = id;
      by_id[id] = a["content"].get<std::string>();
    }
  int64_t n = vocab_size > 0 ? vocab_size : (by_id.empty() ? 0 : by_id.rbegin()->first + 1);
  if (!by_id.empty() && by_id.rbegin()->first >= n)
    throw FormatError(tok_path + ": token id " + std::to_string(by_id.rbegin()->first) +
                      " is outside the model's vocabulary of " + std::to_string(n));
  v.tokens.resize(static_cast<size_t>(n));
  v.token_types.resize(static_cast<size_t>(n));
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      v.tokens[id] = "[PAD" + std::to_string(id) + "]";
      v.token_types[id] = 5;  // UNUSED
      continue;
    }
    std::string text = it->second;
    auto a = added.find(id);
    if (a == added.end()) {
      v.token_types[id] = 1;  // NORMAL
    } else if (a->second.special || looks_special(text)) {
      v.token_types[id] = 3;  // CONTROL
    } else {
      // User-defined tokens are stored pre-normalized: U+2581 (SentencePiece space) -> ' '.
      std::string norm;
      for (size_t i = 0; i < text.size();) {
        if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
          norm += ' ';
          i += 3;
        } else {
          norm += text[i++];
        }
      }
      text = std::move(norm);
      v.token_types[id] = 4;  // USER_DEFINED
    }
    v.tokens[id] = std::move(text);
  }

  if (m.contains("merges") && m["merges"].is_array()) {
    v.merges.reserve(m["merges"].size());
    for (const auto& mg : m["merges"]) {
      if (mg.is_string()) v.merges.push_back(mg.get<std::string>());
      else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string())
        v.merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
      else throw FormatError(tok_path + ": malformed merges entry");
    }
  }

  // Special ids: tokenizer_config.json token contents looked up among the added tokens / vocab, else config.json.
  auto special_id = [&](const std::string& typ) -> std::optional<uint32_t> {
    if (auto c = token_content(cfg, typ + "_token")) {
      auto a = added_by_content.find(*c);
      if (a != added_by_content.end()) return static_cast<uint32_t>(a->second);
      if (m["vocab"].contains(*c)) return m["vocab"][*c].get<uint32_t>();
    }
    const std::string k = typ + "_token_id";
    if (model_cfg.is_object() && model_cfg.contains(k) && model_cfg[k].is_number_unsigned())
      return model_cfg[k].get<uint32_t>();
    return std::nullopt;
  };
  v.bos = special_id("bos");
  v.eos = special_id("eos");
  v.unk = special_id("unk");
  v.sep = special_id("sep");
  v.pad = special_id("pad");
  v.cls = special_id("cls");
  v.mask = special_id("mask");
  for (auto* id : {&v.bos, &v.eos, &v.unk, &v.sep, &v.pad, &v.cls, &v.mask})
    if (*id && **id >= static_cast<uint64_t>(n)) id->reset();
  if (cfg.is_object()) {
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) v.add_bos = cfg["add_bos_token"].get<bool>();
    if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) v.add_eos = cfg["add_eos_token"].get<bool>();
    if (cfg.contains("chat_template")) {
      const auto& t = cfg["chat_template"];
      if (t.is_string()) {
        v.chat_template = t.get<std::string>();
      } else if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
        for (const auto& e : t)
          if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
            v.chat_template = e["template"].get<std::string>();
      }
    }
  }
  return v;
}

void write_vocab(gguf::Writer& w, const HfVocab& v) {
  w.set_string("tokenizer.ggml.model", v.model);
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  w.set_i32_array("tokenizer.ggml.token_type", v.token_types);
  if (!v.merges.empty()) w.set_string_array("tokenizer.ggml.merges", v.merges);
  const std::pair<const char*, const std::optional<uint32_t>*> ids[] = {
      {"bos", &v.bos}, {"eos", &v.eos}, {"unknown", &v.unk}, {"seperator", &v.sep},
      {"padding", &v.pad}, {"cls", &v.cls}, {"mask", &v.mask}};
  for (const auto& [name, id] : ids)
    if (*id) w.set_u32(std::string("tokenizer.ggml.") + name + "_token_id", **id);
  if (v.add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *v.add_bos);
  if (v.add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *v.add_eos);
  if (v.chat_template) w.set_string("tokenizer.chat_template", *v.chat_template);
}

}  // namespace latte::tools
