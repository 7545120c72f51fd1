// `latte perplexity`: llama-perplexity protocol over a text file (tokens = [BOS] + encode(text), chunks of -c
// tokens each starting with BOS, NLL of positions c/2 .. c-2 predicting the next token), progress bar on stderr,
// then `PPL = x ± y`. --kld-base FILE: if FILE does not exist, the scored logits are saved there (base run); if it
// exists, this run is compared against it (mean KL divergence, top-1 agreement, both PPLs). --save-logits FILE
// always saves. Computation: runtime/session/perplexity.h (plain runs), runtime/session/scored_logits.h (runs with logit files).
#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/session_options.h"
#include "runtime/session/perplexity.h"
#include "runtime/session/scored_logits.h"

namespace latte::cli {
namespace {

struct PplOptions {
  SessionOptions session;
  std::string text_file, kld_base, save_logits;
  int n_chunks = -1;
  bool json = false;
};

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

void progress_bar(int done, int total, double ppl) {
  const int width = 30;
  int fill = total > 0 ? done * width / total : width;
  std::string bar(size_t(fill), '=');
  if (fill < width) bar += '>' + std::string(size_t(width - fill - 1), ' ');
  std::fprintf(stderr, "\r[%s] %d/%d chunks, PPL %.4f", bar.c_str(), done, total, ppl);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

int perplexity(PplOptions& o) {
  if (o.n_chunks == 0 || o.n_chunks < -1) throw ArgumentError("--chunks must be >= 1 (or -1 = all)");
  std::string text = read_text_file(o.text_file, "text file");
  require_utf8(text, "text file");
  SessionParams sp = o.session.session_params();
  const int chunk = sp.n_ctx;
  if (chunk < 4) throw ArgumentError("-c must be >= 4 for perplexity");

  auto model = Model::load(o.session.model_params());
  const Tokenizer& tok = model->tokenizer();
  std::vector<int32_t> tokens;
  if (tok.bos() >= 0) tokens.push_back(tok.bos());
  auto body = tok.encode(text, /*add_bos=*/false, /*parse_special=*/false);
  tokens.insert(tokens.end(), body.begin(), body.end());
  if (int64_t(tokens.size()) < chunk)
    throw ArgumentError(o.text_file + ": " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                        std::to_string(chunk) + " (lower -c)");
  Session s(model, sp);
  if (s.n_ctx() < chunk)
    throw ArgumentError("-c " + std::to_string(chunk) + " exceeds the model's context " + std::to_string(s.n_ctx()));

  PerplexityParams pp;
  pp.n_ctx = chunk;
  pp.n_chunks = o.n_chunks;
  pp.bos = tok.bos();

  LogitsFileParams files;
  files.save_path = o.save_logits;
  bool saving_base = false;
  if (!o.kld_base.empty()) {
    if (file_exists(o.kld_base)) {
      files.base_path = o.kld_base;
    } else {
      saving_base = true;
      if (files.save_path.empty()) files.save_path = o.kld_base;
      else if (files.save_path != o.kld_base)
        throw ArgumentError("--kld-base file does not exist and --save-logits names another file: give one of them");
    }
  }
  const int avail = int(tokens.size() / size_t(chunk));
  int n_chunks = o.n_chunks > 0 ? std::min(o.n_chunks, avail) : avail;
  if (o.n_chunks <= 0 && !files.base_path.empty())
    n_chunks = std::min(avail, int(ScoredLogitsReader(files.base_path).header().n_chunks));
  if (!o.json)
    std::fprintf(stderr, "latte: %zu tokens, %d chunks of %d, scoring %d positions per chunk\n", tokens.size(),
                 n_chunks, chunk, chunk - 1 - chunk / 2);
  LogitsFileComparison cmp;
  PerplexityResult r = files.save_path.empty() && files.base_path.empty()
                           ? compute_perplexity(s, tokens, pp, progress_bar)
                           : perplexity_with_logits_files(s, tokens, pp, files, cmp, progress_bar);

  if (o.json) {
    nlohmann::json j;
    j["ppl"] = r.ppl;
    j["ppl_stderr"] = r.ppl_stderr;
    j["mean_nll"] = r.mean_nll;
    j["nll_stderr"] = r.nll_stderr;
    j["n_scored"] = r.n_scored;
    j["n_chunks"] = r.n_chunks;
    j["n_ctx"] = chunk;
    j["running_ppl"] = r.running_ppl;
    if (!files.save_path.empty()) j["saved_logits"] = files.save_path;
    if (cmp.compared)
      j["kld"] = {{"base_file", files.base_path}, {"n", cmp.n}, {"mean_kld", cmp.mean_kld},
                  {"kld_stderr", cmp.kld_stderr}, {"top1_agreement", cmp.top1_agreement},
                  {"base_ppl", cmp.base_ppl}, {"base_ppl_stderr", cmp.base_ppl_stderr}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("PPL = %.4f ± %.4f\n", r.ppl, r.ppl_stderr);
  if (!files.save_path.empty())
    std::fprintf(stderr, "latte: saved scored logits to %s%s\n", files.save_path.c_str(),
                 saving_base ? " (base for --kld-base)" : "");
  if (cmp.compared) {
    std::printf("base PPL = %.4f ± %.4f\n", cmp.base_ppl, cmp.base_ppl_stderr);
    std::printf("PPL ratio = %.4f (%+.3f %%)\n", r.ppl / cmp.base_ppl, 100.0 * (r.ppl / cmp.base_ppl - 1.0));
    std::printf("mean KLD = %.6f ± %.6f\n", cmp.mean_kld, cmp.kld_stderr);
    std::printf("top-1 agreement = %.2f %% (%lld positions)\n", 100.0 * cmp.top1_agreement, (long long)cmp.n);
  }
  return 0;
}

const Registrar reg{Command{
    "perplexity", "perplexity of a text (llama-perplexity protocol), optionally KL divergence against a base run",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<PplOptions>();
      o->session.n_ctx = 512;
      o->session.add(sub);
      sub.add_option("-f,--file", o->text_file, "text file to score")->required();
      sub.add_option("--chunks", o->n_chunks, "number of chunks to score (default: all)");
      sub.add_option("--kld-base", o->kld_base,
                     "scored-logits file: saved here if missing, else compared against (KL divergence, top-1)");
      sub.add_option("--save-logits", o->save_logits, "save the scored logits of this run to a file");
      sub.add_flag("--json", o->json, "print one JSON object");
      return [o] { return perplexity(*o); };
    },
    50}};

}  // namespace
}  // namespace latte::cli
