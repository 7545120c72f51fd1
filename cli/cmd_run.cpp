// `latte run`: one prompt -> streamed continuation on stdout, then prompt / generation speed on stderr
// (like llama.cpp's perf lines). With --json the continuation is not streamed; one JSON object is printed instead.
// Ctrl-C stops generation cleanly (the text so far and the timings are still printed; exit code 130).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/session_options.h"
#include "runtime/session/generate.h"
#include "runtime/text/json_schema.h"

namespace latte::cli {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

struct RunOptions {
  SessionOptions session;
  SamplerOptions sampler;
  std::string prompt, prompt_file;
  CLI::Option *prompt_opt = nullptr, *file_opt = nullptr;  // given on the command line?
  int n_predict = 256;
  std::vector<std::string> stop;
  bool json = false;
  bool no_special = false;
  std::string json_schema;  // file with a JSON Schema: the output is a document matching it
  bool json_object = false;  // the output is a JSON object
};

void print_perf(const GenerateResult& r) {
  auto line = [](const char* what, int n, double s) {
    double ms = s * 1e3;
    std::fprintf(stderr, "latte: %-11s = %10.2f ms / %5d tokens (%8.2f ms per token, %9.2f tokens per second)\n",
                 what, ms, n, n > 0 ? ms / n : 0.0, s > 0 ? n / s : 0.0);
  };
  line("prompt eval", r.n_prompt_evaluated, r.prompt_seconds);
  line("generation", int(r.tokens.size()), r.gen_seconds);
  if (r.constraint_seconds > 0) line("constraint", int(r.tokens.size()), r.constraint_seconds);
}

int run(RunOptions& o) {
  const bool p_given = o.prompt_opt && o.prompt_opt->count() > 0, f_given = o.file_opt && o.file_opt->count() > 0;
  if (p_given && f_given) throw ArgumentError("give the prompt with only one of -p/--prompt and -f/--file, not both");
  if (!p_given && !f_given) throw ArgumentError("no prompt: give -p/--prompt TEXT or -f/--file FILE");
  if (p_given && o.prompt.empty()) throw ArgumentError("the prompt given with -p/--prompt is empty");
  if (o.n_predict < -1) throw ArgumentError("-n/--n-predict must be >= -1 (-1 = until end of generation), got " +
                                            std::to_string(o.n_predict));
  std::string prompt = o.prompt_file.empty() ? o.prompt : read_text_file(o.prompt_file, "prompt file");
  require_utf8(prompt, o.prompt_file.empty() ? "prompt" : "prompt file");
  SessionParams sp = o.session.session_params();
  Sampler check(o.sampler.p);  // validates sampler flags before the (slow) model load
  if (o.json_object && !o.json_schema.empty()) throw ArgumentError("give at most one of --json-schema and --json-object");
  std::shared_ptr<const JsonGrammar> grammar;  // compiled before the model load: a bad schema fails fast
  if (!o.json_schema.empty())
    grammar = std::make_shared<const JsonGrammar>(compile_json_schema_text(read_text_file(o.json_schema, "schema file")));
  else if (o.json_object)
    grammar = std::make_shared<const JsonGrammar>(json_object_grammar());

  auto model = Model::load(o.session.model_params());
  o.session.warn_ctx_cap(*model);
  check_memory_before_sessions(*model, sp);
  Session session(model, sp);
  std::vector<int32_t> ids = model->tokenizer().encode(prompt, /*add_bos=*/true, /*parse_special=*/!o.no_special);
  if (int64_t(ids.size()) > session.n_ctx())
    throw ResourceError("prompt is " + std::to_string(ids.size()) + " tokens but the context holds " +
                        std::to_string(session.n_ctx()) + " (raise -c or shorten the prompt)");
  {
    const auto cst = session.stats();  // memory report once the run is accepted (stderr; errors stay one line)
    std::fprintf(stderr, "latte: latent cache %s: %llu bytes/token, %.1f MiB for n_ctx %lld\n",
                 cache_type_name(sp.cache_type), (unsigned long long)cst.cache_bytes_per_token,
                 double(cst.cache_bytes_total) / (1024.0 * 1024.0), (long long)cst.n_ctx);
  }

  GenerateParams gp;
  gp.max_tokens = o.n_predict;
  gp.stop = o.stop;
  gp.sampler = o.sampler.p;
  gp.n_keep = model->tokenizer().add_bos() ? 1 : 0;
  gp.cancel = [] { return g_interrupted.load(); };
  std::unique_ptr<TokenConstraint> constraint;
  if (grammar) {
    constraint = std::make_unique<TokenConstraint>(grammar,
                                                   std::make_shared<const VocabIndex>(model->tokenizer(), gp.render_special));
    gp.constraint = constraint.get();
  }

  g_interrupted.store(false);
  auto prev = std::signal(SIGINT, on_sigint);
  GenerateResult r;
  try {
    r = generate(session, ids, gp, [&](const std::string& piece) {
      if (!o.json) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      }
      return !g_interrupted.load();
    });
  } catch (...) {
    std::signal(SIGINT, prev);
    throw;
  }
  std::signal(SIGINT, prev);

  if (o.json) {
    nlohmann::json j;
    j["text"] = r.text;
    j["tokens"] = r.tokens;
    j["stop_reason"] = stop_reason_name(r.reason);
    j["n_prompt"] = r.n_prompt;
    j["prompt_seconds"] = r.prompt_seconds;
    j["gen_seconds"] = r.gen_seconds;
    j["constraint_seconds"] = r.constraint_seconds;
    j["prompt_tokens_per_second"] = r.prompt_seconds > 0 ? r.n_prompt_evaluated / r.prompt_seconds : 0.0;
    j["gen_tokens_per_second"] = r.gen_seconds > 0 ? double(r.tokens.size()) / r.gen_seconds : 0.0;
    auto st = session.stats();
    j["context_shifts"] = st.context_shifts;
    j["cache_type"] = cache_type_name(sp.cache_type);
    j["cache_bytes_per_token"] = st.cache_bytes_per_token;
    j["cache_bytes_total"] = st.cache_bytes_total;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);
  print_perf(r);
  auto st = session.stats();
  if (st.context_shifts > 0)
    std::fprintf(stderr, "latte: context shifts = %lld (%lld tokens discarded)\n", (long long)st.context_shifts,
                 (long long)st.tokens_discarded);
  if (r.reason == StopReason::Cancelled) {
    std::fprintf(stderr, "latte: interrupted\n");
    return 130;  // the shell convention for SIGINT
  }
  return 0;
}

const Registrar reg{Command{
    "run", "generate a continuation of a prompt",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<RunOptions>();
      o->session.add(sub);
      o->sampler.add(sub);
      o->prompt_opt = sub.add_option("-p,--prompt", o->prompt, "prompt text");
      o->file_opt = sub.add_option("-f,--file", o->prompt_file, "read the prompt from a file");
      sub.add_option("-n,--n-predict", o->n_predict,
                     "tokens to generate, -1 = until end of generation " + default_note(o->n_predict));
      sub.add_option("--stop", o->stop, "stop string (repeatable); not printed");
      sub.add_flag("--no-special", o->no_special, "do not parse special-token text in the prompt");
      sub.add_flag("--json", o->json, "print one JSON object (text, tokens, timings) instead of streaming");
      sub.add_option("--json-schema", o->json_schema,
                     "constrain the output to a JSON document matching the JSON Schema in FILE (subset: README)");
      sub.add_flag("--json-object", o->json_object, "constrain the output to a JSON object");
      return [o] { return run(*o); };
    },
    10}};

}  // namespace
}  // namespace latte::cli
