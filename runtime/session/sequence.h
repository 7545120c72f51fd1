// Sequence: the architecture's state of one sequence behind a Session (its cache and forward-pass scratch),
// chosen once per Session by make_sequence() from Model::arch(): deepseek2's latent cache (latent_sequence.cpp) or
// deepseek4's window ring + compressed rows (v4_sequence.cpp). Session keeps the token history, logits, batching
// and the session-file header; everything that depends on the cache's layout is here. Not thread-safe.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "runtime/session/session.h"

namespace latte {
class Ops;

class Sequence {
 public:
  virtual ~Sequence() = default;
  virtual int64_t n_ctx() const = 0;
  virtual CacheType cache_type() const = 0;
  // Evaluates tokens at positions pos0.. (the state holds exactly pos0 tokens). logits as forward() / v4_forward().
  virtual void eval(Ops& ops, const int32_t* tokens, int64_t n, int64_t pos0, float* logits, bool all_rows) = 0;
  // Makes the state that of the first n tokens of `hist` (the tokens evaluated so far; n <= hist.size()).
  virtual void truncate(Ops& ops, const std::vector<int32_t>& hist, int64_t n) = 0;
  // Whether shift() can move cached tokens. If not (deepseek4: compressed rows pool fixed blocks at absolute
  // positions), Session re-evaluates the kept tokens instead.
  virtual bool shiftable() const = 0;
  // Drops tokens [keep, keep+discard) of the n_past cached ones, moving the rest down (shiftable() only).
  virtual void shift(int64_t keep, int64_t discard, int64_t n_past) = 0;
  // Cache payload of a session file (after the header and history). false on a short write / read or bad data.
  virtual bool save(FILE* f, int64_t n_past) const = 0;
  virtual bool load(FILE* f, int64_t n_past) = 0;
  virtual uint64_t bytes_per_token() const = 0;
  virtual uint64_t total_bytes() const = 0;
  virtual uint64_t expert_evals() const = 0;
};

std::unique_ptr<Sequence> make_latent_sequence(const Model& m, int64_t n_ctx, CacheType type);
std::unique_ptr<Sequence> make_v4_sequence(const Model& m, int64_t n_ctx, CacheType type);

inline std::unique_ptr<Sequence> make_sequence(const Model& m, int64_t n_ctx, CacheType type) {
  return m.arch() == Arch::Deepseek4 ? make_v4_sequence(m, n_ctx, type) : make_latent_sequence(m, n_ctx, type);
}

}  // namespace latte
