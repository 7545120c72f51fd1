// ModelWeights: tensor lookup, shape/type checks and the derived per-head attention matrices (§C.2-§C.4).
#include "runtime/model/weights.h"

#include <cstring>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/error.h"

namespace latte {
namespace {

std::string shape_str(std::initializer_list<int64_t> s) {
  std::string r = "[";
  bool first = true;
  for (int64_t v : s) {
    if (!first) r += ", ";
    r += std::to_string(v);
    first = false;
  }
  return r + "]";
}

// Shape equality with trailing 1s ignored.
bool same_shape(const gguf::TensorInfo& t, std::initializer_list<int64_t> shape) {
  int64_t want[4] = {1, 1, 1, 1};
  size_t i = 0;
  for (int64_t v : shape) want[i++] = v;
  for (int d = 0; d < 4; ++d)
    if (t.ne[d] != want[d]) return false;
  return true;
}

}  // namespace

TensorView make_view(const gguf::File& f, const gguf::TensorInfo& t) {
  const TypeTraits* tt = find_type(t.type);
  if (!tt || !tt->is_weight_type)
    throw UnsupportedError(f.path() + ": unsupported tensor type " + std::to_string(t.type) + " (" +
                           type_id_name(t.type) + ") of tensor " + t.name);
  if (t.ne[0] % tt->block_elems != 0)
    throw FormatError(f.path() + ": tensor " + t.name + " row length " + std::to_string(t.ne[0]) +
                      " is not a multiple of the " + tt->name + " block size");
  TensorView v;
  v.tt = tt;
  v.ne[0] = t.ne[0];
  v.ne[1] = t.ne[1];
  v.ne[2] = t.ne[2] * t.ne[3];
  v.nb1 = row_bytes(*tt, t.ne[0]);
  v.nb2 = v.nb1 * static_cast<size_t>(t.ne[1]);
  v.data = t.data;
  v.name = t.name.c_str();
  return v;
}

namespace {

class Lookup {
 public:
  explicit Lookup(const gguf::File& f) : f_(f) {}

  // Tensor `name` with exactly `shape` (trailing 1s ignored). Absent: FormatError if required, else invalid view.
  TensorView get(const std::string& name, std::initializer_list<int64_t> shape, bool required = true) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t) {
      if (required) throw FormatError(f_.path() + ": missing tensor " + name);
      return {};
    }
    if (!same_shape(*t, shape))
      throw FormatError(f_.path() + ": tensor " + name + " has shape " + t->shape_string() + ", expected " +
                        shape_str(shape));
    return make_view(f_, *t);
  }

  // Tensor with one of two accepted shapes (2-D ik form or 3-D new-MLA form of the same bytes).
  TensorView get_either(const std::string& name, std::initializer_list<int64_t> a,
                        std::initializer_list<int64_t> b) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t) throw FormatError(f_.path() + ": missing tensor " + name);
    if (!same_shape(*t, a) && !same_shape(*t, b))
      throw FormatError(f_.path() + ": tensor " + name + " has shape " + t->shape_string() + ", expected " +
                        shape_str(a) + " or " + shape_str(b));
    return make_view(f_, *t);
  }

  const gguf::File& file() const { return f_; }

 private:
  const gguf::File& f_;
};

}  // namespace

ModelWeights::~ModelWeights() = default;

std::vector<TensorView*> ModelWeights::products() {
  // Weights every token reads first, then the routed experts (a partial repack copies the former first).
  std::vector<TensorView*> v{&output};
  for (auto& L : layers)
    for (TensorView* t : {&L.attn_q, &L.attn_q_a, &L.attn_q_b, &L.attn_kv_a_mqa, &L.attn_k_b, &L.attn_v_b,
                          &L.attn_output, &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.ffn_gate_inp, &L.ffn_gate_shexp,
                          &L.ffn_up_shexp, &L.ffn_down_shexp})
      if (t->valid()) v.push_back(t);
  for (auto& L : layers)
    for (TensorView* t : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps})
      if (t->valid()) v.push_back(t);
  return v;
}

uint8_t* ModelWeights::alloc(size_t bytes) {
  // 64-byte aligned block (cache line / AVX-512), owned by the arena.
  auto p = std::make_unique<uint8_t[]>(bytes + 64);
  uint8_t* a = p.get() + (64 - reinterpret_cast<uintptr_t>(p.get()) % 64) % 64;
  arena_.push_back(std::move(p));
  arena_bytes_ += bytes;
  return a;
}

const float* ModelWeights::as_f32(const TensorView& v) {
  if (!v.valid()) return nullptr;
  if (v.type() == DType::F32) return v.f32();
  const int64_t n = v.ne[0] * v.ne[1] * v.ne[2];
  auto* dst = reinterpret_cast<float*>(alloc(static_cast<size_t>(n) * sizeof(float)));
  v.tt->dequantize_row(v.data, dst, n);
  return dst;
}

ModelWeights::ModelWeights(const gguf::File& f, const Hparams& hp) {
  const Lookup lk(f);
  const int64_t E = hp.n_embd, H = hp.n_head, Nkv = hp.kv_lora_rank, R = hp.qk_rope, P = hp.qk_nope;
  const int64_t Dv = hp.v_dim, Dqk = hp.qk_head_dim(), V = hp.n_vocab, X = hp.n_expert;
  const int64_t Fe = hp.n_ff_exp, S = hp.n_expert_shared;

  token_embd = lk.get("token_embd.weight", {E, V});
  output_norm = as_f32(lk.get("output_norm.weight", {E}));
  output = lk.get("output.weight", {E, V});

  layers.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    LayerWeights& L = layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    L.attn_norm = as_f32(lk.get(p + "attn_norm.weight", {E}));
    if (hp.has_q_lora()) {
      L.attn_q_a = lk.get(p + "attn_q_a.weight", {E, hp.q_lora_rank});
      L.attn_q_a_norm = as_f32(lk.get(p + "attn_q_a_norm.weight", {hp.q_lora_rank}));
      L.attn_q_b = lk.get(p + "attn_q_b.weight", {hp.q_lora_rank, H * Dqk});
    } else {
      L.attn_q = lk.get(p + "attn_q.weight", {E, H * Dqk});
    }
    L.attn_kv_a_mqa = lk.get(p + "attn_kv_a_mqa.weight", {E, Nkv + R});
    L.attn_kv_a_norm = as_f32(lk.get(p + "attn_kv_a_norm.weight", {Nkv}));
    L.attn_output = lk.get(p + "attn_output.weight", {H * Dv, E});

    if (hp.flavour == MlaFlavour::KvB) {
      // Derive Kb_h[c][d] = kv_b[h*(P+Dv)+d][c] (transpose of the k-rows of each head) into the arena; Vb_h is a
      // strided view of kv_b's v-rows (no copy).
      const TensorView kvb = lk.get(p + "attn_kv_b.weight", {Nkv, H * (P + Dv)});
      const DType src = kvb.type();
      DType dt = DType::F32;
      if (src == DType::F16 || src == DType::BF16) dt = src;
      else if (src != DType::F32 && P % 32 == 0 && type_traits(DType::Q8_0).quantize_row) dt = DType::Q8_0;
      const TypeTraits& dtt = type_traits(dt);
      const size_t drow = row_bytes(dtt, P);
      uint8_t* kb = alloc(drow * static_cast<size_t>(H * Nkv));
      std::vector<float> rows(static_cast<size_t>(P * Nkv)), col(static_cast<size_t>(P));
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t d = 0; d < P; ++d)
          kvb.tt->dequantize_row(kvb.row(h * (P + Dv) + d), rows.data() + d * Nkv, Nkv);
        for (int64_t c = 0; c < Nkv; ++c) {
          for (int64_t d = 0; d < P; ++d) col[static_cast<size_t>(d)] = rows[static_cast<size_t>(d * Nkv + c)];
          uint8_t* dst = kb + static_cast<size_t>(h * Nkv + c) * drow;
          if (dt == DType::F32) std::memcpy(dst, col.data(), drow);
          else dtt.quantize_row(col.data(), dst, P);
        }
      }
      TensorView k;
      k.tt = &dtt;
      k.ne[0] = P; k.ne[1] = Nkv; k.ne[2] = H;
      k.nb1 = drow;
      k.nb2 = drow * static_cast<size_t>(Nkv);
      k.data = kb;
      k.name = "attn_k_b (derived from attn_kv_b)";
      L.attn_k_b = k;
      TensorView v = kvb;
      v.ne[0] = Nkv; v.ne[1] = Dv; v.ne[2] = H;
      v.nb2 = kvb.nb1 * static_cast<size_t>(P + Dv);
      v.data = kvb.data + kvb.nb1 * static_cast<size_t>(P);
      L.attn_v_b = v;
    } else {
      if (hp.flavour == MlaFlavour::KvBAndSplit) lk.get(p + "attn_kv_b.weight", {Nkv, H * (P + Dv)});  // check
      TensorView k = lk.get_either(p + "attn_k_b.weight", {P, H * Nkv}, {P, Nkv, H});
      k.ne[1] = Nkv; k.ne[2] = H; k.nb2 = k.nb1 * static_cast<size_t>(Nkv);
      TensorView v = lk.get_either(p + "attn_v_b.weight", {Nkv, H * Dv}, {Nkv, Dv, H});
      v.ne[1] = Dv; v.ne[2] = H; v.nb2 = v.nb1 * static_cast<size_t>(Dv);
      L.attn_k_b = k;
      L.attn_v_b = v;
    }

    L.ffn_norm = as_f32(lk.get(p + "ffn_norm.weight", {E}));
    L.moe = hp.is_moe_layer(il);
    if (!L.moe) {
      L.ffn_gate = lk.get(p + "ffn_gate.weight", {E, hp.n_ff});
      L.ffn_up = lk.get(p + "ffn_up.weight", {E, hp.n_ff});
      L.ffn_down = lk.get(p + "ffn_down.weight", {hp.n_ff, E});
    } else {
      L.ffn_gate_inp = lk.get(p + "ffn_gate_inp.weight", {E, X});
      L.exp_probs_b = as_f32(lk.get(p + "exp_probs_b.bias", {X}, /*required=*/false));
      L.ffn_gate_exps = lk.get(p + "ffn_gate_exps.weight", {E, Fe, X});
      L.ffn_up_exps = lk.get(p + "ffn_up_exps.weight", {E, Fe, X});
      L.ffn_down_exps = lk.get(p + "ffn_down_exps.weight", {Fe, E, X});
      if (S > 0) {
        L.ffn_gate_shexp = lk.get(p + "ffn_gate_shexp.weight", {E, Fe * S});
        L.ffn_up_shexp = lk.get(p + "ffn_up_shexp.weight", {E, Fe * S});
        L.ffn_down_shexp = lk.get(p + "ffn_down_shexp.weight", {Fe * S, E});
      }
    }
  }
}

}  // namespace latte
