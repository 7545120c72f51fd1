// safetensors container: a validating, zero-copy mmap reader for single files and sharded checkpoints
// (`model.safetensors.index.json` + shards). Knows nothing about models. Layout: u64 header length N, N bytes of
// JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data section.
// Every malformed input raises latte::FormatError naming the file, the tensor and the byte offset.
// Thread-safety: File and Checkpoint are immutable after open(); concurrent reads are fine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace latte::safetensors {

// F8_E8M0: an unsigned power-of-two exponent byte (bias 127, 255 = NaN), the block-scale type of MX formats.
enum class DType { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2, F8_E8M0 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);
bool is_float(DType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // PyTorch order: shape[0] slowest varying; empty = scalar
  uint64_t nbytes = 0;
  uint64_t file_offset = 0;     // absolute offset of the data in the file
  const uint8_t* data = nullptr;  // into the mapping; NOT aligned in general (use memcpy-style reads)
  std::string file;             // path of the file holding it
  int64_t n_elements() const;
  std::string shape_string() const;  // "[4096, 256]"
};

class File {
 public:
  // Maps and validates `path`. Throws IoError / FormatError.
  static std::shared_ptr<const File> open(const std::string& path);
  // Parses an in-memory image (tests). `bytes` must outlive the File.
  static std::shared_ptr<const File> parse(const uint8_t* bytes, size_t size, const std::string& name);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const TensorInfo* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File() = default;
  void parse_image();
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* map_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory: every tensor of `model.safetensors.index.json`'s shards, or of all `*.safetensors`
// files when there is no index. Tensor names must be unique across files; the index must name existing tensors.
class Checkpoint {
 public:
  static std::unique_ptr<Checkpoint> open_dir(const std::string& dir);
  const std::vector<std::shared_ptr<const File>>& files() const { return files_; }  // sorted by file name
  // All tensors in conversion order: files in name order, tensors in name order within each file.
  const std::vector<const TensorInfo*>& tensors() const { return order_; }
  const TensorInfo* find(std::string_view name) const;

 private:
  std::vector<std::shared_ptr<const File>> files_;
  std::vector<const TensorInfo*> order_;
  std::map<std::string, const TensorInfo*, std::less<>> by_name_;
};

// Converts elements [first, first + n) (flat, row-major) of a floating-point tensor to f32.
// F32/F16/BF16 are exact; F8 values are decoded exactly (no scale applied here); F64 rounds. Integer dtypes
// raise UnsupportedError.
void to_f32(const TensorInfo& t, int64_t first, int64_t n, float* dst);
// Decodes one float8 e4m3fn byte (bias 7, no infinities, S.1111.111 = NaN) / e5m2 byte (IEEE-like, bias 15).
float f8_e4m3_to_f32(uint8_t v);
float f8_e5m2_to_f32(uint8_t v);
// Decodes one E8M0 scale byte: 2^(v - 127); 255 = NaN.
float f8_e8m0_to_f32(uint8_t v);

}  // namespace latte::safetensors
