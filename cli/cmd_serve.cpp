// `latte serve`: an OpenAI-compatible local HTTP server (cpp-httplib + nlohmann-json).
// Endpoints: POST /v1/chat/completions (SSE stream or not; tools), POST /v1/completions, GET /v1/models,
// GET /health, GET / (the chat page, server_page.h), POST /apply-template (a chat request's rendered prompt, as
// llama.cpp's server has it: {"prompt": TEXT}; nothing is generated).
// Thinking (DeepSeek-V4): --think sets the default mode, a request's chat_template_kwargs / thinking /
// reasoning_effort override it (server_protocol.h); the reasoning comes back as reasoning_content.
// Tool calls: tools are described in the prompt and the model's own tool-call markup is parsed back into
// OpenAI tool_calls (runtime/text/tool_calls.h); tool_choice "required" / a named function appends the call
// opener to the prompt (the model then writes the name / the arguments).
// Built on the public C API (include/latte.h): one latte_model shared by --parallel sessions; a request waits for
// a free session and gets the one whose cache shares the longest prefix with its prompt (server_pool.h).
// Request validation and response shapes live in server_protocol.{h,cpp} (runtime-free, fuzzable).
// Threads: cpp-httplib's worker pool runs handlers; each generation runs on the worker of its connection and
// uses its session's OpenMP team. A streamed client that disconnects makes sink.write fail -> generation stops.
// SIGINT/SIGTERM (SignalWatcher): stop listening, let requests in flight finish, exit 0; a second one cuts them short.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "cli/command.h"
#include "cli/mem_option.h"
#include "cli/server_page.h"
#include "cli/server_pool.h"
#include "cli/server_protocol.h"
#include "latte.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"
#include "runtime/text/chat_format.h"
#include "runtime/text/json_schema.h"
#include "runtime/text/tool_calls.h"

namespace latte::cli {
namespace {

using server::json;

// ---- C API helpers ----

[[noreturn]] void throw_status(latte_status s) {
  std::string msg = latte_last_error();
  switch (s) {
    case LATTE_ERR_FORMAT: throw FormatError(msg);
    case LATTE_ERR_UNSUPPORTED: throw UnsupportedError(msg);
    case LATTE_ERR_RESOURCE: throw ResourceError(msg);
    case LATTE_ERR_ARGUMENT: throw ArgumentError(msg);
    case LATTE_ERR_IO: throw IoError(msg);
    case LATTE_ERR_CANCELLED: throw CancelledError(msg);
    default: throw Error(ErrorKind::Resource, msg);
  }
}
void check(latte_status s) {
  if (s != LATTE_OK) throw_status(s);
}

struct ModelDeleter {
  void operator()(latte_model* m) const { latte_model_free(m); }
};
struct SessionDeleter {
  void operator()(latte_session* s) const { latte_session_free(s); }
};
using ModelPtr = std::unique_ptr<latte_model, ModelDeleter>;
using SessionPtr = std::unique_ptr<latte_session, SessionDeleter>;

// A status from the C API -> the HTTP error to send (client errors stay 4xx).
server::RequestError error_from_status(latte_status s, const std::string& msg) {
  server::RequestError e;
  e.message = msg;
  if (s == LATTE_ERR_ARGUMENT || s == LATTE_ERR_UNSUPPORTED) {
    e.status = 400;
  } else {
    e.status = 500;
    e.type = "server_error";
  }
  return e;
}

struct ServeOptions {
  CommonModelOptions model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 2;
  int ctx = 4096;
  CLI::Option* ctx_opt = nullptr;  // given on the command line?
  std::string alias;  // served model id (default: the file name without ".gguf")
  bool strict_model = false;  // reject a request "model" that is not the id, the file name or "default"
  std::string chat_format;  // "" = the model's (deepseek4: DeepSeek-V4; else from its template, DeepSeek-V3 without)
  std::string think = "on";  // DeepSeek-V4 thinking mode of requests that do not choose one: on, off, max
  int http_threads = 0;
  std::string mem;  // --mem (mem_option.h)
};

// What one accepted request asks the generator for.
struct Job {
  bool chat = false;
  std::vector<int32_t> prompt;
  server::SamplingOptions sampling;
  server::ResponseMeta meta;
  // Tool calls (chat only): parse the model's tool-call markup in the content.
  bool tools = false;
  ChatFormat format = ChatFormat::DeepSeekV3;
  std::vector<std::string> tool_names;
  std::string forced;  // tool-call opener appended to the prompt (tool_choice required / named); "" = none
  // Structured output (set on the session for this generation only): a forced tool call's markup + arguments
  // matching the tool's parameters, a response_format schema, or any JSON object.
  enum class Constraint { None, JsonObject, JsonSchema, ToolCall } constraint = Constraint::None;
  std::string schema;      // JsonSchema: the schema text (property order as the client wrote it)
  std::string tools_json;  // ToolCall: [{"name", "parameters"}...]
  std::string call_name;   // ToolCall: the name already in the forced opener ("" = the model writes one)
};

// Accumulates or streams one generation; the piece callback's user data.
struct Sink {
  const Job* job = nullptr;
  std::function<bool(const std::string&)> write;  // streaming: false when the client is gone
  std::string content, reasoning;
  std::unique_ptr<ToolCallParser> parser;  // job->tools
  std::vector<server::ToolCallOut> calls;
  bool client_gone = false;
  const std::atomic<bool>* cancel = nullptr;  // the server's "cut generations short" flag

  void send(const json& chunk) {
    if (write && !client_gone && !write(server::sse_event(chunk))) client_gone = true;
  }
  void content_piece(const std::string& piece) {
    content += piece;
    if (write)
      send(job->chat ? server::chat_chunk(job->meta, std::nullopt, piece, std::nullopt, std::nullopt, std::nullopt)
                     : server::text_chunk(job->meta, piece, std::nullopt, std::nullopt));
  }
  // Content through the tool-call parser: text as content deltas, each completed call as its id + name delta
  // followed by its argument fragments (OpenAI's delta.tool_calls stream).
  void segments(const ToolCallParser::Output& out) {
    for (const auto& seg : out) {
      if (!seg.is_call) {
        content_piece(seg.content);
        continue;
      }
      server::ToolCallOut c{server::new_response_id("call_"), seg.call.name, seg.call.arguments};
      int index = int(calls.size());
      calls.push_back(c);
      if (!write) continue;
      send(server::tool_call_chunk(job->meta, index, c.id, c.name, ""));
      for (const auto& frag : seg.call.argument_fragments) send(server::tool_call_chunk(job->meta, index, "", "", frag));
    }
  }
  // End of generation: close a forced call whose arguments ended at an end-of-generation, release held text.
  void finish(bool eog) {
    if (!parser) return;
    if (eog && !job->forced.empty() && parser->in_call()) segments(parser->push(tool_call_suffix(job->format)));
    segments(parser->flush());
  }
};

bool on_piece(const char* text, size_t len, latte_piece_kind kind, void* ud) {
  auto* s = static_cast<Sink*>(ud);
  std::string piece(text, len);
  if (kind == LATTE_PIECE_REASONING) {
    s->reasoning += piece;
    if (s->write) s->send(server::chat_chunk(s->job->meta, std::nullopt, std::nullopt, piece, std::nullopt, std::nullopt));
  } else if (s->parser) {
    s->segments(s->parser->push(piece));
  } else {
    s->content_piece(piece);
  }
  return !s->client_gone && !s->cancel->load(std::memory_order_relaxed);
}

// Why binding host:port fails, as strerror text ("Address already in use", "Cannot assign requested address"):
// cpp-httplib only reports failure, so the bind is tried again on a socket of our own (SO_REUSEADDR, as httplib).
std::string bind_failure(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return std::string("cannot resolve the address: ") + ::gai_strerror(rc);
  std::string why = "unknown reason";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    bool ok = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1) == 0;
    if (!ok) why = std::strerror(errno);
    ::close(fd);
    if (ok) {
      why = "the port was taken by another process meanwhile";
      break;
    }
  }
  ::freeaddrinfo(res);
  return why;
}

class Server {
 public:
  explicit Server(const ServeOptions& o) : opt_(o) {
    latte_model* m = nullptr;
    latte_model_params mp = latte_model_default_params();
    mp.mem_budget = parse_mem_bytes(o.mem);
    check(latte_model_load(o.model.model.c_str(), &mp, &m));
    model_.reset(m);
    served_.id = o.alias.empty() ? file_stem(o.model.model) : o.alias;
    served_.aliases = {"default", file_base(o.model.model), file_stem(o.model.model)};
    served_.any_name = !o.strict_model;
    latte_session_params sp = latte_session_default_params();
    sp.n_ctx = o.ctx;
    int threads = o.model.threads > 0 ? o.model.threads : std::max(1, physical_cores() / std::max(1, o.parallel));
    sp.n_threads = threads;
    for (int i = 0; i < o.parallel; ++i) {
      latte_session* s = nullptr;
      check(latte_session_create(model_.get(), &sp, &s));
      sessions_.emplace_back(s);
    }
    // Fail at startup, not per request, on an unknown --chat-format or an unrecognised chat template.
    const char* fmt = latte_chat_format_name(model_.get(), chat_format());
    if (!fmt) throw UnsupportedError(latte_last_error());
    format_ = chat_format_from_name(fmt);
    default_thinking_ = thinking_mode_from_name(o.think);
    if (format_ == ChatFormat::DeepSeekV4)
      std::fprintf(stderr, "latte serve: chat format %s, thinking %s by default\n", fmt,
                   thinking_mode_name(default_thinking_));
    bos_text_ = token_text(latte_model_bos(model_.get()));
    eos_text_ = token_text(latte_model_eos(model_.get()));
    n_ctx_ = latte_session_n_ctx(sessions_[0].get());
    if (n_ctx_ < o.ctx && o.ctx_opt && o.ctx_opt->count() > 0)
      std::fprintf(stderr, "latte: warning: -c %d is more than the model's training context; using %d tokens\n",
                   o.ctx, n_ctx_);
    if (format_ == ChatFormat::DeepSeekV4 && default_thinking_ == ThinkingMode::Max && n_ctx_ < 384 * 1024)
      std::fprintf(stderr, "latte serve: note: --think max is meant for contexts of 384K tokens and more (-c %d)\n",
                   n_ctx_);
    n_vocab_ = latte_model_n_vocab(model_.get());
    pool_ = std::make_unique<server::SlotPool>(o.parallel, [this](int slot, std::span<const int32_t> prompt) {
      size_t n = 0;
      const int32_t* t = latte_session_tokens(sessions_[size_t(slot)].get(), &n);
      size_t k = 0;
      while (k < n && k < prompt.size() && t[k] == prompt[k]) ++k;
      return k;
    });
    created_ = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    std::fprintf(stderr, "latte serve: model '%s' (%s), %d session(s) x %d tokens of context, %d thread(s) each\n",
                 served_.id.c_str(), o.model.model.c_str(), o.parallel, n_ctx_, threads);
  }

  int run() {
    int http_threads = opt_.http_threads > 0 ? opt_.http_threads : std::max(32, opt_.parallel * 8);
    http_.new_task_queue = [http_threads] { return new httplib::ThreadPool(size_t(http_threads)); };
    http_.set_payload_max_length(size_t(16) << 20);
    // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, with which a second server on a busy port
    // binds it too and the kernel splits the connections between the two.
    http_.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    http_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::fprintf(stderr, "latte serve: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
    });
    http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg = e.what();
      } catch (...) {
      }
      server::RequestError e{500, msg, "server_error", "", ""};
      send_error(res, e);
    });
    http_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                    httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      server::RequestError e;
      e.status = res.status;
      e.type = res.status == 404 ? "not_found_error" : "invalid_request_error";
      e.message = res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                    : "HTTP " + std::to_string(res.status);
      send_error(res, e);
      return httplib::Server::HandlerResponse::Handled;
    }));

    http_.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(server::kChatPage.data(), server::kChatPage.size(), "text/html; charset=utf-8");
    });
    http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      json j = {{"status", "ok"}, {"slots_total", pool_->size()}, {"slots_busy", pool_->n_busy()}};
      res.set_content(j.dump(), "application/json");
    });
    auto models = [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(server::models_list(served_, created_).dump(), "application/json");
    };
    http_.Get("/v1/models", models);
    http_.Get("/models", models);
    auto chat = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, true); };
    auto completion = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, false); };
    http_.Post("/v1/chat/completions", chat);
    http_.Post("/chat/completions", chat);
    http_.Post("/v1/completions", completion);
    http_.Post("/completions", completion);
    http_.Post("/apply-template", [this](const httplib::Request& req, httplib::Response& res) {
      apply_template(req, res);
    });

    int port = opt_.port;
    if (port == 0)
      port = http_.bind_to_any_port(opt_.host);
    else if (!http_.bind_to_port(opt_.host, port))
      port = -1;
    if (port <= 0)
      throw IoError("serve: cannot listen on " + opt_.host + ":" + std::to_string(opt_.port) + ": " +
                    bind_failure(opt_.host, opt_.port));
    std::fprintf(stderr, "latte serve: listening on http://%s:%d\n", opt_.host.c_str(), port);
    if (stopping_.load()) return 0;
    bool ok = http_.listen_after_bind();
    if (stopping_.load()) return 0;  // stopped by a signal: a clean exit
    return ok ? 0 : 1;
  }

  // Any thread. Stops accepting connections; requests in flight finish (run() returns when they have).
  void stop() {
    stopping_.store(true);
    http_.stop();
  }
  // Any thread. Running generations stop at their next token (their responses still end properly).
  void cancel_generations() { cancel_.store(true); }

 private:
  const char* chat_format() const { return opt_.chat_format.empty() ? nullptr : opt_.chat_format.c_str(); }

  std::string token_text(int32_t id) const {
    if (id < 0) return {};
    char buf[256];
    size_t n = 0;
    check(latte_detokenize(model_.get(), &id, 1, /*render_special=*/true, buf, sizeof buf, &n));
    return std::string(buf, n);
  }

  // The chat prompt of a request: messages (with tool calls and results) and tools in the model's format, plus
  // the forced call opener for tool_choice required / named. Fills job's tool fields; false + err on a 4xx.
  // `literal`: the byte ranges of `text` that came from the request (contents, tools), where control-token text
  // must stay text.
  bool chat_prompt(const server::ChatRequest& r, std::string_view raw_body, Job& job, std::string& text,
                   std::vector<TextRange>& literal,
                   server::RequestError& err) const {
    std::vector<ChatMessage> msgs;
    for (const auto& m : r.messages) {
      ChatMessage c{m.role, m.content};
      for (const auto& t : m.tool_calls) c.tool_calls.push_back({t.id, t.name, t.arguments});
      c.tool_call_id = m.tool_call_id;
      c.reasoning = m.reasoning;
      msgs.push_back(std::move(c));
    }
    std::vector<ToolSpec> tools;
    const bool use_tools = !r.tools.empty() && r.tool_choice != server::ToolChoice::None;
    if (use_tools) {
      // Parameters in the client's property order (the parsed request's json sorts keys).
      nlohmann::ordered_json body = ordered_body(raw_body);
      const bool ordered = body.is_object() && body.contains("tools") && body["tools"].is_array() &&
                           body["tools"].size() == r.tools.size();
      for (size_t k = 0; k < r.tools.size(); ++k) {
        const auto& t = r.tools[k];
        std::string params;
        if (ordered && body["tools"][k].is_object() && body["tools"][k].contains("function") &&
            body["tools"][k]["function"].is_object() && body["tools"][k]["function"].contains("parameters") &&
            body["tools"][k]["function"]["parameters"].is_object())
          params = body["tools"][k]["function"]["parameters"].dump(-1, ' ', false,
                                                                   nlohmann::ordered_json::error_handler_t::replace);
        else if (!t.parameters.is_null())
          params = t.parameters.dump(-1, ' ', false, json::error_handler_t::replace);
        tools.push_back({t.name, t.description, params});
      }
      if (!chat_format_has_tools(format_)) {
        err = server::RequestError{400, std::string("this model's chat format (") + chat_format_name(format_) +
                                            ") has no tool-call syntax", "invalid_request_error", "tools", ""};
        return false;
      }
    }
    ChatOptions copt;
    copt.thinking = r.thinking.empty() ? default_thinking_ : thinking_mode_from_name(r.thinking);
    try {
      text = render_chat(format_, msgs, copt, bos_text_, eos_text_, tools, &literal);
    } catch (const Error& e) {
      err = server::RequestError{400, e.what(), "invalid_request_error", "messages", ""};
      return false;
    }
    job.format = format_;
    // R1: the generation prompt after tool results opens no assistant turn (and so no <think>); V4: unless off.
    const bool close_think = generation_opens_think(format_, copt.thinking, r.messages.back().role);
    const bool forced_call = use_tools && (r.tool_choice == server::ToolChoice::Required ||
                                           r.tool_choice == server::ToolChoice::Named);
    if (!forced_call && r.response_format != server::ResponseFormat::Text) {
      if (!structured_output(r, raw_body, job, err)) return false;
      if (close_think)  // the document is the answer, not reasoning
        text += format_ == ChatFormat::DeepSeekV4 ? "</think>" : "</think>\n\n";
    }
    if (!use_tools) return true;
    job.tools = true;
    for (const auto& t : r.tools) job.tool_names.push_back(t.name);
    if (r.tool_choice == server::ToolChoice::Required || r.tool_choice == server::ToolChoice::Named) {
      std::string name = r.tool_choice == server::ToolChoice::Named ? r.tool_name
                         : r.tools.size() == 1                      ? r.tools[0].name
                                                                    : std::string();
      job.forced = tool_call_prefix(format_, name, close_think);
      text += job.forced;
      if (!forced_call_constraint(r, raw_body, name, job, err)) return false;
    }
    return true;
  }

  // The request body again as ordered JSON (schemas keep the client's property order).
  static nlohmann::ordered_json ordered_body(std::string_view raw_body) {
    try {
      return nlohmann::ordered_json::parse(raw_body);
    } catch (const std::exception&) {
      return nlohmann::ordered_json();  // cannot happen: the body parsed before
    }
  }

  // response_format json_object / json_schema: the schema is compiled here so that an unsupported keyword is a 400.
  bool structured_output(const server::ChatRequest& r, std::string_view raw_body, Job& job,
                         server::RequestError& err) const {
    if (r.response_format == server::ResponseFormat::JsonObject) {
      job.constraint = Job::Constraint::JsonObject;
      return true;
    }
    nlohmann::ordered_json body = ordered_body(raw_body);
    nlohmann::ordered_json schema;
    if (body.is_object() && body.contains("response_format") && body["response_format"].contains("json_schema"))
      schema = body["response_format"]["json_schema"].value("schema", nlohmann::ordered_json());
    try {
      compile_json_schema(schema);
    } catch (const Error& e) {
      err = server::RequestError{400, e.what(), "invalid_request_error", "response_format.json_schema.schema", ""};
      return false;
    }
    job.constraint = Job::Constraint::JsonSchema;
    job.schema = schema.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    return true;
  }

  // tool_choice required / named: the call markup, a name from `tools` (unless the opener has it) and arguments
  // matching that tool's parameters.
  bool forced_call_constraint(const server::ChatRequest& r, std::string_view raw_body, const std::string& name,
                              Job& job, server::RequestError& err) const {
    nlohmann::ordered_json body = ordered_body(raw_body);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    std::vector<ToolSchema> specs;
    if (body.is_object() && body.contains("tools") && body["tools"].is_array())
      for (const auto& t : body["tools"]) {
        if (!t.is_object() || !t.contains("function") || !t["function"].is_object()) continue;
        const auto& fn = t["function"];
        ToolSchema ts;
        ts.name = fn.value("name", "");
        if (fn.contains("parameters")) ts.parameters = fn["parameters"];
        list.push_back({{"name", ts.name}, {"parameters", ts.parameters}});
        specs.push_back(std::move(ts));
      }
    if (specs.size() != r.tools.size()) {
      err = server::RequestError{500, "tools changed between parses", "server_error", "tools", ""};
      return false;
    }
    try {
      tool_call_grammar(format_, specs, name);
    } catch (const Error& e) {
      err = server::RequestError{400, e.what(), "invalid_request_error", "tools", ""};
      return false;
    }
    job.constraint = Job::Constraint::ToolCall;
    job.tools_json = list.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    job.call_name = name;
    return true;
  }

  static std::string file_base(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
  }
  // The file name without a trailing ".gguf" ("model.gguf" -> "model").
  static std::string file_stem(const std::string& path) {
    std::string base = file_base(path);
    constexpr std::string_view ext = ".gguf";
    if (base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0)
      base.resize(base.size() - ext.size());
    return base;
  }

  // POST /apply-template: the prompt a chat request would be answered with (messages, tools, tool_choice, thinking),
  // as {"prompt": TEXT}. 4xx as for /v1/chat/completions.
  void apply_template(const httplib::Request& req, httplib::Response& res) const {
    auto body = server::parse_json_body(req.body);
    if (!body.ok()) {
      send_error(res, body.error);
      return;
    }
    auto r = server::parse_chat_request(*body.value, served_);
    if (!r.ok()) {
      send_error(res, r.error);
      return;
    }
    Job job;
    std::string text;
    std::vector<TextRange> literal;
    server::RequestError err;
    if (!chat_prompt(*r.value, req.body, job, text, literal, err)) {
      send_error(res, err);
      return;
    }
    json out = {{"prompt", text}};
    res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  }

  static void send_error(httplib::Response& res, const server::RequestError& e) {
    res.status = e.status;
    res.set_content(server::error_body(e).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  }

  // Validates and tokenizes; on failure fills `err`.
  bool prepare(const httplib::Request& req, bool chat, Job& job, server::RequestError& err) {
    auto body = server::parse_json_body(req.body);
    if (!body.ok()) {
      err = body.error;
      return false;
    }
    job.chat = chat;
    std::vector<int32_t> ids;
    size_t n = 0;
    latte_status st = LATTE_OK;
    if (chat) {
      auto r = server::parse_chat_request(*body.value, served_);
      if (!r.ok()) {
        err = r.error;
        return false;
      }
      std::string text;
      std::vector<TextRange> literal;
      if (!chat_prompt(*r.value, req.body, job, text, literal, err)) return false;
      std::vector<size_t> bounds;  // latte_tokenize_literal's (begin, end) pairs
      for (const auto& l : literal) bounds.insert(bounds.end(), {l.begin, l.end});
      st = latte_tokenize_literal(model_.get(), text.data(), text.size(), false, bounds.data(), literal.size(),
                                  nullptr, 0, &n);
      if (st == LATTE_ERR_BUFFER_TOO_SMALL) {
        ids.resize(n);
        st = latte_tokenize_literal(model_.get(), text.data(), text.size(), false, bounds.data(), literal.size(),
                                    ids.data(), ids.size(), &n);
      }
      job.sampling = r.value->sampling;
    } else {
      auto r = server::parse_completion_request(*body.value, served_);
      if (!r.ok()) {
        err = r.error;
        return false;
      }
      if (!r.value->prompt_ids.empty()) {
        ids = r.value->prompt_ids;
        for (int32_t id : ids)
          if (id < 0 || id >= n_vocab_) {
            err = server::RequestError{400, "prompt token id " + std::to_string(id) + " outside the vocabulary [0, " +
                                                std::to_string(n_vocab_) + ")", "invalid_request_error", "prompt", ""};
            return false;
          }
      } else {
        const std::string& p = r.value->prompt;
        st = latte_tokenize(model_.get(), p.data(), p.size(), true, true, nullptr, 0, &n);
        if (st == LATTE_ERR_BUFFER_TOO_SMALL) {
          ids.resize(n);
          st = latte_tokenize(model_.get(), p.data(), p.size(), true, true, ids.data(), ids.size(), &n);
        }
      }
      job.sampling = r.value->sampling;
    }
    if (st != LATTE_OK) {
      err = error_from_status(st, latte_last_error());
      return false;
    }
    if (ids.empty()) {
      err = server::RequestError{400, "the prompt is empty", "invalid_request_error", chat ? "messages" : "prompt", ""};
      return false;
    }
    if (int64_t(ids.size()) >= n_ctx_) {
      err = server::RequestError{400,
                                 "the prompt is " + std::to_string(ids.size()) + " tokens but the context holds " +
                                     std::to_string(n_ctx_) + " (including the reply)",
                                 "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded"};
      return false;
    }
    job.prompt = std::move(ids);
    job.meta.id = server::new_response_id(chat ? "chatcmpl-" : "cmpl-");
    job.meta.created = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
    job.meta.model = served_.id;
    return true;
  }

  // Runs one generation on a pooled session. Returns the status; fills sink and result.
  latte_status generate(const Job& job, Sink& sink, latte_generate_result& result) {
    auto lease = pool_->acquire(job.prompt);
    latte_session* s = sessions_[size_t(lease.slot())].get();
    latte_generate_params gp = latte_generate_default_params();
    int room = n_ctx_ - int(job.prompt.size());
    gp.max_tokens = job.sampling.max_tokens < 0 ? room : std::min(job.sampling.max_tokens, room);
    std::vector<const char*> stops;
    for (const auto& x : job.sampling.stop) stops.push_back(x.c_str());
    gp.stop = stops.data();
    gp.n_stop = stops.size();
    gp.context_shift = false;
    gp.split_reasoning = job.chat;  // completions return the raw text
    gp.sampler.temperature = job.sampling.temperature;
    gp.sampler.top_p = job.sampling.top_p;
    gp.sampler.top_k = job.sampling.top_k;
    gp.sampler.min_p = job.sampling.min_p;
    gp.sampler.repeat_penalty = job.sampling.repeat_penalty;
    gp.sampler.seed = job.sampling.seed ? *job.sampling.seed : std::random_device{}();
    gp.on_piece = on_piece;
    gp.user_data = &sink;
    sink.job = &job;
    sink.cancel = &cancel_;
    if (job.tools) sink.parser = std::make_unique<ToolCallParser>(job.format, job.tool_names, job.forced);
    latte_status st = LATTE_OK;
    switch (job.constraint) {
      case Job::Constraint::None: st = latte_set_json_schema(s, nullptr); break;
      case Job::Constraint::JsonObject: st = latte_set_json_object(s); break;
      case Job::Constraint::JsonSchema: st = latte_set_json_schema(s, job.schema.c_str()); break;
      case Job::Constraint::ToolCall:
        st = latte_set_tool_call_schema(s, chat_format_name(job.format), job.tools_json.c_str(), job.call_name.c_str());
        break;
    }
    if (st != LATTE_OK) return st;
    st = latte_generate(s, job.prompt.data(), job.prompt.size(), &gp, &result);
    latte_set_json_schema(s, nullptr);  // the session goes back to the pool unconstrained
    if (st != LATTE_OK) latte_session_truncate(s, 0);  // unknown cache state after a failure: start clean
    else if (!sink.client_gone) sink.finish(result.reason == LATTE_STOP_EOG);
    return st;
  }

  static server::Finish finish_of(const latte_generate_result& r, const Sink& sink) {
    if (r.reason == LATTE_STOP_MAX_TOKENS || r.reason == LATTE_STOP_CONTEXT_FULL) return server::Finish::Length;
    return sink.calls.empty() ? server::Finish::Stop : server::Finish::ToolCalls;
  }

  void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto job = std::make_shared<Job>();
    server::RequestError err;
    if (stopping_.load()) {  // a new request on a kept-alive connection after a stop signal
      send_error(res, server::RequestError{503, "the server is shutting down", "server_error", "", ""});
      return;
    }
    if (!prepare(req, chat, *job, err)) {
      send_error(res, err);
      return;
    }
    if (!job->sampling.stream) {
      Sink sink;
      latte_generate_result r{};
      latte_status st = generate(*job, sink, r);
      if (st != LATTE_OK) {
        send_error(res, error_from_status(st, latte_last_error()));
        return;
      }
      server::Usage u{r.n_prompt, r.n_generated};
      json out = chat ? server::chat_completion(job->meta, sink.content, sink.reasoning, finish_of(r, sink), u,
                                                sink.calls)
                      : server::text_completion(job->meta, sink.content, finish_of(r, sink), u);
      res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, job](size_t, httplib::DataSink& ds) {
      Sink sink;
      sink.write = [&ds](const std::string& s) { return ds.write(s.data(), s.size()); };
      const Job& j = *job;
      bool alive = true;
      if (j.chat)  // OpenAI opens a chat stream with the role
        alive = sink.write(server::sse_event(
            server::chat_chunk(j.meta, std::string("assistant"), std::string(), std::nullopt, std::nullopt,
                               std::nullopt)));
      if (!alive) return false;
      latte_generate_result r{};
      latte_status st = generate(j, sink, r);
      if (sink.client_gone) {
        std::fprintf(stderr, "latte serve: %s: client disconnected, generation stopped after %d tokens\n",
                     j.meta.id.c_str(), r.n_generated);
        return false;
      }
      if (st != LATTE_OK) {
        sink.write(server::sse_event(server::error_body(error_from_status(st, latte_last_error()))));
      } else {
        server::Usage u{r.n_prompt, r.n_generated};
        json last = j.chat ? server::chat_chunk(j.meta, std::nullopt, std::nullopt, std::nullopt, finish_of(r, sink), u)
                           : server::text_chunk(j.meta, "", finish_of(r, sink), u);
        sink.write(server::sse_event(last));
        if (j.sampling.include_usage)
          sink.write(server::sse_event(
              server::usage_chunk(j.meta, j.chat ? "chat.completion.chunk" : "text_completion", u)));
      }
      sink.write(std::string(server::kSseDone));
      ds.done();
      return true;
    });
  }

  ServeOptions opt_;
  ModelPtr model_;
  std::vector<SessionPtr> sessions_;
  std::unique_ptr<server::SlotPool> pool_;
  server::ServedModel served_;
  ChatFormat format_ = ChatFormat::DeepSeekV3;
  ThinkingMode default_thinking_ = ThinkingMode::On;
  std::string bos_text_, eos_text_;
  int n_ctx_ = 0, n_vocab_ = 0;
  int64_t created_ = 0;
  std::atomic<bool> stopping_{false};  // listener stopped: refuse to start more work
  std::atomic<bool> cancel_{false};    // second signal: cut running generations short
  httplib::Server http_;
};

// Signals. OpenBLAS and OpenMP start threads before serve runs (OpenBLAS when the library loads), so a signal
// may land on any thread: blocking it in this thread does not help. Instead the handlers (process-wide) only
// write the signal number to a pipe, which is async-signal-safe on every thread, and a watcher thread reads it:
// the first SIGINT/SIGTERM stops accepting connections and lets the requests in flight finish; a second one
// also cuts the running generations short (their responses still end properly). Byte 0 = serve is done.
int g_signal_pipe[2] = {-1, -1};
extern "C" void on_stop_signal(int sig) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &b, 1);
  errno = saved;
}

class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void(int n_signals, int sig)> on_signal) : on_signal_(std::move(on_signal)) {
    if (::pipe2(g_signal_pipe, O_CLOEXEC) != 0) throw ResourceError(std::string("serve: pipe: ") + std::strerror(errno));
    ::fcntl(g_signal_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    thread_ = std::thread([this] { loop(); });
  }
  ~SignalWatcher() {
    const unsigned char done = 0;
    [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &done, 1);
    thread_.join();
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::close(g_signal_pipe[0]);
    ::close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void loop() {
    int count = 0;
    for (;;) {
      // After a signal, wake every 100 ms to repeat the stop: one that came before the listener started is
      // not lost (cpp-httplib's stop() only acts on a running listener).
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      int r = ::poll(&p, 1, count > 0 ? 100 : -1);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        on_signal_(0, 0);
        continue;
      }
      unsigned char b = 0;
      if (::read(g_signal_pipe[0], &b, 1) != 1) continue;
      if (b == 0) return;
      on_signal_(++count, b);
    }
  }
  std::function<void(int, int)> on_signal_;
  struct sigaction old_int_ {}, old_term_ {};
  std::thread thread_;
};

int run_serve(const ServeOptions& o) {
  std::signal(SIGPIPE, SIG_IGN);  // a vanished client must not kill the server
  std::mutex mu;                  // guards `server` (the watcher uses it while run_serve may be leaving)
  Server* server = nullptr;
  bool stop_requested = false;
  SignalWatcher watcher([&](int n, int sig) {
    std::lock_guard<std::mutex> lock(mu);
    if (n == 1) {
      std::fprintf(stderr, "latte serve: signal %d (%s), stopping: finishing the requests in flight (again: cut "
                   "them short)\n", sig, sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop_requested = true;
    } else if (n == 2) {
      std::fprintf(stderr, "latte serve: signal %d again, cutting the running generations short\n", sig);
      if (server) server->cancel_generations();
    }
    if (server) server->stop();
  });
  Server srv(o);
  {
    std::lock_guard<std::mutex> lock(mu);
    server = &srv;
    if (stop_requested) srv.stop();  // a signal came while the model was loading
  }
  int rc = srv.run();
  std::lock_guard<std::mutex> lock(mu);
  server = nullptr;
  if (stop_requested) {
    std::fprintf(stderr, "latte serve: stopped\n");
    rc = 0;
  }
  return rc;
}

const Registrar reg{Command{
    "serve", "OpenAI-compatible HTTP server (/v1/chat/completions with tools, /v1/completions, /v1/models, /health, "
             "/apply-template) and a chat page at /",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<ServeOptions>();
      add_model_options(sub, o->model);
      sub.get_option("--threads")->description("threads per session (default: physical cores / parallel)");
      sub.add_option("--host", o->host, "address to listen on")->capture_default_str();
      sub.add_option("--port", o->port, "TCP port (0 = any free port)")->capture_default_str()
          ->check(CLI::Range(0, 65535));
      sub.add_option("--parallel", o->parallel, "sessions serving requests concurrently")
          ->capture_default_str()->check(CLI::Range(1, 256));
      o->ctx_opt = sub.add_option("-c,--ctx-size,--ctx", o->ctx,
                                  "context tokens per session (at most the model's training context)")
                       ->capture_default_str()->check(CLI::Range(16, 1 << 24));
      sub.add_option("--alias", o->alias,
                     "model id reported by /v1/models and in responses (default: the file name without .gguf)");
      sub.add_flag("--strict-model", o->strict_model,
                   "answer 404 to a request whose \"model\" is not the alias, the file name (with or without "
                   ".gguf) or \"default\" (default: any name is accepted, as one model is served)");
      sub.add_option("--chat-format", o->chat_format,
                     "deepseek-v2 | deepseek-v3 | deepseek-r1 | deepseek-v4 (default: deepseek-v4 for a deepseek4 "
                     "model, else from the model's chat template)");
      sub.add_option("--think", o->think,
                     "DeepSeek-V4 thinking mode of requests that choose none (chat_template_kwargs.thinking, "
                     "reasoning_effort): on | off | max")
          ->capture_default_str()->check(CLI::IsMember({"on", "off", "max"}));
      sub.add_option("--mem", o->mem, kMemHelp);
      sub.add_option("--http-threads", o->http_threads, "HTTP worker threads (default: max(32, 8 x parallel))")
          ->check(CLI::NonNegativeNumber);
      return [o] { return run_serve(*o); };
    },
    60}};

}  // namespace
}  // namespace latte::cli
