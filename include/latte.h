/* latte.h — the C API of Latte (CPU inference for DeepSeek-architecture `deepseek2` GGUF models).
 *
 * C99, no C++ types cross this boundary. Link with -llatte (pkg-config: latte; CMake: find_package(latte), target
 * latte::latte).
 *
 * Conventions
 * - Handles are opaque. A latte_model is immutable after loading and may be shared by any number of sessions on
 *   any number of threads; latte_model_free() may be called while sessions still use it (they keep it alive).
 *   A latte_session (one conversation: latent KV cache + token history) and a latte_sampler are used by one
 *   thread at a time; only latte_session_cancel() may be called from another thread.
 * - Functions that can fail return a latte_status; on failure latte_last_error() gives a one-line message
 *   (thread-local, valid until the next failing call on the same thread). No function exits or aborts the process.
 * - Output buffers: the caller passes (buf, capacity, &n). On success *n is the number of elements written. If
 *   the buffer is too small the call returns LATTE_ERR_BUFFER_TOO_SMALL and *n is the size needed; pass
 *   capacity 0 (buf may be NULL) to ask for the size. Text outputs are UTF-8 and NUL-terminated when room allows
 *   (*n excludes the NUL, so capacity must be at least *n + 1).
 * - Params structs: always start from latte_*_default_params() and change fields, so new fields added in later
 *   versions get their defaults.
 */
#ifndef LATTE_H
#define LATTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define LATTE_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define LATTE_API __attribute__((visibility("default")))
#else
#define LATTE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define LATTE_API_VERSION 1

/* ---- status codes ---- */
typedef enum latte_status {
  LATTE_OK = 0,
  LATTE_ERR_FORMAT = 1,           /* malformed or truncated file, bad metadata */
  LATTE_ERR_UNSUPPORTED = 2,      /* valid input Latte does not handle (quant type, template, ...) */
  LATTE_ERR_RESOURCE = 3,         /* out of memory, context full, ... */
  LATTE_ERR_ARGUMENT = 4,         /* bad argument (NULL handle, token id out of range, bad value) */
  LATTE_ERR_IO = 5,               /* file missing / unreadable / unwritable */
  LATTE_ERR_CANCELLED = 6,        /* the caller asked to stop before any result existed */
  LATTE_ERR_BUFFER_TOO_SMALL = 7, /* output buffer too small; the size needed was stored */
  LATTE_ERR_INTERNAL = 8          /* unexpected failure (a bug): the message says what */
} latte_status;

/* Short constant name of a status ("ok", "format", ...). Never NULL. */
LATTE_API const char* latte_status_name(latte_status s);
/* Message of the last failing call on this thread ("" if none). Owned by the library, thread-local. */
LATTE_API const char* latte_last_error(void);
/* "0.1.0" */
LATTE_API const char* latte_version(void);

/* ---- model ---- */
typedef struct latte_model latte_model;

typedef struct latte_model_params {
  const char* isa;         /* NULL or "" = best for this CPU; "scalar", "avx2", "avx512" to force one */
  bool mlock;              /* lock the mapped weights in RAM */
  bool repack;             /* repack weights into a faster layout at load */
  int32_t expert_groups;   /* override expert_group_count: -1 = from file, 0 = no group-limited routing */
  int32_t expert_groups_used; /* -1 = from file */
  /* Optional load progress in [0, 1], called on the loading thread. */
  void (*progress)(float fraction, void* user_data);
  void* progress_user_data;
  /* Memory budget in bytes for the weights and the sessions (issue 18): 0 = none (the weights are used as mapped),
   * UINT64_MAX = auto (what the system has available, cgroup limit respected). A model larger than its budget
   * serves its routed experts from an expert cache filled by explicit reads (same results, disk-bound speed). */
  uint64_t mem_budget;
} latte_model_params;

LATTE_API latte_model_params latte_model_default_params(void);
/* Maps and validates a GGUF file. params may be NULL (defaults). On failure *out is set to NULL. */
LATTE_API latte_status latte_model_load(const char* path, const latte_model_params* params, latte_model** out);
/* Releases the caller's reference (sessions keep their own). NULL is allowed. */
LATTE_API void latte_model_free(latte_model* model);

LATTE_API int32_t latte_model_n_vocab(const latte_model* model);
LATTE_API int32_t latte_model_n_ctx_train(const latte_model* model);
LATTE_API int32_t latte_model_n_embd(const latte_model* model);
LATTE_API int32_t latte_model_n_layer(const latte_model* model);
LATTE_API int32_t latte_model_bos(const latte_model* model);          /* -1 if none */
LATTE_API int32_t latte_model_eos(const latte_model* model);          /* -1 if none */
LATTE_API bool latte_model_is_eog(const latte_model* model, int32_t token); /* end of generation */
/* general.name (or the file stem) and tokenizer.chat_template (or ""); owned by the model handle. */
LATTE_API const char* latte_model_name(const latte_model* model);
LATTE_API const char* latte_model_chat_template(const latte_model* model);

/* ---- tokenizer (thread-safe: the model is immutable) ---- */
/* Text (text_len bytes, need not be NUL-terminated) -> token ids. add_bos: prepend BOS if the vocabulary asks
 * for it. parse_special: turn control-token texts (e.g. "<｜User｜>") into their ids. */
LATTE_API latte_status latte_tokenize(const latte_model* model, const char* text, size_t text_len, bool add_bos,
                                      bool parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens);
/* latte_tokenize with parse_special, except inside the byte ranges [literal[2i], literal[2i+1]) of `text`
 * (n_literal ranges, sorted, not overlapping), where control-token text stays text: for prompts a caller
 * assembles itself around content from users or tools, so that a user cannot end a turn or open a tool call by
 * typing the token's text. */
LATTE_API latte_status latte_tokenize_literal(const latte_model* model, const char* text, size_t text_len,
                                              bool add_bos, const size_t* literal, size_t n_literal,
                                              int32_t* tokens, size_t capacity, size_t* n_tokens);
/* Token ids -> UTF-8 bytes (exact; control tokens render nothing unless render_special). */
LATTE_API latte_status latte_detokenize(const latte_model* model, const int32_t* tokens, size_t n_tokens,
                                        bool render_special, char* text, size_t capacity, size_t* n_bytes);

/* ---- chat formatting ---- */
typedef struct latte_chat_message {
  const char* role;     /* "system", "user", "assistant" */
  const char* content;  /* UTF-8, NUL-terminated */
} latte_chat_message;

/* Renders a conversation into prompt text with the model's chat format (DeepSeek-V4's for a deepseek4 file, else
 * recognised from tokenizer.chat_template; format = NULL or "" to use it, or a name such as "deepseek3",
 * "deepseek-r1", "deepseek2", "deepseek-v4" to override; V4 renders with thinking on). add_generation_prompt appends the assistant marker. The text begins with the BOS
 * text, so tokenize it with add_bos = false and parse_special = true; latte_chat_tokenize does that, except that
 * control-token text inside the messages' contents stays text there (a user cannot inject control tokens). */
LATTE_API latte_status latte_chat_format(const latte_model* model, const latte_chat_message* messages,
                                         size_t n_messages, const char* format, bool add_generation_prompt,
                                         char* text, size_t capacity, size_t* n_bytes);
/* The canonical name ("deepseek-v2", "deepseek-v3", "deepseek-r1", "deepseek-v4") of the chat format that latte_chat_format uses
 * for this model and `format` argument; NULL when the name or the model's template is not recognised
 * (latte_last_error says why). The string is static. */
LATTE_API const char* latte_chat_format_name(const latte_model* model, const char* format);
LATTE_API latte_status latte_chat_tokenize(const latte_model* model, const latte_chat_message* messages,
                                           size_t n_messages, const char* format, bool add_generation_prompt,
                                           int32_t* tokens, size_t capacity, size_t* n_tokens);

/* ---- session ---- */
typedef struct latte_session latte_session;

typedef enum latte_cache_type {
  LATTE_CACHE_F32 = 0,
  LATTE_CACHE_F16 = 1,
  LATTE_CACHE_BF16 = 2,
  LATTE_CACHE_Q8_0 = 3,
  LATTE_CACHE_Q4_H = 4  /* Hadamard-rotated 4-bit latent */
} latte_cache_type;

typedef struct latte_session_params {
  int32_t n_ctx;       /* tokens of latent cache (default 4096, clamped to the model's training context) */
  int32_t n_threads;   /* 0 = physical cores */
  int32_t n_batch;     /* micro-batch for prompt evaluation */
  latte_cache_type cache_type;
} latte_session_params;

LATTE_API latte_session_params latte_session_default_params(void);
/* The session holds its own reference to the model. params may be NULL (defaults). */
LATTE_API latte_status latte_session_create(latte_model* model, const latte_session_params* params,
                                            latte_session** out);
LATTE_API void latte_session_free(latte_session* session);

/* Appends tokens at position n_past and runs the forward pass; the last token's logits are then available. */
LATTE_API latte_status latte_session_eval(latte_session* session, const int32_t* tokens, size_t n_tokens);
/* [n_vocab] logits of the last evaluated token, or NULL if none; valid until the next call on the session. */
LATTE_API const float* latte_session_logits(const latte_session* session);
LATTE_API int32_t latte_session_n_past(const latte_session* session);
LATTE_API int32_t latte_session_n_ctx(const latte_session* session);
/* Token history whose latents are cached; *n_tokens receives its length. Valid until the next call on the
 * session. */
LATTE_API const int32_t* latte_session_tokens(const latte_session* session, size_t* n_tokens);
/* Keeps the first n cached tokens (n <= n_past); 0 clears the session. */
LATTE_API latte_status latte_session_truncate(latte_session* session, int32_t n);
/* Save / restore the latent cache and token history (small file). Load fails with LATTE_ERR_FORMAT if the file
 * belongs to another model or cache type. */
LATTE_API latte_status latte_session_save(const latte_session* session, const char* path);
LATTE_API latte_status latte_session_load(latte_session* session, const char* path);
/* Asks a running latte_generate on this session to stop after the current token. Thread-safe. The flag is
 * cleared when the next latte_generate starts. */
LATTE_API void latte_session_cancel(latte_session* session);

/* ---- sampling ---- */
typedef struct latte_sampler_params {
  float temperature;     /* <= 0: greedy (argmax, lowest id on ties) */
  int32_t top_k;         /* 0 = off */
  float top_p;           /* 1 = off */
  float min_p;           /* 0 = off */
  float repeat_penalty;  /* 1 = off */
  int32_t repeat_last_n;
  uint64_t seed;
} latte_sampler_params;

typedef struct latte_sampler latte_sampler;

LATTE_API latte_sampler_params latte_sampler_default_params(void);
LATTE_API latte_status latte_sampler_create(const latte_sampler_params* params, latte_sampler** out);
LATTE_API void latte_sampler_free(latte_sampler* sampler);
/* Draws the next token from the session's last logits, with its history for the repetition penalty. */
LATTE_API latte_status latte_sampler_sample(latte_sampler* sampler, const latte_session* session, int32_t* token);

/* ---- generation ---- */
typedef enum latte_piece_kind {
  LATTE_PIECE_CONTENT = 0,   /* the answer */
  LATTE_PIECE_REASONING = 1  /* text of a <think> ... </think> section (tags not included) */
} latte_piece_kind;

/* Receives complete UTF-8 text (len bytes, not NUL-terminated). Return false to stop generating. */
typedef bool (*latte_piece_callback)(const char* text, size_t len, latte_piece_kind kind, void* user_data);

typedef enum latte_stop_reason {
  LATTE_STOP_EOG = 0,          /* end-of-generation token */
  LATTE_STOP_MAX_TOKENS = 1,
  LATTE_STOP_STRING = 2,       /* one of the stop strings (not included in the output) */
  LATTE_STOP_CANCELLED = 3,    /* the callback returned false or latte_session_cancel was called */
  LATTE_STOP_CONTEXT_FULL = 4  /* context full and context_shift off */
} latte_stop_reason;

typedef struct latte_generate_params {
  int32_t max_tokens;          /* -1 = until EOG or the context policy stops */
  const char* const* stop;     /* n_stop stop strings (may be NULL) */
  size_t n_stop;
  bool context_shift;          /* when full: drop the oldest tokens after n_keep and continue */
  int32_t n_keep;
  bool split_reasoning;        /* report <think> sections as LATTE_PIECE_REASONING (default true). A prompt that
                                  ends inside an open <think> (R1 generation prompt) starts in reasoning. */
  latte_sampler_params sampler;
  latte_piece_callback on_piece;  /* may be NULL */
  void* user_data;
} latte_generate_params;

typedef struct latte_generate_result {
  latte_stop_reason reason;
  int32_t n_prompt;            /* prompt tokens */
  int32_t n_prompt_evaluated;  /* of which evaluated (the rest was reused from the cache) */
  int32_t n_generated;         /* tokens generated */
  double prompt_seconds, gen_seconds;
  double constraint_seconds;   /* of gen_seconds: spent on the structured-output constraint (masks) */
} latte_generate_result;

LATTE_API latte_generate_params latte_generate_default_params(void);
/* Evaluates the prompt, reusing the longest cached prefix of the session, then samples and streams pieces until
 * EOG / a stop string / max_tokens / cancellation. Cancellation is not an error: it returns LATTE_OK with
 * reason LATTE_STOP_CANCELLED. result may be NULL. */
LATTE_API latte_status latte_generate(latte_session* session, const int32_t* prompt, size_t n_prompt,
                                      const latte_generate_params* params, latte_generate_result* result);

/* ---- structured output ----
 * A constraint set on a session applies to every later latte_generate on it (each generation starts a fresh
 * document) until it is replaced or cleared: a token is sampled only if the text so far stays a prefix of a valid
 * document, end-of-generation only once the document is complete, and when max_tokens (or a context that cannot
 * shift) is about to run out the document is closed by its shortest completion. Supported JSON Schema subset and
 * key-order policy: README "Structured output". Failures: LATTE_ERR_UNSUPPORTED naming the keyword (e.g.
 * "json schema: unsupported keyword 'pattern' at /properties/zip"), LATTE_ERR_ARGUMENT for malformed input; the
 * session's previous constraint is kept then. */
/* schema_json: a JSON Schema document (UTF-8, NUL-terminated); NULL or "" clears the constraint. */
LATTE_API latte_status latte_set_json_schema(latte_session* session, const char* schema_json);
/* Any JSON object (OpenAI's response_format {"type": "json_object"}). */
LATTE_API latte_status latte_set_json_object(latte_session* session);
/* A forced tool call in the chat format's own markup, for a prompt that ends with the call opener (what
 * tool_choice "required" / a named function appends): tools_json is a JSON array of tools ({"name", "parameters"}
 * or OpenAI's {"type": "function", "function": {...}}). name = NULL or "": the prompt's opener has no name yet and
 * the model writes one of the tools' names, then arguments matching that tool's `parameters`; otherwise the prompt
 * already holds `name` and only its arguments follow. Then the call and block closers. format: as for
 * latte_chat_format (NULL = the model's). */
LATTE_API latte_status latte_set_tool_call_schema(latte_session* session, const char* format, const char* tools_json,
                                                  const char* name);

#ifdef __cplusplus
}
#endif

#endif /* LATTE_H */
