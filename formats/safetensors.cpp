// safetensors reader: header JSON validated entry by entry before any data is used; data stays in the mapping.
#include "formats/safetensors.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "formats/mmap_file.h"
#include "quant/float16.h"
#include "formats/error.h"

namespace latte::safetensors {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own limit (100 MB)

struct DTypeInfo {
  const char* name;
  DType type;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", DType::BOOL, 1}, {"U8", DType::U8, 1},     {"I8", DType::I8, 1},     {"I16", DType::I16, 2},
    {"U16", DType::U16, 2},   {"F16", DType::F16, 2},   {"BF16", DType::BF16, 2}, {"I32", DType::I32, 4},
    {"U32", DType::U32, 4},   {"F32", DType::F32, 4},   {"F64", DType::F64, 8},   {"I64", DType::I64, 8},
    {"U64", DType::U64, 8},   {"F8_E4M3", DType::F8_E4M3, 1}, {"F8_E5M2", DType::F8_E5M2, 1},
    {"F8_E8M0", DType::F8_E8M0, 1},
};

[[noreturn]] void fail_at(const std::string& path, uint64_t off, const std::string& what) {
  throw FormatError(path + ": " + what + " (byte " + std::to_string(off) + ")");
}

}  // namespace

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}
size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}
bool is_float(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64 || t == DType::F8_E4M3 ||
         t == DType::F8_E5M2 || t == DType::F8_E8M0;
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float f8_e4m3_to_f32(uint8_t v) {
  const float sign = (v & 0x80) ? -1.0f : 1.0f;
  const int exp = (v >> 3) & 0xF, mant = v & 0x7;
  if (exp == 0xF && mant == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -9);  // subnormal: mant/8 * 2^-6
  return sign * std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
}

float f8_e5m2_to_f32(uint8_t v) {
  const float sign = (v & 0x80) ? -1.0f : 1.0f;
  const int exp = (v >> 2) & 0x1F, mant = v & 0x3;
  if (exp == 0x1F) return mant ? std::numeric_limits<float>::quiet_NaN() : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -16);  // mant/4 * 2^-14
  return sign * std::ldexp(1.0f + static_cast<float>(mant) / 4.0f, exp - 15);
}

float f8_e8m0_to_f32(uint8_t v) {
  if (v == 0xFF) return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, static_cast<int>(v) - 127);
}

void to_f32(const TensorInfo& t, int64_t first, int64_t n, float* dst) {
  if (first < 0 || n < 0 || first + n > t.n_elements())
    throw ArgumentError("safetensors: element range out of bounds for tensor '" + t.name + "'");
  const uint8_t* p = t.data + static_cast<uint64_t>(first) * dtype_size(t.dtype);
  switch (t.dtype) {
    case DType::F32: std::memcpy(dst, p, static_cast<size_t>(n) * 4); return;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = fp16_to_f32(h);
      }
      return;
    case DType::F8_E4M3: {
      static const auto table = [] {
        std::array<float, 256> a{};
        for (int i = 0; i < 256; ++i) a[i] = f8_e4m3_to_f32(static_cast<uint8_t>(i));
        return a;
      }();
      for (int64_t i = 0; i < n; ++i) dst[i] = table[p[i]];
      return;
    }
    case DType::F8_E5M2:
      for (int64_t i = 0; i < n; ++i) dst[i] = f8_e5m2_to_f32(p[i]);
      return;
    case DType::F8_E8M0:
      for (int64_t i = 0; i < n; ++i) dst[i] = f8_e8m0_to_f32(p[i]);
      return;
    default:
      throw UnsupportedError(t.file + ": tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                             ", not a floating-point type");
  }
}

// ---- File ----

std::shared_ptr<const File> File::open(const std::string& path) {
  auto m = MappedFile::open(path);
  std::shared_ptr<File> f(new File());
  f->path_ = path;
  f->size_ = m->size();
  f->base_ = m->data();
  f->map_ = m->release();
  f->parse_image();
  return f;
}

std::shared_ptr<const File> File::parse(const uint8_t* bytes, size_t size, const std::string& name) {
  std::shared_ptr<File> f(new File());
  f->path_ = name;
  f->size_ = size;
  f->base_ = bytes;
  f->parse_image();
  return f;
}

File::~File() { unmap_region(map_, size_); }

void File::parse_image() {
  auto fail = [this](uint64_t off, const std::string& what) { fail_at(path_, off, what); };
  if (size_ < 8) fail(0, "file is " + std::to_string(size_) + " bytes, too small for a safetensors header");
  uint64_t n;
  std::memcpy(&n, base_, 8);
  if (n > kMaxHeaderBytes || n > size_ - 8)
    fail(0, "header length " + std::to_string(n) + " does not fit in the file (" + std::to_string(size_) + " bytes)");
  const uint64_t data_start = 8 + n, data_size = size_ - data_start;
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(base_ + 8, base_ + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    fail(8, std::string("header is not valid JSON: ") + e.what());
  }
  if (!h.is_object()) fail(8, "header is not a JSON object");

  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(8, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m)
        if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(8, where + ": entry needs dtype, shape and data_offsets");
    TensorInfo t;
    t.name = name;
    t.file = path_;
    const auto& dt = v["dtype"];
    if (!dt.is_string()) fail(8, where + ": dtype is not a string");
    const DTypeInfo* info = nullptr;
    for (const auto& d : kDTypes)
      if (dt.get<std::string>() == d.name) info = &d;
    if (!info) throw UnsupportedError(path_ + ": " + where + ": unsupported dtype " + dt.get<std::string>());
    t.dtype = info->type;
    const auto& sh = v["shape"];
    if (!sh.is_array() || sh.size() > 8) fail(8, where + ": shape is not an array of at most 8 dims");
    uint64_t n_el = 1;
    for (const auto& d : sh) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        fail(8, where + ": shape has a non-integer or negative dimension");
      uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (dim != 0 && n_el > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim))
        fail(8, where + ": element count overflows");
      n_el *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(8, where + ": data_offsets is not [begin, end]");
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      fail(data_start + std::min(b, data_size),
           where + ": data [" + std::to_string(b) + ", " + std::to_string(e) + ") is outside the data section of " +
               std::to_string(data_size) + " bytes");
    if (n_el > std::numeric_limits<uint64_t>::max() / info->size || e - b != n_el * info->size)
      fail(data_start + b, where + ": " + std::to_string(e - b) + " data bytes do not match shape " +
                               t.shape_string() + " of " + info->name);
    t.nbytes = e - b;
    t.file_offset = data_start + b;
    t.data = base_ + t.file_offset;
    spans.push_back({b, e, tensors_.size()});
    tensors_.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      fail(data_start + spans[i].begin, "tensor '" + tensors_[spans[i].index].name + "' overlaps tensor '" +
                                            tensors_[spans[i - 1].index].name + "'");
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
}

const TensorInfo* File::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

// ---- Checkpoint ----

std::unique_ptr<Checkpoint> Checkpoint::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError(dir + ": not a directory");
  auto cp = std::make_unique<Checkpoint>();
  std::vector<std::string> names;
  std::map<std::string, std::string> weight_map;
  const std::string index = dir + "/model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    std::ifstream in(index);
    if (!in) throw IoError(index + ": cannot open");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(index + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw FormatError(index + ": no weight_map object");
    std::set<std::string> files;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw FormatError(index + ": weight_map entry '" + it.key() + "' is not a string");
      std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f == "." || f == "..")
        throw FormatError(index + ": weight_map file name '" + f + "' must be a plain file name");
      files.insert(f);
      weight_map[it.key()] = f;
    }
    names.assign(files.begin(), files.end());
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".safetensors") names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
  }
  if (names.empty()) throw IoError(dir + ": no *.safetensors files");
  for (const auto& n : names) cp->files_.push_back(File::open(dir + "/" + n));
  for (const auto& f : cp->files_)
    for (const auto& t : f->tensors()) {
      if (!cp->by_name_.emplace(t.name, &t).second)
        throw FormatError(f->path() + ": tensor '" + t.name + "' also appears in another shard");
      cp->order_.push_back(&t);
    }
  for (const auto& [name, file] : weight_map) {
    const TensorInfo* t = cp->find(name);
    if (!t || std::filesystem::path(t->file).filename().string() != file)
      throw FormatError(index + ": tensor '" + name + "' is not in " + file);
  }
  return cp;
}

const TensorInfo* Checkpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace latte::safetensors
