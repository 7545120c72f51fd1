// `latte quantize IN.gguf OUT.gguf TYPE [-t N]`: requantize a GGUF (runtime/convert/quantize.h does the work).
// OUT is written as a temporary file in OUT's folder and renamed at the end; OUT == IN is refused.

#include <cstdio>

#include "cli/command.h"
#include "formats/gguf.h"
#include "formats/error.h"
#include "runtime/convert/quantize.h"

namespace latte::cli {
namespace {

struct QuantizeArgs {
  std::string in, out, type;
  int threads = 0;
  bool pure = false, drop_split_kv = false, dry_run = false, quiet = false;
  std::string split_kv_type;  // "" = the rule's default
};

int run_quantize(const QuantizeArgs& a) {
  quantize::Target tg = quantize::parse_target(a.type);
  tg.pure = a.pure;
  quantize::Options opt;
  opt.threads = a.threads;
  opt.drop_split_kv = a.drop_split_kv;
  if (!a.split_kv_type.empty()) {
    quantize::Target st = a.split_kv_type == "target" ? tg : quantize::parse_target(a.split_kv_type);
    if (a.split_kv_type != "target" && st.mix != quantize::Mix::Single)
      throw ArgumentError("--split-kv-type: a single type (f16, bf16, q8_0, ..., or target), not the mix " + st.name);
    opt.override_split_kv = true;
    opt.split_kv_type = st.base;
  }
  opt.warn = [](const std::string& m) { std::fprintf(stderr, "latte: warning: %s\n", m.c_str()); };

  if (a.dry_run) {
    auto src = gguf::File::open(a.in);
    auto plan = quantize::make_plan(*src, tg, opt);
    uint64_t bytes = 0, elems = 0;
    for (const auto& p : plan) {
      std::string shape;
      for (size_t i = 0; i < p.ne.size(); ++i) shape += (i ? ", " : "") + std::to_string(p.ne[i]);
      std::printf("%-36s [%s]  %s -> %s\n", p.name.c_str(), shape.c_str(), type_id_name(p.src_type),
                  type_id_name(static_cast<uint32_t>(p.dst)));
      bytes += p.dst_bytes();
      elems += uint64_t(p.n_elements());
    }
    std::printf("output tensor data: %s, %.3f bits/weight\n", quantize::format_mb(bytes).c_str(),
                elems ? 8.0 * double(bytes) / double(elems) : 0.0);
    return 0;
  }

  quantize::ProgressBar bar(!a.quiet, "quantize ");
  opt.progress = [&bar](uint64_t done, uint64_t total, const std::string& name) { bar.update(done, total, name); };
  quantize::Summary s;
  try {
    s = quantize::quantize_file(a.in, a.out, tg, opt);
  } catch (...) {
    bar.finish();
    throw;
  }
  bar.finish();
  if (a.quiet) return 0;
  std::fprintf(stderr, "wrote %s (%s)\n", a.out.c_str(), tg.name.c_str());
  std::printf("%s", quantize::summary_text(s).c_str());
  return 0;
}

const Registrar reg{Command{
    "quantize", "Requantize a GGUF model (Q8_0, Q4_K, Q6_K, IQ4_XS, Q4_K_M, MXFP4, IQ3_XXS, IQ2_XXS, IQ1_S, ...)",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<QuantizeArgs>();
      sub.footer(
          "OUT is written to a temporary file in OUT's folder (OUT.tmp.PID.N) and renamed to OUT only when it is\n"
          "complete: a failed or interrupted run leaves no partial OUT and an existing OUT untouched. OUT must not\n"
          "be the input file (also not through a symlink or a hard link): that is refused.");
      sub.add_option("input", a->in, "input GGUF (f32/f16/bf16, or quantized: dequantized first)")->required();
      sub.add_option("output", a->out, "output GGUF (not the input; written via a temporary file, then renamed)")
          ->required();
      sub.add_option("type", a->type, "target type: " + quantize::target_names())->required();
      add_threads_option(sub, a->threads, "threads (default: physical cores)");
      sub.add_flag("--pure", a->pure, "no Q6_K promotion of output.weight");
      sub.add_flag("--drop-split-kv", a->drop_split_kv,
                   "drop attn_k_b/attn_v_b where attn_kv_b exists (MLA flavour 1, loadable by older llama.cpp)");
      sub.add_option("--split-kv-type", a->split_kv_type,
                     "type of the split attn_k_b/attn_v_b when kept: f16, bf16, q8_0, ... or target (the target's "
                     "base type); default: the built-in rule")->excludes("--drop-split-kv");
      sub.add_flag("--dry-run", a->dry_run, "print the per-tensor plan and the output size, write nothing");
      sub.add_flag("-q,--quiet", a->quiet, "print nothing but warnings and errors (no progress bar, no summary)");
      return [a] { return run_quantize(*a); };
    },
    60}};

}  // namespace
}  // namespace latte::cli
