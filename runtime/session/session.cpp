// Session: one sequence's latent cache, token history and last logits; evaluation in micro-batches, prefix reuse,
// context shift (k_pe re-rotation) and save/load.
#include "runtime/session/session.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "formats/error.h"
#include "runtime/compute/gemm.h"
#include "runtime/compute/ops.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"
#include "runtime/session/sequence.h"

namespace latte {

struct Session::Impl {
  Impl(std::shared_ptr<const Model> m, const SessionParams& sp, int64_t n_ctx)
      : model(std::move(m)),
        p(sp),
        pool(sp.n_threads),
        ops(model->kernels(), pool),
        seq(make_sequence(*model, n_ctx, sp.cache_type)) {
    logits.assign(static_cast<size_t>(model->hparams().n_vocab), 0.0f);
    // LATTE_GEMM_MIN_BATCH overrides SessionParams.gemm_min_batch (0 = off), for measurement.
    int64_t gmin = sp.gemm_min_batch;
    if (const char* e = std::getenv("LATTE_GEMM_MIN_BATCH"); e && *e) gmin = std::atoll(e);
    if (gmin > 0) {
      gemm = std::make_unique<GemmContext>(model->kernels(), pool, model->gemm_cache());
      // Ops keeps int8 to low-bit weights (see Ops::matmul); LATTE_GEMM_INT8=0 turns it off entirely.
      const char* e8 = std::getenv("LATTE_GEMM_INT8");
      gemm->set_allow_int8(!(e8 && std::string(e8) == "0"));
      ops.set_gemm(gemm.get(), gmin);
    }
  }
  std::shared_ptr<const Model> model;
  SessionParams p;
  ThreadPool pool;
  Ops ops;
  std::unique_ptr<GemmContext> gemm;  // prefill GEMM backends (optional)
  std::unique_ptr<Sequence> seq;  // the architecture's cache and forward pass (sequence.h)
  std::vector<int32_t> hist;
  std::vector<float> logits;   // [n_vocab] of the last evaluated token
  std::vector<float> scratch;  // logits of non-final micro-batches
  int64_t shifts = 0, discarded = 0;
};

namespace {
int64_t effective_ctx(const Model& m, const SessionParams& p) {
  const int64_t train = m.hparams().n_ctx_train;
  int64_t n = p.n_ctx > 0 ? p.n_ctx : train;
  if (train > 0) n = std::min(n, train);
  if (n <= 0) throw ArgumentError("context size must be > 0");
  return n;
}
}  // namespace

Session::Session(std::shared_ptr<const Model> model, const SessionParams& p) {
  if (!model) throw ArgumentError("Session: null model");
  if (p.n_batch <= 0) throw ArgumentError("n_batch must be > 0");
  const int64_t n_ctx = effective_ctx(*model, p);
  impl_ = std::make_unique<Impl>(std::move(model), p, n_ctx);
}

Session::~Session() = default;

const Model& Session::model() const { return *impl_->model; }
void Session::set_op_profile(OpProfile* p) { impl_->ops.set_profile(p); }
std::span<const float> Session::logits() const { return impl_->logits; }
int Session::n_past() const { return static_cast<int>(impl_->hist.size()); }
int Session::n_ctx() const { return static_cast<int>(impl_->seq->n_ctx()); }
const std::vector<int32_t>& Session::tokens() const { return impl_->hist; }

void Session::eval(std::span<const int32_t> tokens, float* all_logits, const std::function<bool()>& should_stop) {
  Impl& s = *impl_;
  const int64_t V = s.model->hparams().n_vocab;
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return;
  for (int32_t id : tokens)
    if (id < 0 || id >= V)
      throw ArgumentError("token id " + std::to_string(id) + " outside the vocabulary [0, " + std::to_string(V) + ")");
  const int64_t pos0 = static_cast<int64_t>(s.hist.size());
  if (pos0 + n > s.seq->n_ctx())
    throw ResourceError("context full: " + std::to_string(pos0) + " cached + " + std::to_string(n) +
                        " new tokens > n_ctx " + std::to_string(s.seq->n_ctx()));
  profile::Scope prof(profile::Phase::Other);  // the run's wall time (phases nest inside)
  const int64_t nb = s.p.n_batch;
  // Without all_logits the final token is evaluated on its own, through the decode path: the batched kernels (tile
  // GEMMs, chunked attention) round differently from the one-token ones, and this way a prompt's logits do not
  // depend on how much of it was a reused prefix (eval_with_prefix_reuse re-evaluates only the last token of a
  // repeated prompt): same seed, same sample. Costs one decode step per prompt.
  const int64_t n_head = all_logits || n == 1 ? n : n - 1;
  for (int64_t off = 0; off < n;) {
    // Polled once per prompt micro-batch (the split-off final token is not a micro-batch of its own).
    if ((off == 0 || off < n_head) && should_stop && should_stop()) throw CancelledError();
    const int64_t m = off < n_head ? std::min(nb, n_head - off) : n - off;
    const bool last = off + m == n;
    float* out = nullptr;
    if (all_logits) {
      out = all_logits + off * V;
    } else if (last) {
      // only the final micro-batch's last row is needed
      s.scratch.resize(static_cast<size_t>(V));
      out = s.scratch.data();
    }
    s.seq->eval(s.ops, tokens.data() + off, m, pos0 + off, out, all_logits != nullptr);
    s.hist.insert(s.hist.end(), tokens.begin() + off, tokens.begin() + off + m);
    if (last) {
      const float* src = all_logits ? all_logits + (n - 1) * V : s.scratch.data();
      std::memcpy(s.logits.data(), src, static_cast<size_t>(V) * sizeof(float));
    }
    off += m;
  }
}

void Session::truncate(int n) {
  Impl& s = *impl_;
  if (n < 0) throw ArgumentError("truncate: negative length");
  if (static_cast<size_t>(n) < s.hist.size()) {
    s.seq->truncate(s.ops, s.hist, n);
    s.hist.resize(static_cast<size_t>(n));
  }
}

void Session::shift(int keep, int discard) {
  Impl& s = *impl_;
  const int64_t n_past = static_cast<int64_t>(s.hist.size());
  if (keep < 0 || discard <= 0 || keep + discard > n_past)
    throw ArgumentError("shift: invalid keep " + std::to_string(keep) + " / discard " + std::to_string(discard) +
                        " for " + std::to_string(n_past) + " cached tokens");
  if (s.seq->shiftable()) {
    s.seq->shift(keep, discard, n_past);
    s.hist.erase(s.hist.begin() + keep, s.hist.begin() + keep + discard);
  } else {
    // The cache cannot move tokens (deepseek4): re-evaluate the kept ones from an empty state (also refreshes
    // logits()).
    std::vector<int32_t> kept(s.hist.begin(), s.hist.begin() + keep);
    kept.insert(kept.end(), s.hist.begin() + keep + discard, s.hist.end());
    truncate(0);
    eval(kept);
  }
  s.shifts += 1;
  s.discarded += discard;
}

void Session::eval_with_prefix_reuse(std::span<const int32_t> tokens, const std::function<bool()>& should_stop) {
  Impl& s = *impl_;
  size_t c = 0;
  while (c < s.hist.size() && c < tokens.size() && s.hist[c] == tokens[c]) ++c;
  // The last token is always re-evaluated so that logits() belong to it.
  if (c == tokens.size() && c > 0) --c;
  truncate(static_cast<int>(c));
  eval(tokens.subspan(c), nullptr, should_stop);
}

namespace {
constexpr char kMagic[8] = {'L', 'A', 'T', 'T', 'S', 'E', 'S', '1'};
constexpr uint32_t kVersion = 1;

struct SessionHeader {
  char magic[8];
  uint32_t version;
  uint32_t cache_type;
  int64_t n_layer, kv_lora, rope, n_vocab, n_embd;
  uint64_t weight_bytes;
  int64_t n_past;
};

struct FileCloser {
  void operator()(FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;
}  // namespace

void Session::save(const std::string& path) const {
  const Impl& s = *impl_;
  const Hparams& hp = s.model->hparams();
  const std::string tmp = path + ".tmp";
  FilePtr f(std::fopen(tmp.c_str(), "wb"));
  if (!f) throw IoError("cannot write session file " + tmp);
  SessionHeader h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.cache_type = static_cast<uint32_t>(s.seq->cache_type());
  h.n_layer = hp.n_layer;
  h.kv_lora = hp.kv_lora_rank;
  h.rope = hp.qk_rope;
  h.n_vocab = hp.n_vocab;
  h.n_embd = hp.n_embd;
  h.weight_bytes = s.model->weight_bytes();
  h.n_past = static_cast<int64_t>(s.hist.size());
  bool ok = std::fwrite(&h, sizeof h, 1, f.get()) == 1;
  ok = ok && (s.hist.empty() || std::fwrite(s.hist.data(), 4, s.hist.size(), f.get()) == s.hist.size());
  ok = ok && s.seq->save(f.get(), h.n_past);
  ok = ok && std::fwrite(s.logits.data(), 4, s.logits.size(), f.get()) == s.logits.size();
  ok = std::fclose(f.release()) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw IoError("failed writing session file " + path);
  }
}

void Session::load(const std::string& path) {
  Impl& s = *impl_;
  const Hparams& hp = s.model->hparams();
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) throw IoError("cannot open session file " + path);
  SessionHeader h{};
  if (std::fread(&h, sizeof h, 1, f.get()) != 1 || std::memcmp(h.magic, kMagic, 8) != 0)
    throw FormatError(path + ": not a Latte session file");
  if (h.version != kVersion) throw FormatError(path + ": unsupported session version " + std::to_string(h.version));
  if (h.n_layer != hp.n_layer || h.kv_lora != hp.kv_lora_rank || h.rope != hp.qk_rope || h.n_vocab != hp.n_vocab ||
      h.n_embd != hp.n_embd || h.weight_bytes != s.model->weight_bytes())
    throw FormatError(path + ": session was saved with a different model");
  if (h.cache_type != static_cast<uint32_t>(s.seq->cache_type()))
    throw FormatError(path + ": session cache type differs from this session's (" +
                      cache_type_name(s.seq->cache_type()) + ")");
  if (h.n_past < 0 || h.n_past > s.seq->n_ctx())
    throw FormatError(path + ": session holds " + std::to_string(h.n_past) + " tokens, more than n_ctx " +
                      std::to_string(s.seq->n_ctx()));
  std::vector<int32_t> hist(static_cast<size_t>(h.n_past));
  bool ok = hist.empty() || std::fread(hist.data(), 4, hist.size(), f.get()) == hist.size();
  for (int32_t id : hist)
    if (id < 0 || id >= hp.n_vocab) ok = false;
  ok = ok && s.seq->load(f.get(), h.n_past);
  std::vector<float> logits(static_cast<size_t>(hp.n_vocab));
  ok = ok && std::fread(logits.data(), 4, logits.size(), f.get()) == logits.size();
  if (!ok) {
    s.seq->truncate(s.ops, s.hist, 0);  // the cache may be partly overwritten: start empty
    s.hist.clear();
    throw FormatError(path + ": truncated or corrupt session file");
  }
  s.hist = std::move(hist);
  s.logits = std::move(logits);
}

SessionStats Session::stats() const {
  const Impl& s = *impl_;
  SessionStats st;
  st.n_past = static_cast<int64_t>(s.hist.size());
  st.n_ctx = s.seq->n_ctx();
  st.context_shifts = s.shifts;
  st.tokens_discarded = s.discarded;
  st.cache_bytes_per_token = s.seq->bytes_per_token();
  st.cache_bytes_total = s.seq->total_bytes();
  st.expert_evals = s.seq->expert_evals();
  return st;
}

}  // namespace latte
