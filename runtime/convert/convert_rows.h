// Pieces shared by the Hugging Face converters (convert_hf.cpp: deepseek2, convert_v4.cpp: deepseek4): a source
// matrix in a safetensors checkpoint read as f32 rows (FP8 weights multiplied by their block scales on the fly),
// one planned GGUF output tensor and its row encoder, and small naming helpers. Internal to runtime/convert.
// Thread-safety: plain values; a producer reads the (immutable) checkpoint mapping only.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/safetensors.h"
#include "quant/types.h"

namespace latte::tools::convert {

bool ends_with(const std::string& s, const std::string& suffix);

// A source matrix: `rows` rows of `cols` values (safetensors [rows, cols]; a 1-D tensor is one row). An FP8
// weight carries its block scales `scale` ([ceil(rows/br), ceil(cols/bc)], any float dtype incl. E8M0).
struct SrcMatrix {
  const safetensors::TensorInfo* t = nullptr;
  const safetensors::TensorInfo* scale = nullptr;
  int64_t rows = 1, cols = 1, br = 128, bc = 128;
};

// Validates `t` (float dtype, 1-D or 2-D) and, for FP8 dtypes, `scale` (required then; name it in errors as
// `scale_name`). Throws FormatError / UnsupportedError naming the file and tensor.
SrcMatrix src_matrix(const safetensors::TensorInfo* t, const safetensors::TensorInfo* scale,
                     const std::string& scale_name, int64_t br, int64_t bc);

// Rows [r0, r0 + nr) of `s` as f32 into dst (nr × cols): exact for F32/F16/BF16, fp8 · scale for FP8.
void read_rows(const SrcMatrix& s, int64_t r0, int64_t nr, float* dst);

// One GGUF tensor to write: shape (GGUF order, ne[0] = row length), ggml type, and a producer of its rows:
// `rows` gives f32 rows that encode_rows converts to `type`; `raw` (when set) writes rows already in `type`
// (MXFP4 blocks repacked from FP4 sources, I32 tables).
struct OutTensor {
  std::string name;
  std::vector<int64_t> ne;
  uint32_t type = 0;
  std::function<void(int64_t r0, int64_t nr, float* dst)> rows;
  std::function<void(int64_t r0, int64_t nr, uint8_t* dst)> raw;
  int64_t n_rows() const {
    int64_t n = 1;
    for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
    return n;
  }
  int64_t n_elements() const { return n_rows() * ne[0]; }
};

// Encodes rows [first, first + n) of `t` into dst (n × row_bytes of GGUF data), ≤ 1 Mi f32 values at a time.
void encode_rows(const OutTensor& t, int64_t first, int64_t n, uint8_t* dst);

// gguf-py's model_weight_count_rounded_notation(n, min_digits = 2): "16M", "2.8B".
std::string rounded_count(double n);

// general.file_type of a converter output type (0 f32, 1 f16, 7 q8_0, 32 bf16).
uint32_t file_type_of(DType t);

}  // namespace latte::tools::convert
