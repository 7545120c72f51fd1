// `latte logits -m FILE --ids 1,2,3 --out F.f32`: logits of every position as raw little-endian float32,
// [n_tokens][n_vocab] (for comparisons against reference outputs). --text tokenizes instead (BOS per the vocab).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/session_options.h"
#include "formats/error.h"
#include "runtime/session/session.h"

namespace latte::cli {
namespace {

struct LogitsOptions {
  SessionOptions s;
  std::string ids, text, out;
  int n_batch = 512;
};


int run(const LogitsOptions& o) {
  if (o.ids.empty() == o.text.empty()) throw ArgumentError("logits: give exactly one of --ids or --text");
  if (!o.text.empty()) require_utf8(o.text, "--text");
  auto model = Model::load(o.s.model_params());
  o.s.warn_ctx_cap(*model);
  std::vector<int32_t> ids =
      o.ids.empty() ? model->tokenizer().encode(o.text, /*add_bos=*/true, /*parse_special=*/true) : parse_id_list(o.ids);
  if (ids.empty()) throw ArgumentError("logits: no tokens");
  SessionParams sp = o.s.session_params();
  sp.n_batch = o.n_batch;
  Session session(model, sp);
  const size_t V = static_cast<size_t>(model->hparams().n_vocab);
  std::vector<float> logits(ids.size() * V);
  session.eval(ids, logits.data());
  FILE* f = std::fopen(o.out.c_str(), "wb");
  if (!f) throw IoError("cannot write " + o.out);
  const bool ok = std::fwrite(logits.data(), sizeof(float), logits.size(), f) == logits.size();
  if (std::fclose(f) != 0 || !ok) throw IoError("failed writing " + o.out);
  std::fprintf(stderr, "wrote %zu x %zu logits to %s\n", ids.size(), V, o.out.c_str());
  return 0;
}

const Registrar reg{Command{
    "logits", "write the logits of every position as raw float32 [n_tokens][n_vocab]",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<LogitsOptions>();
      o->s.add(sub);
      sub.add_option("--ids", o->ids, "token ids, e.g. 0,358,463");
      sub.add_option("--text", o->text, "text to tokenize instead of --ids");
      sub.add_option("--out", o->out, "output file (raw little-endian float32)")->required();
      sub.add_option("-b,--batch-size", o->n_batch, "micro-batch size (default 512)");
      return [o] { return run(*o); };
    },
    60}};

}  // namespace
}  // namespace latte::cli
