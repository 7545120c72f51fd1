// Small helpers shared by the bench/ programs' hand-rolled flag parsing. Header-only; bench-side only.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace latte::bench {

// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

// "1,8,64" -> {1, 8, 64}.
inline std::vector<int64_t> split_ints(const std::string& s) {
  std::vector<int64_t> v;
  for (const auto& item : split_list(s)) v.push_back(std::atoll(item.c_str()));
  return v;
}

}  // namespace latte::bench
