// V4Weights: every deepseek4 weight as a TensorView into the mapped GGUF (DEEPSEEK_V4.md §3), under ik_llama.cpp's
// names or the alternates other converters write, checked for presence, shape and type at load. Small F32 vectors
// (norms, sinks, ape, mHC, bias) are plain float pointers (converted into an owned arena when stored otherwise).
// Immutable after construction; thread-safe to read. The gguf::File must outlive this object.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/compute/tensor_view.h"
#include "runtime/model/v4_hparams.h"
#include "runtime/model/weights.h"

namespace latte {
namespace gguf { class File; }

// Symbols: D n_embd, H heads, Dh head width, Rq q-LoRA rank, G output groups, Ro output rank, S streams,
// m ratio, w = Dh (HCA) or 2·Dh (CSA) compressor channels, Hi/Di indexer heads/width, X experts, Fe expert width,
// K experts per token, V vocabulary.
struct V4Compressor {
  TensorView kv, gate;          // [D, w]
  const float* ape = nullptr;   // [m][w] added to the gate by in-block slot
  const float* norm = nullptr;  // [w / series]
};

struct V4Mhc {
  TensorView fn;                // [S·D, (2+S)·S] (head: [S·D, S])
  const float* base = nullptr;  // [(2+S)·S]
  const float* scale = nullptr; // [3] (head: [1])
};

struct V4LayerWeights {
  V4LayerKind kind = V4LayerKind::Window;
  const float* attn_norm = nullptr;      // [D]
  const float* attn_sinks = nullptr;     // [H]
  TensorView attn_q_a;                   // [D, Rq]
  const float* attn_q_a_norm = nullptr;  // [Rq]
  TensorView attn_q_b;                   // [Rq, H·Dh]
  TensorView attn_kv;                    // [D, Dh]
  const float* attn_kv_norm = nullptr;   // [Dh]
  TensorView attn_output_a;              // [H·Dh/G, G·Ro]: group g = rows g·Ro..
  TensorView attn_output_b;              // [G·Ro, D]
  V4Mhc hc_attn, hc_ffn;
  V4Compressor comp;                     // CSA / HCA
  V4Compressor idx_comp;                 // CSA: the indexer's own compressor (w = 2·Di)
  TensorView idx_q_b;                    // [Rq, Hi·Di]
  TensorView idx_proj;                   // [D, Hi]
  const float* ffn_norm = nullptr;       // [D]
  const int32_t* tid2eid = nullptr;      // [V][K] expert ids (hash layers)
  // The MoE block in deepseek2's layout (runtime/model/moe.h): only ffn_gate_inp [D, X], exp_probs_b [X]
  // (non-hash layers), ffn_{gate,up}_exps [D, Fe, X], ffn_down_exps [Fe, D, X] and the shared expert are set.
  LayerWeights moe;
};

class V4Weights {
 public:
  // Throws FormatError (missing tensor / wrong shape, naming both shapes) or UnsupportedError (tensor type).
  V4Weights(const gguf::File& f, const V4Hparams& hp);
  ~V4Weights();

  TensorView token_embd;                 // [D, V]
  const float* output_norm = nullptr;    // [D]
  TensorView output;                     // [D, V]
  V4Mhc output_hc;
  std::vector<V4LayerWeights> layers;

  // Every product operand (for the kernel check and byte counts).
  std::vector<const TensorView*> products() const;
  std::vector<TensorView*> products();  // the same views, writable (load-time repack)

 private:
  std::vector<std::unique_ptr<float[]>> arena_;
  friend struct V4WeightLoader;
};

}  // namespace latte
