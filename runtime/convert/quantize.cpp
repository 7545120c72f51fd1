// GGUF → GGUF quantization: per-tensor type rules, the plan, the streaming row converter. See quantize.h.
#include "runtime/convert/quantize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/compute/threads.h"

namespace latte::quantize {

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

struct TargetName {
  const char* name;
  DType base;
  Mix mix;
  uint32_t file_type;  // §B.10
};
// Pure types carry the file_type of the nearest llama.cpp mix (informational only).
constexpr TargetName kTargets[] = {
    {"f32", DType::F32, Mix::Single, 0},        {"f16", DType::F16, Mix::Single, 1},
    {"bf16", DType::BF16, Mix::Single, 32},     {"q8_0", DType::Q8_0, Mix::Single, 7},
    {"q4_0", DType::Q4_0, Mix::Single, 2},      {"q4_1", DType::Q4_1, Mix::Single, 3},
    {"q5_0", DType::Q5_0, Mix::Single, 8},      {"q5_1", DType::Q5_1, Mix::Single, 9},
    {"q2_k", DType::Q2_K, Mix::Single, 10},     {"q3_k", DType::Q3_K, Mix::Single, 11},
    {"q4_k", DType::Q4_K, Mix::Single, 14},     {"q5_k", DType::Q5_K, Mix::Single, 16},
    {"q6_k", DType::Q6_K, Mix::Single, 18},     {"iq4_nl", DType::IQ4_NL, Mix::Single, 25},
    {"iq4_xs", DType::IQ4_XS, Mix::Single, 30}, {"q4_k_m", DType::Q4_K, Mix::Q4_K_M, 15},
    {"q5_k_m", DType::Q5_K, Mix::Q5_K_M, 17},   {"mxfp4", DType::MXFP4, Mix::Single, 38},
    {"iq3_xxs", DType::IQ3_XXS, Mix::Single, 23}, {"iq2_xxs", DType::IQ2_XXS, Mix::Single, 19},
    {"iq1_s", DType::IQ1_S, Mix::Single, 24},
};

// Types we may write: supported, and (F32 aside) with a reference quantizer.
bool can_write(DType t) {
  if (t == DType::F32) return true;
  const TypeTraits* tr = find_type(static_cast<uint32_t>(t));
  return tr && tr->quantize_row && tr->is_weight_type;
}

// Fallback chains (GGUF_DEEPSEEK.md §B.9, llama-quantize's substitutes), first entry = the wanted type.
std::vector<DType> chain_of(DType want) {
  switch (want) {
    case DType::Q4_K: return {DType::Q4_K, DType::Q5_0, DType::Q8_0, DType::F16, DType::F32};
    case DType::Q5_K: return {DType::Q5_K, DType::Q5_1, DType::Q8_0, DType::F16, DType::F32};
    case DType::Q6_K: return {DType::Q6_K, DType::Q8_0, DType::F16, DType::F32};
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::IQ1_S:
    case DType::IQ2_XXS:
    case DType::IQ3_XXS:
    case DType::IQ4_XS: return {want, DType::IQ4_NL, DType::Q5_0, DType::Q8_0, DType::F16, DType::F32};
    case DType::IQ4_NL: return {DType::IQ4_NL, DType::Q5_0, DType::Q8_0, DType::F16, DType::F32};
    case DType::F32: return {DType::F32};
    default: return {want, DType::F16, DType::F32};
  }
}

uint64_t tensor_bytes(DType t, const std::vector<int64_t>& ne) {
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  return uint64_t(row_bytes(t, ne.empty() ? 1 : ne[0])) * uint64_t(rows);
}

}  // namespace

Target parse_target(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& t : kTargets) {
    if (lower == t.name) {
      if (!can_write(t.base))
        throw UnsupportedError("quantize: type " + name + " has no quantizer in this build");
      return Target{t.name, t.base, t.mix, t.file_type, false};
    }
  }
  throw ArgumentError("quantize: unknown type '" + name + "' (accepted: " + target_names() + ")");
}

std::string target_names() {
  std::string s;
  for (const auto& t : kTargets) {
    if (!s.empty()) s += ", ";
    s += t.name;
  }
  return s;
}

int layer_of(const std::string& n) {
  if (n.rfind("blk.", 0) != 0) return -1;
  size_t i = 4;
  int v = 0;
  bool any = false;
  while (i < n.size() && n[i] >= '0' && n[i] <= '9' && v < 100000) {
    v = v * 10 + (n[i] - '0');
    ++i;
    any = true;
  }
  return (any && i < n.size() && n[i] == '.') ? v : -1;
}

bool keeps_f32(const TensorDesc& t) {
  int64_t big_dims = 0;
  for (int64_t d : t.ne) big_dims += d > 1 ? 1 : 0;
  if (t.ne.size() <= 1 || big_dims <= 1) return true;
  // deepseek4: mHC mixing matrices (hc_*_fn, output_hc_fn, read as f32 by the forward), the compressors'
  // in-block position biases (*_ape) stay f32.
  return ends_with(t.name, "_norm.weight") || contains(t.name, "ffn_gate_inp") || contains(t.name, "exp_probs_b") ||
         contains(t.name, "hc_") || contains(t.name, "_ape.") || !ends_with(t.name, ".weight");
}

bool use_more_bits(int layer, int n_layer) {
  if (layer < 0 || n_layer <= 0) return false;
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

// The rules.
//  * Float targets (f32/f16/bf16): every weight matrix gets that type.
//  * output.weight: Q6_K for every quantized target below 8 bits (llama.cpp does the same unless --pure);
//    Q8_0 and Q6_K targets keep their own type.
//  * attn_k_b / attn_v_b (present in flavour-2 files next to attn_kv_b): F16 unless --pure (measured, below).
//  * Single types: everything else gets the base type.
//  * Q4_K_M / Q5_K_M (base B = Q4_K / Q5_K), in the spirit of llama.cpp's mixes, with DeepSeek's MLA and shared
//    experts in mind:
//      - attn_kv_b (the value path, llama.cpp's attn_v rule; small):                            Q6_K
//      - ffn_down, ffn_down_exps in use_more_bits layers (first/last eighth + every third):    Q6_K, else B
//      - shared experts (read for every token): ffn_down_shexp Q6_K; gate/up Q5_K (Q4_K_M) / Q6_K (Q5_K_M)
//      - everything else (token_embd, attn_q*, attn_kv_a_mqa, attn_output, ffn_gate/up(_exps)):  B
//  * Then the row-length check (fit_row): K-quants need ne[0] % 256 == 0, else Q5_0 / Q5_1 / Q8_0 / IQ4_NL.
DType wanted_type(const Target& tg, const TensorDesc& t) {
  const DType B = tg.base;
  if (is_float_type(B)) return B;
  const std::string& n = t.name;
  if (n == "output.weight") {
    if (tg.pure || B == DType::Q8_0 || B == DType::Q6_K) return B;
    return DType::Q6_K;
  }
  // The split MLA tensors duplicate attn_kv_b (flavour 2, §C.2) and are small (DeepSeek-V3: ~0.3 % of a Q4_K_M
  // file at F16). Measured mean KL against the f32 model (README "Quantizing"): F16 split tensors are the best or
  // within 4 % of the best of {Q8_0, the target type, F16, dropped} in 8 of 10 (model, target) cells on
  // tiny-dsv3 / tiny-dsv2 (at most +9 %); each other choice is 7 % or more worse somewhere.
  if (!tg.pure && (contains(n, "attn_k_b") || contains(n, "attn_v_b"))) return DType::F16;
  if (tg.mix == Mix::Single) return B;
  if (contains(n, "attn_kv_b")) return DType::Q6_K;
  if (contains(n, "ffn_down_shexp")) return DType::Q6_K;
  if (contains(n, "_shexp")) return tg.mix == Mix::Q4_K_M ? DType::Q5_K : DType::Q6_K;
  if (contains(n, "ffn_down")) return use_more_bits(t.layer, t.n_layer) ? DType::Q6_K : B;
  return B;
}

DType fit_row(DType want, int64_t row_len) {
  for (DType t : chain_of(want)) {
    if (!can_write(t)) continue;
    const TypeTraits* tr = find_type(static_cast<uint32_t>(t));
    int64_t be = tr ? tr->block_elems : 1;
    if (row_len % be == 0) return t;
  }
  return DType::F32;
}

DType choose_type(const Target& tg, const TensorDesc& t) {
  if (keeps_f32(t)) return DType::F32;
  return fit_row(wanted_type(tg, t), t.ne.empty() ? 1 : t.ne[0]);
}

int64_t TensorPlan::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}
uint64_t TensorPlan::dst_bytes() const { return tensor_bytes(dst, ne); }

std::vector<TensorPlan> make_plan(const gguf::File& src, const Target& tg, const Options& opt) {
  auto arch = src.get_string("general.architecture");
  int n_layer = 0;
  if (arch) {
    if (auto bc = src.get_uint(std::string(*arch) + ".block_count")) n_layer = static_cast<int>(*bc);
  }
  std::set<std::string> names;
  for (const auto& ti : src.tensors()) names.insert(ti.name);

  std::vector<TensorPlan> plan;
  for (const auto& ti : src.tensors()) {
    if (opt.drop_split_kv && (contains(ti.name, "attn_k_b") || contains(ti.name, "attn_v_b"))) {
      int L = layer_of(ti.name);
      if (L >= 0 && names.count("blk." + std::to_string(L) + ".attn_kv_b.weight")) continue;
    }
    TensorDesc d;
    d.name = ti.name;
    d.ne.assign(ti.ne, ti.ne + std::max<uint32_t>(1, ti.n_dims));
    d.layer = layer_of(ti.name);
    d.n_layer = n_layer;
    TensorPlan p;
    p.name = ti.name;
    p.ne = d.ne;
    p.src_type = ti.type;
    p.dst = choose_type(tg, d);
    if (opt.override_split_kv && (contains(ti.name, "attn_k_b") || contains(ti.name, "attn_v_b")) && !keeps_f32(d))
      p.dst = fit_row(opt.split_kv_type, d.ne[0]);
    // Integer tables (deepseek4's ffn_gate_tid2eid) are copied as they are.
    if (p.src_type == static_cast<uint32_t>(DType::I32)) p.dst = DType::I32;
    // Already in a type the rules would accept for this tensor? Keep F32/F16/BF16 sources as they are only when
    // the target asks for that very type; quantized sources of the exact wanted type are copied verbatim.
    if (p.src_type != static_cast<uint32_t>(p.dst)) {
      const TypeTraits* st = find_type(p.src_type);
      if (!st || !st->dequantize_row)
        throw UnsupportedError(src.path() + ": tensor " + ti.name + ": cannot convert from type " +
                               type_id_name(p.src_type) + " (" + std::to_string(p.src_type) + ")");
      if (d.ne[0] % st->block_elems != 0)
        throw FormatError(src.path() + ": tensor " + ti.name + ": row length " + std::to_string(d.ne[0]) +
                          " is not a multiple of the " + st->name + " block");
    }
    plan.push_back(std::move(p));
  }
  return plan;
}

void quantize_rows(const float* src, void* dst, DType dst_type, int64_t n_rows, int64_t row_len,
                   const ThreadPool& pool) {
  if (dst_type == DType::F32) {
    std::memcpy(dst, src, size_t(n_rows) * size_t(row_len) * sizeof(float));
    return;
  }
  const TypeTraits& dt = type_traits(dst_type);
  const size_t rb = row_bytes(dt, row_len);
  pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      dt.quantize_row(src + r * row_len, static_cast<uint8_t*>(dst) + size_t(r) * rb, row_len);
  });
}

void convert_rows(const void* src, uint32_t src_type, void* dst, DType dst_type, int64_t n_rows, int64_t row_len,
                  const ThreadPool& pool, const std::function<void(int64_t)>& on_rows) {
  const uint8_t* s = static_cast<const uint8_t*>(src);
  uint8_t* d = static_cast<uint8_t*>(dst);
  const size_t dst_rb = row_bytes(dst_type, row_len);
  const bool same = src_type == static_cast<uint32_t>(dst_type);
  const TypeTraits* st = find_type(src_type);
  if (!same && (!st || !st->dequantize_row))
    throw UnsupportedError(std::string("convert: cannot dequantize type ") + type_id_name(src_type));
  const size_t src_rb = same ? dst_rb : row_bytes(*st, row_len);
  const TypeTraits* dt = dst_type == DType::F32 ? nullptr : &type_traits(dst_type);
  if (dt && !dt->quantize_row && !same)
    throw UnsupportedError(std::string("convert: no quantizer for ") + dt->name);

  // Chunks of ~16 MiB of output so progress moves and the caller can report between chunks.
  const int64_t chunk = std::max<int64_t>(int64_t(pool.size()) * 4, int64_t((16u << 20) / std::max<size_t>(1, dst_rb)));
  for (int64_t c0 = 0; c0 < n_rows; c0 += chunk) {
    const int64_t c1 = std::min(n_rows, c0 + chunk);
    if (same) {
      std::memcpy(d + size_t(c0) * dst_rb, s + size_t(c0) * src_rb, size_t(c1 - c0) * dst_rb);
    } else {
      pool.parallel_for(c1 - c0, [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(row_len));
        for (int64_t r = c0 + r0; r < c0 + r1; ++r) {
          const uint8_t* sr = s + size_t(r) * src_rb;
          uint8_t* dr = d + size_t(r) * dst_rb;
          if (!dt) {  // to F32: dequantize straight into the output (may be unaligned: go through `row`)
            st->dequantize_row(sr, row.data(), row_len);
            std::memcpy(dr, row.data(), size_t(row_len) * sizeof(float));
          } else if (src_type == static_cast<uint32_t>(DType::F32)) {
            std::memcpy(row.data(), sr, size_t(row_len) * sizeof(float));  // source may be unaligned
            dt->quantize_row(row.data(), dr, row_len);
          } else {
            st->dequantize_row(sr, row.data(), row_len);
            dt->quantize_row(row.data(), dr, row_len);
          }
        }
      });
    }
    if (on_rows) on_rows(c1);
  }
}

Summary quantize_file(const std::string& in_path, const std::string& out_path, const Target& tg,
                      const Options& opt) {
  const double t0 = now_s();
  // The output is written to a temporary file and renamed over out_path at the end; out_path naming the input
  // itself (the same file, also through a symlink or a hard link) would replace the model being read.
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec))
    throw ArgumentError("quantize: the output " + out_path + " is the input file " + in_path +
                        " (same file); write to another path");
  auto src = gguf::File::open(in_path);
  std::vector<TensorPlan> plan = make_plan(*src, tg, opt);
  ThreadPool pool(opt.threads);

  Summary sum;
  std::vector<std::string> requant_quantized;
  for (const auto& p : plan) {
    const gguf::TensorInfo* ti = src->find_tensor(p.name);
    sum.in_bytes += ti->nbytes;
    sum.out_bytes += p.dst_bytes();
    sum.n_elements += uint64_t(p.n_elements());
    sum.n_tensors++;
    sum.tensors_per_type[type_id_name(static_cast<uint32_t>(p.dst))]++;
    if (p.src_type != static_cast<uint32_t>(p.dst)) {
      sum.n_requantized++;
      const TypeTraits* st = find_type(p.src_type);
      if (st && st->block_elems > 1) requant_quantized.push_back(p.name + " (" + st->name + ")");
    }
  }
  if (!requant_quantized.empty() && opt.warn) {
    opt.warn("input is already quantized: " + std::to_string(requant_quantized.size()) +
             " tensors (e.g. " + requant_quantized.front() +
             ") are dequantized and requantized, which adds the errors of both types; quantize from f32/f16/bf16 "
             "where possible");
  }

  gguf::Writer w;
  w.set_alignment(static_cast<uint32_t>(src->alignment()));
  for (const auto& kv : src->metadata()) {
    if (kv.key == "general.alignment" || kv.key == "general.file_type" || kv.key == "general.quantization_version")
      continue;
    w.copy_kv(*src, kv);
  }
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.file_type", tg.file_type);

  const uint64_t total = sum.out_bytes;
  uint64_t done_before = 0;  // bytes of finished tensors
  for (const auto& p : plan) {
    const gguf::TensorInfo* ti = src->find_tensor(p.name);
    const uint64_t nbytes = p.dst_bytes();
    w.add_tensor(p.name, static_cast<uint32_t>(p.dst), p.ne,
                 [&, ti, nbytes, name = p.name, dst = p.dst, ne = p.ne](uint8_t* out, uint64_t n) {
                   if (n != nbytes)
                     throw FormatError("quantize: writer asked " + std::to_string(n) + " bytes for " + name +
                                       ", expected " + std::to_string(nbytes));
                   const int64_t row_len = ne[0];
                   int64_t rows = 1;
                   for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
                   const uint64_t rb = row_bytes(dst, row_len);
                   convert_rows(ti->data, ti->type, out, dst, rows, row_len, pool, [&](int64_t r) {
                     if (opt.progress) opt.progress(done_before + uint64_t(r) * rb, total, name);
                   });
                   done_before += nbytes;
                 });
  }
  w.write(out_path);
  sum.seconds = now_s() - t0;
  return sum;
}

std::string format_mb(uint64_t bytes) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f MB", double(bytes) / 1e6);
  return b;
}

ProgressBar::ProgressBar(bool enabled, std::string label) : enabled_(enabled), label_(std::move(label)), start_(now_s()) {}

void ProgressBar::update(uint64_t done, uint64_t total, const std::string& what) {
  if (!enabled_) return;
  double t = now_s();
  if (done < total && last_ >= 0 && t - last_ < 0.1) return;
  last_ = t;
  const int width = 30;
  double f = total ? std::min(1.0, double(done) / double(total)) : 1.0;
  int fill = static_cast<int>(f * width);
  std::string bar(size_t(fill), '#');
  bar.append(size_t(width - fill), '.');
  double el = t - start_;
  double eta = f > 0.01 ? el / f - el : 0;
  std::string w = what.size() > 36 ? what.substr(0, 36) : what;
  std::fprintf(stderr, "\r%s[%s] %5.1f%%  %7.1fs  eta %6.0fs  %-36s", label_.c_str(), bar.c_str(), 100.0 * f, el,
               eta, w.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
  drawn_ = false;
}

std::string summary_text(const Summary& s) {
  char b[512];
  std::snprintf(b, sizeof b,
                "tensors: %zu (%zu converted)\n"
                "input:  %12.2f MB  %6.3f bits/weight\n"
                "output: %12.2f MB  %6.3f bits/weight  (%.1f%% of input)\n"
                "params: %.3f B   time: %.1f s\n",
                s.n_tensors, s.n_requantized, double(s.in_bytes) / 1e6, s.in_bpw(), double(s.out_bytes) / 1e6,
                s.out_bpw(), s.in_bytes ? 100.0 * double(s.out_bytes) / double(s.in_bytes) : 0.0,
                double(s.n_elements) / 1e9, s.seconds);
  std::string out = b;
  out += "types:";
  for (const auto& [k, v] : s.tensors_per_type) out += " " + k + "×" + std::to_string(v);
  out += "\n";
  return out;
}

}  // namespace latte::quantize
