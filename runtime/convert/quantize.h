// GGUF → GGUF quantization (`latte quantize`), and the per-tensor type rules shared with the synthetic-model
// generator (bench/synth_model). Two steps: a Plan (one destination type per tensor, decided by name, shape and
// the chosen target), then a streaming pass that writes the output through gguf::Writer, converting one tensor
// at a time: each row is dequantized to f32 (reference traits of quant/types.h) and requantized, rows split
// across threads. Memory stays near one output tensor (the Writer's buffer).
//
// Output layout follows the strict GGUF rules llama.cpp checks (sequential offsets, alignment as the input,
// padded last tensor — all done by gguf::Writer); metadata is copied verbatim, then general.file_type (§B.10)
// and general.quantization_version = 2 are set.
//
// Thread-safety: the functions are reentrant; a ProgressBar is for one thread.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quant/types.h"

namespace latte {
class ThreadPool;
namespace gguf {
class File;
}
}  // namespace latte

namespace latte::quantize {

// What the user asked for: one weight type everywhere, or a mix.
enum class Mix { Single, Q4_K_M, Q5_K_M };

struct Target {
  std::string name;          // canonical lower-case name, "q4_k_m"
  DType base = DType::Q8_0;  // type of ordinary 2-D weights
  Mix mix = Mix::Single;
  uint32_t file_type = 7;    // general.file_type value (GGUF_DEEPSEEK.md §B.10)
  bool pure = false;         // no promotion of output.weight to Q6_K (llama.cpp's --pure)
};

// Parses "q8_0", "Q4_K_M", "iq4_xs", "f16", "bf16", "f32", ... ; throws ArgumentError naming the accepted list.
Target parse_target(const std::string& name);
// The names parse_target accepts, for --help.
std::string target_names();

// Facts about one tensor that the type rules look at. `layer` = N of "blk.N." or -1; `n_layer` = block count.
struct TensorDesc {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] first (row length)
  int layer = -1;
  int n_layer = 0;
};
int layer_of(const std::string& tensor_name);  // "blk.12.ffn_up.weight" → 12; else -1

// True for tensors that stay F32 whatever the target: 1-D tensors (norms, biases), *_norm.weight,
// ffn_gate_inp (router), exp_probs_b.
bool keeps_f32(const TensorDesc& t);
// llama.cpp's use_more_bits(i, n): first and last eighth of the layers plus every third layer between.
bool use_more_bits(int layer, int n_layer);
// Type the target wants for this tensor before the row-length check (see the rules in quantize.cpp).
DType wanted_type(const Target& target, const TensorDesc& t);
// First type of `want`'s fallback chain whose block divides `row_len` and that has a quantizer here
// (K-quants: Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, Q2_K/Q3_K/IQ1_S/IQ2_XXS/IQ3_XXS/IQ4_XS→IQ4_NL;
// then Q8_0 / F16 / F32; MXFP4 (32-blocks) → F16).
DType fit_row(DType want, int64_t row_len);
// wanted_type + fit_row, with F32 for keeps_f32 tensors.
DType choose_type(const Target& target, const TensorDesc& t);

// One output tensor.
struct TensorPlan {
  std::string name;
  std::vector<int64_t> ne;
  uint32_t src_type = 0;  // ggml id of the input
  DType dst = DType::F32;
  int64_t n_elements() const;
  uint64_t dst_bytes() const;
};

struct Options {
  int threads = 0;                  // 0 = physical cores
  bool drop_split_kv = false;       // drop attn_k_b/attn_v_b where attn_kv_b exists (MLA flavour 1, §C.2)
  // Type of the split attn_k_b/attn_v_b when they are kept: false = the rule's choice (wanted_type); true =
  // split_kv_type (row-length fallbacks as for any tensor).
  bool override_split_kv = false;
  DType split_kv_type = DType::F16;
  // Called after every chunk of rows: (bytes written so far, total bytes, current tensor name). Optional.
  std::function<void(uint64_t, uint64_t, const std::string&)> progress;
  // Warnings (e.g. "input is already quantized"). Optional; default: ignored.
  std::function<void(const std::string&)> warn;
};

struct Summary {
  uint64_t in_bytes = 0, out_bytes = 0;   // tensor data only
  uint64_t n_elements = 0;                // all tensors
  size_t n_tensors = 0, n_requantized = 0;
  double seconds = 0;
  std::map<std::string, size_t> tensors_per_type;  // "Q4_K" → count
  double out_bpw() const { return n_elements ? 8.0 * double(out_bytes) / double(n_elements) : 0; }
  double in_bpw() const { return n_elements ? 8.0 * double(in_bytes) / double(n_elements) : 0; }
};

// The plan for `src` (tensor order preserved). Throws UnsupportedError for input types we cannot dequantize.
std::vector<TensorPlan> make_plan(const gguf::File& src, const Target& target, const Options& opt = {});

// Reads `in_path`, writes `out_path` (via "<out>.tmp" + rename). Throws latte::Error subclasses.
Summary quantize_file(const std::string& in_path, const std::string& out_path, const Target& target,
                      const Options& opt = {});

// Converts `n_rows` rows of `row_len` elements from `src` (type src_type, rows packed) to `dst` (type dst_type),
// going through f32; rows are split over `pool`. Same-type rows are copied. `on_rows(rows_done)` (optional) is
// called from the calling thread only, between chunks.
void convert_rows(const void* src, uint32_t src_type, void* dst, DType dst_type, int64_t n_rows, int64_t row_len,
                  const ThreadPool& pool, const std::function<void(int64_t)>& on_rows = {});
// Quantizes f32 rows (row_len elements each, packed) to dst_type, rows split over `pool`.
void quantize_rows(const float* src, void* dst, DType dst_type, int64_t n_rows, int64_t row_len,
                   const ThreadPool& pool);

// "12.3 MB" style helpers and a text progress bar on stderr ("\r[#####.....]  45%  name"), redrawn at most
// ~10 times a second; silent when `enabled` is false. finish() ends the line.
std::string format_mb(uint64_t bytes);
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled, std::string label = "");
  void update(uint64_t done, uint64_t total, const std::string& what);
  void finish();

 private:
  bool enabled_;
  std::string label_;
  double last_ = -1;
  double start_;
  bool drawn_ = false;
};

// Multi-line human summary: sizes in MB, bits per weight, tensors per type, time.
std::string summary_text(const Summary& s);

}  // namespace latte::quantize
