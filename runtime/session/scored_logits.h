// Scored-logits files for `latte perplexity --kld-base FILE / --save-logits FILE`: the logits of every scored
// position of a perplexity run (llama-perplexity protocol, see perplexity.h), saved once from a base model and
// compared later against another model or quantization: mean KL(base || this), top-1 agreement, both PPLs.
//
// File layout (little-endian):
//   char magic[8] = "LATTEKLD"; u32 version = 1; u32 n_vocab; u32 n_ctx; u32 n_chunks; u32 first; u32 n_scored;
//   i32 tokens[n_chunks][n_ctx]   (each chunk as evaluated, BOS substitution included)
//   f32 logits[n_chunks][n_scored][n_vocab]   (positions first .. first+n_scored-1 of each chunk; position j
//                                              predicts tokens[c][j+1])
// Size ≈ n_chunks · n_scored · n_vocab · 4 bytes (16 chunks of 512 with a 129k vocabulary: ~2.1 GB).
// Thread-safety: none (one caller per object).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/session/perplexity.h"

namespace latte {

struct ScoredLogitsHeader {
  uint32_t n_vocab = 0, n_ctx = 0, n_chunks = 0, first = 0, n_scored = 0;
};

class ScoredLogitsWriter {
 public:
  // Creates `path` (via "<path>.tmp", renamed by finish()); IoError on failure.
  ScoredLogitsWriter(const std::string& path, const ScoredLogitsHeader& h);
  ~ScoredLogitsWriter();  // removes the .tmp file if finish() was not reached
  // Chunk c (in order): its n_ctx tokens and [n_scored][n_vocab] logits.
  void add_chunk(std::span<const int32_t> tokens, const float* logits);
  void finish();

 private:
  std::string path_, tmp_;
  ScoredLogitsHeader h_;
  std::FILE* f_ = nullptr;
  uint32_t written_ = 0;
};

class ScoredLogitsReader {
 public:
  // Opens and validates `path` (FormatError naming the file and field; IoError if unreadable).
  explicit ScoredLogitsReader(const std::string& path);
  ~ScoredLogitsReader();
  const ScoredLogitsHeader& header() const { return h_; }
  std::span<const int32_t> chunk_tokens(uint32_t c) const;
  void read_chunk(uint32_t c, float* logits);  // [n_scored][n_vocab]

 private:
  std::string path_;
  ScoredLogitsHeader h_;
  std::FILE* f_ = nullptr;
  std::vector<int32_t> tokens_;  // [n_chunks][n_ctx], read at open
};

// Accumulates KL(base || model), top-1 agreement and both NLLs over scored positions.
class KldAccumulator {
 public:
  // base, model: [n_vocab] logits of one position; target: the next token.
  void add(const float* base, const float* model, int64_t n_vocab, int32_t target);
  int64_t n() const { return n_; }
  double mean_kld() const;
  double kld_stderr() const;
  double top1_agreement() const;
  double base_ppl() const;
  double base_ppl_stderr() const;
  double model_ppl() const;

 private:
  int64_t n_ = 0, agree_ = 0;
  double kld_ = 0, kld2_ = 0, bnll_ = 0, bnll2_ = 0, mnll_ = 0;
};

struct LogitsFileParams {
  std::string save_path;  // "" = do not save
  std::string base_path;  // "" = do not compare; the file must exist
};

struct LogitsFileComparison {
  bool compared = false;
  int64_t n = 0;                 // positions compared
  double mean_kld = 0, kld_stderr = 0, top1_agreement = 0;
  double base_ppl = 0, base_ppl_stderr = 0;
};

// The perplexity protocol of compute_perplexity (same chunks, BOS substitution and scored positions), plus saving
// and/or comparing scored logits. Throws ArgumentError when the base file's chunking or tokens differ from this
// run's (same text and -c are needed), or it holds fewer chunks than requested.
PerplexityResult perplexity_with_logits_files(Session& s, std::span<const int32_t> tokens, const PerplexityParams& p,
                                              const LogitsFileParams& files, LogitsFileComparison& cmp,
                                              const std::function<void(int, int, double)>& progress = {});

}  // namespace latte
