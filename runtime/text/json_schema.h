// JSON Schema -> JsonGrammar (json_grammar.h): the subset that function calling uses.
// Supported: type (a name or a list of names: object, array, string, number, integer, boolean, null), properties,
// required, additionalProperties (false / true / a schema), items (one schema), minItems, maxItems, minLength,
// maxLength, enum, const, anyOf; annotations (title, description, default, examples, $schema, $id, $comment,
// deprecated, readOnly, writeOnly) are ignored. Any other keyword -> UnsupportedError naming it and its place
// ("json schema: unsupported keyword 'pattern' at /properties/zip").
// What the grammar lets the model write:
//   - an object with `properties` has exactly the declared properties, in the declared order; optional ones may be
//     left out, required ones never; no other keys (also when additionalProperties allows them: the output is
//     still valid, it just never uses the freedom). An object without `properties` has any string keys, each value
//     matching additionalProperties (any JSON value when it is absent or true; additionalProperties false = `{}`).
//   - enum / const values are written as their compact JSON text (nlohmann's dump: `{"a":1}`, `"x"`, `1.5`), and
//     only the values matching `type` (when given) are offered.
//   - a schema without `type` is inferred from its keywords (properties -> object, items -> array, minLength ->
//     string), else any JSON value.
// Thread-safety: pure functions.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/text/chat_format.h"
#include "runtime/text/json_grammar.h"

namespace latte {

// A schema document as JSON (parse with nlohmann::ordered_json so that property order is kept).
JsonGrammar compile_json_schema(const nlohmann::ordered_json& schema);
// The same from text; ArgumentError when the text is not JSON.
JsonGrammar compile_json_schema_text(std::string_view schema_json);
// Any JSON object (response_format {"type": "json_object"}).
JsonGrammar json_object_grammar();

// A tool the model may call: its name and its `parameters` schema (null = any JSON object).
struct ToolSchema {
  std::string name;
  nlohmann::ordered_json parameters;
};
// The text of a forced tool call that follows tool_call_prefix(f, prefix_name, ...) in the prompt: when prefix_name
// is empty, one of the tools' names (with the opening of the arguments that tool_call_prefix would have written
// after it), then arguments matching that tool's schema, then tool_call_suffix(f). When prefix_name is given (the
// prompt already holds the name), only that tool's arguments and the suffix. The markup comes from the chat
// format's own functions (chat_format.h), so any format whose call prefix with a name extends the one without works.
// V4 (DSML parameters instead of one JSON object): each declared property as a parameter with string="false" and a
// JSON value matching its schema, in schema order, optional ones may be left out; a tool without declared
// properties is called with none.
// ArgumentError: no tools, an unknown prefix_name, a format without tool syntax; UnsupportedError: a schema keyword.
JsonGrammar tool_call_grammar(ChatFormat f, const std::vector<ToolSchema>& tools, std::string_view prefix_name);

}  // namespace latte
