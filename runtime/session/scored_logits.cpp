// Scored-logits files and the KL-divergence comparison (see scored_logits.h).
#include "runtime/session/scored_logits.h"

#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>

#include "formats/error.h"
#include "runtime/session/session.h"

namespace latte {
namespace {

constexpr char kMagic[8] = {'L', 'A', 'T', 'T', 'E', 'K', 'L', 'D'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 8 + 6 * 4;

int64_t tokens_offset(uint32_t c, const ScoredLogitsHeader& h) { return kHeaderBytes + int64_t(c) * h.n_ctx * 4; }
int64_t logits_offset(uint32_t c, const ScoredLogitsHeader& h) {
  return tokens_offset(h.n_chunks, h) + int64_t(c) * h.n_scored * int64_t(h.n_vocab) * 4;
}

void seek(std::FILE* f, int64_t off, const std::string& path) {
  if (fseeko(f, off_t(off), SEEK_SET) != 0)
    throw IoError(path + ": seek to byte " + std::to_string(off) + " failed: " + std::strerror(errno));
}

void write_all(std::FILE* f, const void* p, size_t n, const std::string& path) {
  if (n && std::fwrite(p, 1, n, f) != n) throw IoError(path + ": write failed: " + std::strerror(errno));
}

double log_sum_exp(const float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - mx);
  return mx + std::log(s);
}

int64_t first_argmax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

// Standard error of a mean from sums of x and x² over n samples.
double stderr_of_mean(double sum, double sum2, int64_t n) {
  if (n < 2) return 0.0;
  const double m = sum / double(n);
  const double var = std::max(0.0, sum2 / double(n) - m * m);
  return std::sqrt(var / double(n - 1));
}

}  // namespace

// ---- writer ----

ScoredLogitsWriter::ScoredLogitsWriter(const std::string& path, const ScoredLogitsHeader& h)
    : path_(path), tmp_(path + ".tmp"), h_(h) {
  if (h.n_vocab == 0 || h.n_ctx == 0 || h.n_chunks == 0 || h.n_scored == 0 || h.first + h.n_scored >= h.n_ctx + 1)
    throw ArgumentError(path + ": invalid scored-logits header");
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw IoError(tmp_ + ": cannot create: " + std::strerror(errno));
  write_all(f_, kMagic, 8, tmp_);
  const uint32_t v[6] = {kVersion, h.n_vocab, h.n_ctx, h.n_chunks, h.first, h.n_scored};
  write_all(f_, v, sizeof v, tmp_);
}

ScoredLogitsWriter::~ScoredLogitsWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

void ScoredLogitsWriter::add_chunk(std::span<const int32_t> tokens, const float* logits) {
  if (!f_) throw ArgumentError(path_ + ": writer already finished");
  if (written_ >= h_.n_chunks) throw ArgumentError(path_ + ": more chunks than declared");
  if (tokens.size() != h_.n_ctx) throw ArgumentError(path_ + ": chunk token count differs from n_ctx");
  seek(f_, tokens_offset(written_, h_), tmp_);
  write_all(f_, tokens.data(), tokens.size() * 4, tmp_);
  seek(f_, logits_offset(written_, h_), tmp_);
  write_all(f_, logits, size_t(h_.n_scored) * h_.n_vocab * 4, tmp_);
  ++written_;
}

void ScoredLogitsWriter::finish() {
  if (!f_) return;
  if (written_ != h_.n_chunks)
    throw ArgumentError(path_ + ": " + std::to_string(written_) + " of " + std::to_string(h_.n_chunks) +
                        " chunks written");
  const bool ok = std::fflush(f_) == 0;
  std::fclose(f_);
  f_ = nullptr;
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_.c_str());
    throw IoError(path_ + ": cannot write: " + std::strerror(errno));
  }
}

// ---- reader ----

ScoredLogitsReader::ScoredLogitsReader(const std::string& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) throw IoError(path + ": cannot open: " + std::strerror(errno));
  char magic[8];
  uint32_t v[6];
  if (std::fread(magic, 1, 8, f_) != 8 || std::memcmp(magic, kMagic, 8) != 0) {
    std::fclose(f_);
    f_ = nullptr;
    throw FormatError(path + ": not a latte scored-logits file (magic at byte 0)");
  }
  if (std::fread(v, 4, 6, f_) != 6 || v[0] != kVersion) {
    std::fclose(f_);
    f_ = nullptr;
    throw FormatError(path + ": truncated header or unsupported version (byte 8)");
  }
  h_ = {v[1], v[2], v[3], v[4], v[5]};
  if (h_.n_vocab == 0 || h_.n_ctx == 0 || h_.n_chunks == 0 || h_.n_scored == 0 || h_.first + h_.n_scored > h_.n_ctx) {
    std::fclose(f_);
    f_ = nullptr;
    throw FormatError(path + ": inconsistent header (byte 12)");
  }
  // Size check before trusting the counts.
  seek(f_, 0, path);
  if (fseeko(f_, 0, SEEK_END) != 0) throw IoError(path + ": seek failed");
  const int64_t size = int64_t(ftello(f_));
  const int64_t want = logits_offset(h_.n_chunks, h_);
  if (size != want) {
    std::fclose(f_);
    f_ = nullptr;
    throw FormatError(path + ": file is " + std::to_string(size) + " bytes, header implies " + std::to_string(want));
  }
  tokens_.resize(size_t(h_.n_chunks) * h_.n_ctx);
  seek(f_, kHeaderBytes, path);
  if (std::fread(tokens_.data(), 4, tokens_.size(), f_) != tokens_.size()) {
    std::fclose(f_);
    f_ = nullptr;
    throw FormatError(path + ": truncated token section (byte " + std::to_string(kHeaderBytes) + ")");
  }
}

ScoredLogitsReader::~ScoredLogitsReader() {
  if (f_) std::fclose(f_);
}

std::span<const int32_t> ScoredLogitsReader::chunk_tokens(uint32_t c) const {
  if (c >= h_.n_chunks) throw ArgumentError(path_ + ": chunk " + std::to_string(c) + " out of range");
  return {tokens_.data() + size_t(c) * h_.n_ctx, h_.n_ctx};
}

void ScoredLogitsReader::read_chunk(uint32_t c, float* logits) {
  if (c >= h_.n_chunks) throw ArgumentError(path_ + ": chunk " + std::to_string(c) + " out of range");
  const int64_t off = logits_offset(c, h_);
  seek(f_, off, path_);
  const size_t n = size_t(h_.n_scored) * h_.n_vocab;
  if (std::fread(logits, 4, n, f_) != n) throw FormatError(path_ + ": truncated logits at byte " + std::to_string(off));
}

// ---- KL divergence ----

void KldAccumulator::add(const float* base, const float* model, int64_t n_vocab, int32_t target) {
  const double blse = log_sum_exp(base, n_vocab), mlse = log_sum_exp(model, n_vocab);
  double k = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const double lb = base[i] - blse, lm = model[i] - mlse;
    k += std::exp(lb) * (lb - lm);
  }
  k = std::max(k, 0.0);  // rounding can make a KL of identical rows slightly negative
  kld_ += k;
  kld2_ += k * k;
  agree_ += first_argmax(base, n_vocab) == first_argmax(model, n_vocab);
  const double bn = blse - base[target], mn = mlse - model[target];
  bnll_ += bn;
  bnll2_ += bn * bn;
  mnll_ += mn;
  ++n_;
}

double KldAccumulator::mean_kld() const { return n_ ? kld_ / double(n_) : 0.0; }
double KldAccumulator::kld_stderr() const { return stderr_of_mean(kld_, kld2_, n_); }
double KldAccumulator::top1_agreement() const { return n_ ? double(agree_) / double(n_) : 0.0; }
double KldAccumulator::base_ppl() const { return n_ ? std::exp(bnll_ / double(n_)) : 0.0; }
double KldAccumulator::base_ppl_stderr() const { return base_ppl() * stderr_of_mean(bnll_, bnll2_, n_); }
double KldAccumulator::model_ppl() const { return n_ ? std::exp(mnll_ / double(n_)) : 0.0; }

// ---- perplexity with files ----

PerplexityResult perplexity_with_logits_files(Session& s, std::span<const int32_t> tokens, const PerplexityParams& p,
                                              const LogitsFileParams& files, LogitsFileComparison& cmp,
                                              const std::function<void(int, int, double)>& progress) {
  const int64_t n_ctx = p.n_ctx;
  if (n_ctx < 4) throw ArgumentError("perplexity: context must be >= 4 tokens");
  if (n_ctx > s.n_ctx())
    throw ArgumentError("perplexity: chunk size " + std::to_string(n_ctx) + " exceeds the session context " +
                        std::to_string(s.n_ctx()));
  const int64_t avail = int64_t(tokens.size()) / n_ctx;
  if (avail < 1)
    throw ArgumentError("perplexity: need at least " + std::to_string(n_ctx) + " tokens, got " +
                        std::to_string(tokens.size()));
  std::unique_ptr<ScoredLogitsReader> base;
  if (!files.base_path.empty()) base = std::make_unique<ScoredLogitsReader>(files.base_path);
  // Without an explicit count, a comparison covers the chunks the base file holds.
  const int64_t want = p.n_chunks > 0 ? p.n_chunks : base ? int64_t(base->header().n_chunks) : avail;
  const int64_t n_chunks = std::min<int64_t>(want, avail);
  const int64_t V = s.model().hparams().n_vocab;
  const int64_t first = n_ctx / 2, n_scored = n_ctx - 1 - first;
  const ScoredLogitsHeader h{uint32_t(V), uint32_t(n_ctx), uint32_t(n_chunks), uint32_t(first), uint32_t(n_scored)};

  if (base) {
    const auto& bh = base->header();
    if (bh.n_vocab != h.n_vocab || bh.n_ctx != h.n_ctx || bh.first != h.first || bh.n_scored != h.n_scored)
      throw ArgumentError(files.base_path + ": saved with vocabulary " + std::to_string(bh.n_vocab) + " and -c " +
                          std::to_string(bh.n_ctx) + ", this run has " + std::to_string(V) + " and -c " +
                          std::to_string(n_ctx));
    if (bh.n_chunks < h.n_chunks)
      throw ArgumentError(files.base_path + ": holds " + std::to_string(bh.n_chunks) + " chunks, this run needs " +
                          std::to_string(n_chunks) + " (use --chunks)");
  }
  std::unique_ptr<ScoredLogitsWriter> out;
  if (!files.save_path.empty()) out = std::make_unique<ScoredLogitsWriter>(files.save_path, h);

  PerplexityResult r;
  KldAccumulator acc;
  double nll = 0, nll2 = 0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  std::vector<float> logits(size_t(n_ctx * V)), base_logits(base ? size_t(n_scored * V) : 0);
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (p.bos >= 0) chunk[0] = p.bos;
    if (base) {
      auto bt = base->chunk_tokens(uint32_t(c));
      if (!std::equal(bt.begin(), bt.end(), chunk.begin()))
        throw ArgumentError(files.base_path + ": chunk " + std::to_string(c) +
                            " has different tokens (same text, tokenizer and -c are needed)");
      base->read_chunk(uint32_t(c), base_logits.data());
    }
    s.truncate(0);
    s.eval(chunk, logits.data());
    const float* scored = logits.data() + first * V;
    for (int64_t j = 0; j < n_scored; ++j) {
      const float* row = scored + j * V;
      const int32_t target = chunk[size_t(first + j + 1)];
      const double v = log_sum_exp(row, V) - row[target];
      nll += v;
      nll2 += v * v;
      ++r.n_scored;
      if (base) acc.add(base_logits.data() + j * V, row, V, target);
    }
    if (out) out->add_chunk(chunk, scored);
    r.running_ppl.push_back(std::exp(nll / double(r.n_scored)));
    if (progress) progress(int(c + 1), int(n_chunks), r.running_ppl.back());
  }
  if (out) out->finish();
  r.n_chunks = int(n_chunks);
  r.mean_nll = nll / double(r.n_scored);
  r.nll_stderr = stderr_of_mean(nll, nll2, r.n_scored);
  r.ppl = std::exp(r.mean_nll);
  r.ppl_stderr = r.ppl * r.nll_stderr;
  if (base) {
    cmp.compared = true;
    cmp.n = acc.n();
    cmp.mean_kld = r.mean_kld = acc.mean_kld();
    cmp.kld_stderr = r.kld_stderr = acc.kld_stderr();
    cmp.top1_agreement = r.top1_agreement = acc.top1_agreement();
    cmp.base_ppl = acc.base_ppl();
    cmp.base_ppl_stderr = acc.base_ppl_stderr();
  }
  return r;
}

}  // namespace latte
