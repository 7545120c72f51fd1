// Rotary position embedding of deepseek2: mode NORM (rotation of consecutive pairs (x[2i], x[2i+1])) over the
// R = qk_rope dims, with YaRN frequency blending (GGUF_DEEPSEEK.md §D.2). Rotations are pure (magnitude 1): all
// YaRN magnitude correction lives in kq_scale (§D.1). Angles are linear in the position, so a cached k_pe can be
// moved to a new position by rotating it by the position difference (context shift).
// Immutable after construction; thread-safe.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/model/hparams.h"

namespace latte {

class Rope {
 public:
  explicit Rope(const Hparams& hp);
  // Blended inverse frequency of pair i (θ_i(p) = p · freq(i)), i < R/2.
  double freq(int64_t i) const { return freq_[static_cast<size_t>(i)]; }
  int64_t dims() const { return n_rot_; }

  // cs[2i] = cos θ_i(pos), cs[2i+1] = sin θ_i(pos) for i < R/2 (pos may be negative: a backward rotation).
  void cos_sin(int64_t pos, float* cs) const;
  // Rotates the R values at x by the table cs (from cos_sin).
  void rotate(float* x, const float* cs) const;
  // Convenience: rotates `n` vectors of R values, `stride` floats apart, to position pos.
  void apply(float* x, int64_t n, int64_t stride, int64_t pos) const;

 private:
  int64_t n_rot_;
  std::vector<double> freq_;
};

}  // namespace latte
