// Helpers shared by the test suites (never part of the shipped library).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace latte::test {

// ../shared beside the source tree (CI lays it there); models live in shared_dir()/models.
inline std::string shared_dir() { return LATTE_SHARED_DIR; }
inline std::string model_path(const std::string& rel) { return shared_dir() + "/models/" + rel; }
inline std::string source_dir() { return LATTE_SOURCE_DIR; }
inline std::string latte_binary() { return LATTE_BINARY; }

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<float> read_f32(const std::string& path) {
  auto b = read_bytes(path);
  std::vector<float> v(b.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

// A fresh scratch directory under the build tree for files a test writes.
inline std::string scratch_dir(const std::string& name) {
  std::string d = "test-scratch/" + name;
  std::string cmd = "mkdir -p '" + d + "'";
  if (std::system(cmd.c_str()) != 0) return ".";
  return d;
}

}  // namespace latte::test
