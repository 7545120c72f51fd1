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
  if (name == id) return true;
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
      if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
        reject(param + ".role", "'" + param + ".role' must be 'system', 'developer', 'user' or 'assistant' (got '" +
                                    msg.role + "')");
      auto c = m.find("content");
      if (c == m.end()) reject(param + ".content", "'" + param + ".content' is required");
      msg.content = message_content(*c, i);
      if (m.contains("tool_calls") && !m["tool_calls"].is_null())
        reject(param + ".tool_calls", "tool calls are not supported");
      r.messages.push_back(std::move(msg));
    }
    if (const json* t = field(body, "tools"))
      if (!t->is_array() || !t->empty()) reject("tools", "tools are not supported");
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

const char* finish_name(Finish f) { return f == Finish::Length ? "length" : "stop"; }

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
                     const Usage& u) {
  json msg = {{"role", "assistant"}, {"content", content}};
  if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
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
