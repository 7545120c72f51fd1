// JSON Schema subset -> grammar nodes (see json_schema.h for the subset and the policy on keys and order).
#include "runtime/text/json_schema.h"

#include <algorithm>
#include <set>

#include "formats/error.h"
#include "runtime/text/deepseek_markers.h"

namespace latte {

namespace {

using ojson = nlohmann::ordered_json;

const std::set<std::string, std::less<>> kAnnotations = {"title",    "description", "default",    "examples",
                                                         "$schema",  "$id",         "$comment",   "deprecated",
                                                         "readOnly", "writeOnly"};
const std::set<std::string, std::less<>> kKeywords = {"type",     "properties", "required", "additionalProperties",
                                                      "items",    "minItems",   "maxItems", "minLength",
                                                      "maxLength", "enum",      "const",    "anyOf"};

class Compiler {
 public:
  explicit Compiler(JsonGrammar& g) : g_(g) {}

  int32_t literal(std::string text) {
    GrammarNode n;
    n.kind = GrammarKind::Literal;
    n.text = std::move(text);
    return g_.add(std::move(n));
  }
  int32_t group(GrammarKind k, std::vector<int32_t> children) {
    if (children.size() == 1) return children[0];
    GrammarNode n;
    n.kind = k;
    n.children = std::move(children);
    return g_.add(std::move(n));
  }
  int32_t string_node(uint32_t min_len = 0, uint32_t max_len = UINT32_MAX) {
    GrammarNode n;
    n.kind = GrammarKind::String;
    n.min_len = min_len;
    n.max_len = max_len;
    return g_.add(std::move(n));
  }
  int32_t free_object(int32_t value) {
    GrammarNode n;
    n.kind = GrammarKind::Object;
    n.free_keys = true;
    n.extra = value;
    n.key_node = string_node();
    return g_.add(std::move(n));
  }
  // Any JSON value (shared subgraph, made once).
  int32_t any() {
    if (any_ >= 0) return any_;
    GrammarNode alt;
    alt.kind = GrammarKind::Alt;
    any_ = g_.add(std::move(alt));
    int32_t obj = free_object(any_);
    GrammarNode arr;
    arr.kind = GrammarKind::Array;
    arr.item = any_;
    int32_t arr_i = g_.add(std::move(arr));
    GrammarNode num;
    num.kind = GrammarKind::Number;
    int32_t num_i = g_.add(std::move(num));
    std::vector<int32_t> ch = {obj, arr_i, string_node(), num_i, literal("true"), literal("false"), literal("null")};
    g_.nodes[size_t(any_)].children = std::move(ch);
    return any_;
  }

  int32_t value(const ojson& s, const std::string& path, int depth) {
    const std::string where = path.empty() ? "/" : path;
    if (depth > 32) throw UnsupportedError("json schema: nested deeper than 32 levels at " + where);
    if (s.is_boolean()) {
      if (s.get<bool>()) return any();
      throw UnsupportedError("json schema: the schema 'false' (no value allowed) at " + where);
    }
    if (!s.is_object()) throw ArgumentError("json schema: a schema must be an object or a boolean at " + where);
    for (const auto& [k, v] : s.items()) {
      if (kAnnotations.count(k) || kKeywords.count(k)) continue;
      throw UnsupportedError("json schema: unsupported keyword '" + k + "' at " + where);
    }
    if (s.contains("anyOf")) {
      for (const auto& [k, v] : s.items())
        if (kKeywords.count(k) && k != "anyOf")
          throw UnsupportedError("json schema: 'anyOf' beside '" + k + "' at " + where +
                                 " (put the keywords inside each alternative)");
      const ojson& alts = s["anyOf"];
      if (!alts.is_array() || alts.empty()) throw ArgumentError("json schema: 'anyOf' must be a non-empty array at " + where);
      std::vector<int32_t> ch;
      for (size_t i = 0; i < alts.size(); ++i) ch.push_back(value(alts[i], path + "/anyOf/" + std::to_string(i), depth + 1));
      return group(GrammarKind::Alt, std::move(ch));
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const ojson& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const auto& x : t) {
          if (!x.is_string()) throw ArgumentError("json schema: 'type' lists a non-string at " + where);
          types.push_back(x.get<std::string>());
        }
      } else {
        throw ArgumentError("json schema: 'type' must be a string or a non-empty array at " + where);
      }
      for (const auto& t : types)
        if (t != "object" && t != "array" && t != "string" && t != "number" && t != "integer" && t != "boolean" &&
            t != "null")
          throw UnsupportedError("json schema: unknown type '" + t + "' at " + where);
    }
    if (s.contains("enum") || s.contains("const")) {
      std::vector<ojson> values;
      if (s.contains("const")) values.push_back(s["const"]);
      if (s.contains("enum")) {
        const ojson& e = s["enum"];
        if (!e.is_array() || e.empty()) throw ArgumentError("json schema: 'enum' must be a non-empty array at " + where);
        if (s.contains("const")) {
          std::vector<ojson> both;
          for (const auto& x : e)
            if (x == values[0]) both.push_back(x);
          values = both;
        } else {
          values.assign(e.begin(), e.end());
        }
      }
      std::vector<int32_t> ch;
      std::set<std::string> seen;
      for (const auto& v : values) {
        if (!types.empty() && !std::any_of(types.begin(), types.end(), [&](const std::string& t) { return is_type(v, t); }))
          continue;
        std::string text = v.dump();
        if (seen.insert(text).second) ch.push_back(literal(std::move(text)));
      }
      if (ch.empty()) throw ArgumentError("json schema: no 'enum'/'const' value matches 'type' at " + where);
      return group(GrammarKind::Alt, std::move(ch));
    }
    if (types.empty()) {
      if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties"))
        types.push_back("object");
      else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems"))
        types.push_back("array");
      else if (s.contains("minLength") || s.contains("maxLength"))
        types.push_back("string");
      else
        return any();
    }
    std::vector<int32_t> ch;
    for (const auto& t : types) ch.push_back(typed(s, t, path, where, depth));
    return group(GrammarKind::Alt, std::move(ch));
  }

 private:
  static bool is_type(const ojson& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == double(int64_t(v.get<double>())));
    if (t == "boolean") return v.is_boolean();
    return v.is_null();
  }
  static uint32_t count_of(const ojson& s, const char* key, const std::string& where, uint32_t dflt) {
    if (!s.contains(key)) return dflt;
    const ojson& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 100000)
      throw ArgumentError(std::string("json schema: '") + key + "' must be an integer in [0, 100000] at " + where);
    return uint32_t(v.get<int64_t>());
  }

  int32_t typed(const ojson& s, const std::string& t, const std::string& path, const std::string& where, int depth) {
    if (t == "null") return literal("null");
    if (t == "boolean") return group(GrammarKind::Alt, {literal("true"), literal("false")});
    if (t == "number" || t == "integer") {
      GrammarNode n;
      n.kind = t == "number" ? GrammarKind::Number : GrammarKind::Integer;
      return g_.add(std::move(n));
    }
    if (t == "string") {
      uint32_t lo = count_of(s, "minLength", where, 0), hi = count_of(s, "maxLength", where, UINT32_MAX);
      if (lo > hi) throw ArgumentError("json schema: minLength > maxLength at " + where);
      return string_node(lo, hi);
    }
    if (t == "array") {
      int32_t item = any();
      if (s.contains("items")) {
        if (s["items"].is_array()) throw UnsupportedError("json schema: 'items' as an array (tuple) at " + where);
        item = value(s["items"], path + "/items", depth + 1);
      }
      uint32_t lo = count_of(s, "minItems", where, 0), hi = count_of(s, "maxItems", where, UINT32_MAX);
      if (lo > hi) throw ArgumentError("json schema: minItems > maxItems at " + where);
      GrammarNode n;
      n.kind = GrammarKind::Array;
      n.item = item;
      n.min_items = lo;
      n.max_items = hi;
      return g_.add(std::move(n));
    }
    // object
    std::vector<std::string> required;
    if (s.contains("required")) {
      const ojson& r = s["required"];
      if (!r.is_array()) throw ArgumentError("json schema: 'required' must be an array at " + where);
      for (const auto& x : r) {
        if (!x.is_string()) throw ArgumentError("json schema: 'required' lists a non-string at " + where);
        required.push_back(x.get<std::string>());
      }
    }
    const ojson* extra = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    if (extra && !extra->is_boolean() && !extra->is_object())
      throw ArgumentError("json schema: 'additionalProperties' must be a boolean or a schema at " + where);
    if (!s.contains("properties") || s["properties"].empty()) {
      if (!required.empty())
        throw UnsupportedError("json schema: 'required' property '" + required[0] + "' is not in 'properties' at " + where);
      if (extra && extra->is_boolean() && !extra->get<bool>()) return literal("{}");
      int32_t v = (!extra || extra->is_boolean()) ? any() : value(*extra, path + "/additionalProperties", depth + 1);
      return free_object(v);
    }
    const ojson& props = s["properties"];
    if (!props.is_object()) throw ArgumentError("json schema: 'properties' must be an object at " + where);
    for (const auto& r : required)
      if (!props.contains(r))
        throw UnsupportedError("json schema: 'required' property '" + r + "' is not in 'properties' at " + where);
    if (props.size() > 4096) throw UnsupportedError("json schema: more than 4096 properties at " + where);
    GrammarNode n;
    n.kind = GrammarKind::Object;
    for (const auto& [k, v] : props.items()) {
      GrammarNode::Prop p;
      p.key = ojson(k).dump();
      p.value = value(v, path + "/properties/" + k, depth + 1);
      p.required = std::find(required.begin(), required.end(), k) != required.end();
      n.props.push_back(std::move(p));
    }
    return g_.add(std::move(n));
  }

  JsonGrammar& g_;
  int32_t any_ = -1;
};

}  // namespace

JsonGrammar compile_json_schema(const nlohmann::ordered_json& schema) {
  JsonGrammar g;
  Compiler c(g);
  int32_t top = c.value(schema, "", 0);
  g.finish(top);
  return g;
}

JsonGrammar compile_json_schema_text(std::string_view text) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const std::exception& e) {
    throw ArgumentError(std::string("json schema: not valid JSON: ") + e.what());
  }
  return compile_json_schema(j);
}

JsonGrammar json_object_grammar() {
  JsonGrammar g;
  Compiler c(g);
  int32_t top = c.free_object(c.any());
  g.finish(top);
  return g;
}

namespace {

// DSML (V4): after the opener `<｜DSML｜invoke name="` (+ `NAME">\n` when the prompt has it), the parameters of the
// tool's `properties` in schema order, each `<｜DSML｜parameter name="K" string="false">VALUE</｜DSML｜parameter>\n`
// with VALUE JSON matching the property's schema (strings too, as JSON strings: raw text, string="true", has no
// grammar node), optional ones may be left out, then `</｜DSML｜invoke>\n</｜DSML｜tool_calls>`. A tool without
// declared properties is called with no parameters. The parser (tool_calls.h) reads any of these back.
JsonGrammar dsml_call_grammar(ChatFormat f, const std::vector<ToolSchema>& tools, std::string_view prefix_name) {
  JsonGrammar g;
  Compiler c(g);
  std::string close(markers::kDsmlInvokeClose);
  close += "\n";
  close += markers::kDsmlToolCallsClose;
  const int32_t suffix = c.literal(close);
  auto params = [&](const ToolSchema& t) {
    const ojson& s = t.parameters;
    if (s.is_null() || !s.is_object() || !s.contains("properties") || !s["properties"].is_object() ||
        s["properties"].empty())
      return suffix;
    std::vector<std::string> required;
    if (s.contains("required") && s["required"].is_array())
      for (const auto& x : s["required"])
        if (x.is_string()) required.push_back(x.get<std::string>());
    std::vector<std::pair<int32_t, bool>> items;  // (parameter node, required)
    for (const auto& [k, v] : s["properties"].items()) {
      std::string open(markers::kDsmlParameterOpen);
      open += " name=\"" + k + "\" string=\"false\">";
      std::string end(markers::kDsmlParameterClose);
      end += "\n";
      int32_t node = c.group(GrammarKind::Seq, {c.literal(open), c.value(v, "/properties/" + k, 1), c.literal(end)});
      items.emplace_back(node, std::find(required.begin(), required.end(), k) != required.end());
    }
    // From the last item back: rest(i) = item_i rest(i+1), or just rest(i+1) when item i is optional. The tails
    // are shared, so the graph stays linear in the number of properties.
    int32_t rest = suffix;
    for (size_t i = items.size(); i-- > 0;) {
      int32_t with = c.group(GrammarKind::Seq, {items[i].first, rest});
      rest = items[i].second ? with : c.group(GrammarKind::Alt, {with, rest});
    }
    return rest;
  };
  int32_t top;
  if (!prefix_name.empty()) {
    auto it = std::find_if(tools.begin(), tools.end(), [&](const ToolSchema& t) { return t.name == prefix_name; });
    if (it == tools.end()) throw ArgumentError("tool call grammar: no tool named '" + std::string(prefix_name) + "'");
    top = params(*it);
  } else {
    const std::string bare = tool_call_prefix(f, "", false);
    std::vector<int32_t> alts;
    for (const auto& t : tools) {
      if (t.name.empty()) throw ArgumentError("tool call grammar: a tool without a name");
      const std::string full = tool_call_prefix(f, t.name, false);
      if (full.compare(0, bare.size(), bare) != 0 || full.size() <= bare.size())
        throw UnsupportedError(std::string("tool call grammar: the ") + chat_format_name(f) +
                               " call prefix with a name does not extend the one without");
      alts.push_back(c.group(GrammarKind::Seq, {c.literal(full.substr(bare.size())), params(t)}));
    }
    top = c.group(GrammarKind::Alt, std::move(alts));
  }
  g.finish(top);
  return g;
}

}  // namespace

JsonGrammar tool_call_grammar(ChatFormat f, const std::vector<ToolSchema>& tools, std::string_view prefix_name) {
  if (tools.empty()) throw ArgumentError("tool call grammar: no tools");
  if (chat_format_has_tools(f) && !chat_format_json_arguments(f)) return dsml_call_grammar(f, tools, prefix_name);
  JsonGrammar g;
  Compiler c(g);
  auto args = [&](const ToolSchema& t) {
    if (t.parameters.is_null()) return c.free_object(c.any());
    return c.value(t.parameters, "", 0);
  };
  const std::string suffix = tool_call_suffix(f);
  int32_t body;
  if (!prefix_name.empty()) {
    auto it = std::find_if(tools.begin(), tools.end(), [&](const ToolSchema& t) { return t.name == prefix_name; });
    if (it == tools.end()) throw ArgumentError("tool call grammar: no tool named '" + std::string(prefix_name) + "'");
    body = args(*it);
  } else {
    const std::string bare = tool_call_prefix(f, "", false);
    std::vector<int32_t> alts;
    for (const auto& t : tools) {
      if (t.name.empty()) throw ArgumentError("tool call grammar: a tool without a name");
      std::string full = tool_call_prefix(f, t.name, false);
      if (full.compare(0, bare.size(), bare) != 0 || full.size() <= bare.size())
        throw UnsupportedError(std::string("tool call grammar: the ") + chat_format_name(f) +
                               " call prefix with a name does not extend the one without");
      alts.push_back(c.group(GrammarKind::Seq, {c.literal(full.substr(bare.size())), args(t)}));
    }
    body = c.group(GrammarKind::Alt, std::move(alts));
  }
  int32_t top = c.group(GrammarKind::Seq, {body, c.literal(suffix)});
  g.finish(top);
  return g;
}

}  // namespace latte
