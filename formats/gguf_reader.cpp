// GGUF reader: maps the file, validates every field before use (GGUF_DEEPSEEK.md §A.7) and exposes metadata and
// tensor descriptions as views into the mapping. Errors name the file, the field and its byte offset.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "formats/gguf.h"
#include "formats/mmap_file.h"
#include "quant/types.h"
#include "formats/error.h"

namespace latte::gguf {

namespace {

constexpr uint64_t kHeaderBytes = 24;
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;            // key len + 1 key byte + type + 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name len + 1 byte + n_dims + ne0 + type + offset
constexpr uint64_t kMaxKeyLength = 65535;
constexpr uint64_t kMaxNameLength = 63;  // ggml: name < 64 bytes including the NUL
constexpr uint32_t kMaxDims = 4;

// Byte size of one scalar value of type t, or 0 for STRING / ARRAY (variable size).
uint64_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;
  }
}

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16: case ValueType::U32:
    case ValueType::I32: case ValueType::U64: case ValueType::I64: return true;
    default: return false;
  }
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Reads element i of integer type t at p as (value, is_negative_signed). Unsigned 64-bit values beyond INT64_MAX
// are returned through `u`; signed values through `s`.
struct IntValue {
  bool is_signed;
  uint64_t u;
  int64_t s;
};
IntValue load_int(ValueType t, const uint8_t* p) {
  switch (t) {
    case ValueType::U8: return {false, load<uint8_t>(p), 0};
    case ValueType::I8: return {true, 0, load<int8_t>(p)};
    case ValueType::U16: return {false, load<uint16_t>(p), 0};
    case ValueType::I16: return {true, 0, load<int16_t>(p)};
    case ValueType::U32: return {false, load<uint32_t>(p), 0};
    case ValueType::I32: return {true, 0, load<int32_t>(p)};
    case ValueType::U64: return {false, load<uint64_t>(p), 0};
    case ValueType::I64: return {true, 0, load<int64_t>(p)};
    default: return {false, 0, 0};
  }
}

bool valid_utf8(const uint8_t* s, uint64_t n) {
  uint64_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (int k = 1; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string escape(std::string_view s, size_t max_chars) {
  std::string out;
  out.reserve(std::min(s.size(), max_chars) + 2);
  size_t n = 0;
  for (char ch : s) {
    if (n++ >= max_chars) {
      out += "...";
      break;
    }
    switch (ch) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(ch));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "UINT8";
    case ValueType::I8: return "INT8";
    case ValueType::U16: return "UINT16";
    case ValueType::I16: return "INT16";
    case ValueType::U32: return "UINT32";
    case ValueType::I32: return "INT32";
    case ValueType::F32: return "FLOAT32";
    case ValueType::BOOL: return "BOOL";
    case ValueType::STRING: return "STRING";
    case ValueType::ARRAY: return "ARRAY";
    case ValueType::U64: return "UINT64";
    case ValueType::I64: return "INT64";
    case ValueType::F64: return "FLOAT64";
  }
  return "INVALID";
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (uint32_t i = 0; i < n_dims; ++i) {
    if (i) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}

// Sequential, bounds-checked cursor over the image; fills a File. Every read checks the remaining bytes first.
class Parser {
 public:
  Parser(File& f, const uint8_t* p, uint64_t size) : f_(f), p_(p), size_(size) {}

  void run() {
    if (size_ < kHeaderBytes)
      fail(0, "header", "file is " + std::to_string(size_) + " bytes, smaller than the 24-byte GGUF header");
    if (std::memcmp(p_, "GGUF", 4) != 0) fail(0, "magic", "bad magic (not a GGUF file)");
    pos_ = 4;
    uint32_t version = u32("version");
    if (version != 2 && version != 3) {
      if (version != 0 && (version & 0xFFFF) == 0)
        fail(4, "version", "big-endian GGUF files are not supported");
      fail(4, "version", "unsupported GGUF version " + std::to_string(version) + " (expected 2 or 3)");
    }
    f_.version_ = version;
    uint64_t n_tensors = u64("tensor_count");
    uint64_t n_kv = u64("kv_count");
    const uint64_t avail = size_ - kHeaderBytes;
    if (n_kv > avail / kMinKvBytes)
      fail(16, "kv_count", "kv_count " + std::to_string(n_kv) + " cannot fit in a file of " +
                               std::to_string(size_) + " bytes");
    if (n_tensors > avail / kMinTensorInfoBytes)
      fail(8, "tensor_count", "tensor_count " + std::to_string(n_tensors) + " cannot fit in a file of " +
                                  std::to_string(size_) + " bytes");

    f_.kvs_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) read_kv(i);
    index_kvs();
    read_alignment();

    f_.tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(i);

    uint64_t a = f_.alignment_;
    uint64_t data_start = pos_ + (a - pos_ % a) % a;
    f_.data_offset_ = data_start;
    place_tensors(data_start);
    index_tensors();
  }

 private:
  [[noreturn]] void fail(uint64_t off, const std::string& field, const std::string& msg) const {
    throw FormatError(f_.path_ + ": " + field + " at byte " + std::to_string(off) + ": " + msg);
  }

  void need(uint64_t n, const std::string& field) const {
    if (n > size_ - pos_)
      fail(pos_, field, "truncated (needs " + std::to_string(n) + " bytes, " + std::to_string(size_ - pos_) +
                            " left)");
  }
  uint32_t u32(const std::string& field) {
    need(4, field);
    uint32_t v = load<uint32_t>(p_ + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t u64(const std::string& field) {
    need(8, field);
    uint64_t v = load<uint64_t>(p_ + pos_);
    pos_ += 8;
    return v;
  }
  // GGUF string: u64 length + bytes. Returns a view into the image.
  std::string_view str(const std::string& field, uint64_t max_len) {
    uint64_t at = pos_;
    uint64_t len = u64(field + " length");
    if (len > max_len) fail(at, field, "string length " + std::to_string(len) + " exceeds " + std::to_string(max_len));
    need(len, field);
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }
  ValueType value_type(const std::string& field) {
    uint64_t at = pos_;
    uint32_t t = u32(field);
    if (t > 12) fail(at, field, "invalid value type " + std::to_string(t));
    return static_cast<ValueType>(t);
  }

  // Skips (and validates) one value of type t starting at pos_.
  void skip_value(ValueType t, const std::string& field) {
    if (t == ValueType::STRING) {
      str(field, size_);
      return;
    }
    uint64_t at = pos_;
    uint64_t n = scalar_size(t);
    need(n, field);
    if (t == ValueType::BOOL && p_[pos_] > 1)
      fail(at, field, "bool value " + std::to_string(p_[pos_]) + " is neither 0 nor 1");
    pos_ += n;
  }

  void read_kv(uint64_t i) {
    KeyValue kv;
    kv.file_offset = pos_;
    std::string idx = "metadata record " + std::to_string(i);
    std::string_view key = str(idx + " key", kMaxKeyLength);
    if (key.empty()) fail(kv.file_offset, idx + " key", "empty key");
    kv.key = std::string(key);
    std::string field = "key '" + kv.key + "'";
    kv.type = value_type(field + " value type");
    if (kv.type == ValueType::ARRAY) {
      uint64_t at = pos_;
      kv.elem_type = value_type(field + " array element type");
      if (kv.elem_type == ValueType::ARRAY) fail(at, field, "nested arrays are not supported");
      at = pos_;
      kv.count = u64(field + " array count");
      uint64_t es = scalar_size(kv.elem_type);
      uint64_t left = size_ - pos_;
      if (kv.elem_type == ValueType::STRING) {
        if (kv.count > left / 8)
          fail(at, field, "array count " + std::to_string(kv.count) + " cannot fit in the remaining " +
                              std::to_string(left) + " bytes");
        kv.data = p_ + pos_;
        for (uint64_t k = 0; k < kv.count; ++k) str(field + " element " + std::to_string(k), size_);
      } else {
        if (kv.count > left / es)
          fail(at, field, "array count " + std::to_string(kv.count) + " cannot fit in the remaining " +
                              std::to_string(left) + " bytes");
        kv.data = p_ + pos_;
        if (kv.elem_type == ValueType::BOOL) {
          for (uint64_t k = 0; k < kv.count; ++k)
            if (p_[pos_ + k] > 1) fail(pos_ + k, field, "bool value is neither 0 nor 1");
        }
        pos_ += kv.count * es;
      }
    } else {
      kv.data = p_ + pos_;
      skip_value(kv.type, field + " value");
    }
    f_.kvs_.push_back(std::move(kv));
  }

  void index_kvs() {
    auto& idx = f_.kv_index_;
    idx.reserve(f_.kvs_.size());
    for (size_t i = 0; i < f_.kvs_.size(); ++i) {
      const KeyValue& kv = f_.kvs_[i];
      // The view points at the key bytes in the image (stable for the File's lifetime).
      std::string_view k(reinterpret_cast<const char*>(p_ + kv.file_offset + 8), kv.key.size());
      idx.emplace_back(k, i);
    }
    std::sort(idx.begin(), idx.end());
    for (size_t i = 1; i < idx.size(); ++i)
      if (idx[i].first == idx[i - 1].first)
        fail(f_.kvs_[std::max(idx[i].second, idx[i - 1].second)].file_offset, "key '" + std::string(idx[i].first) + "'",
             "duplicate key");
  }

  void read_alignment() {
    const KeyValue* kv = f_.find("general.alignment");
    if (!kv) return;
    if (kv->type != ValueType::U32)
      fail(kv->file_offset, "key 'general.alignment'",
           std::string("must be UINT32, found ") + value_type_name(kv->type));
    uint32_t a = load<uint32_t>(kv->data);
    if (a == 0 || (a & (a - 1)) != 0)
      fail(kv->file_offset, "key 'general.alignment'", "alignment " + std::to_string(a) + " is not a power of two");
    f_.alignment_ = a;
  }

  void read_tensor_info(uint64_t i) {
    TensorInfo t;
    uint64_t at = pos_;
    std::string idx = "tensor info " + std::to_string(i);
    std::string_view name = str(idx + " name", size_);
    if (name.empty()) fail(at, idx + " name", "empty tensor name");
    if (name.size() > kMaxNameLength)
      fail(at, idx + " name", "tensor name is " + std::to_string(name.size()) + " bytes (limit 63)");
    if (!valid_utf8(reinterpret_cast<const uint8_t*>(name.data()), name.size()))
      fail(at, idx + " name", "tensor name is not valid UTF-8");
    t.name = std::string(name);
    std::string field = "tensor '" + t.name + "'";
    uint64_t dims_at = pos_;
    t.n_dims = u32(field + " n_dims");
    if (t.n_dims < 1 || t.n_dims > kMaxDims)
      fail(dims_at, field + " n_dims", "n_dims " + std::to_string(t.n_dims) + " is outside 1..4");
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      uint64_t ne_at = pos_;
      uint64_t ne = u64(field + " ne[" + std::to_string(d) + "]");
      if (ne == 0) fail(ne_at, field + " ne[" + std::to_string(d) + "]", "dimension is 0");
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          n_el > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne)
        fail(ne_at, field + " ne[" + std::to_string(d) + "]", "element count overflows int64");
      n_el *= ne;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    uint64_t type_at = pos_;
    t.type = u32(field + " type");
    const TypeTraits* tt = find_type(t.type);
    if (!tt)
      throw UnsupportedError(f_.path_ + ": tensor '" + t.name + "' type at byte " + std::to_string(type_at) +
                             ": unsupported tensor type " + std::to_string(t.type) + " (" + type_id_name(t.type) +
                             ")");
    if (t.ne[0] % tt->block_elems != 0)
      fail(type_at, field + " ne[0]",
           "ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " + tt->name + " block size " +
               std::to_string(tt->block_elems));
    uint64_t blocks_per_row = static_cast<uint64_t>(t.ne[0] / tt->block_elems);
    uint64_t rows = n_el / static_cast<uint64_t>(t.ne[0]);
    if (tt->block_bytes != 0 && blocks_per_row > std::numeric_limits<uint64_t>::max() / tt->block_bytes)
      fail(type_at, field, "byte size overflows");
    uint64_t row_bytes = blocks_per_row * tt->block_bytes;
    if (rows != 0 && row_bytes > std::numeric_limits<uint64_t>::max() / rows) fail(type_at, field, "byte size overflows");
    t.nbytes = row_bytes * rows;
    uint64_t off_at = pos_;
    t.offset = u64(field + " offset");
    if (t.offset % f_.alignment_ != 0)
      fail(off_at, field + " offset",
           "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
               std::to_string(f_.alignment_));
    t.file_offset = off_at;  // temporarily: where the offset field lives (for error messages in place_tensors)
    info_at_.push_back(at);
    f_.tensors_.push_back(std::move(t));
  }

  void place_tensors(uint64_t data_start) {
    if (f_.tensors_.empty()) return;
    if (data_start > size_)
      fail(pos_, "data section", "data section start " + std::to_string(data_start) + " is past the end of the file (" +
                                     std::to_string(size_) + " bytes)");
    uint64_t data_bytes = size_ - data_start;
    for (TensorInfo& t : f_.tensors_) {
      uint64_t field_at = t.file_offset;
      if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset)
        fail(field_at, "tensor '" + t.name + "' offset",
             "tensor data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
                 ") is not within the file bounds (data section has " + std::to_string(data_bytes) + " bytes)");
      t.file_offset = data_start + t.offset;
      t.data = p_ + t.file_offset;
    }
    // Overlap check: sort by offset, neighbours must not intersect.
    std::vector<size_t> order(f_.tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return f_.tensors_[a].offset < f_.tensors_[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const TensorInfo& prev = f_.tensors_[order[i - 1]];
      const TensorInfo& cur = f_.tensors_[order[i]];
      if (cur.offset < prev.offset + prev.nbytes)
        fail(cur.file_offset, "tensor '" + cur.name + "' data",
             "overlaps tensor '" + prev.name + "' (offsets " + std::to_string(prev.offset) + "+" +
                 std::to_string(prev.nbytes) + " and " + std::to_string(cur.offset) + ")");
    }
  }

  void index_tensors() {
    auto& idx = f_.tensor_index_;
    idx.reserve(f_.tensors_.size());
    for (size_t i = 0; i < f_.tensors_.size(); ++i) idx.emplace_back(f_.tensors_[i].name, i);
    std::sort(idx.begin(), idx.end());
    for (size_t i = 1; i < idx.size(); ++i)
      if (idx[i].first == idx[i - 1].first)
        fail(info_at_[std::max(idx[i].second, idx[i - 1].second)], "tensor '" + std::string(idx[i].first) + "'",
             "duplicate tensor name");
  }

  File& f_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::vector<uint64_t> info_at_;  // byte offset of each tensor-info record
};

std::shared_ptr<const File> File::open(const std::string& path) {
  auto m = MappedFile::open(path);
  std::shared_ptr<File> f(new File());
  f->path_ = path;
  f->size_ = m->size();
  f->base_ = m->data();
  f->map_ = m->release();
  Parser(*f, f->base_, f->size_).run();
  return f;
}

std::shared_ptr<const File> File::parse(const uint8_t* bytes, size_t size, const std::string& name) {
  std::shared_ptr<File> f(new File());
  f->path_ = name;
  f->size_ = size;
  f->base_ = bytes;
  if (bytes == nullptr && size != 0) throw FormatError(name + ": null image");
  static const uint8_t kEmpty[1] = {0};
  Parser(*f, bytes ? bytes : kEmpty, size).run();
  return f;
}

File::~File() { unmap_region(map_, size_); }

// ---- metadata lookup ----

const KeyValue* File::find(std::string_view key) const {
  auto it = std::lower_bound(kv_index_.begin(), kv_index_.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  if (it == kv_index_.end() || it->first != key) return nullptr;
  return &kvs_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const File& f, const KeyValue& kv, const std::string& expected) {
  std::string found = value_type_name(kv.type);
  if (kv.type == ValueType::ARRAY) found = std::string("ARRAY of ") + value_type_name(kv.elem_type);
  throw FormatError(f.path() + ": key '" + kv.key + "' at byte " + std::to_string(kv.file_offset) + " has type " +
                    found + ", expected " + expected);
}

std::string_view string_at(const uint8_t* p) {
  uint64_t len = load<uint64_t>(p);
  return {reinterpret_cast<const char*>(p + 8), static_cast<size_t>(len)};
}
}  // namespace

std::optional<uint64_t> File::get_uint(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return std::nullopt;
  if (!is_integer(kv->type)) wrong_type(*this, *kv, "an unsigned integer");
  IntValue v = load_int(kv->type, kv->data);
  if (v.is_signed) {
    if (v.s < 0)
      throw FormatError(path_ + ": key '" + kv->key + "' at byte " + std::to_string(kv->file_offset) +
                        " is negative (" + std::to_string(v.s) + "), expected an unsigned integer");
    return static_cast<uint64_t>(v.s);
  }
  return v.u;
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return std::nullopt;
  if (!is_integer(kv->type)) wrong_type(*this, *kv, "an integer");
  IntValue v = load_int(kv->type, kv->data);
  if (v.is_signed) return v.s;
  if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw FormatError(path_ + ": key '" + kv->key + "' at byte " + std::to_string(kv->file_offset) +
                      " value " + std::to_string(v.u) + " does not fit in int64");
  return static_cast<int64_t>(v.u);
}

std::optional<double> File::get_float(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return std::nullopt;
  if (kv->type == ValueType::F32) return load<float>(kv->data);
  if (kv->type == ValueType::F64) return load<double>(kv->data);
  wrong_type(*this, *kv, "FLOAT32 or FLOAT64");
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return std::nullopt;
  if (kv->type != ValueType::BOOL) wrong_type(*this, *kv, "BOOL");
  return kv->data[0] != 0;
}

std::optional<std::string_view> File::get_string(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return std::nullopt;
  if (kv->type != ValueType::STRING) wrong_type(*this, *kv, "STRING");
  return string_at(kv->data);
}

std::vector<std::string_view> File::get_string_array(std::string_view key) const {
  std::vector<std::string_view> out;
  const KeyValue* kv = find(key);
  if (!kv) return out;
  if (kv->type != ValueType::ARRAY || kv->elem_type != ValueType::STRING) wrong_type(*this, *kv, "ARRAY of STRING");
  out.reserve(kv->count);
  const uint8_t* p = kv->data;
  for (uint64_t i = 0; i < kv->count; ++i) {
    std::string_view s = string_at(p);
    out.push_back(s);
    p += 8 + s.size();
  }
  return out;
}

std::vector<int64_t> File::get_int_array(std::string_view key) const {
  std::vector<int64_t> out;
  const KeyValue* kv = find(key);
  if (!kv) return out;
  if (kv->type != ValueType::ARRAY || !is_integer(kv->elem_type)) wrong_type(*this, *kv, "ARRAY of integers");
  uint64_t es = scalar_size(kv->elem_type);
  out.reserve(kv->count);
  for (uint64_t i = 0; i < kv->count; ++i) {
    IntValue v = load_int(kv->elem_type, kv->data + i * es);
    if (!v.is_signed && v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw FormatError(path_ + ": key '" + kv->key + "' at byte " + std::to_string(kv->file_offset) + " element " +
                        std::to_string(i) + " does not fit in int64");
    out.push_back(v.is_signed ? v.s : static_cast<int64_t>(v.u));
  }
  return out;
}

std::vector<float> File::get_float_array(std::string_view key) const {
  std::vector<float> out;
  const KeyValue* kv = find(key);
  if (!kv) return out;
  if (kv->type != ValueType::ARRAY || (kv->elem_type != ValueType::F32 && kv->elem_type != ValueType::F64))
    wrong_type(*this, *kv, "ARRAY of FLOAT32/FLOAT64");
  out.reserve(kv->count);
  for (uint64_t i = 0; i < kv->count; ++i)
    out.push_back(kv->elem_type == ValueType::F32 ? load<float>(kv->data + i * 4)
                                                  : static_cast<float>(load<double>(kv->data + i * 8)));
  return out;
}

namespace {
// One scalar (non-array) value of type t at p; `adv` receives its encoded size.
std::string scalar_to_string(ValueType t, const uint8_t* p, uint64_t& adv) {
  adv = scalar_size(t);
  switch (t) {
    case ValueType::F32: return format_double(load<float>(p));
    case ValueType::F64: return format_double(load<double>(p));
    case ValueType::BOOL: return p[0] ? "true" : "false";
    case ValueType::STRING: {
      std::string_view s = string_at(p);
      adv = 8 + s.size();
      return "'" + escape(s, 200) + "'";
    }
    default: {
      IntValue v = load_int(t, p);
      return v.is_signed ? std::to_string(v.s) : std::to_string(v.u);
    }
  }
}
}  // namespace

std::string File::value_to_string(const KeyValue& kv, size_t max_items) const {
  uint64_t adv = 0;
  if (kv.type != ValueType::ARRAY) return scalar_to_string(kv.type, kv.data, adv);
  std::string s = "[";
  const uint8_t* p = kv.data;
  uint64_t shown = std::min<uint64_t>(kv.count, max_items);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i) s += ", ";
    s += scalar_to_string(kv.elem_type, p, adv);
    p += adv;
  }
  if (kv.count > shown) s += ", ... (" + std::to_string(kv.count) + " items)";
  return s + "]";
}

// ---- tensors ----

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = std::lower_bound(tensor_index_.begin(), tensor_index_.end(), name,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  if (it == tensor_index_.end() || it->first != name) return nullptr;
  return &tensors_[it->second];
}

const TensorInfo& File::require_tensor(std::string_view name, std::initializer_list<int64_t> shape) const {
  const TensorInfo* t = find_tensor(name);
  std::string expected = "[";
  size_t i = 0;
  for (int64_t d : shape) expected += (i++ ? ", " : "") + std::to_string(d);
  expected += "]";
  if (!t) throw FormatError(path_ + ": missing tensor '" + std::string(name) + "' (expected shape " + expected + ")");
  bool ok = shape.size() <= 4;
  i = 0;
  for (int64_t d : shape) {
    if (i < 4 && t->ne[i] != d) ok = false;
    ++i;
  }
  for (size_t k = shape.size(); k < 4 && ok; ++k)
    if (t->ne[k] != 1) ok = false;
  if (!ok)
    throw FormatError(path_ + ": tensor '" + t->name + "' has shape " + t->shape_string() + ", expected " + expected);
  return *t;
}

}  // namespace latte::gguf
