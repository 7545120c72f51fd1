// The decode loop (see generate.h). One call = prompt evaluation (reusing the cached prefix) + sampling loop.
// Text path per generated token: Tokenizer::token_bytes -> Utf8Stream (complete UTF-8 only; bytes that can never
// complete become U+FFFD) -> StopMatcher (holds back a possible stop-string start) -> on_piece.
// Context policy: before evaluating a token into a full cache, shift: keep n_keep tokens, drop half of the rest.
// Thread-safety: uses the Session from the calling thread only (Session is single-threaded).
#include "runtime/session/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "formats/error.h"
#include "runtime/text/utf8.h"

namespace latte {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Eog: return "eog";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::StopString: return "stop_string";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::ContextFull: return "context_full";
  }
  return "unknown";
}

// ---- generate ----

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

GenerateResult generate(Session& s, const std::vector<int32_t>& prompt, const GenerateParams& p,
                        const std::function<bool(const std::string&)>& on_piece) {
  const Tokenizer& tok = s.model().tokenizer();
  const int n_ctx = s.n_ctx();
  GenerateResult r;
  r.n_prompt = int(prompt.size());
  if (prompt.empty()) throw ArgumentError("generate: empty prompt (at least one token, e.g. BOS, is needed)");
  if (int64_t(prompt.size()) > n_ctx)
    throw ResourceError("prompt is " + std::to_string(prompt.size()) + " tokens but the context holds " +
                        std::to_string(n_ctx) + " (raise -c / n_ctx or shorten the prompt)");
  for (int32_t id : prompt)
    if (id < 0 || id >= tok.n_vocab())
      throw ArgumentError("generate: prompt token id " + std::to_string(id) + " outside the vocabulary [0, " +
                          std::to_string(tok.n_vocab()) + ")");
  Sampler sampler(p.sampler);
  TokenConstraint* constraint = p.constraint;
  if (constraint && constraint->vocab().render_special() != p.render_special)
    throw ArgumentError("generate: the constraint's vocabulary renders special tokens differently from this generation");
  if (constraint && constraint->vocab().n_vocab() != tok.n_vocab())
    throw ArgumentError("generate: the constraint was built for another vocabulary");
  std::vector<float> masked;  // constrained logits, reused

  // ---- prompt: reuse the cached common prefix, but always evaluate at least the last prompt token so that
  // logits() belong to it.
  auto t0 = Clock::now();
  {
    const auto& cached = s.tokens();
    size_t common = 0;
    while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common]) ++common;
    if (common >= prompt.size()) common = prompt.size() - 1;  // Session re-evaluates the last token then
    r.n_prompt_evaluated = int(prompt.size() - common);
    try {
      s.eval_with_prefix_reuse(prompt, p.cancel);
    } catch (const CancelledError&) {
      // The micro-batches evaluated so far stay cached (a later call reuses them as a prefix).
      r.prompt_seconds = seconds_since(t0);
      r.reason = StopReason::Cancelled;
      return r;
    }
  }
  r.prompt_seconds = seconds_since(t0);

  // ---- decode loop
  auto t1 = Clock::now();
  Utf8Stream utf8_stream;
  StopMatcher stops(p.stop);
  bool cancelled = false;
  auto emit = [&](const std::string& piece) {
    if (piece.empty() || cancelled) return;
    r.text += piece;
    if (on_piece && !on_piece(piece)) cancelled = true;
  };
  const int n_keep = std::clamp(p.n_keep, 0, n_ctx);
  r.reason = StopReason::MaxTokens;
  while (p.max_tokens < 0 || int(r.tokens.size()) < p.max_tokens) {
    if (p.cancel && p.cancel()) {
      r.reason = StopReason::Cancelled;
      break;
    }
    std::span<const float> logits = s.logits();
    if (constraint) {
      auto tc = Clock::now();
      // Tokens that may still be sampled, this one and an EOG included.
      int64_t left = p.max_tokens >= 0 ? int64_t(p.max_tokens) - int64_t(r.tokens.size())
                     : !p.context_shift ? int64_t(n_ctx) - s.n_past() + 1
                                        : std::numeric_limits<int64_t>::max();
      constraint->set_budget(left);
      masked.assign(logits.begin(), logits.end());
      const size_t n_allowed = constraint->apply(masked);
      r.constraint_seconds += seconds_since(tc);
      if (n_allowed == 0) {  // nothing can follow (the grammar needs a byte the vocabulary cannot spell)
        r.reason = StopReason::Eog;
        break;
      }
      logits = masked;
    }
    int32_t next = sampler.sample(logits, s.tokens());
    if (constraint) {
      auto tc = Clock::now();
      // A masked token can only come back from the sampler's rounding fallback: take the best allowed one.
      if (!std::isfinite(masked[size_t(next)])) next = argmax(masked);
      if (!constraint->accept(next))
        throw Error(ErrorKind::Resource, "generate: the constraint refused a token its own mask allowed (a bug)");
      r.constraint_seconds += seconds_since(tc);
    }
    if (tok.is_eog(next)) {
      r.reason = StopReason::Eog;
      break;
    }
    r.tokens.push_back(next);
    emit(stops.push(utf8::sanitize(utf8_stream.push(tok.token_bytes(next, p.render_special)))));
    if (stops.stopped()) {
      r.reason = StopReason::StopString;
      break;
    }
    if (cancelled) {
      r.reason = StopReason::Cancelled;
      break;
    }
    if (p.max_tokens >= 0 && int(r.tokens.size()) >= p.max_tokens) break;  // no need to evaluate the last one
    if (s.n_past() >= n_ctx) {
      const int n_discard = (s.n_past() - n_keep) / 2;
      if (!p.context_shift || n_discard <= 0) {
        r.reason = StopReason::ContextFull;
        break;
      }
      s.shift(n_keep, n_discard);
    }
    const int32_t one[1] = {next};
    s.eval(one);
  }
  if (r.reason != StopReason::StopString && r.reason != StopReason::Cancelled) {
    emit(stops.push(utf8::sanitize(utf8_stream.flush())));
    if (stops.stopped()) r.reason = StopReason::StopString;
    emit(stops.flush());
    if (cancelled) r.reason = StopReason::Cancelled;
  }
  r.gen_seconds = seconds_since(t1);
  return r;
}

}  // namespace latte
