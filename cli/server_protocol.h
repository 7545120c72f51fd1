// The OpenAI-compatible wire protocol of `latte serve`, free of the runtime: request bodies are validated into
// plain structs (or a 4xx error), and responses / SSE chunks are built from plain values. Everything here is a
// pure function of its arguments (thread-safe), so a fuzzer can drive parse_*_request directly.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace latte::server {

using json = nlohmann::json;

// A client error: HTTP status (4xx) plus the OpenAI error object fields.
struct RequestError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
};

// Result of a parse: value or error.
template <class T>
struct Parsed {
  std::optional<T> value;
  RequestError error;
  bool ok() const { return value.has_value(); }
};

// What the server accepts as "model". One model is served, so by default any name is accepted (as llama.cpp's
// server does) and responses report `id`; with `any_name` false only `id` and `aliases` are (e.g. the file name
// with and without ".gguf", "default"), others get 404 model_not_found. An absent "model" is always accepted.
struct ServedModel {
  std::string id;
  std::vector<std::string> aliases{"default"};
  bool any_name = true;
  bool accepts(std::string_view name) const;
};

// Sampling and stopping options shared by both endpoints (OpenAI names; extensions: top_k, min_p,
// repeat_penalty).
struct SamplingOptions {
  int max_tokens = -1;          // -1: until end of generation or the context is full
  float temperature = 1.0f;     // OpenAI default; 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage: an extra final chunk with usage only
};

// One function call of an assistant message in the history (tool_calls[i]).
struct ToolCallIn {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text (an arguments object sent as JSON is dumped compactly)
};

struct ChatMessageIn {
  std::string role;     // "system" ("developer" is mapped to it), "user", "assistant", "tool"
  std::string content;  // text parts concatenated
  std::vector<ToolCallIn> tool_calls;  // assistant
  std::string tool_call_id;            // tool
  std::string reasoning;               // assistant: reasoning_content (a thinking model's earlier reasoning)
};

// A function tool offered by the request (tools[i].function).
struct ToolDef {
  std::string name;         // [A-Za-z0-9_-]{1,64}
  std::string description;
  json parameters;          // JSON Schema object (null = none given)
};

enum class ToolChoice { Auto, None, Required, Named };

// response_format: plain text, any JSON object, or a document matching response_format.json_schema.schema (the
// schema itself is compiled, and refused with a 400 naming an unsupported keyword, by the server).
enum class ResponseFormat { Text, JsonObject, JsonSchema };

struct ChatRequest {
  std::string model;
  std::vector<ChatMessageIn> messages;
  SamplingOptions sampling;
  std::vector<ToolDef> tools;
  ToolChoice tool_choice = ToolChoice::Auto;  // "auto" when tools are given, else no tools at all
  std::string tool_name;                      // ToolChoice::Named: which tool (one of `tools`)
  ResponseFormat response_format = ResponseFormat::Text;
  json response_schema;                       // JsonSchema: response_format.json_schema.schema
  // Thinking (DeepSeek-V4's modes): "" = the server's default, "on", "off", "max". From
  // chat_template_kwargs.thinking / .enable_thinking (booleans, as vLLM / llama.cpp take them), DeepSeek's
  // thinking {"type": "enabled" | "disabled"}, and reasoning_effort ("none" = off, "max" = max, "minimal" / "low" /
  // "medium" / "high" = on; also accepted inside chat_template_kwargs). An explicit off wins over an effort.
  std::string thinking;
};

struct CompletionRequest {
  std::string model;
  std::string prompt;             // text prompt, or
  std::vector<int32_t> prompt_ids;  // a prompt given as token ids (used when non-empty)
  SamplingOptions sampling;
};

// Body text -> JSON object (400 on invalid JSON or a non-object).
Parsed<json> parse_json_body(std::string_view body);
// Validates a /v1/chat/completions or /v1/completions body. Unknown model -> 404 model_not_found; wrong types,
// out-of-range values, unsupported features (n > 1, non-function tools) -> 400 naming the param.
Parsed<ChatRequest> parse_chat_request(const json& body, const ServedModel& served);
Parsed<CompletionRequest> parse_completion_request(const json& body, const ServedModel& served);

// {"error":{"message":...,"type":...,"param":...,"code":...}}
json error_body(const RequestError& e);

// Why generation ended, in OpenAI terms.
enum class Finish { Stop, Length, ToolCalls };
const char* finish_name(Finish f);  // "stop" / "length" / "tool_calls"

struct Usage {
  int prompt_tokens = 0, completion_tokens = 0;
  json to_json() const;  // with total_tokens
};

// Identity of one response, shared by all its chunks.
struct ResponseMeta {
  std::string id;       // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
};

std::string new_response_id(std::string_view prefix);  // prefix + 24 random hex digits (thread-safe)

// A call in a response (message.tool_calls[i]).
struct ToolCallOut {
  std::string id;  // "call_..."
  std::string name;
  std::string arguments;  // JSON text
};

// content is null in the message when it is empty and there are tool calls (as OpenAI sends it).
json chat_completion(const ResponseMeta& m, const std::string& content, const std::string& reasoning, Finish f,
                     const Usage& u, const std::vector<ToolCallOut>& tool_calls = {});
// One streamed chat chunk. Exactly one of role / content / reasoning / finish is meant to be set per chunk.
json chat_chunk(const ResponseMeta& m, const std::optional<std::string>& role,
                const std::optional<std::string>& content, const std::optional<std::string>& reasoning,
                std::optional<Finish> finish, const std::optional<Usage>& usage);
// A streamed tool-call delta: the first chunk of call `index` carries id, type and name with arguments "", later
// ones (id empty) only an arguments fragment (OpenAI's delta.tool_calls shape).
json tool_call_chunk(const ResponseMeta& m, int index, const std::string& id, const std::string& name,
                     const std::string& arguments);
json text_completion(const ResponseMeta& m, const std::string& text, Finish f, const Usage& u);
json text_chunk(const ResponseMeta& m, const std::string& text, std::optional<Finish> finish,
                const std::optional<Usage>& usage);
// A final chunk with no choices and the usage (stream_options.include_usage).
json usage_chunk(const ResponseMeta& m, const char* object, const Usage& u);
json models_list(const ServedModel& served, int64_t created);

// "data: <json>\n\n" (invalid UTF-8 replaced, never throws on text) and "data: [DONE]\n\n".
std::string sse_event(const json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace latte::server
