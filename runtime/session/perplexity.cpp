// Perplexity / KL divergence over chunks (see perplexity.h).
#include "runtime/session/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "formats/error.h"
#include "runtime/session/session.h"

namespace latte {
namespace {

// log-softmax normaliser: log Σ exp(x)
double log_sum_exp(const float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - mx);
  return mx + std::log(s);
}

int64_t argmax_of(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

}  // namespace

PerplexityResult compute_perplexity(Session& s, std::span<const int32_t> tokens, const PerplexityParams& p,
                                    const std::function<void(int, int, double)>& progress) {
  const int64_t n_ctx = p.n_ctx;
  if (n_ctx < 4) throw ArgumentError("perplexity: context must be >= 4 tokens");
  if (n_ctx > s.n_ctx())
    throw ArgumentError("perplexity: chunk size " + std::to_string(n_ctx) + " exceeds the session context " +
                        std::to_string(s.n_ctx()));
  if (p.kld_base && n_ctx > p.kld_base->n_ctx())
    throw ArgumentError("perplexity: chunk size exceeds the base session context");
  const int64_t avail = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (avail < 1)
    throw ArgumentError("perplexity: need at least " + std::to_string(n_ctx) + " tokens, got " +
                        std::to_string(tokens.size()));
  const int64_t n_chunks = p.n_chunks > 0 ? std::min<int64_t>(p.n_chunks, avail) : avail;
  const int64_t V = s.model().hparams().n_vocab;
  if (p.kld_base && p.kld_base->model().hparams().n_vocab != V)
    throw ArgumentError("perplexity: base model vocabulary differs");
  const int64_t first = n_ctx / 2;

  PerplexityResult r;
  double nll = 0, nll2 = 0, kld = 0, kld2 = 0;
  int64_t agree = 0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  std::vector<float> logits(static_cast<size_t>(n_ctx * V)), base(p.kld_base ? logits.size() : 0);
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (p.bos >= 0) chunk[0] = p.bos;
    s.truncate(0);
    s.eval(chunk, logits.data());
    if (p.kld_base) {
      p.kld_base->truncate(0);
      p.kld_base->eval(chunk, base.data());
    }
    for (int64_t j = first; j < n_ctx - 1; ++j) {
      const float* row = logits.data() + j * V;
      const double lse = log_sum_exp(row, V);
      const double v = lse - row[chunk[static_cast<size_t>(j + 1)]];
      nll += v;
      nll2 += v * v;
      ++r.n_scored;
      if (p.kld_base) {
        const float* brow = base.data() + j * V;
        const double blse = log_sum_exp(brow, V);
        double k = 0;
        for (int64_t i = 0; i < V; ++i) {
          const double lb = brow[i] - blse, lm = row[i] - lse;
          k += std::exp(lb) * (lb - lm);
        }
        kld += k;
        kld2 += k * k;
        agree += argmax_of(row, V) == argmax_of(brow, V);
      }
    }
    r.running_ppl.push_back(std::exp(nll / static_cast<double>(r.n_scored)));
    if (progress) progress(static_cast<int>(c + 1), static_cast<int>(n_chunks), r.running_ppl.back());
  }
  const double n = static_cast<double>(r.n_scored);
  r.n_chunks = static_cast<int>(n_chunks);
  r.mean_nll = nll / n;
  const double var = std::max(0.0, nll2 / n - r.mean_nll * r.mean_nll);
  r.nll_stderr = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  r.ppl = std::exp(r.mean_nll);
  r.ppl_stderr = r.ppl * r.nll_stderr;
  if (p.kld_base) {
    r.mean_kld = kld / n;
    const double kv = std::max(0.0, kld2 / n - r.mean_kld * r.mean_kld);
    r.kld_stderr = n > 1 ? std::sqrt(kv / (n - 1)) : 0.0;
    r.top1_agreement = static_cast<double>(agree) / n;
  }
  return r;
}

}  // namespace latte
