// `latte inspect FILE [--json] [--tensors] [--metadata]`: what a GGUF holds — architecture, hyper-parameters
// (read straight from the `<arch>.*` keys), tokenizer summary, tensor type histogram, bytes read per generated
// token and latent KV-cache bytes per token. Works on any valid GGUF, including vocabulary-only files.
// One report object is built first; text and JSON are two renderings of it.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "formats/gguf.h"
#include "quant/types.h"
#include "formats/error.h"
#include "runtime/cache/v4_cache.h"
#include "runtime/model/v4_hparams.h"

namespace latte::cli {
namespace {

using json = nlohmann::ordered_json;

struct InspectOptions {
  std::string path;
  bool json = false, tensors = false, metadata = false;
};

// Natural JSON value of a metadata record; arrays longer than max_items become {"type","count","head"}.
json kv_to_json(const gguf::File& f, const gguf::KeyValue& kv, size_t max_items) {
  using gguf::ValueType;
  switch (kv.type) {
    case ValueType::STRING: return std::string(*f.get_string(kv.key));
    case ValueType::BOOL: return *f.get_bool(kv.key);
    case ValueType::F32: case ValueType::F64: return *f.get_float(kv.key);
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64: return *f.get_int(kv.key);
    case ValueType::ARRAY: {
      json head = json::array();
      size_t n = static_cast<size_t>(std::min<uint64_t>(kv.count, max_items));
      if (kv.elem_type == ValueType::STRING) {
        auto v = f.get_string_array(kv.key);
        for (size_t i = 0; i < n; ++i) head.push_back(std::string(v[i]));
      } else if (kv.elem_type == ValueType::F32 || kv.elem_type == ValueType::F64) {
        auto v = f.get_float_array(kv.key);
        for (size_t i = 0; i < n; ++i) head.push_back(v[i]);
      } else if (kv.elem_type == ValueType::BOOL) {
        for (size_t i = 0; i < n; ++i) head.push_back(kv.data[i] != 0);
      } else {
        auto v = f.get_int_array(kv.key);
        for (size_t i = 0; i < n; ++i) head.push_back(v[i]);
      }
      if (kv.count <= max_items) return head;
      return json{{"type", std::string("ARRAY of ") + gguf::value_type_name(kv.elem_type)},
                  {"count", kv.count},
                  {"head", head}};
    }
    default: return *f.get_uint(kv.key);
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Latent-cache bytes for `values` numbers of a cache type: f16 2 bytes each; q8_0 34 bytes per 32 values.
uint64_t cache_bytes(uint64_t values, const std::string& type) {
  if (type == "f32") return values * 4;
  if (type == "f16" || type == "bf16") return values * 2;
  return (values * 34 + 31) / 32;  // q8_0
}

json build_report(const gguf::File& f, const InspectOptions& o) {
  json r;
  r["file"] = f.path();
  r["file_bytes"] = f.file_size();
  r["gguf_version"] = f.version();
  r["alignment"] = f.alignment();
  r["metadata_count"] = f.metadata().size();
  r["tensor_count"] = f.tensors().size();

  const std::string arch = std::string(f.get_string("general.architecture").value_or(""));
  r["architecture"] = arch.empty() ? json() : json(arch);
  if (auto n = f.get_string("general.name")) r["name"] = std::string(*n);
  if (auto ft = f.get_uint("general.file_type")) r["file_type"] = *ft;

  // ---- hyper-parameters: every `<arch>.` key, prefix stripped ----
  json hp = json::object();
  if (!arch.empty()) {
    const std::string prefix = arch + ".";
    for (const auto& kv : f.metadata())
      if (kv.key.rfind(prefix, 0) == 0) hp[kv.key.substr(prefix.size())] = kv_to_json(f, kv, 64);
  }
  r["hparams"] = hp;
  auto hp_uint = [&](const std::string& k) -> std::optional<uint64_t> {
    return arch.empty() ? std::nullopt : f.get_uint(arch + "." + k);
  };

  // ---- derived attention facts (deepseek2) ----
  if (arch == "deepseek2") {
    json d;
    d["q_lora"] = hp.contains("attention.q_lora_rank") || f.find_tensor("blk.0.attn_q_a.weight") != nullptr;
    bool kv_b = f.find_tensor("blk.0.attn_kv_b.weight") != nullptr;
    bool split = f.find_tensor("blk.0.attn_k_b.weight") && f.find_tensor("blk.0.attn_v_b.weight");
    if (!f.tensors().empty())
      d["mla_tensors"] = kv_b && split ? "attn_kv_b + attn_k_b/attn_v_b" : split ? "attn_k_b/attn_v_b" : kv_b ? "attn_kv_b" : "none";
    if (auto g = hp_uint("expert_gating_func"))
      d["gating"] = *g == 2 ? "sigmoid" : (*g == 0 || *g == 1) ? "softmax" : "other (" + std::to_string(*g) + ")";
    if (auto gc = hp_uint("expert_group_count")) d["expert_groups"] = {*gc, hp_uint("expert_group_used_count").value_or(0)};
    r["derived"] = d;
  }

  // ---- tokenizer ----
  if (f.has("tokenizer.ggml.model") || f.has("tokenizer.ggml.tokens")) {
    json t;
    auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    auto token_text = [&](uint64_t id) -> json {
      return id < tokens.size() ? json(std::string(tokens[id])) : json();
    };
    t["model"] = f.has("tokenizer.ggml.model") ? json(std::string(*f.get_string("tokenizer.ggml.model"))) : json();
    t["pre"] = f.has("tokenizer.ggml.pre") ? json(std::string(*f.get_string("tokenizer.ggml.pre"))) : json();
    t["vocab_size"] = tokens.size();
    t["merges"] = f.has("tokenizer.ggml.merges") ? f.find("tokenizer.ggml.merges")->count : 0;
    if (f.has("tokenizer.ggml.token_type")) {
      std::map<int64_t, uint64_t> hist;
      for (int64_t ty : f.get_int_array("tokenizer.ggml.token_type")) hist[ty]++;
      static const char* names[] = {"undefined", "normal", "unknown", "control", "user_defined", "unused", "byte"};
      json h = json::object();
      for (auto [ty, n] : hist) h[ty >= 0 && ty <= 6 ? names[ty] : std::to_string(ty)] = n;
      t["token_types"] = h;
    }
    for (const char* name : {"bos", "eos", "padding", "unknown", "eot"}) {
      if (auto id = f.get_uint(std::string("tokenizer.ggml.") + name + "_token_id"))
        t[std::string(name) + "_token"] = {{"id", *id}, {"text", token_text(*id)}};
    }
    if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) t["add_bos"] = *b;
    if (auto b = f.get_bool("tokenizer.ggml.add_eos_token")) t["add_eos"] = *b;
    auto tmpl = f.get_string("tokenizer.chat_template");
    t["chat_template"] = tmpl.has_value();
    if (tmpl) {
      t["chat_template_bytes"] = tmpl->size();
      std::string head(tmpl->substr(0, 60));
      while (!head.empty() && (static_cast<unsigned char>(head.back()) & 0xC0) == 0x80) head.pop_back();
      if (!head.empty() && static_cast<unsigned char>(head.back()) >= 0xC0) head.pop_back();
      t["chat_template_head"] = head;
    }
    r["tokenizer"] = t;
  }

  // ---- tensors: type histogram, bytes per token ----
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // name -> (count, bytes)
  uint64_t total = 0, routed = 0, embd = 0, embd_row = 0, kv_b_bytes = 0;
  bool split = f.find_tensor("blk.0.attn_k_b.weight") && f.find_tensor("blk.0.attn_v_b.weight");
  for (const auto& t : f.tensors()) {
    auto& e = by_type[type_id_name(t.type)];
    e.first++;
    e.second += t.nbytes;
    total += t.nbytes;
    if (ends_with(t.name, "_exps.weight")) routed += t.nbytes;
    if (t.name == "token_embd.weight") {
      embd = t.nbytes;
      embd_row = t.nbytes / static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3]);
    }
    if (split && t.name.find(".attn_kv_b.") != std::string::npos) kv_b_bytes += t.nbytes;
  }
  json types = json::object();
  for (const auto& [name, e] : by_type) types[name] = {{"count", e.first}, {"bytes", e.second}};
  r["tensor_types"] = types;
  r["weight_bytes"] = total;

  if (!f.tensors().empty()) {
    json pt;
    uint64_t n_exp = hp_uint("expert_count").value_or(0), n_used = hp_uint("expert_used_count").value_or(0);
    uint64_t routed_used = (n_exp > 0 && routed > 0) ? routed / n_exp * std::min(n_used, n_exp) : routed;
    // Decode reads: everything, but only n_used/n_exp of the routed experts, one row of the embedding, and (when
    // both MLA forms are stored) only the split attn_k_b/attn_v_b, not attn_kv_b.
    uint64_t per_token = total - routed + routed_used - embd + embd_row - kv_b_bytes;
    pt["bytes"] = per_token;
    pt["routed_expert_bytes_total"] = routed;
    pt["routed_expert_bytes_used"] = routed_used;
    pt["experts_used"] = n_used;
    pt["experts_total"] = n_exp;
    pt["token_embd_row_bytes"] = embd_row;
    pt["attn_kv_b_skipped_bytes"] = kv_b_bytes;
    r["weight_bytes_per_token"] = pt;
  }

  // ---- latent KV cache per token: n_layer × (kv_lora_rank + rope_dim) values ----
  auto n_layer = hp_uint("block_count"), kv_lora = hp_uint("attention.kv_lora_rank"),
       rope = hp_uint("rope.dimension_count");
  if (arch == "deepseek2" && n_layer && kv_lora && rope) {
    uint64_t values = *n_layer * (*kv_lora + *rope);
    json c;
    c["values_per_token"] = values;
    for (const char* ty : {"f32", "f16", "q8_0"}) c[std::string(ty) + "_bytes_per_token"] = cache_bytes(values, ty);
    if (auto ctx = hp_uint("context_length")) {
      c["context_length"] = *ctx;
      c["f16_bytes_at_context_length"] = cache_bytes(values, "f16") * *ctx;
    }
    r["kv_cache"] = c;
  }

  // ---- deepseek4: layer kinds and the compressed cache (runtime/cache/v4_cache.h) ----
  if (arch == "deepseek4") {
    try {
      const V4Hparams v = read_v4_hparams(f);
      json d;
      json kinds = json::array();
      std::map<std::string, int> count;
      for (int64_t il = 0; il < v.n_layer; ++il) {
        std::string k = v4_layer_kind_name(v.kind[static_cast<size_t>(il)]);
        if (v.ratio[static_cast<size_t>(il)] > 0) k += "/" + std::to_string(v.ratio[static_cast<size_t>(il)]);
        if (v.hash[static_cast<size_t>(il)]) k += " hash";
        count[k]++;
        kinds.push_back(k);
      }
      d["layer_kinds"] = kinds;
      d["layer_kind_counts"] = count;
      d["window"] = v.window;
      d["indexer"] = {v.idx_heads, v.idx_dim, v.idx_topk};
      d["streams"] = v.hc;
      d["sinkhorn_iterations"] = v.sinkhorn_iters;
      r["derived"] = d;
      json c;
      for (CacheType t : {CacheType::F32, CacheType::F16, CacheType::Q8_0}) {
        json e;
        const double per = V4Cache::bytes_per_token(v, t);
        const uint64_t fixed = V4Cache::fixed_bytes(v, t);
        e["compressed_bytes_per_token"] = per;
        e["fixed_bytes"] = fixed;
        for (uint64_t ctx : {uint64_t{4096}, uint64_t{131072}, uint64_t{1048576}})
          e["bytes_per_token_at_" + std::to_string(ctx)] = per + static_cast<double>(fixed) / static_cast<double>(ctx);
        c[cache_type_name(t)] = e;
      }
      r["v4_cache"] = c;
    } catch (const Error& e) {
      r["v4_error"] = e.what();
    }
  }

  if (o.metadata) {
    json m = json::object();
    for (const auto& kv : f.metadata()) m[kv.key] = kv_to_json(f, kv, 16);
    r["metadata"] = m;
  }
  if (o.tensors) {
    json ts = json::array();
    for (const auto& t : f.tensors()) {
      json ne = json::array();
      for (uint32_t i = 0; i < t.n_dims; ++i) ne.push_back(t.ne[i]);
      ts.push_back({{"name", t.name}, {"shape", ne}, {"type", type_id_name(t.type)}, {"bytes", t.nbytes},
                    {"offset", t.file_offset}});
    }
    r["tensors"] = ts;
  }
  return r;
}

std::string human_bytes(uint64_t b) {
  char buf[64];
  if (b < 1024) std::snprintf(buf, sizeof buf, "%" PRIu64 " B", b);
  else if (b < (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024.0);
  else if (b < (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f MiB", b / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
  return buf;
}

std::string plain(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  if (v.is_number_float()) {  // stored values are mostly f32: 7 significant digits read back exactly enough
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.7g", v.get<double>());
    return buf;
  }
  return v.dump();
}

void print_text(const json& r) {
  std::printf("file:          %s\n", r["file"].get<std::string>().c_str());
  std::printf("size:          %" PRIu64 " bytes (%s), GGUF v%u, alignment %" PRIu64 "\n", r["file_bytes"].get<uint64_t>(),
              human_bytes(r["file_bytes"].get<uint64_t>()).c_str(), r["gguf_version"].get<unsigned>(),
              r["alignment"].get<uint64_t>());
  std::printf("architecture:  %s\n", plain(r["architecture"]).c_str());
  if (r.contains("name")) std::printf("name:          %s\n", plain(r["name"]).c_str());
  std::printf("metadata:      %" PRIu64 " keys\n", r["metadata_count"].get<uint64_t>());

  if (!r["hparams"].empty()) {
    std::printf("\nhyper-parameters:\n");
    for (const auto& [k, v] : r["hparams"].items()) std::printf("  %-42s %s\n", k.c_str(), plain(v).c_str());
  }
  if (r.contains("derived")) {
    std::printf("\nderived:\n");
    for (const auto& [k, v] : r["derived"].items()) std::printf("  %-42s %s\n", k.c_str(), plain(v).c_str());
  }
  if (r.contains("tokenizer")) {
    const json& t = r["tokenizer"];
    std::printf("\ntokenizer:\n");
    std::printf("  model %s, pre %s, %" PRIu64 " tokens, %" PRIu64 " merges\n", plain(t["model"]).c_str(),
                plain(t["pre"]).c_str(), t["vocab_size"].get<uint64_t>(), t["merges"].get<uint64_t>());
    if (t.contains("token_types")) {
      std::printf("  token types:");
      for (const auto& [k, v] : t["token_types"].items()) std::printf(" %s %s", k.c_str(), plain(v).c_str());
      std::printf("\n");
    }
    for (const char* name : {"bos", "eos", "padding", "unknown", "eot"}) {
      std::string key = std::string(name) + "_token";
      if (t.contains(key))
        std::printf("  %-8s %s %s\n", name, plain(t[key]["id"]).c_str(), t[key]["text"].dump().c_str());
    }
    if (t.contains("add_bos")) std::printf("  add_bos %s, add_eos %s\n", plain(t["add_bos"]).c_str(), plain(t.value("add_eos", json())).c_str());
    if (t["chat_template"].get<bool>())
      std::printf("  chat template: %s bytes, begins %s\n", plain(t["chat_template_bytes"]).c_str(),
                  t["chat_template_head"].dump().c_str());
    else
      std::printf("  chat template: none\n");
  }

  std::printf("\ntensors:       %" PRIu64 ", %s of weights\n", r["tensor_count"].get<uint64_t>(),
              human_bytes(r["weight_bytes"].get<uint64_t>()).c_str());
  for (const auto& [k, v] : r["tensor_types"].items())
    std::printf("  %-8s %5" PRIu64 " tensors %14" PRIu64 " bytes (%s)\n", k.c_str(), v["count"].get<uint64_t>(),
                v["bytes"].get<uint64_t>(), human_bytes(v["bytes"].get<uint64_t>()).c_str());
  if (r.contains("weight_bytes_per_token")) {
    const json& p = r["weight_bytes_per_token"];
    std::printf("\nweights read per generated token: %" PRIu64 " bytes (%s)\n", p["bytes"].get<uint64_t>(),
                human_bytes(p["bytes"].get<uint64_t>()).c_str());
    std::printf("  routed experts: %" PRIu64 " of %" PRIu64 " used: %s of %s\n", p["experts_used"].get<uint64_t>(),
                p["experts_total"].get<uint64_t>(), human_bytes(p["routed_expert_bytes_used"].get<uint64_t>()).c_str(),
                human_bytes(p["routed_expert_bytes_total"].get<uint64_t>()).c_str());
    std::printf("  token_embd: one row (%s)", human_bytes(p["token_embd_row_bytes"].get<uint64_t>()).c_str());
    if (p["attn_kv_b_skipped_bytes"].get<uint64_t>())
      std::printf("; attn_kv_b not read (split attn_k_b/attn_v_b used): %s",
                  human_bytes(p["attn_kv_b_skipped_bytes"].get<uint64_t>()).c_str());
    std::printf("\n");
  }
  if (r.contains("kv_cache")) {
    const json& c = r["kv_cache"];
    std::printf("\nlatent KV cache per token: %" PRIu64 " values; f16 %" PRIu64 " bytes, q8_0 %" PRIu64 " bytes, f32 %" PRIu64 " bytes\n",
                c["values_per_token"].get<uint64_t>(), c["f16_bytes_per_token"].get<uint64_t>(),
                c["q8_0_bytes_per_token"].get<uint64_t>(), c["f32_bytes_per_token"].get<uint64_t>());
    if (c.contains("context_length"))
      std::printf("  at context_length %" PRIu64 " (f16): %s\n", c["context_length"].get<uint64_t>(),
                  human_bytes(c["f16_bytes_at_context_length"].get<uint64_t>()).c_str());
  }
  if (r.contains("v4_error")) std::printf("\ndeepseek4: %s\n", r["v4_error"].get<std::string>().c_str());
  if (r.contains("v4_cache")) {
    std::printf("\ndeepseek4 cache (window rings + compressor state fixed, compressed rows and indexer keys per "
                "token), bytes per token:\n  %-6s %12s %12s %12s %12s %12s\n", "type", "fixed", "rows/token",
                "at 4K", "at 128K", "at 1M");
    for (const auto& [k, e] : r["v4_cache"].items())
      std::printf("  %-6s %12s %12.1f %12.1f %12.1f %12.1f\n", k.c_str(),
                  human_bytes(e["fixed_bytes"].get<uint64_t>()).c_str(), e["compressed_bytes_per_token"].get<double>(),
                  e["bytes_per_token_at_4096"].get<double>(), e["bytes_per_token_at_131072"].get<double>(),
                  e["bytes_per_token_at_1048576"].get<double>());
  }
  if (r.contains("metadata")) {
    std::printf("\nmetadata:\n");
    for (const auto& [k, v] : r["metadata"].items()) {
      std::string s = plain(v);
      if (s.size() > 120) s = s.substr(0, 117) + "...";
      std::printf("  %-48s %s\n", k.c_str(), s.c_str());
    }
  }
  if (r.contains("tensors")) {
    std::printf("\n%-40s %-22s %-8s %12s %12s\n", "name", "shape", "type", "bytes", "offset");
    for (const auto& t : r["tensors"])
      std::printf("%-40s %-22s %-8s %12" PRIu64 " %12" PRIu64 "\n", t["name"].get<std::string>().c_str(),
                  t["shape"].dump().c_str(), t["type"].get<std::string>().c_str(), t["bytes"].get<uint64_t>(),
                  t["offset"].get<uint64_t>());
  }
}

int run(const InspectOptions& o) {
  auto f = gguf::File::open(o.path);
  json r = build_report(*f, o);
  if (o.json)
    std::printf("%s\n", r.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  else
    print_text(r);
  return 0;
}

static const Registrar reg{Command{
    "inspect", "Show what a GGUF file holds (metadata, tokenizer, tensor types, bytes per token)",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<InspectOptions>();
      sub.add_option("file", o->path, "GGUF file")->required();
      sub.add_flag("--json", o->json, "print one JSON object");
      sub.add_flag("--tensors", o->tensors, "list every tensor (name, shape, type, bytes, offset)");
      sub.add_flag("--metadata", o->metadata, "list every metadata key");
      return [o] { return run(*o); };
    },
    60}};

}  // namespace
}  // namespace latte::cli
