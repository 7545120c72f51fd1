// Model: the loaded GGUF (mapping, hyper-parameters, tokenizer, weight views, kernel table). Immutable after
// load and shared by any number of sessions on any number of threads.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "runtime/model/hparams.h"
#include "runtime/text/chat_format.h"
#include "runtime/text/tokenizer.h"

namespace latte {
namespace gguf { class File; }
class ModelWeights;
struct WeightConvCache;
class V4Weights;
struct V4Hparams;
struct KernelTable;
class RepackArena;
class ExpertCache;

// The architecture of a loaded file, decided once from general.architecture.
enum class Arch { Deepseek2, Deepseek4 };

struct ModelParams {
  std::string path;
  std::string isa;            // "" = best for this CPU (LATTE_ISA env also honoured); "scalar", "avx2", "avx512"
  bool mlock = false;         // lock the mapped weights in RAM
  bool populate = true;       // map every weight page at load when the file fits in RAM (populate_mapping)
  bool repack = false;        // copy the product weights at load into huge-page anonymous memory, row-interleaved
                              // where the kernels have an interleaved gemv (runtime/model/repack.h); skipped (see
                              // Model::repack_note) when the copy would not fit in available memory
  // Memory budget (--mem, issue 18), bytes for the weights plus the sessions' working set: 0 = none (the whole
  // file is used as mapped), kMemAuto = what read_system_memory() finds available (cgroup limit respected). When
  // the file does not fit (file + mem_reserve > budget), the routed experts are served from an ExpertCache
  // (runtime/model/expert_cache.h) sized to what is left; every other weight stays as without a budget.
  static constexpr uint64_t kMemAuto = UINT64_MAX;
  uint64_t mem_budget = 0;
  uint64_t mem_reserve = 0;   // bytes of the budget left for sessions and buffers (0: 512 MiB + 2 % of the budget)
  std::string expert_policy = "lfu";  // expert cache replacement: "lfu" (decayed) or "lru" (expert_policy.h)
  int io_threads = 4;         // expert cache reader threads
  int expert_groups = -1;     // override expert_group_count (-1: from file; 0: disable groups)
  int expert_groups_used = -1;
  std::function<void(float)> progress;  // load progress 0..1 (optional)
};

class Model {
 public:
  static std::shared_ptr<const Model> load(const ModelParams& p);  // throws latte::Error
  ~Model();
  Arch arch() const { return arch_; }
  // deepseek2: the full hyper-parameters; deepseek4: its summary (vocabulary, widths, layers, experts; see
  // v4_summary_hparams) and v4_hparams() for the rest.
  const Hparams& hparams() const { return hp_; }
  const V4Hparams& v4_hparams() const { return *v4hp_; }  // deepseek4 only
  const V4Weights& v4_weights() const { return *v4w_; }   // deepseek4 only
  const Tokenizer& tokenizer() const { return *tok_; }
  const gguf::File& file() const { return *file_; }
  const ModelWeights& weights() const { return *w_; }   // deepseek2 (empty for deepseek4)
  const KernelTable& kernels() const { return *kt_; }
  std::string chat_template() const;         // tokenizer.chat_template or ""
  // The chat format of the file, decided from general.architecture: deepseek4 -> DeepSeek-V4 (its prompt format
  // is the official encoder's, whatever template the file carries); deepseek2 -> recognised from
  // tokenizer.chat_template, DeepSeek-V3 when there is none. UnsupportedError for an unrecognised template.
  ChatFormat chat_format() const;
  std::string name() const;                  // general.name or file stem
  uint64_t weight_bytes() const;             // all tensor bytes
  uint64_t active_bytes_per_token() const;   // bytes read per generated token (routed experts: top-k share)
  uint64_t repacked_bytes() const { return repacked_bytes_; }  // weights copied into anonymous memory at load
  uint64_t interleaved_bytes() const { return interleaved_bytes_; }  // of which row-interleaved
  const std::string& repack_note() const { return repack_note_; }  // why a requested repack did not happen ("")
  // The expert cache when the model did not fit its memory budget (nullptr otherwise). Internally synchronized:
  // shared by every session of the model.
  ExpertCache* expert_cache() const { return expert_cache_.get(); }
  // Converted weights of prefill GEMMs, shared by every session of the model (runtime/compute/gemm.h); null beside
  // an expert cache. Budget: a quarter of the memory available at the end of the load. Thread-safe.
  const std::shared_ptr<WeightConvCache>& gemm_cache() const { return gemm_cache_; }
  // One line for stderr when a budget was given: whether the model fits and what the cache uses ("" = no budget).
  const std::string& memory_note() const { return memory_note_; }

 private:
  Model() = default;
  Arch arch_ = Arch::Deepseek2;
  Hparams hp_;
  std::unique_ptr<V4Hparams> v4hp_;
  std::unique_ptr<V4Weights> v4w_;
  std::shared_ptr<const gguf::File> file_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<ModelWeights> w_;
  const KernelTable* kt_ = nullptr;
  uint64_t repacked_bytes_ = 0, interleaved_bytes_ = 0;
  std::string repack_note_, memory_note_;
  std::unique_ptr<ExpertCache> expert_cache_;
  std::shared_ptr<WeightConvCache> gemm_cache_;
  std::unique_ptr<RepackArena> repack_;  // owns the repacked weights (declared last: destroyed first)
};

}  // namespace latte
