// Structured-output overhead: the time spent on the grammar constraint (mask + advance) per generated token against
// the decode time per token, on one model, side by side in one run.
//   bench_constraint -m MODEL.gguf [--schema FILE] [-n TOKENS] [-r REPS] [-t THREADS]
// Default constraint: a forced tool call (DeepSeek-V3 markup) choosing among three realistic tools (weather,
// flight search with an array of passenger objects, notes), as the server builds it for tool_choice "required";
// --schema FILE: a response_format-style JSON Schema instead. Each rep runs an unconstrained generation and a
// constrained one of up to TOKENS tokens (temperature 1, seed = rep), then replays the constrained tokens through a
// fresh constraint to time each mask alone. Prints medians over reps (min..max), the ratio constraint / decode,
// and the per-mask distribution (p50 / p90 / max) over all replayed steps.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/session/constraint.h"
#include "runtime/session/generate.h"
#include "runtime/session/session.h"
#include "runtime/text/chat_format.h"
#include "runtime/text/json_schema.h"
#include "runtime/text/tokenizer.h"

using namespace latte;
using Clock = std::chrono::steady_clock;

namespace {

const char* kTools = R"([
 {"name": "get_weather", "description": "Weather forecast for a city", "parameters": {
   "type": "object", "properties": {
     "city": {"type": "string", "description": "City name"},
     "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
     "days": {"type": "integer", "description": "Forecast days"},
     "hourly": {"type": "boolean"}},
   "required": ["city", "days"], "additionalProperties": false}},
 {"name": "search_flights", "description": "Search flights between two airports", "parameters": {
   "type": "object", "properties": {
     "from": {"type": "string"}, "to": {"type": "string"},
     "passengers": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": ["integer", "null"]}}, "required": ["name"]}, "minItems": 1},
     "cabin": {"anyOf": [{"const": "economy"}, {"const": "business"}, {"type": "null"}]},
     "max_price": {"type": "number"}},
   "required": ["from", "to", "passengers"], "additionalProperties": false}},
 {"name": "save_note", "description": "Save a note", "parameters": {
   "type": "object", "properties": {"text": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
   "required": ["text"]}}
])";

double secs(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, schema_file;
  int n = 64, reps = 3, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "-m") model_path = argv[i + 1];
    else if (a == "--schema") schema_file = argv[i + 1];
    else if (a == "-n") n = std::atoi(argv[i + 1]);
    else if (a == "-r") reps = std::atoi(argv[i + 1]);
    else if (a == "-t") threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "bench_constraint: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (model_path.empty()) {
    std::fprintf(stderr, "usage: bench_constraint -m MODEL.gguf [--schema FILE] [-n TOKENS] [-r REPS] [-t THREADS]\n");
    return 2;
  }
  try {
    ModelParams mp;
    mp.path = model_path;
    auto model = Model::load(mp);
    const Tokenizer& tok = model->tokenizer();
    SessionParams sp;
    sp.n_ctx = 2048;
    sp.n_threads = threads;
    Session session(model, sp);

    auto t0 = Clock::now();
    auto vocab = std::make_shared<const VocabIndex>(tok, /*render_special=*/true);
    const double index_s = secs(t0);

    std::shared_ptr<const JsonGrammar> grammar;
    std::string prompt_text;
    const ChatFormat f = ChatFormat::DeepSeekV3;
    const std::string bos = tok.bos() >= 0 ? tok.token_bytes(tok.bos(), true) : "";
    const std::string eos = tok.eos() >= 0 ? tok.token_bytes(tok.eos(), true) : "";
    if (schema_file.empty()) {
      auto tools = nlohmann::ordered_json::parse(kTools);
      std::vector<ToolSchema> specs;
      std::vector<ToolSpec> listed;
      for (const auto& t : tools) {
        specs.push_back({t["name"], t["parameters"]});
        listed.push_back({t["name"], t["description"], t["parameters"].dump()});
      }
      t0 = Clock::now();
      grammar = std::make_shared<const JsonGrammar>(tool_call_grammar(f, specs, ""));
      prompt_text = render_chat(f, {{"user", "Find me a flight from Paris to Rome for two."}}, true, bos, eos, listed) +
                    tool_call_prefix(f, "", false);
    } else {
      FILE* fp = std::fopen(schema_file.c_str(), "rb");
      if (!fp) throw IoError("cannot open " + schema_file);
      std::string text;
      char buf[4096];
      size_t k;
      while ((k = std::fread(buf, 1, sizeof buf, fp)) > 0) text.append(buf, k);
      std::fclose(fp);
      t0 = Clock::now();
      grammar = std::make_shared<const JsonGrammar>(compile_json_schema_text(text));
      prompt_text = render_chat(f, {{"user", "Reply with the JSON document."}}, true, bos, eos);
    }
    const double compile_s = secs(t0);
    const std::vector<int32_t> prompt = tok.encode(prompt_text, false, true);

    std::printf("bench_constraint: %s, vocabulary %d tokens, %d threads (0 = physical cores), %s\n", model_path.c_str(), tok.n_vocab(),
                threads, schema_file.empty() ? "forced tool call among 3 tools" : schema_file.c_str());
    std::printf("vocabulary index build %.1f ms (once per model), grammar compile %.3f ms, %zu grammar nodes\n",
                index_s * 1e3, compile_s * 1e3, grammar->nodes.size());

    std::vector<double> dec_free, dec_con, con, ratio, masks;
    int n_valid = 0;
    for (int rep = 0; rep < reps; ++rep) {
      GenerateParams gp;
      gp.max_tokens = n;
      gp.sampler.temp = 1.0f;
      gp.sampler.seed = uint64_t(rep + 1);
      gp.render_special = true;
      GenerateResult a = generate(session, prompt, gp);
      TokenConstraint c(grammar, vocab);
      gp.constraint = &c;
      GenerateResult b = generate(session, prompt, gp);
      if (a.tokens.empty() || b.tokens.empty()) continue;
      const double da = a.gen_seconds / double(a.tokens.size());
      const double db = (b.gen_seconds - b.constraint_seconds) / double(b.tokens.size());
      const double cb = b.constraint_seconds / double(b.tokens.size());
      dec_free.push_back(da * 1e3);
      dec_con.push_back(db * 1e3);
      con.push_back(cb * 1e3);
      ratio.push_back(100.0 * cb / da);
      n_valid += c.accepting();
      // Replay: each mask alone.
      TokenConstraint replay(grammar, vocab);
      for (int32_t id : b.tokens) {
        auto tm = Clock::now();
        replay.mask();
        masks.push_back(secs(tm) * 1e3);
        if (!replay.accept(id)) break;
      }
      std::printf("rep %d: free %3zu tokens %.2f ms/token | constrained %3zu tokens (%s) decode %.2f ms/token + "
                  "constraint %.3f ms/token = %.2f %%\n",
                  rep, a.tokens.size(), da * 1e3, b.tokens.size(), stop_reason_name(b.reason), db * 1e3, cb * 1e3,
                  100.0 * cb / da);
    }
    auto range = [](const std::vector<double>& v) {
      char s[64];
      std::snprintf(s, sizeof s, "(%.3f..%.3f)", v.empty() ? 0 : *std::min_element(v.begin(), v.end()),
                    v.empty() ? 0 : *std::max_element(v.begin(), v.end()));
      return std::string(s);
    };
    std::printf("decode ms/token, unconstrained: %.2f %s\n", median(dec_free), range(dec_free).c_str());
    std::printf("decode ms/token, constrained:   %.2f %s\n", median(dec_con), range(dec_con).c_str());
    std::printf("constraint ms/token:            %.3f %s\n", median(con), range(con).c_str());
    std::printf("constraint / decode:            %.2f %% %s\n", median(ratio), range(ratio).c_str());
    std::printf("single mask ms over %zu steps:  p50 %.3f  p90 %.3f  max %.3f\n", masks.size(), pct(masks, 0.5),
                pct(masks, 0.9), masks.empty() ? 0 : *std::max_element(masks.begin(), masks.end()));
    std::printf("complete documents: %d of %d\n", n_valid, reps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_constraint: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
