// Quantized block types: one traits entry per supported GGUF tensor type (ids are ggml's; GGUF_DEEPSEEK.md §A.6).
// Knows nothing about files or models. Block layouts are the structs in quant/blocks.h (static_assert'ed).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace latte {

enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ4_XS = 23, I32 = 26, BF16 = 30, MXFP4 = 39,
};
constexpr uint32_t kMaxTypeId = 40;  // table size for per-type arrays indexed by id

// Reference conversions over one row of n elements (n a multiple of block_elems). Pure, thread-safe.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

struct TypeTraits {
  DType type;
  const char* name;          // "Q4_K"
  int64_t block_elems;       // elements per block (1 for float types)
  size_t block_bytes;        // bytes per block
  DequantizeRowFn dequantize_row;  // scalar reference, always present
  QuantizeRowFn quantize_row;      // scalar reference; nullptr where Latte has no quantizer for the type
  DType vec_dot_type;        // activation partner for dot products: Q8_K for K-quants and the 256-block
                             // i-quants (IQ2_XXS, IQ3_XXS, IQ1_S, IQ4_XS); Q8_0 for Q4_0, Q5_0, Q8_0, IQ4_NL,
                             // MXFP4; Q8_1 for Q4_1, Q5_1; F32 for F32, F16 and BF16 (activations stay f32: no
                             // rounding of x, and the weight conversion is one shift / vcvtph2ps)
  bool is_weight_type;       // false for activation-only types (Q8_1, Q8_K) and integer tables (I32)
};

// Traits of a supported type id, or nullptr (unknown or unsupported id).
const TypeTraits* find_type(uint32_t id);
// Traits of a supported type (throws UnsupportedError naming the id if it is not).
const TypeTraits& type_traits(DType t);
// Name of any ggml / ik_llama.cpp type id we know of (also unsupported ones), or "unknown".
const char* type_id_name(uint32_t id);
// Parses a name such as "q4_k" / "Q4_K" / "bf16"; returns false if unknown.
bool parse_type_name(const std::string& name, DType& out);

inline size_t row_bytes(const TypeTraits& t, int64_t n) { return static_cast<size_t>(n / t.block_elems) * t.block_bytes; }
inline size_t row_bytes(DType t, int64_t n) { return row_bytes(type_traits(t), n); }

}  // namespace latte
