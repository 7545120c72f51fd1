// `latte bench`: prompt processing (ppN) and generation (tgN) speed, median and spread over -r repetitions after one
// warm-up, in a llama-bench-like markdown table (or JSON); plus the machine's streaming-read bandwidth measured in
// this process, the model's active weight bytes per token, generation's share of that roofline, and the latent
// cache's size. Token ids are a fixed pseudo-random sequence (speed does not depend on them).
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "bench/memory_bandwidth.h"
#include "cli/command.h"
#include "quant/kernels.h"
#include "cli/session_options.h"
#include "formats/gguf.h"
#include "quant/types.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"

namespace latte::cli {
namespace {

struct BenchOptions {
  SessionOptions session;
  int n_prompt = 512, n_gen = 128, reps = 5, depth = 0;
  bool json = false, no_probe = false;
  bool profile = false;  // --profile or LATTE_PROFILE=1: time per phase of the timed repetitions
};

struct Stats {
  std::string name;
  int n_tokens = 0;
  std::vector<double> tps;  // tokens/s per repetition
  profile::Report prof;     // phases of the timed repetitions (when profiling)
  double median = 0, min = 0, max = 0, mean = 0, stddev = 0;
  void finish() {
    std::vector<double> v = tps;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    if (n == 0) return;
    median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    min = v.front();
    max = v.back();
    for (double x : v) mean += x;
    mean /= double(n);
    double ss = 0;
    for (double x : v) ss += (x - mean) * (x - mean);
    stddev = n > 1 ? std::sqrt(ss / double(n - 1)) : 0.0;
  }
};

std::string human_bytes(double b) {
  char buf[64];
  if (b >= double(1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  else if (b >= double(1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

std::string human_count(double n) {
  char buf[64];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else if (n >= 1e3) std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

// Name of the type holding most weight bytes (the file's effective quantization), e.g. "Q4_K".
std::string dominant_type(const gguf::File& f) {
  std::vector<uint64_t> bytes(64, 0);
  for (const auto& t : f.tensors())
    if (t.type < bytes.size()) bytes[t.type] += t.nbytes;
  size_t best = size_t(std::max_element(bytes.begin(), bytes.end()) - bytes.begin());
  return type_id_name(uint32_t(best));
}

nlohmann::json profile_json(const profile::Report& r) {
  nlohmann::json j;
  j["threads"] = r.threads;
  j["wall_seconds"] = r.wall_s;
  for (int i = 0; i < profile::kPhases; ++i) {
    const profile::PhaseStats& p = r.phase[i];
    j["phases"].push_back({{"name", profile::phase_name(static_cast<profile::Phase>(i))},
                           {"seconds", p.wall_s},
                           {"region_seconds", p.region_s},
                           {"library_seconds", p.lib_s},
                           {"idle_thread_seconds", p.idle_thread_s},
                           {"regions", p.regions}});
  }
  j["thread_idle_seconds"] = r.thread_idle_s;
  j["products"] = nlohmann::json::array();
  for (const auto& g : r.gemm)
    j["products"].push_back({{"backend", g.backend}, {"weight_type", g.type}, {"calls", g.calls},
                             {"seconds", g.seconds}, {"gflop", g.flop * 1e-9}});
  return j;
}

// How loaded the machine is when the bench starts: the 1-minute load average against the CPUs this process may
// use. busy: the load is above the CPUs our threads leave free (+0.5 for noise), so other processes will take
// cores from the measured threads and the timings say more about the neighbours than about this machine.
struct MachineLoad {
  int cpus = 1;
  double load1 = 0.0;
  bool busy = false;
};
MachineLoad machine_load(int n_threads) {
  MachineLoad m;
  cpu_set_t set;
  CPU_ZERO(&set);
  m.cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? std::max(1, CPU_COUNT(&set))
                                                        : std::max(1, int(std::thread::hardware_concurrency()));
  double l[1] = {0.0};
  if (getloadavg(l, 1) == 1) m.load1 = l[0];
  m.busy = m.load1 > double(std::max(0, m.cpus - n_threads)) + 0.5;
  return m;
}

int bench(BenchOptions& o) {
  if (o.n_prompt < 0 || o.n_gen < 0) throw ArgumentError("-p and -n must be >= 0");
  if (o.n_prompt == 0 && o.n_gen == 0) throw ArgumentError("nothing to measure: -p and -n are both 0");
  if (o.reps < 1) throw ArgumentError("-r/--repetitions must be >= 1, got " + std::to_string(o.reps));
  if (o.depth < 0) throw ArgumentError("-d/--depth must be >= 0, got " + std::to_string(o.depth));
  using Clock = std::chrono::steady_clock;
  profile::enable(o.profile);

  auto t_load = Clock::now();
  auto model = Model::load(o.session.model_params());
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();

  SessionOptions so = o.session;
  so.n_ctx = o.depth + std::max(o.n_prompt, o.n_gen);
  SessionParams sp = so.session_params();
  check_memory_before_sessions(*model, sp);
  Session s(model, sp);
  if (s.n_ctx() < so.n_ctx)
    throw ArgumentError("depth + max(-p, -n) = " + std::to_string(so.n_ctx) + " exceeds the model's context (" +
                        std::to_string(s.n_ctx()) + ")");
  const int n_threads = sp.n_threads > 0 ? sp.n_threads : physical_cores();
  const MachineLoad load = machine_load(n_threads);
  if (load.busy)
    std::fprintf(stderr,
                 "latte: warning: the machine is busy: load average %.2f on %d CPUs leaves fewer free cores than the "
                 "%d threads measured; the timings below are not this machine's speed\n",
                 load.load1, load.cpus, n_threads);

  // Bandwidth first, while the session is idle (same thread count as the model).
  bench::BandwidthResult bw;
  if (!o.no_probe) bw = bench::measure_read_bandwidth(ThreadPool(n_threads), 0, 7);

  const int32_t n_vocab = model->tokenizer().n_vocab();
  std::mt19937 g(1234);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> depth_tokens(size_t(o.depth)), pp_tokens(size_t(o.n_prompt)), tg_tokens(size_t(o.n_gen));
  for (auto* v : {&depth_tokens, &pp_tokens, &tg_tokens})
    for (auto& t : *v) t = pick(g);
  if (!depth_tokens.empty()) depth_tokens[0] = model->tokenizer().bos();
  else if (!pp_tokens.empty()) pp_tokens[0] = model->tokenizer().bos();
  if (o.depth > 0) s.eval(depth_tokens);

  std::string suffix = o.depth > 0 ? " @ d" + std::to_string(o.depth) : "";
  std::vector<Stats> results;
  if (o.n_prompt > 0) {
    Stats st{"pp" + std::to_string(o.n_prompt) + suffix, o.n_prompt};
    for (int rep = 0; rep <= o.reps; ++rep) {  // rep 0: warm-up
      s.truncate(o.depth);
      if (rep == 1) profile::reset(n_threads);
      auto t0 = Clock::now();
      s.eval(pp_tokens);
      double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      if (rep > 0) st.tps.push_back(o.n_prompt / sec);
    }
    if (o.profile) st.prof = profile::snapshot();
    st.finish();
    results.push_back(st);
  }
  Stats* tg = nullptr;
  if (o.n_gen > 0) {
    Stats st{"tg" + std::to_string(o.n_gen) + suffix, o.n_gen};
    for (int rep = 0; rep <= o.reps; ++rep) {
      s.truncate(o.depth);
      if (rep == 1) profile::reset(n_threads);
      auto t0 = Clock::now();
      for (int i = 0; i < o.n_gen; ++i) s.eval(std::span<const int32_t>(&tg_tokens[size_t(i)], 1));
      double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      if (rep > 0) st.tps.push_back(o.n_gen / sec);
    }
    if (o.profile) st.prof = profile::snapshot();
    st.finish();
    results.push_back(st);
    tg = &results.back();
  }

  const gguf::File& f = model->file();
  uint64_t n_params = 0;
  for (const auto& t : f.tensors()) n_params += uint64_t(t.n_elements());
  const uint64_t weight_bytes = model->weight_bytes();
  const uint64_t active = model->active_bytes_per_token();
  const auto cs = s.stats();
  const double roofline_tps = bw.median_gbs > 0 && active > 0 ? bw.median_gbs * 1e9 / double(active) : 0.0;
  const double pct = tg && roofline_tps > 0 ? 100.0 * tg->median / roofline_tps : 0.0;
  const std::string model_desc = model->name() + " " + dominant_type(f);

  if (o.json) {
    nlohmann::json j;
    j["model"] = model->name();
    j["model_file"] = f.path();
    j["model_type"] = dominant_type(f);
    j["size_bytes"] = weight_bytes;
    j["n_params"] = n_params;
    j["threads"] = n_threads;
    j["isa"] = isa_name(model->kernels().isa);
    j["cache_type"] = cache_type_name(sp.cache_type);
    j["load_seconds"] = load_s;
    j["machine"] = {{"cpus", load.cpus}, {"load_average_1min", load.load1}, {"busy", load.busy},
                    {"wait_policy", wait_policy_description()}};
    for (const auto& r : results) {
      j["tests"].push_back({{"name", r.name}, {"n_tokens", r.n_tokens}, {"depth", o.depth}, {"reps", o.reps},
                            {"tps_median", r.median}, {"tps_min", r.min}, {"tps_max", r.max},
                            {"tps_mean", r.mean}, {"tps_stddev", r.stddev}, {"tps_samples", r.tps}});
      if (o.profile) j["tests"].back()["profile"] = profile_json(r.prof);
    }
    if (!o.no_probe)
      j["read_bandwidth"] = {{"gbs_median", bw.median_gbs}, {"gbs_min", bw.min_gbs}, {"gbs_max", bw.max_gbs},
                             {"buffer_bytes", bw.buffer_bytes}, {"llc_bytes", bw.llc_bytes},
                             {"threads", bw.threads}, {"reps", bw.reps}};
    j["active_bytes_per_token"] = active;
    j["roofline_tg_tps"] = roofline_tps;
    j["tg_percent_of_roofline"] = pct;
    j["cache"] = {{"type", cache_type_name(sp.cache_type)}, {"n_ctx", cs.n_ctx},
                  {"bytes_per_token", cs.cache_bytes_per_token}, {"bytes_total", cs.cache_bytes_total}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }

  std::printf("| model | size | params | threads | cache | test | t/s (median ± sd) | min – max |\n");
  std::printf("| ----- | ---: | -----: | ------: | ----- | ---- | ----------------: | --------: |\n");
  for (const auto& r : results)
    std::printf("| %s | %s | %s | %d | %s | %s | %.2f ± %.2f | %.2f – %.2f |\n", model_desc.c_str(),
                human_bytes(double(weight_bytes)).c_str(), human_count(double(n_params)).c_str(), n_threads,
                cache_type_name(sp.cache_type), r.name.c_str(), r.median, r.stddev, r.min, r.max);
  std::printf("\n");
  if (!o.no_probe)
    std::printf("read bandwidth: %.2f GB/s (median of %d passes, min %.2f, max %.2f; %s buffer, LLC %s, %d threads)\n",
                bw.median_gbs, bw.reps, bw.min_gbs, bw.max_gbs, human_bytes(double(bw.buffer_bytes)).c_str(),
                human_bytes(double(bw.llc_bytes)).c_str(), bw.threads);
  std::printf("active weights per token: %s (%llu bytes)", human_bytes(double(active)).c_str(),
              (unsigned long long)active);
  if (roofline_tps > 0) std::printf("; roofline %.2f t/s", roofline_tps);
  if (tg && roofline_tps > 0) std::printf("; %s = %.1f %% of roofline", tg->name.c_str(), pct);
  std::printf("\n");
  std::printf("latent cache (%s): %llu bytes/token, %s for %lld tokens\n", cache_type_name(sp.cache_type),
              (unsigned long long)cs.cache_bytes_per_token, human_bytes(double(cs.cache_bytes_total)).c_str(),
              (long long)cs.n_ctx);
  std::printf("kernels: %s; model load: %.3f s; repetitions: %d (+1 warm-up)\n", isa_name(model->kernels().isa),
              load_s, o.reps);
  std::printf("machine: %d CPUs, load average %.2f at the start%s; wait policy %s\n", load.cpus, load.load1,
              load.busy ? " (busy: fewer free cores than threads)" : "", wait_policy_description().c_str());
  if (o.profile)
    for (const auto& r : results)
      std::printf("\n%s", profile::format_markdown(r.prof, r.name + " (" + std::to_string(o.reps) + " timed reps)").c_str());
  return 0;
}

const Registrar reg{Command{
    "bench", "measure prompt-processing and generation speed against the memory-bandwidth roofline",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<BenchOptions>();
      o->session.add(sub, /*with_ctx=*/false);
      sub.add_option("-p,--n-prompt", o->n_prompt, "prompt tokens per pp test, 0 = skip " + default_note(o->n_prompt));
      sub.add_option("-n,--n-gen", o->n_gen, "generated tokens per tg test, 0 = skip " + default_note(o->n_gen));
      sub.add_option("-r,--repetitions", o->reps, "repetitions per test after one warm-up " + default_note(o->reps));
      sub.add_option("-d,--depth", o->depth, "tokens already in the cache before each test " + default_note(o->depth));
      sub.add_flag("--no-bandwidth", o->no_probe, "skip the memory-bandwidth probe");
      sub.add_flag("--json", o->json, "print JSON instead of the table");
      o->profile = profile::enabled();
      sub.add_flag("--profile", o->profile,
                   "time per phase (attention, router, conversions, experts, head, ...), thread idle time and the "
                   "backend of every product, over the timed repetitions (also LATTE_PROFILE=1)");
      return [o] { return bench(*o); };
    },
    40}};

}  // namespace
}  // namespace latte::cli
