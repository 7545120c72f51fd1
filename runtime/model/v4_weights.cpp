// V4Weights: tensor lookup under ik's names and the alternates of DEEPSEEK_V4.md §3, shape and type checks.
#include "runtime/model/v4_weights.h"

#include <utility>

#include <string>

#include "formats/error.h"
#include "formats/gguf.h"
#include "runtime/model/weights.h"

namespace latte {

struct V4WeightLoader {
  const gguf::File& f;
  V4Weights& w;

  static std::string shape_str(std::initializer_list<int64_t> s) {
    std::string r = "[";
    for (int64_t v : s) r += (r.size() > 1 ? ", " : "") + std::to_string(v);
    return r + "]";
  }

  // The first present name of `names` (prefixed), checked against `shape` (trailing 1s ignored).
  const gguf::TensorInfo* find(const std::string& prefix, std::initializer_list<const char*> names,
                               std::initializer_list<int64_t> shape, bool required) const {
    const gguf::TensorInfo* t = nullptr;
    for (const char* n : names)
      if ((t = f.find_tensor(prefix + n))) break;
    if (!t) {
      if (required) throw FormatError(f.path() + ": missing tensor " + prefix + *names.begin());
      return nullptr;
    }
    int64_t want[4] = {1, 1, 1, 1};
    size_t i = 0;
    for (int64_t v : shape) want[i++] = v;
    for (int d = 0; d < 4; ++d)
      if (t->ne[d] != want[d])
        throw FormatError(f.path() + ": tensor " + t->name + " has shape " + t->shape_string() + ", expected " +
                          shape_str(shape));
    return t;
  }

  TensorView view(const std::string& prefix, std::initializer_list<const char*> names,
                  std::initializer_list<int64_t> shape, bool required = true) const {
    const gguf::TensorInfo* t = find(prefix, names, shape, required);
    return t ? make_view(f, *t) : TensorView{};
  }

  // A small vector or matrix as floats: the mapping itself for F32, else converted into the arena.
  const float* floats(const std::string& prefix, std::initializer_list<const char*> names,
                      std::initializer_list<int64_t> shape, bool required = true) const {
    const gguf::TensorInfo* t = find(prefix, names, shape, required);
    if (!t) return nullptr;
    const TypeTraits* tt = find_type(t->type);
    if (!tt || !tt->dequantize_row || t->type == static_cast<uint32_t>(DType::I32))
      throw UnsupportedError(f.path() + ": tensor " + t->name + " has type " + type_id_name(t->type) +
                             " (expected a float type)");
    if (t->type == static_cast<uint32_t>(DType::F32)) return reinterpret_cast<const float*>(t->data);
    const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
    tt->dequantize_row(t->data, buf.get(), n);
    w.arena_.push_back(std::move(buf));
    return w.arena_.back().get();
  }

  V4Mhc mhc(const std::string& prefix, const char* fn, const char* base, const char* scale, int64_t SD, int64_t out,
            int64_t n_scale) const {
    V4Mhc m;
    m.fn = view(prefix, {fn}, {SD, out});  // any weight type: quantizers (ik's among them) may quantize it
    m.base = floats(prefix, {base}, {out});
    m.scale = floats(prefix, {scale}, {n_scale});
    return m;
  }
};

V4Weights::~V4Weights() = default;

V4Weights::V4Weights(const gguf::File& f, const V4Hparams& hp) {
  const V4WeightLoader lk{f, *this};
  const int64_t D = hp.n_embd, H = hp.n_head, Dh = hp.head_dim, Rq = hp.q_lora_rank, G = hp.o_groups;
  const int64_t Ro = hp.o_lora_rank, S = hp.hc, X = hp.n_expert, Fe = hp.n_ff_exp, V = hp.n_vocab;
  const int64_t Hi = hp.idx_heads, Di = hp.idx_dim, K = hp.n_expert_used;
  const int64_t Fs = Fe * hp.n_expert_shared;

  token_embd = lk.view("", {"token_embd.weight"}, {D, V});
  output_norm = lk.floats("", {"output_norm.weight"}, {D});
  output = lk.view("", {"output.weight"}, {D, V});
  output_hc.fn = lk.view("", {"output_hc_fn.weight", "hc_head_fn.weight"}, {S * D, S});  // any weight type
  output_hc.base = lk.floats("", {"output_hc_base.weight", "hc_head_base.weight"}, {S});
  output_hc.scale = lk.floats("", {"output_hc_scale.weight", "hc_head_scale.weight"}, {1});

  layers.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    V4LayerWeights& L = layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    L.kind = hp.kind[static_cast<size_t>(il)];
    L.attn_norm = lk.floats(p, {"attn_norm.weight"}, {D});
    L.attn_sinks = lk.floats(p, {"attn_sinks.weight", "attn_sinks"}, {H});
    L.attn_q_a = lk.view(p, {"attn_q_a.weight"}, {D, Rq});
    L.attn_q_a_norm = lk.floats(p, {"attn_q_a_norm.weight"}, {Rq});
    L.attn_q_b = lk.view(p, {"attn_q_b.weight"}, {Rq, H * Dh});
    L.attn_kv = lk.view(p, {"attn_kv.weight", "attn_kv_latent.weight", "attn_kv_a_mqa.weight"}, {D, Dh});
    L.attn_kv_norm = lk.floats(p, {"attn_kv_a_norm.weight"}, {Dh});
    L.attn_output_a = lk.view(p, {"attn_output_a.weight"}, {H * Dh / G, G * Ro});
    L.attn_output_b = lk.view(p, {"attn_output_b.weight"}, {G * Ro, D});
    L.hc_attn = lk.mhc(p, "hc_attn_fn.weight", "hc_attn_base.weight", "hc_attn_scale.weight", S * D, (2 + S) * S, 3);
    L.hc_ffn = lk.mhc(p, "hc_ffn_fn.weight", "hc_ffn_base.weight", "hc_ffn_scale.weight", S * D, (2 + S) * S, 3);
    if (L.kind != V4LayerKind::Window) {
      const int64_t m = hp.ratio[static_cast<size_t>(il)];
      const int64_t w = L.kind == V4LayerKind::Csa ? 2 * Dh : Dh;
      L.comp.kv = lk.view(p, {"attn_compressor_kv.weight", "attn_compress_kv.weight"}, {D, w});
      L.comp.gate = lk.view(p, {"attn_compressor_gate.weight", "attn_compress_gate.weight"}, {D, w});
      L.comp.ape = lk.floats(p, {"attn_compressor_ape.weight", "attn_compress_ape.weight"}, {w, m});
      L.comp.norm = lk.floats(p, {"attn_compressor_norm.weight", "attn_compress_norm.weight"}, {Dh});
    }
    if (L.kind == V4LayerKind::Csa) {
      const int64_t m = hp.ratio[static_cast<size_t>(il)];
      L.idx_q_b = lk.view(p, {"indexer.attn_q_b.weight"}, {Rq, Hi * Di});
      L.idx_proj = lk.view(p, {"indexer.proj.weight"}, {D, Hi});
      L.idx_comp.kv = lk.view(p, {"indexer_compressor_kv.weight", "indexer.compress_kv.weight"}, {D, 2 * Di});
      L.idx_comp.gate = lk.view(p, {"indexer_compressor_gate.weight", "indexer.compress_gate.weight"}, {D, 2 * Di});
      L.idx_comp.ape = lk.floats(p, {"indexer_compressor_ape.weight", "indexer.compress_ape.weight"}, {2 * Di, m});
      L.idx_comp.norm = lk.floats(p, {"indexer_compressor_norm.weight", "indexer.compress_norm.weight"}, {Di});
    }
    L.ffn_norm = lk.floats(p, {"ffn_norm.weight"}, {D});
    L.moe.moe = true;
    L.moe.ffn_norm = L.ffn_norm;
    L.moe.ffn_gate_inp = lk.view(p, {"ffn_gate_inp.weight"}, {D, X});
    if (hp.hash[static_cast<size_t>(il)]) {
      const gguf::TensorInfo* t = lk.find(p, {"ffn_gate_tid2eid.weight"}, {K, V}, true);
      if (t->type != static_cast<uint32_t>(DType::I32))
        throw UnsupportedError(f.path() + ": tensor " + t->name + " has type " + type_id_name(t->type) +
                               " (expected I32)");
      L.tid2eid = reinterpret_cast<const int32_t*>(t->data);
      for (int64_t i = 0; i < K * V; ++i)
        if (L.tid2eid[i] < 0 || L.tid2eid[i] >= X)
          throw FormatError(f.path() + ": tensor " + t->name + " holds expert id " + std::to_string(L.tid2eid[i]) +
                            " outside [0, " + std::to_string(X) + ")");
    } else {
      L.moe.exp_probs_b = lk.floats(p, {"exp_probs_b.bias", "exp_probs_b.weight"}, {X}, /*required=*/false);
    }
    L.moe.ffn_gate_exps = lk.view(p, {"ffn_gate_exps.weight"}, {D, Fe, X});
    L.moe.ffn_up_exps = lk.view(p, {"ffn_up_exps.weight"}, {D, Fe, X});
    L.moe.ffn_down_exps = lk.view(p, {"ffn_down_exps.weight"}, {Fe, D, X});
    if (Fs > 0) {
      L.moe.ffn_gate_shexp = lk.view(p, {"ffn_gate_shexp.weight"}, {D, Fs});
      L.moe.ffn_up_shexp = lk.view(p, {"ffn_up_shexp.weight"}, {D, Fs});
      L.moe.ffn_down_shexp = lk.view(p, {"ffn_down_shexp.weight"}, {Fs, D});
    }
  }
}

std::vector<const TensorView*> V4Weights::products() const {
  std::vector<const TensorView*> v{&output};
  for (const auto& L : layers)
    for (const TensorView* t : {&L.attn_q_a, &L.attn_q_b, &L.attn_kv, &L.attn_output_a, &L.attn_output_b,
                                &L.hc_attn.fn, &L.hc_ffn.fn, &L.comp.kv, &L.comp.gate, &L.idx_comp.kv,
                                &L.idx_comp.gate, &L.idx_q_b, &L.idx_proj, &L.moe.ffn_gate_inp,
                                &L.moe.ffn_gate_exps, &L.moe.ffn_up_exps, &L.moe.ffn_down_exps,
                                &L.moe.ffn_gate_shexp, &L.moe.ffn_up_shexp, &L.moe.ffn_down_shexp})
      if (t->valid()) v.push_back(t);
  if (output_hc.fn.valid()) v.push_back(&output_hc.fn);
  return v;
}

std::vector<TensorView*> V4Weights::products() {
  std::vector<TensorView*> out;
  for (const TensorView* t : std::as_const(*this).products()) out.push_back(const_cast<TensorView*>(t));
  return out;
}

}  // namespace latte
