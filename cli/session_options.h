// Flags shared by the commands that load a model and open a session (run, bench, perplexity): declared once
// here, turned into ModelParams / SessionParams / SamplerParams. Header-only; CLI-side only.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <cstdint>
#include <climits>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include "cli/command.h"
#include "cli/mem_option.h"
#include "formats/error.h"
#include "runtime/session/memory_plan.h"
#include "runtime/session/sampler.h"
#include "runtime/session/session.h"
#include "runtime/text/utf8.h"
#include "runtime/convert/quantize.h"

namespace latte::cli {

struct SessionOptions {
  CommonModelOptions model;
  int n_ctx = 4096;
  std::string cache_type = "f16";
  std::string expert_groups;  // "N,K" or "0" (disable); "" = from the file
  std::string isa;            // "" = best for this CPU
  bool mlock = false;         // lock the mapped weights in RAM
  bool no_populate = false;   // leave weight pages to be faulted in on first use
  bool no_repack = false;     // keep the weights zero-copy in the mapping (no huge-page / interleaved copy)
  std::string mem;            // --mem: "" (none), "auto" or bytes (mem_option.h)
  std::string expert_policy = "lfu";  // expert cache replacement policy
  int io_threads = 4;         // expert cache reader threads
  CLI::Option* ctx_opt = nullptr;  // -c, to tell a given value from the default

  // A session's context is capped to the model's training context (Session does it); a -c above that is said.
  void warn_ctx_cap(const Model& m) const {
    const int64_t train = m.hparams().n_ctx_train;
    if (ctx_opt && ctx_opt->count() > 0 && train > 0 && n_ctx > train)
      std::fprintf(stderr,
                   "latte: warning: -c %d is more than the model's training context (%lld tokens, "
                   "%s.context_length); using %lld\n",
                   n_ctx, (long long)train, m.hparams().arch.c_str(), (long long)train);
  }

  void add(CLI::App& sub, bool with_ctx = true) {
    add_model_options(sub, model);
    if (with_ctx)
      ctx_opt = sub.add_option("-c,--ctx-size", n_ctx,
                               "context size in tokens (default " + std::to_string(n_ctx) +
                                   "; at most the model's training context)");
    sub.add_option("--cache-type", cache_type, "KV cache type: f32, f16, bf16, q8_0, q4_h (deepseek2: 4-bit Hadamard-rotated latent; deepseek4: IQ4_NL compressed rows + q8_0 window; default f16)");
    sub.add_option("--expert-groups", expert_groups,
                   "group-limited routing override: N,K (N groups, keep K) or 0 to disable (default: from file)");
    sub.add_option("--isa", isa, "kernel ISA: scalar, avx2, avx512 (default: best for this CPU)");
    sub.add_flag("--mlock", mlock, "lock the model's weights in RAM (fails clearly if RLIMIT_MEMLOCK is too low)");
    sub.add_flag("--no-populate", no_populate,
                 "do not map all weight pages at load (default: mapped up front when the file fits in RAM)");
    sub.add_flag("--no-repack", no_repack,
                 "keep the weights zero-copy in the file mapping (default: copied at load into huge-page memory, "
                 "row-interleaved for the fast kernels, when RAM allows)");
    sub.add_option("--mem", mem, kMemHelp);
    sub.add_option("--expert-policy", expert_policy,
                   "expert cache replacement (with --mem): lfu (decayed frequency, default) or lru");
    sub.add_option("--io-threads", io_threads, "expert cache reader threads (with --mem; default 4)")
        ->check(CLI::Range(1, 64));
  }

  ModelParams model_params() const {
    ModelParams mp;
    mp.path = model.model;
    mp.isa = isa;
    mp.mlock = mlock;
    mp.populate = !no_populate;
    mp.repack = !no_repack;
    mp.mem_budget = parse_mem_bytes(mem);
    mp.expert_policy = expert_policy;
    mp.io_threads = io_threads;
    // Load progress bar on a terminal for files large enough to take a while (reading / mapping the weights).
    std::error_code ec;
    const auto size = std::filesystem::file_size(mp.path, ec);
    if (!ec && size >= (uint64_t{256} << 20) && ::isatty(2)) {
      auto bar = std::make_shared<quantize::ProgressBar>(true, "load ");
      mp.progress = [bar](float f) {
        bar->update(static_cast<uint64_t>(f * 1000.0f), 1000, "");
        if (f >= 1.0f) bar->finish();
      };
    }
    if (!expert_groups.empty()) {
      int n = -1, k = -1;
      char comma = 0, extra = 0;
      if (expert_groups == "0") {
        n = 0;
        k = 0;
      } else if (std::sscanf(expert_groups.c_str(), "%d%c%d%c", &n, &comma, &k, &extra) != 3 || comma != ',' ||
                 n <= 0 || k <= 0 || k > n) {
        throw ArgumentError("--expert-groups: expected N,K with 0 < K <= N, or 0; got '" + expert_groups + "'");
      }
      mp.expert_groups = n;
      mp.expert_groups_used = k;
    }
    return mp;
  }

  SessionParams session_params() const {
    SessionParams sp;
    if (n_ctx <= 0) throw ArgumentError("-c/--ctx-size must be > 0, got " + std::to_string(n_ctx));
    sp.n_ctx = n_ctx;
    sp.n_threads = model.threads;
    if (!parse_cache_type(cache_type, sp.cache_type))
      throw ArgumentError("--cache-type: unknown type '" + cache_type + "' (f32, f16, bf16, q8_0, q4_h)");
    return sp;
  }
};

// "(default V)" from the value itself, so --help cannot drift from the code (0.8f prints as 0.8).
template <class T>
std::string default_note(const T& v) {
  std::ostringstream os;
  os << "(default " << v << ")";
  return os.str();
}

struct SamplerOptions {
  SamplerParams p;
  void add(CLI::App& sub) {
    sub.add_option("--temp", p.temp, "temperature; <= 0 = greedy " + default_note(p.temp));
    sub.add_option("--top-k", p.top_k, "top-k, 0 = off " + default_note(p.top_k));
    sub.add_option("--top-p", p.top_p, "top-p, 1 = off " + default_note(p.top_p));
    sub.add_option("--min-p", p.min_p, "min-p, 0 = off " + default_note(p.min_p));
    sub.add_option("--repeat-penalty", p.repeat_penalty, "repetition penalty, 1 = off " + default_note(p.repeat_penalty));
    sub.add_option("--repeat-last-n", p.repeat_last_n,
                   "tokens the repetition penalty looks back " + default_note(p.repeat_last_n));
    sub.add_option("--seed", p.seed, "sampling seed " + default_note(p.seed));
  }
};

// Whole file as bytes; IoError naming the path if it cannot be read.
inline std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(std::string(what) + ": cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError(std::string(what) + ": read error on '" + path + "'");
  return ss.str();
}

// Compares the model's mapping and the sessions' working set with the memory available before any session is
// allocated: throws ResourceError (with a -c that would fit) when the working set cannot fit, and says on stderr
// what will happen when the weights will be paged from the mapped file.
inline void check_memory_before_sessions(const Model& model, const SessionParams& sp, int n_sessions = 1) {
  // --mem: one line saying whether the model fits its budget and what the expert cache uses.
  if (!model.memory_note().empty() && model.memory_note().find("does not fit") != std::string::npos)
    std::fprintf(stderr, "latte: %s\n", model.memory_note().c_str());
  MemoryPlan plan = plan_memory(model, sp, n_sessions);
  check_memory(plan);
  if (plan.fit != MemoryFit::InRam) std::fprintf(stderr, "latte: %s\n", describe(plan).c_str());
}

// "1,2,3", "1 2 3" or "[1, 2, 3]" -> ids (the --ids flag of tokenize and logits); ArgumentError naming the first
// item that is not a 32-bit integer.
inline std::vector<int32_t> parse_id_list(const std::string& str) {
  std::vector<int32_t> out;
  std::string tok;
  auto flush = [&] {
    if (tok.empty()) return;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != tok.size() || v < INT32_MIN || v > INT32_MAX) throw ArgumentError("--ids: '" + tok + "' is not a token id");
    out.push_back(static_cast<int32_t>(v));
    tok.clear();
  };
  for (char c : str) {
    if (c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '[' || c == ']') flush();
    else tok.push_back(c);
  }
  flush();
  return out;
}

// ArgumentError naming the byte offset of the first invalid UTF-8 sequence.
inline void require_utf8(const std::string& s, const char* what) {
  if (utf8::is_valid(s)) return;
  size_t i = 0;
  while (i < s.size()) {
    int len = 1;
    char32_t cp = utf8::decode(s, i, len);
    if (cp == utf8::kReplacement && !(len == 3 && s.compare(i, 3, "\xEF\xBF\xBD") == 0)) break;
    i += size_t(len);
  }
  throw ArgumentError(std::string(what) + " is not valid UTF-8 (first bad byte at offset " + std::to_string(i) + ")");
}

}  // namespace latte::cli
