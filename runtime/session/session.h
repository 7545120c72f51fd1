// Session: one conversation (latent KV cache + token history; not thread-safe, one thread at a time) over a
// shared immutable Model (runtime/model/model.h). This is the C++ API under include/latte.h, cli/ and serve.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace latte {
struct OpProfile;
// Q4_H: deepseek2: Hadamard-rotated 4-bit c_kv (see latent_cache.h); deepseek4: IQ4_NL compressed rows and
// indexer keys + q8_0 window ring (see v4_cache.h).
enum class CacheType { F32, F16, BF16, Q8_0, Q4_H };
const char* cache_type_name(CacheType t);
bool parse_cache_type(const std::string& s, CacheType& out);

struct SessionParams {
  int n_ctx = 4096;           // tokens of latent cache (clamped to the model's context_length unless allow_longer)
  int n_threads = 0;          // 0 = physical cores
  int n_batch = 512;          // micro-batch size for prompt evaluation
  CacheType cache_type = CacheType::F16;
  int gemm_min_batch = 8;     // > 0: products over at least this many tokens go through gemm() (runtime/compute/gemm.h;
                              // its measured table still picks the row kernels where they win); 0 = kernels only
};

struct SessionStats {
  int64_t n_past = 0, n_ctx = 0;
  int64_t context_shifts = 0, tokens_discarded = 0;
  uint64_t cache_bytes_per_token = 0, cache_bytes_total = 0;
  uint64_t expert_evals = 0;  // (token, routed expert) pairs evaluated so far (only selected experts run)
};

class Session {
 public:
  Session(std::shared_ptr<const Model> model, const SessionParams& p);
  ~Session();
  const Model& model() const;

  // Appends `tokens` at position n_past() and runs the forward pass. If `all_logits` is non-null it receives
  // [tokens.size()][n_vocab] logits; the last token's logits are always available through logits().
  // Throws ResourceError if the tokens do not fit in the context (callers shift first), ArgumentError for ids
  // outside the vocabulary, CancelledError if should_stop returns true between micro-batches.
  void eval(std::span<const int32_t> tokens, float* all_logits = nullptr,
            const std::function<bool()>& should_stop = {});
  std::span<const float> logits() const;      // [n_vocab] of the last evaluated token
  int n_past() const;
  int n_ctx() const;
  const std::vector<int32_t>& tokens() const; // history whose latents are in the cache

  void truncate(int n);                        // keep the first n cached tokens (prefix reuse)
  // Drops cached tokens [keep, keep+discard) and moves the rest down, re-rotating k_pe to the new positions.
  void shift(int keep, int discard);
  // Evaluates only the part of `tokens` that is not already a prefix of the cache (truncating the rest).
  void eval_with_prefix_reuse(std::span<const int32_t> tokens, const std::function<bool()>& should_stop = {});

  void save(const std::string& path) const;    // latent cache + token history (small file)
  void load(const std::string& path);          // FormatError if it does not match this model / cache type
  SessionStats stats() const;
  // Per-product timing of later evals into *p (runtime/compute/op_profile.h; latte bench --profile); nullptr
  // stops it. p must outlive its use; not thread-safe with a running eval.
  void set_op_profile(OpProfile* p);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace latte
