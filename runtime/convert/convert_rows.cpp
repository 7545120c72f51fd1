// Shared converter pieces (see convert_rows.h).
#include "runtime/convert/convert_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "formats/error.h"

namespace latte::tools::convert {

namespace st = latte::safetensors;

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

SrcMatrix src_matrix(const st::TensorInfo* t, const st::TensorInfo* scale, const std::string& scale_name, int64_t br,
                     int64_t bc) {
  SrcMatrix s;
  s.t = t;
  if (!st::is_float(t->dtype))
    throw UnsupportedError(t->file + ": tensor '" + t->name + "' has dtype " + st::dtype_name(t->dtype));
  if (t->shape.empty() || t->shape.size() > 2)
    throw FormatError(t->file + ": tensor '" + t->name + "' has shape " + t->shape_string() + " (expected 1-D or 2-D)");
  s.cols = t->shape.back();
  s.rows = t->shape.size() == 2 ? t->shape[0] : 1;
  if (t->dtype == st::DType::F8_E4M3 || t->dtype == st::DType::F8_E5M2) {
    s.scale = scale;
    if (!s.scale) throw FormatError(t->file + ": FP8 tensor '" + t->name + "' has no '" + scale_name + "'");
    s.br = br;
    s.bc = bc;
    const int64_t sr = (s.rows + s.br - 1) / s.br, sc = (s.cols + s.bc - 1) / s.bc;
    bool ok = st::is_float(s.scale->dtype) &&
              ((s.scale->shape.size() == 2 && s.scale->shape[0] == sr && s.scale->shape[1] == sc) ||
               (s.scale->shape.size() == 1 && sr == 1 && s.scale->shape[0] == sc));
    if (!ok || s.scale->dtype == st::DType::F8_E4M3 || s.scale->dtype == st::DType::F8_E5M2)
      throw FormatError(s.scale->file + ": tensor '" + s.scale->name + "' has shape " + s.scale->shape_string() +
                        ", expected [" + std::to_string(sr) + ", " + std::to_string(sc) + "]");
  }
  return s;
}

void read_rows(const SrcMatrix& s, int64_t r0, int64_t nr, float* dst) {
  st::to_f32(*s.t, r0 * s.cols, nr * s.cols, dst);
  if (!s.scale) return;
  const int64_t sc = (s.cols + s.bc - 1) / s.bc;
  std::vector<float> scales(static_cast<size_t>(sc));
  for (int64_t r = r0; r < r0 + nr; ++r) {
    if (r == r0 || r % s.br == 0) st::to_f32(*s.scale, (r / s.br) * sc, sc, scales.data());
    float* row = dst + (r - r0) * s.cols;
    for (int64_t c = 0; c < s.cols; ++c) row[c] *= scales[static_cast<size_t>(c / s.bc)];
  }
}

void encode_rows(const OutTensor& t, int64_t first, int64_t n, uint8_t* dst) {
  if (t.raw) return t.raw(first, n, dst);
  const TypeTraits& tt = *find_type(t.type);
  const int64_t ne0 = t.ne[0];
  const size_t rb = row_bytes(tt, ne0);
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 20) / ne0);
  std::vector<float> buf(static_cast<size_t>(std::min(chunk, n) * ne0));
  for (int64_t r = 0; r < n; r += chunk) {
    const int64_t nr = std::min(chunk, n - r);
    t.rows(first + r, nr, buf.data());
    uint8_t* out = dst + static_cast<size_t>(r) * rb;
    if (tt.type == DType::F32) std::memcpy(out, buf.data(), static_cast<size_t>(nr * ne0) * 4);
    else tt.quantize_row(buf.data(), out, nr * ne0);
  }
}

std::string rounded_count(double n) {
  double scaled;
  const char* suffix;
  if (n > 1e12) scaled = n * 1e-12, suffix = "T";
  else if (n > 1e9) scaled = n * 1e-9, suffix = "B";
  else if (n > 1e6) scaled = n * 1e-6, suffix = "M";
  else scaled = n * 1e-3, suffix = "K";
  std::string digits = std::to_string(static_cast<long long>(std::nearbyint(scaled)));
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
  int fix = std::max(2 - static_cast<int>(digits.size()), 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", fix, scaled, suffix);
  return buf;
}

uint32_t file_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: return 0;
  }
}

}  // namespace latte::tools::convert
