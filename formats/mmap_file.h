// Read-only memory mapping of a whole file (RAII). Used by the GGUF and safetensors readers so weights stay
// zero-copy views into the page cache. Thread-safety: immutable after open(); concurrent reads are fine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace latte {

class MappedFile {
 public:
  // Maps `path` read-only. Throws IoError if it cannot be opened, stat'ed or mapped. An empty file maps to
  // data() == nullptr, size() == 0 (callers reject it with their own FormatError).
  static std::unique_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Gives up ownership of the mapping (caller must munmap(addr, size)). Returns the address.
  void* release();

 private:
  MappedFile() = default;
  std::string path_;
  void* addr_ = nullptr;
  size_t size_ = 0;
};

// Unmaps a region obtained from MappedFile::release().
void unmap_region(void* addr, size_t size);

}  // namespace latte
