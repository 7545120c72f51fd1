// Perplexity by the llama-perplexity protocol: the token stream is cut into chunks of n_ctx tokens, the first token
// of each chunk is replaced by BOS (if given), every chunk is evaluated from an empty cache and the NLL of the
// predictions at positions [n_ctx/2, n_ctx-1) is averaged (each position predicts the next token).
// Optionally compares against a base model's session (KL divergence, top-1 agreement), like
// llama-perplexity --kl-divergence. Uses (and clears) the sessions' caches. Not thread-safe per session.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace latte {
class Session;

struct PerplexityParams {
  int n_ctx = 512;                // chunk length (the session's n_ctx must be at least this)
  int n_chunks = -1;              // -1: all full chunks of the text
  int32_t bos = -1;               // token written at the start of every chunk; -1 keeps the text's own token
  Session* kld_base = nullptr;    // optional base-model session (same vocabulary)
};

struct PerplexityResult {
  double ppl = 0, ppl_stderr = 0;     // exp(mean NLL) and its standard error
  double mean_nll = 0, nll_stderr = 0;
  int64_t n_scored = 0;
  int n_chunks = 0;
  std::vector<double> running_ppl;    // after each chunk
  // Only with kld_base:
  double mean_kld = 0, kld_stderr = 0;  // mean KL(base || model) per scored token (nats)
  double top1_agreement = 0;            // fraction of scored positions with the same argmax
};

// progress(chunks_done, chunks_total, running_ppl) after each chunk. Throws ArgumentError if the text has fewer
// than one chunk of tokens or n_ctx is too large for the session, and whatever Session::eval throws.
PerplexityResult compute_perplexity(Session& s, std::span<const int32_t> tokens, const PerplexityParams& p,
                                    const std::function<void(int, int, double)>& progress = {});

}  // namespace latte
