// The decode loop shared by `latte run`, `latte chat`, the C API and the server: evaluate a prompt (with prefix
// reuse), then sample, stream text pieces (complete UTF-8 only), stop on EOG / stop strings / max tokens /
// cancellation; shift the latent cache when the context is full.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/session/constraint.h"
#include "runtime/session/sampler.h"
#include "runtime/session/session.h"
#include "runtime/text/stop_strings.h"

namespace latte {

struct GenerateParams {
  int max_tokens = 256;           // -1 = until EOG or context policy stops
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool context_shift = true;      // when full: drop oldest tokens after n_keep and continue
  int n_keep = 0;                 // tokens never discarded by a shift (e.g. BOS + system prompt)
  SamplerParams sampler;
  // Render CONTROL tokens' text into the stream (so chat's reasoning splitter and stop strings can see tags such as
  // </think> when a vocabulary marks them CONTROL). End-of-generation tokens are never rendered.
  bool render_special = false;
  // Optional: polled between prompt micro-batches and before each token; true stops with StopReason::Cancelled
  // (e.g. Ctrl-C, a closed HTTP connection). Called on the generating thread.
  std::function<bool()> cancel;
  // Optional grammar constraint (not owned; its vocabulary must have been built with the same render_special):
  // tokens it refuses are masked out before sampling, EOG only where its document is complete, and when the token
  // budget (max_tokens, or the context when it cannot shift) runs short it closes the document. The constraint's
  // state advances with every generated token (start each generation with a fresh one).
  TokenConstraint* constraint = nullptr;
};

enum class StopReason { Eog, MaxTokens, StopString, Cancelled, ContextFull };
const char* stop_reason_name(StopReason r);

struct GenerateResult {
  std::string text;               // all generated text (stop string excluded)
  std::vector<int32_t> tokens;    // generated ids
  StopReason reason = StopReason::MaxTokens;
  int n_prompt = 0, n_prompt_evaluated = 0;  // prompt tokens, and how many were not reused from the cache
  double prompt_seconds = 0, gen_seconds = 0;
  double constraint_seconds = 0;  // of gen_seconds: computing masks and advancing the constraint
};

// on_piece(text) receives streamed text; returning false cancels. Throws latte::Error on failure.
GenerateResult generate(Session& s, const std::vector<int32_t>& prompt, const GenerateParams& p,
                        const std::function<bool(const std::string&)>& on_piece = {});

}  // namespace latte
