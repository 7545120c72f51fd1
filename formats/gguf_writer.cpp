// GGUF writer (v3, little-endian): metadata records are serialized as they are set; tensors are described up front
// and their bytes produced by a callback during write(), one tensor at a time. Output goes to "<path>.tmp" and is
// renamed on success.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "formats/gguf.h"
#include "quant/types.h"
#include "formats/error.h"

namespace latte::gguf {

namespace {

void put_u32(std::string& b, uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& b, uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& b, std::string_view s) {
  put_u64(b, s.size());
  b.append(s.data(), s.size());
}

uint64_t value_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    default: return 8;
  }
}

uint64_t pad_to(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

}  // namespace

struct Writer::Impl {
  struct Record {
    std::string key;
    std::string value;  // value_type + encoded value (no key)
  };
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<int64_t> ne;
    uint64_t nbytes;
    uint64_t offset;
    FillFn fill;
    const void* data = nullptr;
    FillRowsFn fill_rows;
    uint64_t row_bytes = 0;
    int64_t n_rows = 0;
  };
  uint32_t alignment = 32;
  std::vector<Record> records;
  std::vector<Tensor> tensors;

  void set(const std::string& key, ValueType t, const std::string& encoded) {
    if (key.empty()) throw ArgumentError("gguf writer: empty metadata key");
    std::string v;
    put_u32(v, static_cast<uint32_t>(t));
    v += encoded;
    for (Record& r : records)
      if (r.key == key) {
        r.value = std::move(v);
        return;
      }
    records.push_back({key, std::move(v)});
  }
  template <class T>
  void set_scalar(const std::string& key, ValueType t, T x) {
    std::string e(reinterpret_cast<const char*>(&x), sizeof(T));
    set(key, t, e);
  }
  template <class T>
  void set_array(const std::string& key, ValueType et, const std::vector<T>& xs) {
    std::string e;
    put_u32(e, static_cast<uint32_t>(et));
    put_u64(e, xs.size());
    if (!xs.empty()) e.append(reinterpret_cast<const char*>(xs.data()), xs.size() * sizeof(T));
    set(key, ValueType::ARRAY, e);
  }
};

Writer::Writer() : impl_(std::make_unique<Impl>()) {}
Writer::~Writer() = default;

void Writer::set_alignment(uint32_t a) {
  if (a == 0 || (a & (a - 1)) != 0)
    throw ArgumentError("gguf writer: alignment " + std::to_string(a) + " is not a power of two");
  impl_->alignment = a;
  if (a != 32)
    impl_->set_scalar<uint32_t>("general.alignment", ValueType::U32, a);
  else
    remove_key("general.alignment");
}
void Writer::set_u32(const std::string& key, uint32_t v) {
  if (key == "general.alignment") set_alignment(v);
  impl_->set_scalar(key, ValueType::U32, v);
}
void Writer::set_i32(const std::string& key, int32_t v) { impl_->set_scalar(key, ValueType::I32, v); }
void Writer::set_u64(const std::string& key, uint64_t v) { impl_->set_scalar(key, ValueType::U64, v); }
void Writer::set_f32(const std::string& key, float v) { impl_->set_scalar(key, ValueType::F32, v); }
void Writer::set_bool(const std::string& key, bool v) { impl_->set_scalar<uint8_t>(key, ValueType::BOOL, v ? 1 : 0); }
void Writer::set_string(const std::string& key, const std::string& v) {
  std::string e;
  put_str(e, v);
  impl_->set(key, ValueType::STRING, e);
}
void Writer::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  std::string e;
  put_u32(e, static_cast<uint32_t>(ValueType::STRING));
  put_u64(e, v.size());
  for (const std::string& s : v) put_str(e, s);
  impl_->set(key, ValueType::ARRAY, e);
}
void Writer::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  impl_->set_array(key, ValueType::I32, v);
}
void Writer::set_f32_array(const std::string& key, const std::vector<float>& v) {
  impl_->set_array(key, ValueType::F32, v);
}

void Writer::copy_kv(const File& src, const KeyValue& kv) {
  if (kv.key == "general.alignment" && kv.type == ValueType::U32) {
    uint32_t a;
    std::memcpy(&a, kv.data, 4);
    return set_alignment(a);
  }
  // Encoded extent of the value: from kv.data to the end of the record.
  const uint8_t* p = kv.data;
  uint64_t n = 0;
  auto str_len = [](const uint8_t* q) {
    uint64_t l;
    std::memcpy(&l, q, 8);
    return 8 + l;
  };
  std::string e;
  if (kv.type == ValueType::ARRAY) {
    put_u32(e, static_cast<uint32_t>(kv.elem_type));
    put_u64(e, kv.count);
    if (kv.elem_type == ValueType::STRING) {
      for (uint64_t i = 0; i < kv.count; ++i) n += str_len(p + n);
    } else {
      n = kv.count * value_bytes(kv.elem_type);
    }
  } else if (kv.type == ValueType::STRING) {
    n = str_len(p);
  } else {
    n = value_bytes(kv.type);
  }
  e.append(reinterpret_cast<const char*>(p), n);
  impl_->set(kv.key, kv.type, e);
}

void Writer::remove_key(const std::string& key) {
  auto& r = impl_->records;
  for (size_t i = 0; i < r.size(); ++i)
    if (r[i].key == key) {
      r.erase(r.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
}

void Writer::add_tensor(const std::string& name, uint32_t type, const std::vector<int64_t>& ne, FillFn fill) {
  if (name.empty() || name.size() >= 64)
    throw ArgumentError("gguf writer: tensor name '" + name + "' must be 1..63 bytes");
  for (const auto& t : impl_->tensors)
    if (t.name == name) throw ArgumentError("gguf writer: duplicate tensor '" + name + "'");
  if (ne.empty() || ne.size() > 4)
    throw ArgumentError("gguf writer: tensor '" + name + "' has " + std::to_string(ne.size()) + " dims (1..4)");
  const TypeTraits* tt = find_type(type);
  if (!tt)
    throw UnsupportedError("gguf writer: tensor '" + name + "': unsupported tensor type " + std::to_string(type) +
                           " (" + type_id_name(type) + ")");
  uint64_t n = 1;
  for (int64_t d : ne) {
    if (d <= 0) throw ArgumentError("gguf writer: tensor '" + name + "' has a dimension " + std::to_string(d));
    if (static_cast<uint64_t>(d) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n)
      throw ArgumentError("gguf writer: tensor '" + name + "' element count overflows");
    n *= static_cast<uint64_t>(d);
  }
  if (ne[0] % tt->block_elems != 0)
    throw ArgumentError("gguf writer: tensor '" + name + "' ne[0] = " + std::to_string(ne[0]) +
                        " is not a multiple of the " + tt->name + " block size");
  uint64_t nbytes = (n / static_cast<uint64_t>(tt->block_elems)) * tt->block_bytes;
  uint64_t offset = 0;
  if (!impl_->tensors.empty()) {
    const auto& last = impl_->tensors.back();
    offset = last.offset + last.nbytes;  // padded below at write time (alignment may change until then)
  }
  impl_->tensors.push_back({name, type, ne, nbytes, offset, std::move(fill), nullptr, {}, 0, 0});
  auto& t = impl_->tensors.back();
  t.n_rows = static_cast<int64_t>(n / static_cast<uint64_t>(ne[0]));
  t.row_bytes = nbytes / static_cast<uint64_t>(t.n_rows);
}

void Writer::add_tensor_rows(const std::string& name, uint32_t type, const std::vector<int64_t>& ne,
                             FillRowsFn fill_rows) {
  add_tensor(name, type, ne, FillFn{});
  impl_->tensors.back().fill_rows = std::move(fill_rows);
}

void Writer::add_tensor(const std::string& name, uint32_t type, const std::vector<int64_t>& ne, const void* data,
                        uint64_t nbytes) {
  add_tensor(name, type, ne, FillFn{});
  auto& t = impl_->tensors.back();
  if (t.nbytes != nbytes) {
    std::string msg = "gguf writer: tensor '" + name + "' needs " + std::to_string(t.nbytes) + " bytes, given " +
                      std::to_string(nbytes);
    impl_->tensors.pop_back();
    throw ArgumentError(msg);
  }
  t.data = data;
}

namespace {
// A temporary file beside the destination (same folder, so the final rename is atomic), created with O_EXCL under
// a name no other file has: "DEST.tmp.PID.N". Removed unless write() got to the rename, so a failed or interrupted
// write leaves neither a partial DEST nor a stray temporary (and never touches a file it did not create).
struct OutFile {
  std::FILE* f = nullptr;
  std::string path;
  bool done = false;
  explicit OutFile(const std::string& dest) {
    for (unsigned n = 0;; ++n) {
      path = dest + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(n);
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        f = ::fdopen(fd, "wb");
        if (!f) {
          int e = errno;
          ::close(fd);
          std::remove(path.c_str());
          throw IoError(path + ": cannot create: " + std::strerror(e));
        }
        return;
      }
      if (errno != EEXIST || n >= 1000) throw IoError(dest + ": cannot create " + path + ": " + std::strerror(errno));
    }
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  ~OutFile() {
    if (f) std::fclose(f);
    if (!done) std::remove(path.c_str());
  }
  void write(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f) != n) throw IoError(path + ": write failed: " + std::strerror(errno));
  }
  void zeros(size_t n) {
    static const char z[256] = {};
    while (n) {
      size_t k = std::min<size_t>(n, sizeof z);
      write(z, k);
      n -= k;
    }
  }
};
}  // namespace

void Writer::write(const std::string& path, const std::function<void(size_t, size_t)>& progress) {
  const uint64_t a = impl_->alignment;
  // Final offsets: the strict sequential layout (each tensor starts at the padded end of the previous one).
  uint64_t off = 0;
  for (auto& t : impl_->tensors) {
    t.offset = off;
    off = pad_to(off + t.nbytes, a);
  }

  std::string head;
  head.append("GGUF", 4);
  put_u32(head, 3);
  put_u64(head, impl_->tensors.size());
  put_u64(head, impl_->records.size());
  for (const auto& r : impl_->records) {
    put_str(head, r.key);
    head += r.value;
  }
  for (const auto& t : impl_->tensors) {
    put_str(head, t.name);
    put_u32(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put_u64(head, static_cast<uint64_t>(d));
    put_u32(head, t.type);
    put_u64(head, t.offset);
  }
  head.append(pad_to(head.size(), a) - head.size(), '\0');

  OutFile out(path);
  out.write(head.data(), head.size());
  std::vector<uint8_t> buf;
  size_t done = 0;
  for (auto& t : impl_->tensors) {
    if (t.data) {
      out.write(t.data, t.nbytes);
    } else if (t.fill_rows) {
      const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>((16u << 20) / t.row_bytes));
      buf.resize(static_cast<size_t>(std::min(chunk, t.n_rows)) * t.row_bytes);
      for (int64_t r0 = 0; r0 < t.n_rows; r0 += chunk) {
        const int64_t nr = std::min(chunk, t.n_rows - r0);
        std::fill(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(nr * t.row_bytes), 0);
        t.fill_rows(r0, nr, buf.data());
        out.write(buf.data(), static_cast<size_t>(nr) * t.row_bytes);
      }
    } else {
      buf.assign(t.nbytes, 0);
      if (t.fill) t.fill(buf.data(), t.nbytes);
      out.write(buf.data(), buf.size());
    }
    out.zeros(pad_to(t.nbytes, a) - t.nbytes);
    ++done;
    if (progress) progress(done, impl_->tensors.size());
  }
  buf.clear();
  buf.shrink_to_fit();
  if (std::fflush(out.f) != 0) throw IoError(out.path + ": write failed: " + std::strerror(errno));
  int rc = std::fclose(out.f);
  out.f = nullptr;
  if (rc != 0) throw IoError(out.path + ": close failed: " + std::strerror(errno));
  if (std::rename(out.path.c_str(), path.c_str()) != 0)
    throw IoError(path + ": cannot rename from " + out.path + ": " + std::strerror(errno));
  out.done = true;
}

}  // namespace latte::gguf
