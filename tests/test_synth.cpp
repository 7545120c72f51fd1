// Synthetic deepseek2 models (runtime/convert/synth.h): preset shapes, the keys llama.cpp requires, the copied tokenizer,
// per-tensor types from runtime/convert/quantize, weight statistics, determinism, and that Latte's own loader accepts them.
// deepseek4 presets: V4-Flash's shapes, layer kinds and size; a small V4 file with native MXFP4 experts has ik's keys
// and types and runs in Latte.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "quant/types.h"
#include "formats/error.h"
#include "runtime/model/hparams.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"
#include "runtime/session/session.h"
#include "test_support.h"
#include "runtime/convert/quantize.h"
#include "runtime/convert/synth.h"

using namespace latte;

namespace {

std::string vocab_path() { return test::model_path("deepseek-v3-vocab.gguf"); }

synth::Options opts(const char* type, int threads, bool exact) {
  synth::Options o;
  o.target = quantize::parse_target(type);
  o.threads = threads;
  o.exact = exact;
  o.vocab_path = vocab_path();
  return o;
}

}  // namespace

TEST_CASE("synth: preset shapes match the real models") {
  // V2-Lite: 377 tensors (§C.5, verified against a real GGUF); 15,706,484,224 parameters with V = 102400 (the sum
  // of the §C.5 shapes, = the published 15.7 B); our V = 129280
  // adds 2 · 2048 · 26880 embedding/output parameters.
  synth::Config v2 = synth::preset("v2-lite");
  auto specs = synth::tensor_specs(v2);
  CHECK(specs.size() == 377);
  CHECK(synth::param_count(v2) == 15706484224ull + 2ull * 2048 * (129280 - 102400));
  // V3 slice: per layer as in §C.3 (dense layer 12 tensors with q-LoRA, MoE layer 17 with exp_probs_b).
  synth::Config v3 = synth::preset("v3-slice");
  CHECK(synth::tensor_specs(v3).size() == 3 + 12 + 3 * 17);
  bool found = false;
  for (const auto& s : synth::tensor_specs(v3)) {
    if (s.name == "blk.1.ffn_down_exps.weight") {
      CHECK(s.ne == std::vector<int64_t>{2048, 7168, 256});
      found = true;
    }
    if (s.name == "blk.0.attn_q_b.weight") CHECK(s.ne == std::vector<int64_t>{1536, 24576});
    if (s.name == "blk.0.attn_kv_b.weight") CHECK(s.ne == std::vector<int64_t>{512, 32768});
  }
  CHECK(found);
  synth::Config ml = synth::preset("moonlight");
  CHECK(ml.n_vocab == 163840);
  CHECK(ml.gating == 2);
  CHECK_THROWS_AS(synth::preset("nope"), ArgumentError);
}

TEST_CASE("synth: tiny preset file — keys, tokenizer, types, statistics, loader") {
  const std::string dir = test::scratch_dir("synth");
  synth::Config c = synth::preset("tiny");
  const std::string path = dir + "/tiny-q4_k_m.gguf";
  synth::Options o = opts("q4_k_m", 2, false);
  uint64_t last = 0;
  o.progress = [&](uint64_t d, uint64_t t, const std::string&) {
    CHECK(d >= last);
    CHECK(d <= t);
    last = d;
  };
  synth::Result r = synth::write_model(c, o, path);
  CHECK(r.n_tensors == synth::tensor_specs(c).size());
  CHECK(r.n_params == synth::param_count(c));

  auto f = gguf::File::open(path);
  CHECK(f->file_size() == r.file_bytes);
  // Keys llama.cpp's type-strict loader reads (§C.1), with the converter's types.
  const char* u32_keys[] = {"block_count", "context_length", "embedding_length", "feed_forward_length",
                            "attention.head_count", "attention.head_count_kv", "attention.key_length",
                            "attention.value_length", "attention.q_lora_rank", "attention.kv_lora_rank",
                            "rope.dimension_count", "leading_dense_block_count", "expert_count",
                            "expert_used_count", "expert_shared_count", "expert_feed_forward_length",
                            "expert_gating_func", "rope.scaling.original_context_length", "vocab_size"};
  for (const char* k : u32_keys) {
    const gguf::KeyValue* kv = f->find(std::string("deepseek2.") + k);
    REQUIRE_MESSAGE(kv != nullptr, k);
    CHECK_MESSAGE(kv->type == gguf::ValueType::U32, k);
  }
  const char* f32_keys[] = {"attention.layer_norm_rms_epsilon", "rope.freq_base", "expert_weights_scale",
                            "rope.scaling.factor", "rope.scaling.yarn_log_multiplier"};
  for (const char* k : f32_keys) {
    const gguf::KeyValue* kv = f->find(std::string("deepseek2.") + k);
    REQUIRE_MESSAGE(kv != nullptr, k);
    CHECK_MESSAGE(kv->type == gguf::ValueType::F32, k);
  }
  CHECK(f->find("deepseek2.expert_weights_norm")->type == gguf::ValueType::BOOL);
  CHECK(f->get_string("general.architecture") == "deepseek2");
  CHECK(f->get_uint("general.file_type") == 15u);
  CHECK(f->get_uint("deepseek2.attention.key_length") == 48u);  // flavour 1: nope + rope
  // Tokenizer: every tokenizer.* key of the vocabulary file, identical.
  auto vocab = gguf::File::open(vocab_path());
  size_t n_tok_keys = 0;
  for (const auto& kv : vocab->metadata()) {
    if (kv.key.rfind("tokenizer.", 0) != 0) continue;
    ++n_tok_keys;
    const gguf::KeyValue* o2 = f->find(kv.key);
    REQUIRE_MESSAGE(o2 != nullptr, kv.key);
    CHECK(o2->type == kv.type);
    CHECK(o2->count == kv.count);
    CHECK(f->value_to_string(*o2, 6) == vocab->value_to_string(kv, 6));
  }
  CHECK(n_tok_keys >= 8);

  // Types from runtime/convert/quantize's rules; flavour 1 (no attn_k_b / attn_v_b).
  quantize::Target tg = quantize::parse_target("q4_k_m");
  for (const auto& t : f->tensors()) {
    CAPTURE(t.name);
    CHECK(t.name.find("attn_k_b") == std::string::npos);
    quantize::TensorDesc d{t.name, std::vector<int64_t>(t.ne, t.ne + t.n_dims), quantize::layer_of(t.name),
                           int(c.n_layer)};
    CHECK(t.type == uint32_t(quantize::choose_type(tg, d)));
  }
  // Weight statistics: matrices ~ N(0, 1/sqrt(ne0)) after quantization, norms exactly 1.
  for (const char* name : {"blk.1.ffn_gate_exps.weight", "blk.1.ffn_down_exps.weight", "blk.0.attn_kv_b.weight",
                           "blk.0.attn_q_a.weight"}) {
    CAPTURE(name);
    const gguf::TensorInfo* t = f->find_tensor(name);
    REQUIRE(t);
    const TypeTraits* tr = find_type(t->type);
    std::vector<float> x(size_t(t->n_elements()));
    const int64_t rows = t->n_elements() / t->ne[0];
    for (int64_t i = 0; i < rows; ++i)
      tr->dequantize_row(t->data + size_t(i) * row_bytes(*tr, t->ne[0]), x.data() + i * t->ne[0], t->ne[0]);
    double s = 0, s2 = 0;
    for (float v : x) s += v, s2 += double(v) * v;
    double mean = s / double(x.size()), sd = std::sqrt(s2 / double(x.size()) - mean * mean);
    double want = 1.0 / std::sqrt(double(t->ne[0]));
    CHECK(std::fabs(mean) < 0.05 * want);
    CHECK(sd == doctest::Approx(want).epsilon(0.08));
  }
  const gguf::TensorInfo* norm = f->find_tensor("blk.2.ffn_norm.weight");
  REQUIRE(norm);
  CHECK(norm->type == 0u);
  CHECK(reinterpret_cast<const float*>(norm->data)[17] == 1.0f);

  // Latte's own loader accepts it.
  Hparams hp = read_hparams(*f);
  CHECK(hp.n_layer == 3);
  CHECK(hp.q_lora_rank == 96);
  CHECK(hp.n_group == 4);
  CHECK(hp.gating == GatingFunc::Sigmoid);
  CHECK(hp.flavour == MlaFlavour::KvB);
  ModelWeights w(*f, hp);
  CHECK(w.layers.size() == 3);
  std::remove(path.c_str());
}

TEST_CASE("synth: deterministic, thread-count independent, exact mode, vocabulary padding") {
  const std::string dir = test::scratch_dir("synth");
  synth::Config c = synth::preset("tiny");
  c.n_layer = 2;
  c.n_vocab = 129280 + 100;  // padded with unused entries
  const std::string a = dir + "/a.gguf", b = dir + "/b.gguf", e = dir + "/e.gguf";
  synth::write_model(c, opts("q4_0", 1, false), a);
  synth::write_model(c, opts("q4_0", 2, false), b);
  CHECK(test::read_bytes(a) == test::read_bytes(b));
  synth::Result re = synth::write_model(c, opts("q6_k", 2, true), e);
  CHECK(re.n_tensors == synth::tensor_specs(c).size());
  auto f = gguf::File::open(a);
  auto toks = f->get_string_array("tokenizer.ggml.tokens");
  auto types = f->get_int_array("tokenizer.ggml.token_type");
  REQUIRE(toks.size() == 129380);
  REQUIRE(types.size() == 129380);
  CHECK(toks.back() == "[PAD129379]");
  CHECK(types.back() == 5);
  CHECK(f->find_tensor("token_embd.weight")->ne[1] == 129380);
  auto fe = gguf::File::open(e);
  CHECK(fe->find_tensor("blk.1.ffn_gate_exps.weight")->type == uint32_t(DType::Q6_K));
  CHECK(fe->find_tensor("blk.1.ffn_down_exps.weight")->type == uint32_t(DType::Q8_0));  // rows of 160
  // Vocabulary smaller than the tokenizer is refused.
  c.n_vocab = 1000;
  CHECK_THROWS_AS(synth::write_model(c, opts("q4_0", 1, false), dir + "/bad.gguf"), ArgumentError);
  std::remove(a.c_str());
  std::remove(b.c_str());
  std::remove(e.c_str());
}

TEST_CASE("synth: deepseek4 presets have V4-Flash's shapes, layer kinds and size") {
  synth::Config f = synth::preset("v4-flash");
  REQUIRE(f.v4);
  const tools::V4FileKeys& k = f.v4keys;
  CHECK(k.n_layer == 43);
  int window = 0, csa = 0, hca = 0;
  for (int64_t r : k.ratio) window += r == 0, csa += r == 4, hca += r == 128;
  CHECK(window == 2);  // DEEPSEEK_V4.md §2: 2 window, 21 CSA, 20 HCA
  CHECK(csa == 21);
  CHECK(hca == 20);
  CHECK(k.n_hash == 3);
  const double np = double(synth::param_count(f));
  MESSAGE("v4-flash: " << np / 1e9 << " B parameters");
  CHECK(np > 283e9);  // §13: 284 B total
  CHECK(np < 285e9);
  synth::Config s = synth::preset("v4-flash-slice");
  CHECK(s.v4keys.ratio == std::vector<int64_t>{0, 0, 4, 128});
  CHECK(s.v4keys.n_hash == 3);
  std::map<std::string, std::vector<int64_t>> want = {
      {"blk.2.attn_compressor_kv.weight", {4096, 1024}},  {"blk.3.attn_compressor_kv.weight", {4096, 512}},
      {"blk.2.attn_compressor_ape.weight", {1024, 4}},    {"blk.3.attn_compressor_ape.weight", {512, 128}},
      {"blk.2.indexer.attn_q_b.weight", {1024, 8192}},    {"blk.2.indexer_compressor_ape.weight", {256, 4}},
      {"blk.0.attn_output_a.weight", {4096, 8192}},       {"blk.0.attn_q_b.weight", {1024, 32768}},
      {"blk.0.hc_attn_fn.weight", {16384, 24}},           {"output_hc_fn.weight", {16384, 4}},
      {"blk.0.ffn_gate_tid2eid.weight", {6, 129280}},     {"blk.3.exp_probs_b.bias", {256}},
      {"blk.1.ffn_down_exps.weight", {2048, 4096, 256}},  {"blk.3.ffn_gate_shexp.weight", {4096, 2048}}};
  size_t seen = 0;
  for (const auto& t : synth::tensor_specs(s)) {
    auto it = want.find(t.name);
    if (it == want.end()) continue;
    CHECK_MESSAGE(t.ne == it->second, t.name);
    ++seen;
  }
  CHECK(seen == want.size());
  CHECK(synth::tensor_specs(s).size() == 6 + 2 * 24 + 34 + 28);  // globals 6; window 24, CSA 34, HCA 28 per layer
  synth::set_experts(s, 32);
  CHECK(s.v4keys.n_expert == 32);
  CHECK_THROWS_AS(synth::set_experts(s, 5), ArgumentError);
}

TEST_CASE("synth: a small deepseek4 file (native MXFP4 experts) has ik's keys and types and runs in Latte") {
  synth::Config c = synth::preset("v4-flash-slice");
  tools::V4FileKeys& k = c.v4keys;  // V4-Flash's structure at tiny widths
  k.n_embd = 256, k.n_head = 4, k.head_dim = 64, k.n_rot = 16, k.q_lora = 64, k.o_groups = 2, k.o_lora = 64;
  k.n_ff_exp = 64, k.idx_heads = 4, k.idx_dim = 32, k.idx_topk = 8, k.window = 32;
  synth::set_experts(c, 16);
  synth::Options o = opts("q8_0", 2, false);
  o.experts_type = DType::MXFP4;
  const std::string path = test::scratch_dir("synth") + "/v4-small.gguf";
  synth::write_model(c, o, path);
  auto f = gguf::File::open(path);
  CHECK(f->get_string("general.architecture") == "deepseek4");
  CHECK(f->get_uint("general.file_type") == 38u);
  CHECK(f->get_int_array("deepseek4.attention.compress_ratios") == std::vector<int64_t>{0, 0, 4, 128});
  CHECK(f->get_uint("deepseek4.hash_layer_count") == 3u);
  CHECK(f->get_uint("deepseek4.hyper_connection.sinkhorn_iterations") == 20u);
  CHECK(f->get_bool("deepseek4.expert_weights_norm") == true);
  for (const auto& t : f->tensors()) {
    CAPTURE(t.name);
    const std::string type = type_id_name(t.type);
    if (t.name.find("_exps.") != std::string::npos) CHECK(type == "MXFP4");
    else if (t.name.find("tid2eid") != std::string::npos) CHECK(type == "I32");
    else if (t.name.find("compressor_kv") != std::string::npos || t.name.find("hc_") != std::string::npos ||
             t.name.find("_ape.") != std::string::npos || t.n_dims == 1)
      CHECK(type == "F32");
    else if (t.name == "output.weight") CHECK(type == "Q8_0");
  }
  // tid2eid rows: distinct expert ids in range.
  const gguf::TensorInfo* ids = f->find_tensor("blk.1.ffn_gate_tid2eid.weight");
  REQUIRE(ids);
  int bad = 0;
  for (int64_t r = 0; r < ids->ne[1]; ++r) {
    int32_t e[6];
    std::memcpy(e, ids->data + r * 24, 24);
    for (int i = 0; i < 6; ++i) {
      bad += e[i] < 0 || e[i] >= 16;
      for (int j = 0; j < i; ++j) bad += e[i] == e[j];
    }
  }
  CHECK(bad == 0);
  // Latte loads it and gives finite logits.
  ModelParams mp;
  mp.path = path;
  auto m = Model::load(mp);
  REQUIRE(m->arch() == Arch::Deepseek4);
  SessionParams sp;
  sp.n_ctx = 256;
  sp.n_threads = 2;
  Session s(m, sp);
  std::vector<int32_t> toks;
  for (int i = 0; i < 40; ++i) toks.push_back(1000 + 37 * i);
  s.eval(toks);
  int finite = 0;
  for (float x : s.logits()) finite += std::isfinite(x) ? 1 : 0;
  CHECK(finite == 129280);
}
