// `latte convert HF_DIR OUT.gguf [--outtype f32|f16|bf16|q8_0]`: Hugging Face DeepSeek-V2/V3 checkpoint -> deepseek2
// GGUF, DeepSeek-V4 (transformers or official FP8/FP4 layout) -> deepseek4 GGUF.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "runtime/convert/convert_hf.h"

namespace latte::cli {
namespace {

struct ConvertCliOptions {
  tools::ConvertOptions opt;
  bool no_split = false, quiet = false;
};

int run(ConvertCliOptions& o) {
  o.opt.split_kv_b = !o.no_split;
  // Progress: one rewritten line on a terminal, nothing when stderr is redirected.
  if (!o.quiet && ::isatty(2))
    o.opt.progress = [](size_t done, size_t total, const std::string& name) {
      std::fprintf(stderr, "\r[%4zu/%zu] %-48s", done, total, name.c_str());
      if (done == total) std::fprintf(stderr, "\n");
    };
  auto s = tools::convert_hf(o.opt);
  std::printf("%s -> %s: %zu tensors, %.2f M parameters, %.2f MiB (%s)%s\n", s.architecture.c_str(),
              o.opt.out_path.c_str(), s.n_tensors, s.n_params / 1e6, s.out_bytes / 1048576.0, o.opt.outtype.c_str(),
              s.skipped_mtp ? (", " + std::to_string(s.skipped_mtp) + " MTP tensors skipped").c_str() : "");
  return 0;
}

static const Registrar reg{Command{
    "convert", "Convert a Hugging Face DeepSeek-V2/V3/V4 checkpoint directory to GGUF",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<ConvertCliOptions>();
      sub.add_option("hf_dir", o->opt.hf_dir, "directory with config.json, tokenizer.json, *.safetensors")->required();
      sub.add_option("output", o->opt.out_path, "output GGUF file")->required();
      sub.add_option("--outtype", o->opt.outtype, "f32 | f16 | bf16 | q8_0 (default bf16; V4 FP4 experts stay MXFP4)")
          ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
      sub.add_option("--pre", o->opt.pre, "tokenizer.ggml.pre override (default: detected)");
      sub.add_flag("--no-split-kv-b", o->no_split, "write attn_kv_b only (no attn_k_b / attn_v_b)");
      sub.add_flag("-q,--quiet", o->quiet, "no progress output");
      return [o] { return run(*o); };
    },
    80}};

}  // namespace
}  // namespace latte::cli
