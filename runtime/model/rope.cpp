// RoPE (NORM mode) with YaRN blending (§D.2).
#include "runtime/model/rope.h"

#include <algorithm>
#include <cmath>

namespace latte {

Rope::Rope(const Hparams& hp) : n_rot_(hp.qk_rope) {
  const int64_t half = n_rot_ / 2;
  freq_.resize(static_cast<size_t>(half));
  const double base = hp.rope_base, R = static_cast<double>(n_rot_);
  // YaRN correction range over the pair index: corr(n) = R·ln(n_ctx_orig / (2π n)) / (2 ln base).
  double low = 0, high = 0;
  if (hp.ext_factor != 0.0f) {
    const double pi = 3.14159265358979323846;
    auto corr = [&](double nrot) {
      return R * std::log(static_cast<double>(hp.n_ctx_orig) / (nrot * 2.0 * pi)) / (2.0 * std::log(base));
    };
    low = std::max(0.0, std::floor(corr(hp.beta_fast)));
    high = std::min(R - 1.0, std::ceil(corr(hp.beta_slow)));
  }
  for (int64_t i = 0; i < half; ++i) {
    const double extrap = std::pow(base, -2.0 * static_cast<double>(i) / R);
    const double interp = hp.freq_scale * extrap;
    double mix = 0.0;
    if (hp.ext_factor != 0.0f) {
      const double y = (static_cast<double>(i) - low) / std::max(0.001, high - low);
      mix = (1.0 - std::clamp(y, 0.0, 1.0)) * hp.ext_factor;
    }
    freq_[static_cast<size_t>(i)] = interp * (1.0 - mix) + extrap * mix;
  }
}

void Rope::cos_sin(int64_t pos, float* cs) const {
  for (size_t i = 0; i < freq_.size(); ++i) {
    const double th = static_cast<double>(pos) * freq_[i];
    cs[2 * i] = static_cast<float>(std::cos(th));
    cs[2 * i + 1] = static_cast<float>(std::sin(th));
  }
}

void Rope::rotate(float* x, const float* cs) const {
  for (int64_t i = 0; i < n_rot_ / 2; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

void Rope::apply(float* x, int64_t n, int64_t stride, int64_t pos) const {
  std::vector<float> cs(static_cast<size_t>(n_rot_));
  cos_sin(pos, cs.data());
  for (int64_t k = 0; k < n; ++k) rotate(x + k * stride, cs.data());
}

}  // namespace latte
