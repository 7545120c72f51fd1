// ModelWeights: every deepseek2 weight as a TensorView (GGUF_DEEPSEEK.md §C.3/§C.4), checked for presence, shape
// and a supported type at load. Views point into the mapped GGUF; the few tensors that must be derived or converted
// (per-head attn_k_b from attn_kv_b, non-F32 norm vectors) live in an arena owned here.
// Immutable after construction; thread-safe to read. The gguf::File must outlive this object.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/model/hparams.h"
#include "runtime/compute/tensor_view.h"

namespace latte {
namespace gguf { class File; struct TensorInfo; }

// A view of a mapped tensor; UnsupportedError for a type that cannot be a weight, FormatError for a row length
// that is not a whole number of blocks. Shared by the deepseek2 and deepseek4 loaders.
TensorView make_view(const gguf::File& f, const gguf::TensorInfo& t);

// Symbols: E n_embd, H heads, Nq q_lora_rank, Nkv kv_lora_rank, R rope dims, P nope dims, Dv value dims,
// F dense FFN width, Fe expert width, S shared experts, X routed experts.
struct LayerWeights {
  const float* attn_norm = nullptr;      // [E]
  TensorView attn_q;                     // [E, H*(P+R)]        (no q-LoRA only)
  TensorView attn_q_a;                   // [E, Nq]             (q-LoRA only)
  const float* attn_q_a_norm = nullptr;  // [Nq]                (q-LoRA only)
  TensorView attn_q_b;                   // [Nq, H*(P+R)]       (q-LoRA only)
  TensorView attn_kv_a_mqa;              // [E, Nkv+R]: rows 0..Nkv-1 -> c_kv, Nkv.. -> k_pe
  const float* attn_kv_a_norm = nullptr; // [Nkv]
  TensorView attn_k_b;                   // 3-D [P, Nkv, H]: matrix h = Kb_h (maps q_nope[h] -> latent)
  TensorView attn_v_b;                   // 3-D [Nkv, Dv, H]: matrix h = Vb_h (maps latent -> v[h])
  TensorView attn_output;                // [H*Dv, E]
  const float* ffn_norm = nullptr;       // [E]
  bool moe = false;
  // dense layers
  TensorView ffn_gate, ffn_up;           // [E, F]
  TensorView ffn_down;                   // [F, E]
  // MoE layers
  TensorView ffn_gate_inp;               // [E, X] router
  const float* exp_probs_b = nullptr;    // [X] selection bias, optional
  TensorView ffn_gate_exps, ffn_up_exps; // [E, Fe, X]
  TensorView ffn_down_exps;              // [Fe, E, X]
  TensorView ffn_gate_shexp, ffn_up_shexp;  // [E, Fe*S]  (absent when S = 0)
  TensorView ffn_down_shexp;             // [Fe*S, E]
};

class ModelWeights {
 public:
  // Throws FormatError (missing tensor / wrong shape, naming both shapes) or UnsupportedError (tensor type).
  ModelWeights(const gguf::File& f, const Hparams& hp);
  ModelWeights() = default;  // no layers (a deepseek4 model keeps its weights in V4Weights)
  ~ModelWeights();

  TensorView token_embd;                 // [E, V]
  const float* output_norm = nullptr;    // [E]
  TensorView output;                     // [E, V]
  std::vector<LayerWeights> layers;

  uint64_t arena_bytes() const { return arena_bytes_; }
  // Every weight that products read (all but token_embd, which is read row by row), for the load-time repack:
  // the weights every token reads first, then the routed experts.
  std::vector<TensorView*> products();

 private:
  uint8_t* alloc(size_t bytes);
  const float* as_f32(const TensorView& v);  // 1-D vector as floats (converted into the arena if not F32)
  std::vector<std::unique_ptr<uint8_t[]>> arena_;
  uint64_t arena_bytes_ = 0;
};

}  // namespace latte
