// DSML, the tool-call markup of DeepSeek-V4 (block "tool_calls") and V3.2 (block "function_calls"), DEEPSEEK_V4.md
// §10:
//   <｜DSML｜tool_calls>\n
//   <｜DSML｜invoke name="NAME">\n
//   <｜DSML｜parameter name="P" string="true">RAW TEXT</｜DSML｜parameter>\n
//   <｜DSML｜parameter name="Q" string="false">JSON VALUE</｜DSML｜parameter>\n
//   </｜DSML｜invoke>\n
//   </｜DSML｜tool_calls>
// Calls are separated by "\n", parameters by "\n". OpenAI's arguments are one JSON object: each top-level member is
// one parameter, a string member as raw text (string="true"), any other value as JSON (string="false").
// Thread-safety: pure functions.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/text/literal_text.h"

namespace latte {

struct ToolCall;
struct ToolSpec;

// JSON text as Python's json.dumps(v, ensure_ascii=False) writes it (separators ", " and ": "; non-ASCII kept;
// control characters as \uXXXX except \b \f \n \r \t), which is how the official V4 encoder puts schemas and
// non-string parameter values into the prompt.
std::string python_json(const nlohmann::ordered_json& v);

// Appends one call as <｜DSML｜invoke ...>...</｜DSML｜invoke> (no surrounding newlines). Arguments that are not a
// JSON object are rendered as one string parameter "arguments" holding the text (as the official encoder does for
// arguments that do not parse). `literal` (optional) receives the ranges of the name, parameter names and values.
void append_dsml_invoke(std::string& out, const ToolCall& call, std::vector<TextRange>* literal);

// The whole block of `calls`: <｜DSML｜tool_calls>\n INVOKE (\n INVOKE)* \n</｜DSML｜tool_calls>.
void append_dsml_block(std::string& out, const std::vector<ToolCall>& calls, std::vector<TextRange>* literal);

// One tool's schema line of the V4 tools block: {"name": ..., "description": ..., "parameters": ...} in
// python_json form (description / parameters left out when empty).
std::string dsml_tool_schema(const ToolSpec& tool);

// Parses one invoke's text between "<｜DSML｜invoke" and "</｜DSML｜invoke>" (` name="N">\n` then parameters).
// Lenient about ASCII whitespace between tags and a missing string="..." attribute (then the value is JSON if it
// parses, else text). On success sets `name` and `arguments` (a compact JSON object, members in markup order).
// False when malformed: no name, a tag that is not a parameter, an unterminated parameter, a duplicate parameter,
// string="false" with a value that is not JSON.
bool parse_dsml_invoke(std::string_view body, std::string& name, std::string& arguments);

}  // namespace latte
