// DSML rendering and parsing (see dsml.h).
#include "runtime/text/dsml.h"

#include <cstdio>

#include "runtime/text/chat_format.h"
#include "runtime/text/deepseek_markers.h"

namespace latte {

namespace {

using namespace markers;
using ojson = nlohmann::ordered_json;

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

void add_literal(std::string& out, std::string_view text, std::vector<TextRange>* literal) {
  if (literal && !text.empty()) literal->push_back({out.size(), out.size() + text.size()});
  out += text;
}

void python_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void python_value(std::string& out, const ojson& v) {
  if (v.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      python_string(out, it.key());
      out += ": ";
      python_value(out, it.value());
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      python_value(out, v[i]);
    }
    out += ']';
  } else if (v.is_string()) {
    python_string(out, v.get_ref<const std::string&>());
  } else {
    out += v.dump();  // numbers, booleans, null
  }
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && is_ws(s[i])) ++i;
}

// Reads `key="VALUE"` at i (after optional whitespace); false when absent or unterminated.
bool read_attr(std::string_view s, size_t& i, std::string_view key, std::string& value) {
  size_t j = i;
  skip_ws(s, j);
  if (!starts_with(s.substr(j), key)) return false;
  j += key.size();
  skip_ws(s, j);
  if (j >= s.size() || s[j] != '=') return false;
  ++j;
  skip_ws(s, j);
  if (j >= s.size() || s[j] != '"') return false;
  size_t e = s.find('"', j + 1);
  if (e == std::string_view::npos) return false;
  value = std::string(s.substr(j + 1, e - j - 1));
  i = e + 1;
  return true;
}

}  // namespace

std::string python_json(const nlohmann::ordered_json& v) {
  std::string out;
  python_value(out, v);
  return out;
}

void append_dsml_invoke(std::string& out, const ToolCall& call, std::vector<TextRange>* literal) {
  out += "<";
  out += kDsml;
  out += "invoke name=\"";
  add_literal(out, call.name, literal);
  out += "\">\n";
  ojson args = ojson::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object()) args = ojson{{"arguments", call.arguments}};
  bool first = true;
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (!first) out += "\n";
    first = false;
    const bool is_str = it.value().is_string();
    out += "<";
    out += kDsml;
    out += "parameter name=\"";
    add_literal(out, it.key(), literal);
    out += is_str ? "\" string=\"true\">" : "\" string=\"false\">";
    add_literal(out, is_str ? it.value().get_ref<const std::string&>() : python_json(it.value()), literal);
    out += kDsmlParameterClose;
  }
  out += "\n";
  out += kDsmlInvokeClose;
}

void append_dsml_block(std::string& out, const std::vector<ToolCall>& calls, std::vector<TextRange>* literal) {
  out += kDsmlToolCallsOpen;
  out += "\n";
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i) out += "\n";
    append_dsml_invoke(out, calls[i], literal);
  }
  out += "\n";
  out += kDsmlToolCallsClose;
}

std::string dsml_tool_schema(const ToolSpec& tool) {
  ojson fn = ojson::object();
  fn["name"] = tool.name;
  if (!tool.description.empty()) fn["description"] = tool.description;
  if (!tool.parameters.empty()) {
    ojson p = ojson::parse(tool.parameters, nullptr, /*allow_exceptions=*/false);
    fn["parameters"] = p.is_discarded() ? ojson(tool.parameters) : p;
  }
  return python_json(fn);
}

bool parse_dsml_invoke(std::string_view body, std::string& name, std::string& arguments) {
  size_t i = 0;
  if (!read_attr(body, i, "name", name) || name.empty()) return false;
  skip_ws(body, i);
  if (i >= body.size() || body[i] != '>') return false;
  ++i;
  ojson args = ojson::object();
  for (;;) {
    skip_ws(body, i);
    if (i >= body.size()) break;
    if (!starts_with(body.substr(i), kDsmlParameterOpen)) return false;
    i += kDsmlParameterOpen.size();
    std::string key, is_str;
    if (!read_attr(body, i, "name", key) || key.empty()) return false;
    const bool has_str = read_attr(body, i, "string", is_str);
    if (has_str && is_str != "true" && is_str != "false") return false;
    skip_ws(body, i);
    if (i >= body.size() || body[i] != '>') return false;
    ++i;
    size_t end = body.find(kDsmlParameterClose, i);
    if (end == std::string_view::npos) return false;
    std::string_view value = body.substr(i, end - i);
    i = end + kDsmlParameterClose.size();
    if (args.contains(key)) return false;
    if (has_str && is_str == "true") {
      args[key] = std::string(value);
      continue;
    }
    ojson v = ojson::parse(value.begin(), value.end(), nullptr, /*allow_exceptions=*/false);
    if (v.is_discarded()) {
      if (has_str) return false;  // string="false" promises JSON
      args[key] = std::string(value);
    } else {
      args[key] = std::move(v);
    }
  }
  arguments = args.dump(-1, ' ', false, ojson::error_handler_t::replace);
  return true;
}

}  // namespace latte
