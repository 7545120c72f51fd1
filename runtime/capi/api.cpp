// The C API (include/latte.h) over the C++ runtime. Every entry point catches every exception, stores its message
// in a thread-local string for latte_last_error() and returns a status code; nothing here exits or aborts.
// Handles own C++ objects: latte_model holds a shared_ptr<const Model> (immutable, shared across threads);
// latte_session holds its own shared_ptr to the model plus a Session (one thread at a time) and a cancel flag
// (atomic, the only field touched from other threads).
#include "latte.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/text/chat_format.h"
#include "runtime/text/json_schema.h"
#include "formats/error.h"
#include "runtime/session/constraint.h"
#include "runtime/session/generate.h"
#include "runtime/session/sampler.h"
#include "runtime/session/memory_plan.h"
#include "runtime/session/session.h"
#include "runtime/text/tokenizer.h"

// The vocabulary tries of a model for grammar constraints, built on first use (one per render_special flag) and
// shared by the model handle and its sessions (which may outlive the handle).
struct latte_vocab_cache {
  std::mutex mu;
  std::shared_ptr<const latte::VocabIndex> index[2];
  std::shared_ptr<const latte::VocabIndex> get(const latte::Tokenizer& tok, bool render_special) {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = index[render_special ? 1 : 0];
    if (!slot) slot = std::make_shared<const latte::VocabIndex>(tok, render_special);
    return slot;
  }
};

struct latte_model {
  std::shared_ptr<const latte::Model> model;
  std::string name, chat_template;  // owned copies for the const char* getters
  std::shared_ptr<latte_vocab_cache> vocab = std::make_shared<latte_vocab_cache>();
};

struct latte_session {
  std::shared_ptr<const latte::Model> model;
  std::unique_ptr<latte::Session> session;
  std::atomic<bool> cancel{false};
  std::shared_ptr<latte_vocab_cache> vocab;
  std::shared_ptr<const latte::JsonGrammar> grammar;  // constraint of the next generations (null = none)
};

struct latte_sampler {
  latte::Sampler sampler;
};

namespace {

thread_local std::string t_last_error;

latte_status status_of(latte::ErrorKind k) {
  switch (k) {
    case latte::ErrorKind::Format: return LATTE_ERR_FORMAT;
    case latte::ErrorKind::Unsupported: return LATTE_ERR_UNSUPPORTED;
    case latte::ErrorKind::Resource: return LATTE_ERR_RESOURCE;
    case latte::ErrorKind::Argument: return LATTE_ERR_ARGUMENT;
    case latte::ErrorKind::Io: return LATTE_ERR_IO;
    case latte::ErrorKind::Cancelled: return LATTE_ERR_CANCELLED;
  }
  return LATTE_ERR_INTERNAL;
}

// True when the prompt ends inside an open <think> section (its last <think> comes after its last </think>).
bool prompt_opens_reasoning(const latte::Tokenizer& tok, const std::vector<int32_t>& prompt) {
  size_t n = std::min<size_t>(prompt.size(), 16);
  std::vector<int32_t> tail(prompt.end() - std::ptrdiff_t(n), prompt.end());
  std::string t = tok.decode(tail, /*render_special=*/true);
  size_t open = t.rfind("<think>"), close = t.rfind("</think>");
  return open != std::string::npos && (close == std::string::npos || close < open);
}

latte_status fail(latte_status s, std::string msg) {
  try {
    t_last_error = std::move(msg);
  } catch (...) {
  }
  return s;
}

// Runs body() and turns any exception into a status + thread-local message.
template <class F>
latte_status guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const latte::Error& e) {
    return fail(status_of(e.kind()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(LATTE_ERR_RESOURCE, "out of memory");
  } catch (const std::exception& e) {
    return fail(LATTE_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(LATTE_ERR_INTERNAL, "internal error: unknown exception");
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw latte::ArgumentError(what);
}

// Copies `n` elements into a caller buffer following the header's (buf, capacity, &n) convention.
template <class T>
latte_status copy_out(const T* src, size_t n, T* dst, size_t capacity, size_t* n_out, bool nul_terminate) {
  require(n_out != nullptr, "output count pointer is NULL");
  *n_out = n;
  size_t need = n + (nul_terminate ? 1 : 0);
  if (capacity < need || (need > 0 && dst == nullptr)) {
    return fail(LATTE_ERR_BUFFER_TOO_SMALL, "output buffer holds " + std::to_string(capacity) + ", needs " +
                                                std::to_string(need));
  }
  if (n) std::memcpy(dst, src, n * sizeof(T));
  if (nul_terminate) dst[n] = T{};
  return LATTE_OK;
}

latte::SamplerParams to_cpp(const latte_sampler_params& p) {
  latte::SamplerParams s;
  s.temp = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repeat_penalty = p.repeat_penalty;
  s.repeat_last_n = p.repeat_last_n;
  s.seed = p.seed;
  return s;
}

latte_sampler_params to_c(const latte::SamplerParams& s) {
  latte_sampler_params p;
  p.temperature = s.temp;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repeat_penalty = s.repeat_penalty;
  p.repeat_last_n = s.repeat_last_n;
  p.seed = s.seed;
  return p;
}

latte_stop_reason to_c(latte::StopReason r) {
  switch (r) {
    case latte::StopReason::Eog: return LATTE_STOP_EOG;
    case latte::StopReason::MaxTokens: return LATTE_STOP_MAX_TOKENS;
    case latte::StopReason::StopString: return LATTE_STOP_STRING;
    case latte::StopReason::Cancelled: return LATTE_STOP_CANCELLED;
    case latte::StopReason::ContextFull: return LATTE_STOP_CONTEXT_FULL;
  }
  return LATTE_STOP_EOG;
}

std::vector<latte::ChatMessage> to_cpp(const latte_chat_message* msgs, size_t n) {
  require(msgs != nullptr || n == 0, "messages is NULL");
  std::vector<latte::ChatMessage> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (msgs[i].role == nullptr || msgs[i].content == nullptr)
      throw latte::ArgumentError("message " + std::to_string(i) + " has a NULL role or content");
    out.push_back(latte::ChatMessage{msgs[i].role, msgs[i].content});
  }
  return out;
}

// The format named by the caller, else the model's (Model::chat_format: deepseek4 -> V4, else from the template,
// DeepSeek-V3 without one). An unrecognised template is UnsupportedError.
latte::ChatFormat chat_format_of(const latte_model* model, const char* format) {
  if (format && *format) return latte::chat_format_from_name(format);
  return model->model->chat_format();
}

std::string render_chat_text(const latte_model* model, const latte_chat_message* messages, size_t n_messages,
                             const char* format, bool add_generation_prompt) {
  require(model != nullptr, "model is NULL");
  auto msgs = to_cpp(messages, n_messages);
  const latte::Tokenizer& tok = model->model->tokenizer();
  std::string bos = tok.bos() >= 0 ? tok.text(tok.bos()) : std::string();
  std::string eos = tok.eos() >= 0 ? tok.text(tok.eos()) : std::string();
  return latte::render_chat(chat_format_of(model, format), msgs, add_generation_prompt, bos, eos);
}

}  // namespace

extern "C" {

const char* latte_status_name(latte_status s) {
  switch (s) {
    case LATTE_OK: return "ok";
    case LATTE_ERR_FORMAT: return "format";
    case LATTE_ERR_UNSUPPORTED: return "unsupported";
    case LATTE_ERR_RESOURCE: return "resource";
    case LATTE_ERR_ARGUMENT: return "argument";
    case LATTE_ERR_IO: return "io";
    case LATTE_ERR_CANCELLED: return "cancelled";
    case LATTE_ERR_BUFFER_TOO_SMALL: return "buffer_too_small";
    case LATTE_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}

const char* latte_last_error(void) { return t_last_error.c_str(); }

const char* latte_version(void) { return "0.1.0"; }

// ---- model ----

latte_model_params latte_model_default_params(void) {
  latte::ModelParams d;
  latte_model_params p;
  p.isa = nullptr;
  p.mlock = d.mlock;
  p.repack = d.repack;
  p.expert_groups = d.expert_groups;
  p.expert_groups_used = d.expert_groups_used;
  p.progress = nullptr;
  p.progress_user_data = nullptr;
  p.mem_budget = d.mem_budget;
  return p;
}

latte_status latte_model_load(const char* path, const latte_model_params* params, latte_model** out) {
  return guarded([&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    require(path != nullptr, "model path is NULL");
    latte_model_params p = params ? *params : latte_model_default_params();
    latte::ModelParams mp;
    mp.path = path;
    mp.isa = p.isa ? p.isa : "";
    mp.mlock = p.mlock;
    mp.repack = p.repack;
    mp.expert_groups = p.expert_groups;
    mp.expert_groups_used = p.expert_groups_used;
    mp.mem_budget = p.mem_budget;  // UINT64_MAX is ModelParams::kMemAuto
    if (p.progress) {
      auto fn = p.progress;
      void* ud = p.progress_user_data;
      mp.progress = [fn, ud](float f) { fn(f, ud); };
    }
    auto h = std::make_unique<latte_model>();
    h->model = latte::Model::load(mp);
    h->name = h->model->name();
    h->chat_template = h->model->chat_template();
    *out = h.release();
    return LATTE_OK;
  });
}

void latte_model_free(latte_model* model) { delete model; }

int32_t latte_model_n_vocab(const latte_model* m) { return m ? int32_t(m->model->hparams().n_vocab) : 0; }
int32_t latte_model_n_ctx_train(const latte_model* m) { return m ? int32_t(m->model->hparams().n_ctx_train) : 0; }
int32_t latte_model_n_embd(const latte_model* m) { return m ? int32_t(m->model->hparams().n_embd) : 0; }
int32_t latte_model_n_layer(const latte_model* m) { return m ? int32_t(m->model->hparams().n_layer) : 0; }
int32_t latte_model_bos(const latte_model* m) { return m ? m->model->tokenizer().bos() : -1; }
int32_t latte_model_eos(const latte_model* m) { return m ? m->model->tokenizer().eos() : -1; }

bool latte_model_is_eog(const latte_model* m, int32_t token) {
  if (!m || token < 0 || token >= m->model->tokenizer().n_vocab()) return false;
  try {
    return m->model->tokenizer().is_eog(token);
  } catch (...) {
    return false;
  }
}

const char* latte_model_name(const latte_model* m) { return m ? m->name.c_str() : ""; }
const char* latte_model_chat_template(const latte_model* m) { return m ? m->chat_template.c_str() : ""; }

// ---- tokenizer ----

latte_status latte_tokenize(const latte_model* model, const char* text, size_t text_len, bool add_bos,
                            bool parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return guarded([&] {
    require(model != nullptr, "model is NULL");
    require(text != nullptr || text_len == 0, "text is NULL");
    auto ids = model->model->tokenizer().encode(std::string_view(text ? text : "", text_len), add_bos,
                                                parse_special);
    return copy_out(ids.data(), ids.size(), tokens, capacity, n_tokens, false);
  });
}

latte_status latte_tokenize_literal(const latte_model* model, const char* text, size_t text_len, bool add_bos,
                                    const size_t* literal, size_t n_literal, int32_t* tokens, size_t capacity,
                                    size_t* n_tokens) {
  return guarded([&] {
    require(model != nullptr, "model is NULL");
    require(text != nullptr || text_len == 0, "text is NULL");
    require(literal != nullptr || n_literal == 0, "literal is NULL");
    std::vector<latte::TextRange> ranges(n_literal);
    for (size_t i = 0; i < n_literal; ++i) {
      ranges[i] = {literal[2 * i], literal[2 * i + 1]};
      require(ranges[i].begin <= ranges[i].end && ranges[i].end <= text_len &&
                  (i == 0 || ranges[i - 1].end <= ranges[i].begin),
              "literal ranges must be sorted, non-overlapping and inside the text");
    }
    auto ids = latte::encode_with_literals(model->model->tokenizer(), std::string_view(text ? text : "", text_len),
                                           add_bos, ranges);
    return copy_out(ids.data(), ids.size(), tokens, capacity, n_tokens, false);
  });
}

latte_status latte_detokenize(const latte_model* model, const int32_t* tokens, size_t n_tokens,
                              bool render_special, char* text, size_t capacity, size_t* n_bytes) {
  return guarded([&] {
    require(model != nullptr, "model is NULL");
    require(tokens != nullptr || n_tokens == 0, "tokens is NULL");
    std::vector<int32_t> ids(tokens, tokens + n_tokens);
    std::string s = model->model->tokenizer().decode(ids, render_special);
    return copy_out(s.data(), s.size(), text, capacity, n_bytes, true);
  });
}

// ---- chat ----

latte_status latte_chat_format(const latte_model* model, const latte_chat_message* messages, size_t n_messages,
                               const char* format, bool add_generation_prompt, char* text, size_t capacity,
                               size_t* n_bytes) {
  return guarded([&] {
    std::string s = render_chat_text(model, messages, n_messages, format, add_generation_prompt);
    return copy_out(s.data(), s.size(), text, capacity, n_bytes, true);
  });
}

const char* latte_chat_format_name(const latte_model* model, const char* format) {
  const char* name = nullptr;
  latte_status s = guarded([&] {
    require(model != nullptr, "model is NULL");
    name = latte::chat_format_name(chat_format_of(model, format));
    return LATTE_OK;
  });
  return s == LATTE_OK ? name : nullptr;
}

latte_status latte_chat_tokenize(const latte_model* model, const latte_chat_message* messages, size_t n_messages,
                                 const char* format, bool add_generation_prompt, int32_t* tokens,
                                 size_t capacity, size_t* n_tokens) {
  return guarded([&] {
    require(model != nullptr, "model is NULL");
    auto ids = latte::chat_prompt_tokens(model->model->tokenizer(), chat_format_of(model, format),
                                         to_cpp(messages, n_messages), add_generation_prompt);
    return copy_out(ids.data(), ids.size(), tokens, capacity, n_tokens, false);
  });
}

// ---- session ----

latte_session_params latte_session_default_params(void) {
  latte::SessionParams d;
  latte_session_params p;
  p.n_ctx = d.n_ctx;
  p.n_threads = d.n_threads;
  p.n_batch = d.n_batch;
  p.cache_type = latte_cache_type(int(d.cache_type));
  return p;
}

latte_status latte_session_create(latte_model* model, const latte_session_params* params, latte_session** out) {
  return guarded([&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    require(model != nullptr, "model is NULL");
    latte_session_params p = params ? *params : latte_session_default_params();
    require(p.n_ctx > 0, "n_ctx must be positive");
    require(p.n_threads >= 0, "n_threads must not be negative");
    require(p.n_batch > 0, "n_batch must be positive");
    require(int(p.cache_type) >= LATTE_CACHE_F32 && int(p.cache_type) <= LATTE_CACHE_Q4_H, "unknown cache_type");
    latte::SessionParams sp;
    sp.n_ctx = p.n_ctx;
    sp.n_threads = p.n_threads;
    sp.n_batch = p.n_batch;
    sp.cache_type = latte::CacheType(int(p.cache_type));
    auto h = std::make_unique<latte_session>();
    h->model = model->model;
    h->vocab = model->vocab;
    latte::check_memory(latte::plan_memory(*h->model, sp));  // ResourceError before allocating the cache
    h->session = std::make_unique<latte::Session>(h->model, sp);
    *out = h.release();
    return LATTE_OK;
  });
}

void latte_session_free(latte_session* session) { delete session; }

latte_status latte_session_eval(latte_session* session, const int32_t* tokens, size_t n_tokens) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    require(tokens != nullptr || n_tokens == 0, "tokens is NULL");
    session->session->eval(std::span<const int32_t>(tokens, n_tokens));
    return LATTE_OK;
  });
}

const float* latte_session_logits(const latte_session* session) {
  if (!session || session->session->n_past() == 0) return nullptr;
  try {
    auto l = session->session->logits();
    return l.empty() ? nullptr : l.data();
  } catch (...) {
    return nullptr;
  }
}

int32_t latte_session_n_past(const latte_session* s) { return s ? s->session->n_past() : 0; }
int32_t latte_session_n_ctx(const latte_session* s) { return s ? s->session->n_ctx() : 0; }

const int32_t* latte_session_tokens(const latte_session* s, size_t* n_tokens) {
  if (!s) {
    if (n_tokens) *n_tokens = 0;
    return nullptr;
  }
  const auto& t = s->session->tokens();
  if (n_tokens) *n_tokens = t.size();
  return t.data();
}

latte_status latte_session_truncate(latte_session* session, int32_t n) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    require(n >= 0 && n <= session->session->n_past(),
            ("truncate to " + std::to_string(n) + " outside [0, n_past = " +
             std::to_string(session->session->n_past()) + "]").c_str());
    session->session->truncate(n);
    return LATTE_OK;
  });
}

latte_status latte_session_save(const latte_session* session, const char* path) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    require(path != nullptr, "path is NULL");
    session->session->save(path);
    return LATTE_OK;
  });
}

latte_status latte_session_load(latte_session* session, const char* path) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    require(path != nullptr, "path is NULL");
    session->session->load(path);
    return LATTE_OK;
  });
}

void latte_session_cancel(latte_session* session) {
  if (session) session->cancel.store(true, std::memory_order_relaxed);
}

// ---- sampling ----

latte_sampler_params latte_sampler_default_params(void) { return to_c(latte::SamplerParams{}); }

latte_status latte_sampler_create(const latte_sampler_params* params, latte_sampler** out) {
  return guarded([&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    latte_sampler_params p = params ? *params : latte_sampler_default_params();
    *out = new latte_sampler{latte::Sampler(to_cpp(p))};
    return LATTE_OK;
  });
}

void latte_sampler_free(latte_sampler* sampler) { delete sampler; }

latte_status latte_sampler_sample(latte_sampler* sampler, const latte_session* session, int32_t* token) {
  return guarded([&] {
    require(sampler != nullptr && session != nullptr && token != nullptr, "sampler, session or token is NULL");
    auto logits = session->session->logits();
    require(!logits.empty() && session->session->n_past() > 0, "no logits: evaluate at least one token first");
    const auto& hist = session->session->tokens();
    *token = sampler->sampler.sample(logits, std::span<const int32_t>(hist.data(), hist.size()));
    return LATTE_OK;
  });
}

// ---- generation ----

latte_generate_params latte_generate_default_params(void) {
  latte::GenerateParams d;
  latte_generate_params p;
  p.max_tokens = d.max_tokens;
  p.stop = nullptr;
  p.n_stop = 0;
  p.context_shift = d.context_shift;
  p.n_keep = d.n_keep;
  p.split_reasoning = true;
  p.sampler = to_c(d.sampler);
  p.on_piece = nullptr;
  p.user_data = nullptr;
  return p;
}

latte_status latte_generate(latte_session* session, const int32_t* prompt, size_t n_prompt,
                            const latte_generate_params* params, latte_generate_result* result) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    require(prompt != nullptr && n_prompt > 0, "the prompt is empty");
    latte_generate_params p = params ? *params : latte_generate_default_params();
    require(p.stop != nullptr || p.n_stop == 0, "stop is NULL but n_stop > 0");
    latte::GenerateParams gp;
    gp.max_tokens = p.max_tokens;
    for (size_t i = 0; i < p.n_stop; ++i) {
      require(p.stop[i] != nullptr, "a stop string is NULL");
      if (*p.stop[i]) gp.stop.emplace_back(p.stop[i]);
    }
    gp.context_shift = p.context_shift;
    gp.n_keep = p.n_keep;
    gp.sampler = to_cpp(p.sampler);
    gp.render_special = p.split_reasoning;  // think tags must reach the splitter even if they are CONTROL tokens

    std::vector<int32_t> ids(prompt, prompt + n_prompt);
    std::unique_ptr<latte::TokenConstraint> constraint;
    if (session->grammar) {
      constraint = std::make_unique<latte::TokenConstraint>(
          session->grammar, session->vocab->get(session->model->tokenizer(), gp.render_special));
      gp.constraint = constraint.get();
    }
    const bool split = p.split_reasoning;
    latte::ReasoningSplitter splitter(split && prompt_opens_reasoning(session->model->tokenizer(), ids));
    session->cancel.store(false, std::memory_order_relaxed);
    bool keep_going = true;
    auto emit = [&](const std::string& s, latte_piece_kind kind) {
      if (keep_going && !s.empty() && p.on_piece) keep_going = p.on_piece(s.data(), s.size(), kind, p.user_data);
    };
    auto emit_parts = [&](const latte::ReasoningSplitter::Parts& parts) {
      emit(parts.reasoning, LATTE_PIECE_REASONING);  // a piece's reasoning always precedes its content
      emit(parts.content, LATTE_PIECE_CONTENT);
    };
    auto on_piece = [&](const std::string& piece) -> bool {
      if (split)
        emit_parts(splitter.push(piece));
      else
        emit(piece, LATTE_PIECE_CONTENT);
      return keep_going && !session->cancel.load(std::memory_order_relaxed);
    };
    latte::GenerateResult r = latte::generate(*session->session, ids, gp, on_piece);
    if (split && keep_going) emit_parts(splitter.flush());
    if (result) {
      result->reason = to_c(r.reason);
      if (!keep_going || session->cancel.load(std::memory_order_relaxed)) result->reason = LATTE_STOP_CANCELLED;
      result->n_prompt = r.n_prompt;
      result->n_prompt_evaluated = r.n_prompt_evaluated;
      result->n_generated = int32_t(r.tokens.size());
      result->prompt_seconds = r.prompt_seconds;
      result->gen_seconds = r.gen_seconds;
      result->constraint_seconds = r.constraint_seconds;
    }
    return LATTE_OK;
  });
}

// ---- structured output ----

latte_status latte_set_json_schema(latte_session* session, const char* schema_json) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    if (!schema_json || !*schema_json) {
      session->grammar.reset();
      return LATTE_OK;
    }
    session->grammar = std::make_shared<const latte::JsonGrammar>(latte::compile_json_schema_text(schema_json));
    return LATTE_OK;
  });
}

latte_status latte_set_json_object(latte_session* session) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    session->grammar = std::make_shared<const latte::JsonGrammar>(latte::json_object_grammar());
    return LATTE_OK;
  });
}

latte_status latte_set_tool_call_schema(latte_session* session, const char* format, const char* tools_json,
                                        const char* name) {
  return guarded([&] {
    require(session != nullptr, "session is NULL");
    require(tools_json != nullptr, "tools_json is NULL");
    nlohmann::ordered_json tools;
    try {
      tools = nlohmann::ordered_json::parse(tools_json);
    } catch (const std::exception& e) {
      throw latte::ArgumentError(std::string("tools_json is not valid JSON: ") + e.what());
    }
    require(tools.is_array() && !tools.empty(), "tools_json must be a non-empty JSON array");
    std::vector<latte::ToolSchema> specs;
    for (const auto& t : tools) {
      const auto& fn = t.is_object() && t.contains("function") ? t["function"] : t;  // OpenAI shape or plain
      require(fn.is_object() && fn.contains("name") && fn["name"].is_string(), "each tool needs a string 'name'");
      latte::ToolSchema ts;
      ts.name = fn["name"].get<std::string>();
      if (fn.contains("parameters")) ts.parameters = fn["parameters"];
      specs.push_back(std::move(ts));
    }
    latte::ChatFormat f = format && *format ? latte::chat_format_from_name(format) : session->model->chat_format();
    session->grammar = std::make_shared<const latte::JsonGrammar>(
        latte::tool_call_grammar(f, specs, name ? std::string_view(name) : std::string_view()));
    return LATTE_OK;
  });
}

}  // extern "C"
