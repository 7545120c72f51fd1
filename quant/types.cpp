// The traits table (one constant entry per supported type, indexed by ggml id) and the names of every type id
// known to mainline ggml or ik_llama.cpp (GGUF_DEEPSEEK.md §A.6). Constant data, thread-safe.
#include "quant/types.h"

#include <cassert>
#include <cctype>
#include <string_view>

#include "quant/blocks.h"
#include "quant/ref.h"
#include "formats/error.h"

namespace latte {
namespace {

using namespace ref;

constexpr TypeTraits kTraits[] = {
    {DType::F32, "F32", 1, 4, dequantize_f32, quantize_f32, DType::F32, true},
    {DType::F16, "F16", 1, 2, dequantize_f16, quantize_f16, DType::F32, true},
    {DType::Q4_0, "Q4_0", QK4_0, sizeof(BlockQ4_0), dequantize_q4_0, quantize_q4_0, DType::Q8_0, true},
    {DType::Q4_1, "Q4_1", QK4_1, sizeof(BlockQ4_1), dequantize_q4_1, quantize_q4_1, DType::Q8_1, true},
    {DType::Q5_0, "Q5_0", QK5_0, sizeof(BlockQ5_0), dequantize_q5_0, quantize_q5_0, DType::Q8_0, true},
    {DType::Q5_1, "Q5_1", QK5_1, sizeof(BlockQ5_1), dequantize_q5_1, quantize_q5_1, DType::Q8_1, true},
    {DType::Q8_0, "Q8_0", QK8_0, sizeof(BlockQ8_0), dequantize_q8_0, quantize_q8_0, DType::Q8_0, true},
    {DType::Q8_1, "Q8_1", QK8_1, sizeof(BlockQ8_1), dequantize_q8_1, quantize_q8_1, DType::Q8_1, false},
    {DType::Q2_K, "Q2_K", QK_K, sizeof(BlockQ2_K), dequantize_q2_k, quantize_q2_k, DType::Q8_K, true},
    {DType::Q3_K, "Q3_K", QK_K, sizeof(BlockQ3_K), dequantize_q3_k, quantize_q3_k, DType::Q8_K, true},
    {DType::Q4_K, "Q4_K", QK_K, sizeof(BlockQ4_K), dequantize_q4_k, quantize_q4_k, DType::Q8_K, true},
    {DType::Q5_K, "Q5_K", QK_K, sizeof(BlockQ5_K), dequantize_q5_k, quantize_q5_k, DType::Q8_K, true},
    {DType::Q6_K, "Q6_K", QK_K, sizeof(BlockQ6_K), dequantize_q6_k, quantize_q6_k, DType::Q8_K, true},
    {DType::Q8_K, "Q8_K", QK_K, sizeof(BlockQ8_K), dequantize_q8_k, quantize_q8_k, DType::Q8_K, false},
    {DType::IQ2_XXS, "IQ2_XXS", QK_K, sizeof(BlockIQ2_XXS), dequantize_iq2_xxs, quantize_iq2_xxs, DType::Q8_K, true},
    {DType::IQ3_XXS, "IQ3_XXS", QK_K, sizeof(BlockIQ3_XXS), dequantize_iq3_xxs, quantize_iq3_xxs, DType::Q8_K, true},
    {DType::IQ1_S, "IQ1_S", QK_K, sizeof(BlockIQ1_S), dequantize_iq1_s, quantize_iq1_s, DType::Q8_K, true},
    {DType::IQ4_NL, "IQ4_NL", QK4_NL, sizeof(BlockIQ4_NL), dequantize_iq4_nl, quantize_iq4_nl, DType::Q8_0, true},
    {DType::IQ4_XS, "IQ4_XS", QK_K, sizeof(BlockIQ4_XS), dequantize_iq4_xs, quantize_iq4_xs, DType::Q8_K, true},
    {DType::BF16, "BF16", 1, 2, dequantize_bf16, quantize_bf16, DType::F32, true},
    {DType::MXFP4, "MXFP4", QK_MXFP4, sizeof(BlockMXFP4), dequantize_mxfp4, quantize_mxfp4, DType::Q8_0, true},
    // Integer lookup tables (deepseek4's ffn_gate_tid2eid): readable and writable, never a product operand.
    {DType::I32, "I32", 1, 4, dequantize_i32, nullptr, DType::F32, false},
};

constexpr const TypeTraits* lookup(uint32_t id) {
  for (const auto& t : kTraits)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

// Index by id, built at compile time from kTraits.
struct ById {
  const TypeTraits* p[kMaxTypeId] = {};
  constexpr ById() {
    for (uint32_t i = 0; i < kMaxTypeId; ++i) p[i] = lookup(i);
  }
};
constexpr ById kById{};

struct IdName {
  uint32_t id;
  const char* name;
};
// Every id of §A.6 with its name (mainline names where ids agree; "I2_S" for 36 as ik defines it).
constexpr IdName kNames[] = {
    {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {4, "Q4_2"}, {5, "Q4_3"}, {6, "Q5_0"}, {7, "Q5_1"},
    {8, "Q8_0"}, {9, "Q8_1"}, {10, "Q2_K"}, {11, "Q3_K"}, {12, "Q4_K"}, {13, "Q5_K"}, {14, "Q6_K"},
    {15, "Q8_K"}, {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"}, {20, "IQ4_NL"},
    {21, "IQ3_S"}, {22, "IQ2_S"}, {23, "IQ4_XS"}, {24, "I8"}, {25, "I16"}, {26, "I32"}, {27, "I64"},
    {28, "F64"}, {29, "IQ1_M"}, {30, "BF16"}, {31, "Q4_0_4_4"}, {32, "Q4_0_4_8"}, {33, "Q4_0_8_8"},
    {34, "TQ1_0"}, {35, "TQ2_0"}, {36, "I2_S"}, {37, "IQ4_NL_4_8"}, {38, "IQ4_NL_8_8"}, {39, "MXFP4"},
    {40, "NVFP4"}, {41, "Q1_0_G128"},
    {97, "Q8_0_X4"}, {98, "Q8_1_X4"}, {99, "Q8_2_X4"}, {133, "Q6_0"}, {134, "IQ1_BN"}, {135, "IQ2_BN"},
    {136, "Q8_K64"}, {137, "IQ2_K"}, {138, "IQ3_K"}, {139, "IQ4_K"}, {140, "IQ5_K"}, {141, "IQ6_K"},
    {142, "IQ2_TN"}, {143, "IQ1_TN"}, {144, "IQ4_KS"}, {145, "IQ2_KS"}, {146, "IQ4_KSS"}, {147, "Q8_K16"},
    {148, "Q8_K32"}, {149, "Q8_KR8"}, {150, "Q8_K128"}, {151, "Q8_KV"}, {152, "IQ5_KS"}, {153, "IQ2_KT"},
    {154, "IQ3_KT"}, {155, "IQ4_KT"}, {156, "IQ3_KS"}, {157, "IQ2_KL"}, {158, "IQ1_KT"},
    {202, "Q4_0_R8"}, {206, "Q5_0_R4"}, {208, "Q8_0_R8"}, {210, "Q2_K_R4"}, {211, "Q3_K_R4"},
    {212, "Q4_K_R4"}, {213, "Q5_K_R4"}, {214, "Q6_K_R4"}, {216, "IQ2_XXS_R4"}, {217, "IQ2_XS_R4"},
    {218, "IQ3_XXS_R4"}, {219, "IQ1_S_R4"}, {220, "IQ4_NL_R4"}, {221, "IQ3_S_R4"}, {222, "IQ2_S_R4"},
    {223, "IQ4_XS_R8"}, {229, "IQ1_M_R4"}, {230, "BF16_R16"}, {233, "Q6_0_R4"}, {335, "IQ2_BN_R4"},
    {337, "IQ2_K_R4"}, {338, "IQ3_K_R4"}, {339, "IQ4_K_R4"}, {340, "IQ5_K_R4"}, {344, "IQ4_KS_R4"},
    {352, "IQ5_KS_R4"}, {353, "MXFP4_R8"}, {397, "Q8_K_R16"}, {398, "Q8_KV_R8"}, {399, "Q8_K_R8"},
};

}  // namespace

const TypeTraits* find_type(uint32_t id) { return id < kMaxTypeId ? kById.p[id] : nullptr; }

const TypeTraits& type_traits(DType t) {
  const TypeTraits* p = find_type(static_cast<uint32_t>(t));
  if (!p) throw UnsupportedError("unsupported tensor type " + std::to_string(static_cast<uint32_t>(t)));
  return *p;
}

const char* type_id_name(uint32_t id) {
  for (const auto& e : kNames)
    if (e.id == id) return e.name;
  return "unknown";
}

bool parse_type_name(const std::string& name, DType& out) {
  for (const auto& t : kTraits) {
    std::string_view n = t.name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i)
      eq = std::toupper(static_cast<unsigned char>(name[i])) == static_cast<unsigned char>(n[i]);
    if (eq) {
      out = t.type;
      return true;
    }
  }
  return false;
}

}  // namespace latte
