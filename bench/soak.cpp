// Soak test driver (issue 9): one Session generates many tokens through latte::generate() with a small context, so
// the latent cache shifts many times, while resident memory is sampled from /proc/self/status. Prints the memory
// curve and a verdict; exits 1 if resident memory grew by more than --max-growth MiB after warm-up, 2 on errors.
//
// Usage: soak -m MODEL [-n TOKENS] [-c N_CTX] [--every N] [--warmup N] [--max-growth MIB] [-t THREADS]
//             [--seed S] [--csv FILE]
// Generation runs in chunks up to each multiple of --every tokens (one generate() call each, continuing the same
// session: the prompt of a chunk is the session's own history, so only its last token is re-evaluated). An end-of-generation token
// does not end the soak: a newline token is appended and generation continues.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/session/generate.h"
#include "runtime/session/session.h"

namespace {

struct Rss {
  double total_mib = 0, anon_mib = 0, file_mib = 0;
};

// VmRSS / RssAnon / RssFile of this process (kB in /proc/self/status) in MiB.
Rss read_rss() {
  Rss r;
  std::ifstream in("/proc/self/status");
  std::string line;
  auto field = [&](const char* key, double& out) {
    const size_t n = std::strlen(key);
    if (line.compare(0, n, key) == 0) out = std::strtod(line.c_str() + n, nullptr) / 1024.0;
  };
  while (std::getline(in, line)) {
    field("VmRSS:", r.total_mib);
    field("RssAnon:", r.anon_mib);
    field("RssFile:", r.file_mib);
  }
  return r;
}

struct Args {
  std::string model;
  long tokens = 100000;
  int n_ctx = 256;
  int every = 2000;
  long warmup = 5000;
  double max_growth = 8.0;
  int threads = 1;
  unsigned long long seed = 1;
  std::string csv;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "soak: error: %s\nusage: soak -m MODEL [-n TOKENS] [-c N_CTX] [--every N] [--warmup N] "
               "[--max-growth MIB] [-t THREADS] [--seed S] [--csv FILE]\n",
               msg);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage((k + " needs a value").c_str());
      return argv[++i];
    };
    if (k == "-m") a.model = val();
    else if (k == "-n") a.tokens = std::atol(val());
    else if (k == "-c") a.n_ctx = std::atoi(val());
    else if (k == "--every") a.every = std::atoi(val());
    else if (k == "--warmup") a.warmup = std::atol(val());
    else if (k == "--max-growth") a.max_growth = std::atof(val());
    else if (k == "-t") a.threads = std::atoi(val());
    else if (k == "--seed") a.seed = std::strtoull(val(), nullptr, 10);
    else if (k == "--csv") a.csv = val();
    else usage(("unknown argument " + k).c_str());
  }
  if (a.model.empty()) usage("-m MODEL is required");
  if (a.tokens <= 0 || a.n_ctx <= 8 || a.every <= 0 || a.warmup < 0 || a.threads < 0)
    usage("-n, -c (> 8), --every must be positive; --warmup, -t non-negative");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    latte::ModelParams mp;
    mp.path = a.model;
    auto model = latte::Model::load(mp);
    latte::SessionParams sp;
    sp.n_ctx = a.n_ctx;
    sp.n_threads = a.threads;
    latte::Session s(model, sp);
    const latte::Tokenizer& tok = model->tokenizer();
    std::vector<int32_t> nl = tok.encode("\n", false, false);
    const int32_t filler = nl.empty() ? 0 : nl.back();

    latte::GenerateParams gp;
    gp.max_tokens = a.every;
    gp.context_shift = true;
    gp.n_keep = 1;  // BOS
    gp.sampler.temp = 1.0f;
    gp.sampler.seed = a.seed;

    std::vector<int32_t> prompt = tok.encode("Once upon a time", true, false);
    std::FILE* csv = a.csv.empty() ? nullptr : std::fopen(a.csv.c_str(), "w");
    if (csv) std::fprintf(csv, "tokens,rss_mib,anon_mib,file_mib,context_shifts\n");

    std::printf("soak: %s, n_ctx %d, %ld tokens, sampling every %d\n", a.model.c_str(), s.n_ctx(), a.tokens,
                a.every);
    std::printf("%10s %10s %10s %10s %8s %9s\n", "tokens", "rss_mib", "anon_mib", "file_mib", "shifts", "tok/s");
    long done = 0, eogs = 0;
    double min_rss = 1e300, max_rss = 0, min_anon = 1e300, max_anon = 0, secs = 0;
    long last_done = 0;  // tokens / seconds at the previous sample: the tok/s column is per interval
    double last_secs = 0;
    Rss first_after_warmup{};
    bool have_first = false;
    auto report = [&]() {
      const Rss r = read_rss();
      const latte::SessionStats st = s.stats();
      std::printf("%10ld %10.1f %10.1f %10.1f %8lld %9.0f\n", done, r.total_mib, r.anon_mib, r.file_mib,
                  static_cast<long long>(st.context_shifts),
                  secs > last_secs ? double(done - last_done) / (secs - last_secs) : 0.0);
      last_done = done;
      last_secs = secs;
      std::fflush(stdout);
      if (csv)
        std::fprintf(csv, "%ld,%.2f,%.2f,%.2f,%lld\n", done, r.total_mib, r.anon_mib, r.file_mib,
                     static_cast<long long>(st.context_shifts));
      if (done >= a.warmup) {
        if (!have_first) first_after_warmup = r, have_first = true;
        min_rss = std::min(min_rss, r.total_mib);
        max_rss = std::max(max_rss, r.total_mib);
        min_anon = std::min(min_anon, r.anon_mib);
        max_anon = std::max(max_anon, r.anon_mib);
      }
    };
    report();
    while (done < a.tokens) {
      // Chunks end at multiples of --every (an EOG ends one early; the next continues up to the same mark).
      const long mark = std::min<long>((done / a.every + 1) * a.every, a.tokens);
      gp.max_tokens = static_cast<int>(mark - done);
      gp.sampler.seed = a.seed + static_cast<unsigned long long>(done);  // a fresh stream per chunk
      latte::GenerateResult r = latte::generate(s, prompt, gp);
      done += static_cast<long>(r.tokens.size());
      secs += r.gen_seconds + r.prompt_seconds;
      // Next chunk continues the same history (prefix reuse). After EOG, append a newline so it does not stop.
      prompt = s.tokens();
      if (r.reason == latte::StopReason::Eog) {
        ++eogs;
        if (static_cast<int>(prompt.size()) >= s.n_ctx()) {
          const int discard = (s.n_past() - gp.n_keep) / 2;
          s.shift(gp.n_keep, discard);
          prompt = s.tokens();
        }
        prompt.push_back(filler);
      } else if (r.reason != latte::StopReason::MaxTokens) {
        std::fprintf(stderr, "soak: error: generation stopped early (%s)\n", latte::stop_reason_name(r.reason));
        return 2;
      }
      if (done == mark) report();
    }
    if (csv) std::fclose(csv);
    const latte::SessionStats st = s.stats();
    const double growth = max_rss - min_rss, anon_growth = max_anon - min_anon;
    const bool flat = have_first && growth <= a.max_growth && anon_growth <= a.max_growth;
    std::printf("soak: %ld tokens in %.1f s (%.0f tok/s), %lld context shifts (%lld tokens discarded), %ld EOGs\n",
                done, secs, secs > 0 ? double(done) / secs : 0.0, static_cast<long long>(st.context_shifts),
                static_cast<long long>(st.tokens_discarded), eogs);
    if (!have_first) {
      std::printf("soak: verdict: UNKNOWN (no samples after the %ld-token warm-up)\n", a.warmup);
      return 1;
    }
    std::printf("soak: after %ld-token warm-up: VmRSS %.1f..%.1f MiB (max-min %.2f), RssAnon %.1f..%.1f MiB "
                "(max-min %.2f); limit %.1f MiB\n",
                a.warmup, min_rss, max_rss, growth, min_anon, max_anon, anon_growth, a.max_growth);
    std::printf("soak: verdict: %s\n", flat ? "FLAT" : "GROWING");
    return flat ? 0 : 1;
  } catch (const latte::Error& e) {
    std::fprintf(stderr, "soak: error: %s\n", e.what());
    return 2;
  }
}
