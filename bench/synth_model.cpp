// synth_model: writes a synthetic deepseek2 / deepseek4 GGUF in the exact shapes of a real model
// (runtime/convert/synth.h).
//
//   synth_model --preset v2-lite|moonlight|v3-slice|tiny|v4-flash|v4-flash-slice [--type q4_k_m] [--layers N]
//               [--experts N] [--out FILE] [--vocab deepseek-v3-vocab.gguf] [-t N] [--seed S] [--exact] [--pure]
//               [--quiet] [--dry-run]
// --dry-run prints the tensor list, the file size, the weight bytes read per generated token and (deepseek4) the
// cache bytes per context token, and writes nothing.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "formats/error.h"
#include "runtime/convert/quantize.h"
#include "runtime/cache/v4_cache.h"
#include "runtime/convert/synth.h"
#include "runtime/model/v4_hparams.h"

namespace {

void usage() {
  std::printf(
      "usage: synth_model --preset NAME [options]\n"
      "  --preset NAME     %s\n"
      "  --type TYPE       weight type / mix (default q4_k_m; v4 presets: q8_0 with MXFP4 experts, as the\n"
      "                    release ships them, named mxfp4_moe): %s\n"
      "  --layers N        override the layer count (leading dense layers kept, capped at N; v4: Flash's pattern)\n"
      "  --experts N       override the routed-expert count (a smaller file; bytes read per token unchanged)\n"
      "  --out FILE        output path (default: synth-<preset>-<type>.gguf)\n"
      "  --vocab FILE      GGUF with the tokenizer (default: $LATTE_SHARED_DIR/models/deepseek-v3-vocab.gguf;\n"
      "                    without LATTE_SHARED_DIR, shared/models/deepseek-v3-vocab.gguf beside the checkout:\n"
      "                    the first ../shared above this program's folder, then ../shared of the working folder)\n"
      "  -t, --threads N   threads (default: physical cores)\n"
      "  --seed S          random seed (default 1)\n"
      "  --exact           quantize every row (slow) instead of sampling a pool of random quantized blocks\n"
      "  --pure            no Q6_K promotion of output.weight\n"
      "  --dry-run         print the tensor list and sizes, write nothing\n"
      "  --quiet           no progress bar\n",
      latte::synth::preset_names().c_str(), latte::quantize::target_names().c_str());
}

// The default vocabulary: $LATTE_SHARED_DIR/models/…, else `shared/` beside the checkout. This program lives in
// the checkout's build folder (build/synth_model), so the checkout is one of its folder's ancestors and shared/
// sits beside it: try ANCESTOR/../shared for every ancestor, then the working folder's ../shared. No machine path.
std::string default_vocab() {
  namespace fs = std::filesystem;
  const std::string rel = "models/deepseek-v3-vocab.gguf";
  if (const char* sd = std::getenv("LATTE_SHARED_DIR"); sd && *sd) return std::string(sd) + "/" + rel;
  std::vector<fs::path> tried;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path d = exe.parent_path(); !d.empty(); d = d.parent_path()) {
      tried.push_back(d / ".." / "shared" / rel);
      if (d == d.root_path()) break;
    }
  tried.push_back(fs::current_path(ec) / ".." / "shared" / rel);
  for (const auto& p : tried)
    if (fs::is_regular_file(p, ec)) return fs::weakly_canonical(p, ec).string();
  throw latte::IoError("no vocabulary found: set LATTE_SHARED_DIR, give --vocab FILE, or put shared/" + rel +
                       " beside the checkout (looked for ../shared above " +
                       (exe.empty() ? std::string("this program") : exe.parent_path().string()) +
                       " and the working folder)");
}

int run(int argc, char** argv) {
  std::string preset_name, type, out, vocab;
  int layers = 0, threads = 0, experts = 0;
  uint64_t seed = 1;
  bool exact = false, pure = false, quiet = false, dry = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw latte::ArgumentError(a + " needs a value");
      return argv[++i];
    };
    auto int_value = [&]() -> long long {
      std::string v = value();
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) throw latte::ArgumentError(a + ": not a non-negative integer: " + v);
      return n;
    };
    if (a == "--preset") preset_name = value();
    else if (a == "--type") type = value();
    else if (a == "--layers") layers = int(int_value());
    else if (a == "--experts") experts = int(int_value());
    else if (a == "--out" || a == "-o") out = value();
    else if (a == "--vocab") vocab = value();
    else if (a == "-t" || a == "--threads") threads = int(int_value());
    else if (a == "--seed") seed = uint64_t(int_value());
    else if (a == "--exact") exact = true;
    else if (a == "--pure") pure = true;
    else if (a == "--quiet" || a == "-q") quiet = true;
    else if (a == "--dry-run") dry = true;
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      throw latte::ArgumentError("unknown argument '" + a + "' (see --help)");
    }
  }
  if (preset_name.empty()) {
    usage();
    return 2;
  }
  latte::synth::Config cfg = latte::synth::preset(preset_name);
  if (layers > 0) latte::synth::set_layers(cfg, layers);
  if (experts > 0) latte::synth::set_experts(cfg, experts);
  latte::synth::Options opt;
  if (type.empty() && cfg.v4) {  // the release's own mix: MXFP4 routed experts, Q8_0 elsewhere
    opt.target = latte::quantize::parse_target("q8_0");
    opt.target.name = "mxfp4_moe";
    opt.experts_type = latte::DType::MXFP4;
  } else {
    opt.target = latte::quantize::parse_target(type.empty() ? "q4_k_m" : type);
  }
  opt.target.pure = pure;
  opt.threads = threads;
  opt.seed = seed;
  opt.exact = exact;
  if (vocab.empty() && !dry) vocab = default_vocab();
  opt.vocab_path = vocab;
  if (out.empty()) out = "synth-" + preset_name + "-" + opt.target.name + ".gguf";

  if (dry) {
    uint64_t bytes = 0;
    double active = 0;  // weight bytes read per generated token
    for (const auto& s : latte::synth::tensor_specs(cfg)) {
      latte::DType t = latte::synth::tensor_type(cfg, opt, s);
      int64_t rows = 1;
      for (size_t k = 1; k < s.ne.size(); ++k) rows *= s.ne[k];
      uint64_t b = uint64_t(latte::row_bytes(t, s.ne[0])) * uint64_t(rows);
      bytes += b;
      // One row of the embedding and of each id table; K of X routed experts; everything else whole.
      if (s.name == "token_embd.weight" || s.init == latte::synth::Init::ExpertIds)
        active += double(latte::row_bytes(t, s.ne[0]));
      else if (s.name.find("_exps.") != std::string::npos)
        active += double(b) * double(cfg.n_expert_used) / double(cfg.n_expert);
      else
        active += double(b);
      std::string shape;
      for (size_t k = 0; k < s.ne.size(); ++k) shape += (k ? ", " : "") + std::to_string(s.ne[k]);
      std::printf("%-32s [%s]  %s  %s\n", s.name.c_str(), shape.c_str(), latte::type_id_name(uint32_t(t)),
                  latte::quantize::format_mb(b).c_str());
    }
    uint64_t np = latte::synth::param_count(cfg);
    std::printf("%s (%s): %.3f B params, %s, %.3f bits/weight\n", preset_name.c_str(), opt.target.name.c_str(),
                double(np) / 1e9, latte::quantize::format_mb(bytes).c_str(), 8.0 * double(bytes) / double(np));
    std::printf("active weights per generated token: %s (%.2f GB)\n",
                latte::quantize::format_mb(uint64_t(active)).c_str(), active / 1e9);
    if (cfg.v4) {
      // The cache in Latte's layout (runtime/cache/v4_cache.h): per context token (compressed rows + indexer keys)
      // and the fixed part (window ring + compressor state).
      const latte::tools::V4FileKeys& k = cfg.v4keys;
      latte::V4Hparams hp;
      hp.n_layer = k.n_layer, hp.head_dim = k.head_dim, hp.idx_dim = k.idx_dim, hp.window = k.window;
      hp.ratio = k.ratio;
      for (int64_t r : k.ratio)
        hp.kind.push_back(r == 0 ? latte::V4LayerKind::Window : r == 4 ? latte::V4LayerKind::Csa : latte::V4LayerKind::Hca);
      for (auto ct : {latte::CacheType::F16, latte::CacheType::Q8_0, latte::CacheType::Q4_H}) {
        const double per = latte::V4Cache::bytes_per_token(hp, ct);
        const double fixed = double(latte::V4Cache::fixed_bytes(hp, ct));
        std::printf("cache %-5s: %.1f B per context token + %.1f MB fixed; at 4K %.2f KB/token, 128K %.2f KB/token, "
                    "1M %.2f KB/token\n", std::string(latte::cache_type_name(ct)).c_str(), per, fixed / 1e6,
                    (per + fixed / 4096) / 1e3, (per + fixed / 131072) / 1e3, (per + fixed / 1048576) / 1e3);
      }
    }
    return 0;
  }

  latte::quantize::ProgressBar bar(!quiet, preset_name + " ");
  opt.progress = [&bar](uint64_t d, uint64_t t, const std::string& n) { bar.update(d, t, n); };
  latte::synth::Result r;
  try {
    r = latte::synth::write_model(cfg, opt, out);
  } catch (...) {
    bar.finish();
    throw;
  }
  bar.finish();
  std::printf("wrote %s: preset %s, %lld layers, type %s%s\n", out.c_str(), preset_name.c_str(),
              (long long)cfg.n_layer, opt.target.name.c_str(), exact ? " (exact)" : " (block pool)");
  std::printf("  %zu tensors, %.3f B params, file %s, %.3f bits/weight, %.1f s\n  types:", r.n_tensors,
              double(r.n_params) / 1e9, latte::quantize::format_mb(r.file_bytes).c_str(),
              8.0 * double(r.tensor_bytes) / double(r.n_params), r.seconds);
  for (const auto& [k, v] : r.tensors_per_type) std::printf(" %s×%zu", k.c_str(), v);
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const latte::Error& e) {
    std::fprintf(stderr, "synth_model: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "synth_model: error: %s\n", e.what());
    return 1;
  }
}
