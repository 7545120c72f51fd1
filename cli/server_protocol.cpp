// OpenAI-compatible request validation and response building (see server_protocol.h). No runtime calls here.
#include "cli/server_protocol.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>

namespace latte::server {

namespace {

RequestError bad(std::string param, std::string message, std::string code = "") {
  RequestError e;
  e.status = 400;
  e.param = std::move(param);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

// Thrown inside this file only, caught by the parse_* entry points.
struct Reject {
  RequestError e;
};

[[noreturn]] void reject(std::string param, std::string message) { throw Reject{bad(std::move(param), std::move(message))}; }

const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

double number(const json& v, const char* key, double lo, double hi) {
  if (!v.is_number()) reject(key, std::string("'") + key + "' must be a number");
  double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    reject(key, std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
  return x;
}

int64_t integer(const json& v, const char* key, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    x = u > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(u);
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());
  } else {
    reject(key, std::string("'") + key + "' must be an integer");
  }
  if (x < lo || x > hi)
    reject(key, std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                    " (got " + std::to_string(x) + ")");
  return x;
}

bool boolean(const json& v, const char* key) {
  if (!v.is_boolean()) reject(key, std::string("'") + key + "' must be a boolean");
  return v.get<bool>();
}

std::string string_of(const json& v, const char* key) {
  if (!v.is_string()) reject(key, std::string("'") + key + "' must be a string");
  return v.get<std::string>();
}

void check_model(const json& body, const ServedModel& served, std::string& out) {
  const json* m = field(body, "model");
  if (!m) {
    out = served.id;
    return;
  }
  std::string name = string_of(*m, "model");
  if (!served.accepts(name)) {
    RequestError e;
    e.status = 404;
    e.param = "model";
    e.code = "model_not_found";
    e.message = "The model '" + name + "' does not exist; this server serves '" + served.id + "'";
    throw Reject{e};
  }
  out = served.id;
}

SamplingOptions parse_sampling(const json& body) {
  SamplingOptions s;
  // max_completion_tokens is the newer name; max_tokens the older one. Either, not both with different values.
  const json* mt = field(body, "max_completion_tokens");
  const char* mt_key = "max_completion_tokens";
  if (!mt) {
    mt = field(body, "max_tokens");
    mt_key = "max_tokens";
  }
  if (mt) s.max_tokens = int(integer(*mt, mt_key, 1, 1 << 30));
  if (const json* v = field(body, "temperature")) s.temperature = float(number(*v, "temperature", 0.0, 2.0));
  if (const json* v = field(body, "top_p")) s.top_p = float(number(*v, "top_p", 0.0, 1.0));
  if (s.top_p <= 0.0f) reject("top_p", "'top_p' must be greater than 0");
  if (const json* v = field(body, "top_k")) s.top_k = int(integer(*v, "top_k", 0, 1 << 30));
  if (const json* v = field(body, "min_p")) s.min_p = float(number(*v, "min_p", 0.0, 1.0));
  if (const json* v = field(body, "repeat_penalty")) s.repeat_penalty = float(number(*v, "repeat_penalty", 0.0, 10.0));
  if (const json* v = field(body, "seed")) {
    if (v->is_number_unsigned())
      s.seed = v->get<uint64_t>();
    else
      s.seed = uint64_t(integer(*v, "seed", INT64_MIN, INT64_MAX));
  }
  if (const json* v = field(body, "stop")) {
    if (v->is_string()) {
      s.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 16) reject("stop", "'stop' holds at most 16 strings");
      for (const auto& x : *v) {
        if (!x.is_string()) reject("stop", "'stop' must be a string or an array of strings");
        s.stop.push_back(x.get<std::string>());
      }
    } else {
      reject("stop", "'stop' must be a string or an array of strings");
    }
    for (const auto& x : s.stop)
      if (x.empty()) reject("stop", "'stop' strings must not be empty");
  }
  if (const json* v = field(body, "stream")) s.stream = boolean(*v, "stream");
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) reject("stream_options", "'stream_options' must be an object");
    if (const json* u = field(*v, "include_usage")) s.include_usage = boolean(*u, "stream_options.include_usage");
  }
  if (const json* v = field(body, "n"))
    if (integer(*v, "n", 1, 1 << 30) != 1) reject("n", "only n = 1 is supported");
  if (const json* v = field(body, "presence_penalty")) number(*v, "presence_penalty", -2.0, 2.0);
  if (const json* v = field(body, "frequency_penalty")) number(*v, "frequency_penalty", -2.0, 2.0);
  return s;
}

// "content": a string, null, or an array of {"type":"text","text":...} parts (concatenated).
std::string message_content(const json& c, size_t i) {
  std::string param = "messages[" + std::to_string(i) + "].content";
  if (c.is_null()) return "";
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw Reject{bad(param, "'" + param + "' must be a string or an array of text parts")};
  std::string out;
  for (const auto& part : c) {
    if (!part.is_object()) throw Reject{bad(param, "'" + param + "' parts must be objects")};
    auto t = part.find("type");
    if (t == part.end() || !t->is_string() || t->get<std::string>() != "text")
      throw Reject{bad(param, "'" + param + "': only parts of type 'text' are supported")};
    auto x = part.find("text");
    if (x == part.end() || !x->is_string()) throw Reject{bad(param, "'" + param + "': a text part needs 'text'")};
    out += x->get<std::string>();
  }
  return out;
}

bool valid_tool_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

// An assistant message's tool_calls: [{"id", "type": "function", "function": {"name", "arguments"}}].
std::vector<ToolCallIn> parse_history_calls(const json& v, const std::string& param) {
  if (!v.is_array()) reject(param, "'" + param + "' must be an array");
  std::vector<ToolCallIn> out;
  for (size_t k = 0; k < v.size(); ++k) {
    const json& c = v[k];
    std::string p = param + "[" + std::to_string(k) + "]";
    if (!c.is_object()) reject(p, "'" + p + "' must be an object");
    ToolCallIn call;
    if (const json* id = field(c, "id")) call.id = string_of(*id, "id");
    if (const json* t = field(c, "type"))
      if (!t->is_string() || t->get<std::string>() != "function") reject(p + ".type", "'" + p + ".type' must be 'function'");
    const json* f = field(c, "function");
    if (!f || !f->is_object()) reject(p + ".function", "'" + p + ".function' must be an object");
    const json* name = field(*f, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty())
      reject(p + ".function.name", "'" + p + ".function.name' must be a non-empty string");
    call.name = name->get<std::string>();
    const json* a = field(*f, "arguments");
    if (!a) {
      call.arguments = "{}";
    } else if (a->is_string()) {
      call.arguments = a->get<std::string>();
    } else if (a->is_object()) {
      call.arguments = a->dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
      reject(p + ".function.arguments", "'" + p + ".function.arguments' must be a JSON string");
    }
    out.push_back(std::move(call));
  }
  return out;
}

// "tools": [{"type": "function", "function": {"name", "description", "parameters"}}] and "tool_choice".
void parse_tools(const json& body, ChatRequest& r) {
  if (const json* t = field(body, "tools")) {
    if (!t->is_array()) reject("tools", "'tools' must be an array");
    for (size_t k = 0; k < t->size(); ++k) {
      const json& x = (*t)[k];
      std::string p = "tools[" + std::to_string(k) + "]";
      if (!x.is_object()) reject(p, "'" + p + "' must be an object");
      const json* type = field(x, "type");
      if (!type || !type->is_string() || type->get<std::string>() != "function")
        reject(p + ".type", "'" + p + ".type' must be 'function' (no other tool types are supported)");
      const json* f = field(x, "function");
      if (!f || !f->is_object()) reject(p + ".function", "'" + p + ".function' must be an object");
      ToolDef d;
      const json* name = field(*f, "name");
      if (!name || !name->is_string() || !valid_tool_name(name->get<std::string>()))
        reject(p + ".function.name", "'" + p + ".function.name' must be 1 to 64 letters, digits, '_' or '-'");
      d.name = name->get<std::string>();
      for (const auto& other : r.tools)
        if (other.name == d.name) reject(p + ".function.name", "tool '" + d.name + "' is defined twice");
      if (const json* desc = field(*f, "description")) d.description = string_of(*desc, "description");
      if (const json* params = field(*f, "parameters")) {
        if (!params->is_object())
          reject(p + ".function.parameters", "'" + p + ".function.parameters' must be a JSON Schema object");
        d.parameters = *params;
      }
      r.tools.push_back(std::move(d));
    }
  }
  if (const json* par = field(body, "parallel_tool_calls")) boolean(*par, "parallel_tool_calls");
  const json* choice = field(body, "tool_choice");
  if (!choice) return;
  if (choice->is_string()) {
    std::string c = choice->get<std::string>();
    if (c == "auto") r.tool_choice = ToolChoice::Auto;
    else if (c == "none") r.tool_choice = ToolChoice::None;
    else if (c == "required") r.tool_choice = ToolChoice::Required;
    else reject("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", ...}");
  } else if (choice->is_object()) {
    const json* type = field(*choice, "type");
    const json* f = field(*choice, "function");
    const json* name = f && f->is_object() ? field(*f, "name") : nullptr;
    if (!type || !type->is_string() || type->get<std::string>() != "function" || !name || !name->is_string())
      reject("tool_choice", "'tool_choice' object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    r.tool_choice = ToolChoice::Named;
    r.tool_name = name->get<std::string>();
    bool known = false;
    for (const auto& t : r.tools) known = known || t.name == r.tool_name;
    if (!known) reject("tool_choice", "'tool_choice' names '" + r.tool_name + "', which is not in 'tools'");
  } else {
    reject("tool_choice", "'tool_choice' must be a string or an object");
  }
  if (r.tools.empty() && (r.tool_choice == ToolChoice::Required))
    reject("tool_choice", "'tool_choice' is 'required' but no 'tools' are given");
}

template <class T, class F>
Parsed<T> run_parse(F&& f) {
  Parsed<T> p;
  try {
    p.value = f();
  } catch (const Reject& r) {
    p.error = r.e;
  } catch (const std::exception& e) {  // json type errors etc. should not happen, but never escape
    p.error = bad("", std::string("invalid request: ") + e.what());
  }
  return p;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool ServedModel::accepts(std::string_view name) const {
  if (any_name || name == id) return true;
  for (const auto& a : aliases)
    if (name == a) return true;
  return false;
}

Parsed<json> parse_json_body(std::string_view body) {
  Parsed<json> p;
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    p.error = bad("", "the request body is not valid JSON");
    return p;
  }
  if (!j.is_object()) {
    p.error = bad("", "the request body must be a JSON object");
    return p;
  }
  p.value = std::move(j);
  return p;
}

namespace {

// "response_format": {"type": "text"} | {"type": "json_object"} |
// {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": ...}}.
void parse_response_format(const json& body, ChatRequest& r) {
  const json* rf = field(body, "response_format");
  if (!rf) return;
  if (!rf->is_object()) reject("response_format", "'response_format' must be an object");
  const json* t = field(*rf, "type");
  const std::string ty = t && t->is_string() ? t->get<std::string>() : "";
  if (ty == "text") {
    r.response_format = ResponseFormat::Text;
  } else if (ty == "json_object") {
    r.response_format = ResponseFormat::JsonObject;
  } else if (ty == "json_schema") {
    const json* js = field(*rf, "json_schema");
    if (!js || !js->is_object())
      reject("response_format.json_schema", "'response_format.json_schema' must be an object with a 'schema'");
    const json* sc = field(*js, "schema");
    if (!sc || !(sc->is_object() || sc->is_boolean()))
      reject("response_format.json_schema.schema", "'response_format.json_schema.schema' must be a JSON Schema object");
    r.response_format = ResponseFormat::JsonSchema;
    r.response_schema = *sc;
  } else {
    reject("response_format.type", "'response_format.type' must be 'text', 'json_object' or 'json_schema'");
  }
}

// Thinking options (see ChatRequest::thinking).
void parse_thinking(const json& body, ChatRequest& r) {
  int enabled = -1;  // -1 unknown, 0 off, 1 on
  std::string effort;
  auto take_effort = [&](const json& v, const char* key) {
    std::string e = string_of(v, key);
    if (e != "none" && e != "minimal" && e != "low" && e != "medium" && e != "high" && e != "max")
      reject(key, std::string("'") + key + "' must be 'none', 'minimal', 'low', 'medium', 'high' or 'max'");
    effort = e;
  };
  if (const json* k = field(body, "chat_template_kwargs")) {
    if (!k->is_object()) reject("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const char* key : {"thinking", "enable_thinking"})
      if (const json* v = field(*k, key)) enabled = boolean(*v, (std::string("chat_template_kwargs.") + key).c_str());
    if (const json* v = field(*k, "reasoning_effort")) take_effort(*v, "chat_template_kwargs.reasoning_effort");
  }
  if (const json* t = field(body, "thinking")) {
    const json* type = t->is_object() ? field(*t, "type") : nullptr;
    if (!type || !type->is_string() || (*type != "enabled" && *type != "disabled"))
      reject("thinking", "'thinking' must be {\"type\": \"enabled\"} or {\"type\": \"disabled\"}");
    enabled = *type == "enabled";
  }
  if (const json* v = field(body, "reasoning_effort")) take_effort(*v, "reasoning_effort");
  if (enabled == 0 || effort == "none") r.thinking = "off";
  else if (effort == "max") r.thinking = "max";
  else if (enabled == 1 || !effort.empty()) r.thinking = "on";
}

}  // namespace

Parsed<ChatRequest> parse_chat_request(const json& body, const ServedModel& served) {
  return run_parse<ChatRequest>([&] {
    if (!body.is_object()) reject("", "the request body must be a JSON object");
    ChatRequest r;
    check_model(body, served, r.model);
    const json* msgs = field(body, "messages");
    if (!msgs) reject("messages", "'messages' is required");
    if (!msgs->is_array() || msgs->empty()) reject("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      std::string param = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) reject(param, "'" + param + "' must be an object");
      auto role = m.find("role");
      if (role == m.end() || !role->is_string()) reject(param + ".role", "'" + param + ".role' must be a string");
      ChatMessageIn msg;
      msg.role = role->get<std::string>();
      if (msg.role == "developer") msg.role = "system";
      if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool")
        reject(param + ".role", "'" + param + ".role' must be 'system', 'developer', 'user', 'assistant' or 'tool' "
                                "(got '" + msg.role + "')");
      auto c = m.find("content");
      const json* calls = field(m, "tool_calls");
      if (c == m.end() && !(msg.role == "assistant" && calls))
        reject(param + ".content", "'" + param + ".content' is required");
      if (c != m.end()) msg.content = message_content(*c, i);
      if (calls) {
        if (msg.role != "assistant") reject(param + ".tool_calls", "only assistant messages carry tool_calls");
        msg.tool_calls = parse_history_calls(*calls, param + ".tool_calls");
      }
      if (msg.role == "tool") {
        if (const json* id = field(m, "tool_call_id")) msg.tool_call_id = string_of(*id, "tool_call_id");
      }
      if (msg.role == "assistant")
        if (const json* rc = field(m, "reasoning_content"))
          msg.reasoning = string_of(*rc, (param + ".reasoning_content").c_str());
      r.messages.push_back(std::move(msg));
    }
    parse_tools(body, r);
    parse_response_format(body, r);
    parse_thinking(body, r);
    r.sampling = parse_sampling(body);
    return r;
  });
}

Parsed<CompletionRequest> parse_completion_request(const json& body, const ServedModel& served) {
  return run_parse<CompletionRequest>([&] {
    if (!body.is_object()) reject("", "the request body must be a JSON object");
    CompletionRequest r;
    check_model(body, served, r.model);
    const json* p = field(body, "prompt");
    if (!p) reject("prompt", "'prompt' is required");
    if (p->is_string()) {
      r.prompt = p->get<std::string>();
    } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      r.prompt = (*p)[0].get<std::string>();
    } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
      for (const auto& x : *p) r.prompt_ids.push_back(int32_t(integer(x, "prompt", 0, INT32_MAX)));
    } else {
      reject("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
    }
    if (const json* e = field(body, "echo"))
      if (boolean(*e, "echo")) reject("echo", "echo is not supported");
    if (const json* s = field(body, "suffix"))
      if (!s->is_string() || !s->get<std::string>().empty()) reject("suffix", "suffix is not supported");
    r.sampling = parse_sampling(body);
    return r;
  });
}

json error_body(const RequestError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return json{{"error", err}};
}

const char* finish_name(Finish f) {
  switch (f) {
    case Finish::Length: return "length";
    case Finish::ToolCalls: return "tool_calls";
    case Finish::Stop: break;
  }
  return "stop";
}

json Usage::to_json() const {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

std::string new_response_id(std::string_view prefix) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (uint64_t(now_seconds()) << 20) ^ counter.fetch_add(1)};
  static const char* hex = "0123456789abcdef";
  std::string id(prefix);
  uint64_t a = rng(), b = rng() ^ counter.fetch_add(1);
  for (int i = 0; i < 16; ++i) id += hex[(a >> (4 * i)) & 15];
  for (int i = 0; i < 8; ++i) id += hex[(b >> (4 * i)) & 15];
  return id;
}

json chat_completion(const ResponseMeta& m, const std::string& content, const std::string& reasoning, Finish f,
                     const Usage& u, const std::vector<ToolCallOut>& tool_calls) {
  json msg = {{"role", "assistant"}, {"content", content}};
  if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
  if (!tool_calls.empty()) {
    if (content.empty()) msg["content"] = nullptr;
    json calls = json::array();
    for (const auto& c : tool_calls)
      calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    msg["tool_calls"] = std::move(calls);
  }
  return {{"id", m.id},
          {"object", "chat.completion"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array({{{"index", 0}, {"message", msg}, {"logprobs", nullptr},
                                    {"finish_reason", finish_name(f)}}})},
          {"usage", u.to_json()}};
}

json chat_chunk(const ResponseMeta& m, const std::optional<std::string>& role, const std::optional<std::string>& content,
                const std::optional<std::string>& reasoning, std::optional<Finish> finish,
                const std::optional<Usage>& usage) {
  json delta = json::object();
  if (role) delta["role"] = *role;
  if (content) delta["content"] = *content;
  if (reasoning) delta["reasoning_content"] = *reasoning;
  json choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (finish) choice["finish_reason"] = finish_name(*finish);
  json j = {{"id", m.id},
            {"object", "chat.completion.chunk"},
            {"created", m.created},
            {"model", m.model},
            {"choices", json::array({choice})}};
  if (usage) j["usage"] = usage->to_json();
  return j;
}

json tool_call_chunk(const ResponseMeta& m, int index, const std::string& id, const std::string& name,
                     const std::string& arguments) {
  json call = {{"index", index}};
  if (!id.empty()) {
    call["id"] = id;
    call["type"] = "function";
    call["function"] = {{"name", name}, {"arguments", arguments}};
  } else {
    call["function"] = {{"arguments", arguments}};
  }
  json delta = {{"tool_calls", json::array({call})}};
  json choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  return {{"id", m.id},
          {"object", "chat.completion.chunk"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array({choice})}};
}

json text_completion(const ResponseMeta& m, const std::string& text, Finish f, const Usage& u) {
  return {{"id", m.id},
          {"object", "text_completion"},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array({{{"index", 0}, {"text", text}, {"logprobs", nullptr},
                                    {"finish_reason", finish_name(f)}}})},
          {"usage", u.to_json()}};
}

json text_chunk(const ResponseMeta& m, const std::string& text, std::optional<Finish> finish,
                const std::optional<Usage>& usage) {
  json choice = {{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (finish) choice["finish_reason"] = finish_name(*finish);
  json j = {{"id", m.id},
            {"object", "text_completion"},
            {"created", m.created},
            {"model", m.model},
            {"choices", json::array({choice})}};
  if (usage) j["usage"] = usage->to_json();
  return j;
}

json usage_chunk(const ResponseMeta& m, const char* object, const Usage& u) {
  return {{"id", m.id},
          {"object", object},
          {"created", m.created},
          {"model", m.model},
          {"choices", json::array()},
          {"usage", u.to_json()}};
}

json models_list(const ServedModel& served, int64_t created) {
  return {{"object", "list"},
          {"data", json::array({{{"id", served.id}, {"object", "model"}, {"created", created},
                                 {"owned_by", "latte"}}})}};
}

std::string sse_event(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace latte::server
