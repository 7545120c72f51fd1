// --mem BYTES|auto (run, chat, bench, perplexity, logits, serve): the memory budget of ModelParams::mem_budget.
// Header-only; CLI-side only.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/error.h"
#include "runtime/model/model.h"

namespace latte::cli {

inline const char* kMemHelp =
    "memory budget for weights + sessions: bytes with an optional suffix K, M, G, T (binary: 6G = 6GiB; KB, MB, "
    "GB, TB are decimal) or 'auto' (what is available, cgroup limit respected). A model that does not fit serves "
    "its routed experts from an expert cache (same output, disk-bound speed). Default: no budget (mmap)";

// "" -> 0 (no budget), "auto" -> ModelParams::kMemAuto, else bytes. ArgumentError for anything else.
inline uint64_t parse_mem_bytes(const std::string& s) {
  if (s.empty()) return 0;
  if (s == "auto") return ModelParams::kMemAuto;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  std::string suf(end);
  double mult = 1.0;
  if (!suf.empty()) {
    const char c = static_cast<char>(suf[0] & ~0x20);  // upper case
    const std::string rest = suf.substr(1);
    const int power = c == 'K' ? 1 : c == 'M' ? 2 : c == 'G' ? 3 : c == 'T' ? 4 : c == 'B' && rest.empty() ? 0 : -1;
    const bool binary = rest.empty() || rest == "iB" || rest == "ib";
    const bool decimal = rest == "B" || rest == "b";
    if (power < 0 || (!binary && !decimal))
      throw ArgumentError("--mem: expected bytes with a suffix K, M, G, T (or KiB.., KB..) or 'auto', got '" + s + "'");
    mult = std::pow(binary ? 1024.0 : 1000.0, power);
  }
  if (end == s.c_str() || !(v > 0) || !std::isfinite(v * mult) || v * mult >= 1.8e19)
    throw ArgumentError("--mem: expected a positive size such as 6G or 'auto', got '" + s + "'");
  return static_cast<uint64_t>(v * mult);
}

}  // namespace latte::cli
