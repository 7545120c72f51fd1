// Model: the loaded GGUF (mapping, hyper-parameters, tokenizer, weight views, kernel table). Immutable after
// load and shared by any number of sessions on any number of threads.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "runtime/model/hparams.h"
#include "runtime/text/tokenizer.h"

namespace latte {
namespace gguf { class File; }
class ModelWeights;
struct KernelTable;

struct ModelParams {
  std::string path;
  std::string isa;            // "" = best for this CPU (LATTE_ISA env also honoured); "scalar", "avx2", "avx512"
  bool mlock = false;         // lock the mapped weights in RAM
  bool populate = true;       // map every weight page at load when the file fits in RAM (populate_mapping)
  bool repack = false;        // repack weights into a faster layout at load (owned arena)
  int expert_groups = -1;     // override expert_group_count (-1: from file; 0: disable groups)
  int expert_groups_used = -1;
  std::function<void(float)> progress;  // load progress 0..1 (optional)
};

class Model {
 public:
  static std::shared_ptr<const Model> load(const ModelParams& p);  // throws latte::Error
  ~Model();
  const Hparams& hparams() const { return hp_; }
  const Tokenizer& tokenizer() const { return *tok_; }
  const gguf::File& file() const { return *file_; }
  const ModelWeights& weights() const { return *w_; }
  const KernelTable& kernels() const { return *kt_; }
  std::string chat_template() const;         // tokenizer.chat_template or ""
  std::string name() const;                  // general.name or file stem
  uint64_t weight_bytes() const;             // all tensor bytes
  uint64_t active_bytes_per_token() const;   // bytes read per generated token (routed experts: top-k share)

 private:
  Model() = default;
  Hparams hp_;
  std::shared_ptr<const gguf::File> file_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<ModelWeights> w_;
  const KernelTable* kt_ = nullptr;
};

}  // namespace latte
