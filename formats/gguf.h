// GGUF container: a validating, zero-copy mmap reader (v2, v3, little-endian) and a streaming writer.
// Knows nothing about models. Every malformed input raises latte::FormatError naming the file, the field and
// its byte offset; unknown tensor type ids raise latte::UnsupportedError ("unsupported tensor type <id> (<name>)").
// Thread-safety: a File is immutable after open(); any number of threads may read it concurrently.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latte::gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* value_type_name(ValueType t);

// One metadata record. Scalars and arrays are views into the mapped file (valid while the File lives).
struct KeyValue {
  std::string key;
  ValueType type;
  ValueType elem_type = ValueType::U8;  // arrays only
  uint64_t count = 1;                   // arrays: element count; scalars: 1
  const uint8_t* data = nullptr;        // first byte of the value (after type / elem_type+count for arrays)
  uint64_t file_offset = 0;             // byte offset of the record's key in the file
};

struct TensorInfo {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] fastest varying; missing trailing dims are 1
  uint32_t type = 0;             // ggml type id (see quant/types.h)
  uint64_t offset = 0;           // relative to the data section
  uint64_t nbytes = 0;           // size of the data
  uint64_t file_offset = 0;      // absolute offset of the data in the file
  const uint8_t* data = nullptr; // points into the mapping
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::string shape_string() const;  // "[256, 4096]"
};

class File {
 public:
  // Maps and validates `path` (see GGUF_DEEPSEEK.md §A.7). Throws IoError / FormatError / UnsupportedError.
  static std::shared_ptr<const File> open(const std::string& path);
  // Parses an in-memory image (used by the fuzzer and tests). `bytes` must outlive the File.
  static std::shared_ptr<const File> parse(const uint8_t* bytes, size_t size, const std::string& name);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }
  const uint8_t* base() const { return base_; }

  // ---- metadata ----
  const std::vector<KeyValue>& metadata() const { return kvs_; }
  const KeyValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed accessors: nullopt when the key is absent; FormatError when present with an incompatible type.
  // get_uint/get_int accept any integer width (range-checked); get_float accepts F32/F64.
  std::optional<uint64_t> get_uint(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  // Arrays (FormatError if the element type does not fit). Absent key: empty vector and `present=false`.
  std::vector<std::string_view> get_string_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;
  // Human-readable value (arrays abbreviated to `max_items`), for `latte inspect`.
  std::string value_to_string(const KeyValue& kv, size_t max_items = 8) const;

  // ---- tensors ----
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // Required tensor with an exact shape (trailing 1s ignored); FormatError naming tensor, expected and found shape.
  const TensorInfo& require_tensor(std::string_view name, std::initializer_list<int64_t> shape) const;

 private:
  File() = default;
  friend class Parser;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  const uint8_t* base_ = nullptr;
  void* map_ = nullptr;  // non-null when we own an mmap of size_ bytes
  std::vector<KeyValue> kvs_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::pair<std::string_view, size_t>> kv_index_;      // sorted by key
  std::vector<std::pair<std::string_view, size_t>> tensor_index_;  // sorted by name
};

// Streaming writer: collects metadata and tensor descriptions, then writes header, infos and data in one pass.
// Tensor data comes from a caller callback invoked once per tensor (so converters hold ~one tensor in memory).
// The file is written to "<path>.tmp" and renamed on success: a failed write never clobbers an existing file.
class Writer {
 public:
  Writer();
  ~Writer();
  void set_alignment(uint32_t a);  // default 32; also written as general.alignment when != 32
  // set_u32("general.alignment", a) sets the alignment and writes the key even for 32 (an explicit request).
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  // Copies a record from another file verbatim (any type, arrays included). Replaces an existing key.
  void copy_kv(const File& src, const KeyValue& kv);
  void remove_key(const std::string& key);

  using FillFn = std::function<void(uint8_t* dst, uint64_t nbytes)>;
  // Declares a tensor of ggml type `type` and shape `ne` (n_dims = ne.size()); `fill` writes exactly nbytes.
  void add_tensor(const std::string& name, uint32_t type, const std::vector<int64_t>& ne, FillFn fill);
  // Streams a tensor in row chunks: fill_rows(first_row, n_rows, dst) writes exactly n_rows rows of
  // row_bytes(type, ne[0]) bytes each (rows = ne[1]·ne[2]·ne[3]). write() buffers at most ~16 MiB of the tensor
  // (at least one row), so huge tensors (merged experts) never sit in memory whole.
  using FillRowsFn = std::function<void(int64_t first_row, int64_t n_rows, uint8_t* dst)>;
  void add_tensor_rows(const std::string& name, uint32_t type, const std::vector<int64_t>& ne, FillRowsFn fill_rows);
  // Convenience: tensor whose bytes already exist (must outlive write()).
  void add_tensor(const std::string& name, uint32_t type, const std::vector<int64_t>& ne, const void* data,
                  uint64_t nbytes);

  // progress(done_tensors, total_tensors) is called after each tensor. Throws IoError on failure.
  void write(const std::string& path, const std::function<void(size_t, size_t)>& progress = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace latte::gguf
