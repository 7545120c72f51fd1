// Model::load: open the GGUF, read hyper-parameters, tokenizer and weights, choose the kernel table (once).

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <cstdlib>
#include <set>
#include <string>

#include "formats/gguf.h"
#include "quant/kernels.h"
#include "formats/error.h"
#include "runtime/session/memory_plan.h"
#include "runtime/session/session.h"
#include "runtime/compute/gemm.h"
#include "runtime/compute/threads.h"
#include "runtime/model/expert_cache.h"
#include "runtime/model/repack.h"
#include "runtime/model/v4_hparams.h"
#include "runtime/model/v4_weights.h"
#include "runtime/model/weights.h"

namespace latte {
namespace {

Isa parse_isa(const std::string& s) {
  if (s == "scalar") return Isa::Scalar;
  if (s == "avx2") return Isa::Avx2;
  if (s == "avx512") return Isa::Avx512;
  if (s == "neon") return Isa::Neon;
  throw ArgumentError("unknown ISA '" + s + "' (expected scalar, avx2, avx512 or neon)");
}

// Every weight type used in a product must have a kernel and an activation converter in the table.
void check_kernels(const KernelTable& kt, const ModelWeights& w, const V4Weights* v4, const std::string& path) {
  std::set<const TypeTraits*> types;
  auto add = [&](const TensorView& v) {
    if (v.valid()) types.insert(v.tt);
  };
  add(w.output);
  for (const auto& L : w.layers) {
    for (const TensorView* v : {&L.attn_q, &L.attn_q_a, &L.attn_q_b, &L.attn_kv_a_mqa, &L.attn_k_b, &L.attn_v_b,
                                &L.attn_output, &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.ffn_gate_inp,
                                &L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps, &L.ffn_gate_shexp,
                                &L.ffn_up_shexp, &L.ffn_down_shexp})
      add(*v);
  }
  if (v4)
    for (const TensorView* v : v4->products()) add(*v);
  for (const TypeTraits* t : types) {
    const uint32_t id = static_cast<uint32_t>(t->type);
    if (!kt.vec_dot[id] && !kt.gemv[id])
      throw UnsupportedError(path + ": no " + isa_name(kt.isa) + " dot kernel for tensor type " + t->name);
    const DType at = t->vec_dot_type;
    if (at != DType::F32 && !kt.quantize_act[static_cast<uint32_t>(at)] && !type_traits(at).quantize_row)
      throw UnsupportedError(path + ": no activation converter to " + type_traits(at).name);
  }
}

// Layout of a weight in the repack arena (as repack_views chooses it): interleaved where the kernels have an
// interleaved gemv, plain otherwise.
int32_t repack_ilv(const KernelTable& kt, const TensorView& v) {
  return kt.gemv_il[static_cast<uint32_t>(v.type())] && v.ne[1] >= kInterleave && v.tt->block_elems > 1 ? kInterleave
                                                                                                         : 1;
}

// [begin, end) of a view's bytes, shrunk to whole pages.
void page_range(const TensorView& v, uintptr_t& a, uintptr_t& e) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(v.data);
  const uintptr_t end = b + static_cast<uintptr_t>(v.ne[2] - 1) * v.nb2 + static_cast<uintptr_t>(v.ne[1]) * v.nb1;
  a = (b + page - 1) / page * page;
  e = end / page * page;
}

}  // namespace

Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const ModelParams& p) {
  std::shared_ptr<Model> m(new Model());
  if (p.progress) p.progress(0.0f);
  m->file_ = gguf::File::open(p.path);
  const gguf::File& f = *m->file_;
  // The architecture is decided here, once.
  const auto arch = f.get_string("general.architecture");
  if (arch && *arch == "deepseek4") {
    m->arch_ = Arch::Deepseek4;
    m->v4hp_ = std::make_unique<V4Hparams>(read_v4_hparams(f));
    m->hp_ = v4_summary_hparams(*m->v4hp_);
  } else {
    m->hp_ = read_hparams(f);
  }
  Hparams& hp = m->hp_;

  // --expert-groups N,K overrides the file (0 disables group-limited routing).
  if (m->arch_ == Arch::Deepseek4 && p.expert_groups > 0)
    throw ArgumentError("--expert-groups: deepseek4 routes without expert groups");
  if (p.expert_groups == 0) {
    hp.n_group = hp.n_group_used = 0;
  } else if (p.expert_groups > 0) {
    const int64_t g = p.expert_groups, k = p.expert_groups_used > 0 ? p.expert_groups_used : g;
    if (hp.n_expert % g != 0 || k > g)
      throw ArgumentError("--expert-groups " + std::to_string(g) + "," + std::to_string(k) +
                          ": groups must divide the " + std::to_string(hp.n_expert) +
                          " experts and keep at most all groups");
    hp.n_group = g > 1 ? g : 0;
    hp.n_group_used = g > 1 ? k : 0;
  }

  m->tok_ = Tokenizer::from_gguf(f);
  if (p.progress) p.progress(0.3f);
  if (m->arch_ == Arch::Deepseek4) {
    m->w_ = std::make_unique<ModelWeights>();
    m->v4w_ = std::make_unique<V4Weights>(f, *m->v4hp_);
  } else {
    m->w_ = std::make_unique<ModelWeights>(f, hp);
  }
  if (p.progress) p.progress(0.9f);

  const Isa isa = p.isa.empty() ? select_isa() : parse_isa(p.isa);
  m->kt_ = &kernel_table(isa);
  check_kernels(*m->kt_, *m->w_, m->v4w_.get(), f.path());

  // Memory budget: routed experts into an expert cache when the file does not fit (deepseek2 only).
  std::set<const TensorView*> routed;  // views served by the cache (not repacked, not populated)
  std::optional<ExpertCacheConfig> cache_cfg;  // made after the repack (which then copies every other weight)
  std::string cache_note, cache_note_tail;
  if (p.mem_budget > 0) {
    const uint64_t budget = p.mem_budget == ModelParams::kMemAuto ? read_system_memory().available() : p.mem_budget;
    // Default reserve for sessions and buffers: 512 MiB + 2 %, at most a quarter of a small budget.
    const uint64_t reserve =
        p.mem_reserve ? p.mem_reserve : std::min((uint64_t{512} << 20) + budget / 50, budget / 4);
    const uint64_t file_bytes = f.file_size();
    ExpertCacheConfig cc;
    uint64_t routed_bytes = 0;
    if (m->arch_ == Arch::Deepseek2)
      for (auto& L : m->w_->layers) {
        if (!L.moe || !L.ffn_gate_exps.valid()) {
          cc.layers.push_back({});
          continue;
        }
        cc.layers.push_back({L.ffn_gate_exps, L.ffn_up_exps, L.ffn_down_exps});
        for (const TensorView* v : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps}) routed_bytes += v->bytes();
      }
    const std::string fits = "model " + format_bytes(file_bytes) + ", budget " + format_bytes(budget) +
                             (p.mem_budget == ModelParams::kMemAuto ? " (auto)" : "");
    if (budget == 0 || file_bytes + reserve <= budget) {
      m->memory_note_ = "memory: " + fits + ": fits, weights used as mapped";
    } else if (routed_bytes == 0) {
      m->memory_note_ = "memory: " + fits + ": does not fit; " +
                        (m->arch_ == Arch::Deepseek2 ? "no routed experts to cache"
                                                     : "the expert cache serves deepseek2 files only") +
                        ", weights paged from the file";
    } else {
      const uint64_t slot = ExpertCache::slot_bytes_for(cc.layers);
      const uint64_t resident = file_bytes - routed_bytes;
      int64_t n_moe = 0;
      for (const auto& L : cc.layers) n_moe += L[0].valid();
      const int64_t n_keys = n_moe * hp.n_expert;  // experts that can be cached
      const uint64_t room = budget > resident + reserve ? budget - resident - reserve : 0;
      const int64_t n_slots = std::min<int64_t>(n_keys, static_cast<int64_t>(room / slot));
      const int64_t min_slots = 2 * hp.n_expert_used;
      if (n_slots < min_slots)
        throw ResourceError("--mem " + format_bytes(budget) + ": too small for " + f.path() + ": the weights other than " +
                            "the routed experts need " + format_bytes(resident) + ", sessions " +
                            format_bytes(reserve) + ", and the expert cache at least " + std::to_string(min_slots) +
                            " slots of " + format_bytes(slot));
      cc.path = f.path();
      cc.file_base = f.base();
      cc.n_expert = hp.n_expert;
      cc.n_slots = n_slots;
      cc.policy = p.expert_policy;
      cc.io_threads = std::max(1, p.io_threads);
      // LATTE_EXPERT_PREFAULT=0: leave the slots to be faulted by the first reads (measurement).
      if (const char* e = std::getenv("LATTE_EXPERT_PREFAULT"); e && std::string(e) == "0") cc.prefault = false;
      // LATTE_EXPERT_TRACE=FILE: every acquisition as a text line "layer expert tokens" (policy measurement).
      if (const char* e = std::getenv("LATTE_EXPERT_TRACE")) cc.trace_path = e;
      if (p.repack && !p.mlock)
        for (const auto& L : cc.layers)
          if (L[0].valid()) {
            for (size_t i = 0; i < 3; ++i) cc.ilv[i] = repack_ilv(*m->kt_, L[i]);
            break;
          }
      for (auto& L : m->w_->layers)
        for (const TensorView* v : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps})
          if (L.moe && v->valid()) routed.insert(v);
      cache_note = "memory: " + fits + ": does not fit; routed experts (" + format_bytes(routed_bytes) +
                   ") from an expert cache of " + std::to_string(n_slots) + " of " + std::to_string(n_keys) +
                   " experts (" + format_bytes(static_cast<uint64_t>(n_slots) * slot) + ", slots of " +
                   format_bytes(slot) + ", ";
      cache_note_tail = " reads); other weights " + format_bytes(resident) + " resident";
      cache_cfg = std::move(cc);
    }
  }

  bool repacked = false;
  std::vector<TensorView*> left_mapped;  // views a partial repack left in the mapping
  if (p.repack && !p.mlock) {
    // Views in priority order: the loaders list the weights every token reads before the routed experts.
    std::vector<TensorView*> views;
    for (TensorView* v : m->w_->products())
      if (!routed.count(v)) views.push_back(v);
    if (m->v4w_)
      for (TensorView* v : m->v4w_->products()) views.push_back(v);
    // What the copy may use: the available memory less 1 GiB and 10 % of the file (sessions, the part of the file
    // that stays mapped). Views that do not fit stay zero-copy in the mapping (a partial repack), in order.
    const uint64_t avail = read_system_memory().available();
    const uint64_t margin = (uint64_t{1} << 30) + f.file_size() / 10;
    const uint64_t budget = avail == 0 ? UINT64_MAX : (avail > margin ? avail - margin : 0);
    std::vector<TensorView*> chosen;
    uint64_t used = 0, wanted = 0;
    for (TensorView* v : views) {
      const uint64_t b = repack_bytes({v});
      wanted += b;
      // With an expert cache the budget already counts every other weight as resident: copy them all.
      if (cache_cfg || used + b <= budget) {
        chosen.push_back(v);
        used += b;
      } else {
        left_mapped.push_back(v);
      }
    }
    if (chosen.size() < views.size())
      m->repack_note_ = "repack " + std::string(chosen.empty() ? "skipped" : "partial") + ": " + format_bytes(used) +
                        " of " + format_bytes(wanted) + " copied (" + format_bytes(avail) +
                        " available); the rest stays memory-mapped";
    if (!chosen.empty()) {
      RepackStats st;
      m->repack_ = repack_views(chosen, *m->kt_, default_threads(), f.base(), f.file_size(), &st, [&](float v) {
        if (p.progress) p.progress(0.9f + 0.1f * v);
      });
      m->repacked_bytes_ = st.bytes;
      m->interleaved_bytes_ = st.interleaved_bytes;
      repacked = true;
    }
  }
  if (cache_cfg) {
    m->expert_cache_ = std::make_unique<ExpertCache>(std::move(*cache_cfg));
    const ExpertCache& ec = *m->expert_cache_;
    m->memory_note_ = cache_note + ec.policy_name() + ", " + (ec.direct_io() ? "O_DIRECT" : "buffered") + cache_note_tail;
  }
  if (m->expert_cache_) {
    // The routed experts' pages of the mapping are never read: drop any that are mapped or cached (so they do
    // not count against a cgroup limit) and turn off read-ahead into them; populate only the other weights.
    const int fd = ::open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
    for (const TensorView* v : routed) {
      uintptr_t a = 0, e = 0;
      page_range(*v, a, e);
      if (e > a) {
        ::madvise(reinterpret_cast<void*>(a), e - a, MADV_RANDOM);
        ::madvise(reinterpret_cast<void*>(a), e - a, MADV_DONTNEED);
        if (fd >= 0)
          ::posix_fadvise(fd, static_cast<off_t>(a - reinterpret_cast<uintptr_t>(f.base())), static_cast<off_t>(e - a),
                          POSIX_FADV_DONTNEED);
      }
    }
    if (fd >= 0) ::close(fd);
    if (p.populate && !p.mlock) {
      if (!repacked) {
        left_mapped.clear();
        for (TensorView* v : m->w_->products())
          if (!routed.count(v)) left_mapped.push_back(v);
      }
      for (const TensorView* v : left_mapped)
        populate_mapping(v->data, static_cast<size_t>(v->ne[2] - 1) * v->nb2 + static_cast<size_t>(v->ne[1]) * v->nb1);
    }
    if (p.mlock)
      for (const TensorView* v : m->w_->products())
        if (!routed.count(v)) lock_mapping(v->data, static_cast<size_t>(v->ne[2] - 1) * v->nb2 + static_cast<size_t>(v->ne[1]) * v->nb1, f.path());
  } else if (p.mlock) lock_mapping(f.base(), f.file_size(), f.path());
  else if (p.populate && repacked) {
    // Only what stayed in the mapping (populating the whole file would map the released copies again).
    for (size_t i = 0; i < left_mapped.size(); ++i) {
      const TensorView& v = *left_mapped[i];
      populate_mapping(v.data, static_cast<size_t>(v.ne[2] - 1) * v.nb2 + static_cast<size_t>(v.ne[1]) * v.nb1);
    }
  } else if (p.populate)
    populate_mapping(f.base(), f.file_size(), [&](float v) {
      if (p.progress) p.progress(0.9f + 0.1f * v);
    });
  if (p.progress) p.progress(1.0f);
  // Prefill GEMMs keep converted weights up to a quarter of what is still available now that the weights are
  // loaded (and repacked); none beside an expert cache, whose slots change meaning under the same pointers.
  if (!m->expert_cache_) m->gemm_cache_ = make_weight_conv_cache(read_system_memory().available() / 4);
  return m;
}

std::string Model::chat_template() const {
  return std::string(file_->get_string("tokenizer.chat_template").value_or(""));
}

ChatFormat Model::chat_format() const {
  if (arch_ == Arch::Deepseek4) return ChatFormat::DeepSeekV4;  // V4's format is the encoder's, not a template
  const std::string t = chat_template();
  return t.empty() ? ChatFormat::DeepSeekV3 : detect_chat_format(t);
}

std::string Model::name() const {
  if (auto n = file_->get_string("general.name"); n && !n->empty()) return std::string(*n);
  std::string s = file_->path();
  if (auto slash = s.find_last_of('/'); slash != std::string::npos) s = s.substr(slash + 1);
  if (auto dot = s.rfind(".gguf"); dot != std::string::npos && dot + 5 == s.size()) s = s.substr(0, dot);
  return s;
}

uint64_t Model::weight_bytes() const {
  uint64_t b = 0;
  for (const auto& t : file_->tensors()) b += t.nbytes;
  return b;
}

uint64_t Model::active_bytes_per_token() const {
  const Hparams& hp = hp_;
  if (arch_ == Arch::Deepseek4) {
    // Every product operand once (embedding row, LM head, attention, mHC, router, shared) + the top-k share of
    // the routed experts; small f32 vectors ignored.
    auto b = [](const TensorView& v) -> uint64_t { return v.valid() ? v.bytes() : 0; };
    uint64_t total = v4w_->token_embd.row_bytes();
    for (const TensorView* v : v4w_->products()) total += b(*v);
    for (const auto& L : v4w_->layers) {
      const uint64_t routed = b(L.moe.ffn_gate_exps) + b(L.moe.ffn_up_exps) + b(L.moe.ffn_down_exps);
      total -= routed - routed * static_cast<uint64_t>(hp.n_expert_used) / static_cast<uint64_t>(hp.n_expert);
    }
    return total;
  }
  const ModelWeights& w = *w_;
  const uint64_t E4 = static_cast<uint64_t>(hp.n_embd) * 4;
  auto b = [](const TensorView& v) -> uint64_t { return v.valid() ? v.bytes() : 0; };
  uint64_t total = w.token_embd.row_bytes() + E4 + b(w.output);  // one embedding row, output norm, LM head
  for (const auto& L : w.layers) {
    total += 2 * E4 + static_cast<uint64_t>(hp.kv_lora_rank) * 4 + static_cast<uint64_t>(hp.q_lora_rank) * 4;
    total += b(L.attn_q) + b(L.attn_q_a) + b(L.attn_q_b) + b(L.attn_kv_a_mqa) + b(L.attn_k_b) + b(L.attn_v_b) +
             b(L.attn_output);
    if (!L.moe) {
      total += b(L.ffn_gate) + b(L.ffn_up) + b(L.ffn_down);
    } else {
      total += b(L.ffn_gate_inp) + (L.exp_probs_b ? static_cast<uint64_t>(hp.n_expert) * 4 : 0);
      total += b(L.ffn_gate_shexp) + b(L.ffn_up_shexp) + b(L.ffn_down_shexp);
      const uint64_t routed = b(L.ffn_gate_exps) + b(L.ffn_up_exps) + b(L.ffn_down_exps);
      total += routed * static_cast<uint64_t>(hp.n_expert_used) / static_cast<uint64_t>(hp.n_expert);
    }
  }
  return total;
}

}  // namespace latte
