// `latte bench`: prompt processing (ppN) and generation (tgN) speed, median and spread over -r repetitions after one
// warm-up, in a llama-bench-like markdown table (or JSON); plus the machine's streaming-read bandwidth measured in
// this process, the model's active weight bytes per token, generation's share of that roofline, and the latent
// cache's size. Token ids are a fixed pseudo-random sequence (speed does not depend on them).
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
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
#include "runtime/compute/op_profile.h"
#include "runtime/compute/profile.h"
#include "runtime/compute/threads.h"
#include "runtime/model/expert_cache.h"

namespace latte::cli {
namespace {

struct BenchOptions {
  SessionOptions session;
  std::string threads;  // "-t 1,2,4": one run per count (empty = the default count)
  std::string svg;      // --svg FILE: t/s and % of roofline against threads
  int n_prompt = 512, n_gen = 128, reps = 5, depth = 0;
  bool json = false, no_probe = false;
  bool profile = false;         // --profile or LATTE_PROFILE=1: time per phase of the timed repetitions
  bool profile_decode = false;  // --profile-decode: one more tg pass timing every weight product
};

struct Stats {
  std::string name;
  int n_tokens = 0;
  std::vector<double> tps;  // tokens/s per repetition
  profile::Report prof;     // phases of the timed repetitions (when profiling)
  // tokens per second of CPU time per thread: n_tokens × threads / process CPU seconds of the repetition (the
  // speed while scheduled; on a machine shared with other jobs wall t/s mostly measures the contention). Includes
  // OpenMP spin-waiting, so with several threads it is a lower bound of the scheduled speed.
  std::vector<double> cpu_tps;
  double cpu_median = 0;
  ExpertCacheStats ec;  // expert cache over the timed repetitions (--mem, model larger than its budget)
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
    std::vector<double> c = cpu_tps;
    std::sort(c.begin(), c.end());
    if (!c.empty()) cpu_median = c.size() % 2 ? c[c.size() / 2] : 0.5 * (c[c.size() / 2 - 1] + c[c.size() / 2]);
  }
};

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

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

// One thread count's measurements.
struct ThreadRun {
  int threads = 0;
  OpProfile prof;          // --profile: one extra tg pass with per-product timing
  double prof_seconds = 0; // wall time of that pass
  double prof_cpu_seconds = 0;  // CPU time of the calling thread in that pass
  int prof_tokens = 0;
  std::vector<Stats> results;
  int tg_index = -1;  // index of the tg test in results (-1: none)
  bench::BandwidthResult bw;
  double roofline_tps = 0, pct = 0;
};

// "1,2,4,8" -> {1, 2, 4, 8}; "" -> {0} (the default count). ArgumentError for a non-positive or non-numeric item.
std::vector<int> parse_thread_list(const std::string& s) {
  if (s.empty()) return {0};
  std::vector<int> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    const std::string item = s.substr(p, q - p);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > 4096)
      throw ArgumentError("-t/--threads: expected a thread count or a comma list of counts (e.g. 1,2,4), got '" + s +
                          "'");
    out.push_back(int(v));
    p = q + 1;
  }
  return out;
}

// A small self-contained SVG: tg t/s (left axis, solid) and % of roofline (right axis, dashed) against threads.
std::string sweep_svg(const std::string& title, const std::vector<ThreadRun>& runs) {
  const double W = 640, H = 400, L = 64, R = 64, T = 48, B = 56;
  const double pw = W - L - R, ph = H - T - B;
  double tmax = 0;
  int xmax = 1;
  for (const auto& r : runs) {
    if (r.tg_index >= 0) tmax = std::max(tmax, r.results[size_t(r.tg_index)].max);
    xmax = std::max(xmax, r.threads);
  }
  if (tmax <= 0) tmax = 1;
  // A round upper bound for the t/s axis.
  const double mag = std::pow(10.0, std::floor(std::log10(tmax)));
  double top = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= tmax * 1.05) { top = m * mag; break; }
  const bool log_x = xmax >= 8;  // thread counts 1,2,4,8,16 read best on a log2 axis
  auto X = [&](double t) {
    if (log_x) return L + pw * (std::log2(std::max(1.0, t)) / std::log2(double(xmax)));
    return L + pw * (xmax > 1 ? (t - 1) / double(xmax - 1) : 0.5);
  };
  auto Y = [&](double v) { return T + ph * (1.0 - v / top); };
  auto Yp = [&](double pct) { return T + ph * (1.0 - pct / 100.0); };
  std::string o;
  char buf[512];
  auto add = [&](const char* fmt, auto... a) {
    std::snprintf(buf, sizeof buf, fmt, a...);
    o += buf;
  };
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
  add("<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
  std::string t = title;
  for (auto& c : t)
    if (c == '<' || c == '>' || c == '&' || c == '"') c = ' ';
  add("<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n", W / 2, t.c_str());
  for (int i = 0; i <= 5; ++i) {  // horizontal grid: t/s left, % right
    const double v = top * i / 5, y = Y(v);
    add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, L + pw, y);
    add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, y + 4, v);
    add("<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0392b\">%d %%</text>\n", L + pw + 6, Yp(20.0 * i) + 4, 20 * i);
  }
  for (const auto& r : runs)
    add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", X(r.threads), T + ph + 18, r.threads);
  add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">threads</text>\n", L + pw / 2, H - 14);
  add("<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\" fill=\"#1f4e9c\">tg tokens/s "
      "(median, bars: min-max)</text>\n", T + ph / 2);
  add("<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\" fill=\"#c0392b\">%% of "
      "roofline</text>\n", W - 14, T + ph / 2);
  add("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", L, T, pw, ph);
  std::string line_t, line_p;
  for (const auto& r : runs) {
    if (r.tg_index < 0) continue;
    const Stats& s = r.results[size_t(r.tg_index)];
    const double x = X(r.threads);
    std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x, Y(s.median));
    line_t += buf;
    add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f4e9c\"/>\n", x, Y(s.min), x, Y(s.max));
    add("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#1f4e9c\"/>\n", x, Y(s.median));
    add("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#1f4e9c\">%.1f</text>\n", x, Y(s.median) - 8,
        s.median);
    if (r.roofline_tps > 0) {
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x, Yp(std::min(100.0, r.pct)));
      line_p += buf;
      add("<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" fill=\"#c0392b\"/>\n", x - 3,
          Yp(std::min(100.0, r.pct)) - 3);
    }
  }
  if (!line_t.empty())
    add("<polyline points=\"%s\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"2\"/>\n", line_t.c_str());
  if (!line_p.empty())
    o += "<polyline points=\"" + line_p + "\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" "
         "stroke-dasharray=\"6 4\"/>\n";
  o += "</svg>\n";
  return o;
}

// --profile table: per tensor role, bytes and wall time per token, effective GB/s, share of the token's time, and
// the calling thread's CPU time (with one thread: the work itself, whatever else runs on the machine).
void print_profile(const ThreadRun& r) {
  const double tok = double(r.prof_tokens), total = r.prof_seconds / tok, cpu_total = r.prof_cpu_seconds / tok;
  std::vector<OpProfile::Entry> e = r.prof.entries;
  std::sort(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  std::printf("\nprofile, %d threads, tg%d pass of %.2f t/s (%.3f ms/token wall, %.3f ms/token CPU of the calling "
              "thread; per product call, its parallel region included):\n\n",
              r.threads, r.prof_tokens, tok / r.prof_seconds, 1e3 * total, 1e3 * cpu_total);
  std::printf("| product | type | calls/token | MB/token | ms/token | GB/s | %% of token | CPU ms/token | GB/s of CPU time |\n");
  std::printf("| ------- | ---- | ----------: | -------: | -------: | ---: | ---------: | ---: | ---: |\n");
  double sum_s = 0, sum_b = 0, sum_c = 0;
  for (const auto& x : e) {
    const double s = x.seconds / tok, b = double(x.bytes) / tok, c = x.cpu_seconds / tok;
    sum_s += s;
    sum_b += b;
    sum_c += c;
    std::printf("| %s | %s | %.1f | %.2f | %.3f | %.1f | %.1f | %.3f | %.1f |\n", x.role.c_str(), x.type.c_str(),
                double(x.calls) / tok, b / 1e6, 1e3 * s, s > 0 ? b / s / 1e9 : 0.0, 100.0 * s / total, 1e3 * c,
                c > 0 ? b / c / 1e9 : 0.0);
  }
  std::printf("| all products | | | %.2f | %.3f | %.1f | %.1f | %.3f | %.1f |\n", sum_b / 1e6, 1e3 * sum_s,
              sum_s > 0 ? sum_b / sum_s / 1e9 : 0.0, 100.0 * sum_s / total, 1e3 * sum_c,
              sum_c > 0 ? sum_b / sum_c / 1e9 : 0.0);
  std::printf("| outside products (norms, routing, attention scores, embedding) | | | | %.3f | | %.1f | %.3f | |\n",
              1e3 * (total - sum_s), 100.0 * (total - sum_s) / total, 1e3 * (cpu_total - sum_c));
  std::printf("| token | | | %.2f | %.3f | %.1f | 100.0 | %.3f | %.1f |\n", sum_b / 1e6, 1e3 * total,
              sum_b / total / 1e9, 1e3 * cpu_total, cpu_total > 0 ? sum_b / cpu_total / 1e9 : 0.0);
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
  const std::vector<int> thread_list = parse_thread_list(o.threads);
  if (!o.svg.empty() && o.n_gen == 0) throw ArgumentError("--svg draws generation speed: needs -n > 0");
  using Clock = std::chrono::steady_clock;
  profile::enable(o.profile);

  auto t_load = Clock::now();
  auto model = Model::load(o.session.model_params());
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  if (!model->repack_note().empty()) std::fprintf(stderr, "latte: %s\n", model->repack_note().c_str());

  // The bandwidth probe allocates a buffer of a few times the LLC: with an expert cache the budget is held by the
  // slots (faulted in at load), and that buffer would push the process over its limit.
  if (model->expert_cache() && !o.no_probe) {
    std::fprintf(stderr, "latte: bench: no bandwidth probe with an expert cache (its buffer is not in the budget)\n");
    o.no_probe = true;
  }
  SessionOptions so = o.session;
  so.n_ctx = o.depth + std::max(o.n_prompt, o.n_gen);
  SessionParams sp = so.session_params();
  check_memory_before_sessions(*model, sp);

  const int32_t n_vocab = model->tokenizer().n_vocab();
  std::mt19937 g(1234);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  // Fresh tokens for every repetition (the warm-up included): with an expert cache, replaying the warm-up's tokens
  // would replay its routing and overstate the hit rate; for resident weights the speed does not depend on them.
  const size_t passes = size_t(o.reps) + 1;
  std::vector<int32_t> depth_tokens(size_t(o.depth)), pp_tokens(size_t(o.n_prompt) * passes),
      tg_tokens(size_t(o.n_gen) * passes);
  for (auto* v : {&depth_tokens, &pp_tokens, &tg_tokens})
    for (auto& t : *v) t = pick(g);
  if (!depth_tokens.empty()) depth_tokens[0] = model->tokenizer().bos();
  else
    for (size_t r = 0; r < passes && o.n_prompt > 0; ++r) pp_tokens[r * size_t(o.n_prompt)] = model->tokenizer().bos();
  const uint64_t active = model->active_bytes_per_token();
  const std::string suffix = o.depth > 0 ? " @ d" + std::to_string(o.depth) : "";

  int max_threads = 0;
  for (const int t_req : thread_list) max_threads = std::max(max_threads, t_req > 0 ? t_req : default_threads());
  const MachineLoad load = machine_load(max_threads);
  if (load.busy)
    std::fprintf(stderr,
                 "latte: warning: the machine is busy: load average %.2f on %d CPUs leaves fewer free cores than the "
                 "%d threads measured; the timings below are not this machine's speed\n",
                 load.load1, load.cpus, max_threads);

  std::vector<ThreadRun> runs;
  for (const int t_req : thread_list) {
    ThreadRun run;
    sp.n_threads = t_req > 0 ? t_req : so.session_params().n_threads;
    Session s(model, sp);
    if (s.n_ctx() < so.n_ctx)
      throw ArgumentError("depth + max(-p, -n) = " + std::to_string(so.n_ctx) + " exceeds the model's context (" +
                          std::to_string(s.n_ctx()) + ")");
    run.threads = sp.n_threads > 0 ? sp.n_threads : default_threads();
    // Bandwidth first, while the session is idle (same thread count as the model).
    if (!o.no_probe) run.bw = bench::measure_read_bandwidth(ThreadPool(run.threads), 0, 7);
    if (o.depth > 0) s.eval(depth_tokens);
    if (o.n_prompt > 0) {
      Stats st{"pp" + std::to_string(o.n_prompt) + suffix, o.n_prompt};
      for (int rep = 0; rep <= o.reps; ++rep) {  // rep 0: warm-up
        s.truncate(o.depth);
        if (rep == 1) profile::reset(run.threads);
        if (rep == 1 && model->expert_cache()) st.ec = model->expert_cache()->stats();
        auto t0 = Clock::now();
        const double c0 = process_cpu_seconds();
        s.eval(std::span<const int32_t>(pp_tokens.data() + size_t(rep) * size_t(o.n_prompt), size_t(o.n_prompt)));
        double sec = std::chrono::duration<double>(Clock::now() - t0).count();
        const double csec = process_cpu_seconds() - c0;
        if (rep > 0) st.tps.push_back(o.n_prompt / sec);
        if (rep > 0 && csec > 0) st.cpu_tps.push_back(double(o.n_prompt) * run.threads / csec);
      }
      if (o.profile) st.prof = profile::snapshot();
      if (model->expert_cache()) st.ec = model->expert_cache()->stats() - st.ec;
      st.finish();
      run.results.push_back(st);
    }
    if (o.n_gen > 0) {
      Stats st{"tg" + std::to_string(o.n_gen) + suffix, o.n_gen};
      for (int rep = 0; rep <= o.reps; ++rep) {
        s.truncate(o.depth);
        if (rep == 1) profile::reset(run.threads);
        if (rep == 1 && model->expert_cache()) st.ec = model->expert_cache()->stats();
        auto t0 = Clock::now();
        const double c0 = process_cpu_seconds();
        for (int i = 0; i < o.n_gen; ++i)
          s.eval(std::span<const int32_t>(&tg_tokens[size_t(rep) * size_t(o.n_gen) + size_t(i)], 1));
        double sec = std::chrono::duration<double>(Clock::now() - t0).count();
        const double csec = process_cpu_seconds() - c0;
        if (rep > 0) st.tps.push_back(o.n_gen / sec);
        if (rep > 0 && csec > 0) st.cpu_tps.push_back(double(o.n_gen) * run.threads / csec);
      }
      if (o.profile) st.prof = profile::snapshot();
      if (model->expert_cache()) st.ec = model->expert_cache()->stats() - st.ec;
      st.finish();
      run.results.push_back(st);
      run.tg_index = int(run.results.size()) - 1;
      if (o.profile_decode) {  // one more pass with per-product timing (not part of the statistics above)
        s.truncate(o.depth);
        s.set_op_profile(&run.prof);
        auto t0 = Clock::now();
        const double c0 = OpProfile::cpu_now();
        for (int i = 0; i < o.n_gen; ++i) s.eval(std::span<const int32_t>(&tg_tokens[size_t(i)], 1));
        run.prof_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        run.prof_cpu_seconds = OpProfile::cpu_now() - c0;
        run.prof_tokens = o.n_gen;
        s.set_op_profile(nullptr);
      }
    }
    run.roofline_tps = run.bw.median_gbs > 0 && active > 0 ? run.bw.median_gbs * 1e9 / double(active) : 0.0;
    run.pct = run.tg_index >= 0 && run.roofline_tps > 0
                  ? 100.0 * run.results[size_t(run.tg_index)].median / run.roofline_tps
                  : 0.0;
    runs.push_back(std::move(run));
  }

  const gguf::File& f = model->file();
  uint64_t n_params = 0;
  for (const auto& t : f.tensors()) n_params += uint64_t(t.n_elements());
  const uint64_t weight_bytes = model->weight_bytes();
  sp.n_threads = runs.front().threads;
  const SessionStats cs = Session(model, sp).stats();
  const std::string model_desc = model->name() + " " + dominant_type(f);
  const std::string layout =
      std::string(model->repacked_bytes() == 0 ? "mmap" : model->repack_note().empty() ? "repacked" : "partly repacked") +
      (model->expert_cache() ? " + expert cache" : "");

  if (!o.svg.empty()) {
    std::FILE* fp = std::fopen(o.svg.c_str(), "wb");
    if (!fp) throw IoError("--svg: cannot write '" + o.svg + "'");
    const std::string svg = sweep_svg(model_desc + " (" + layout + ", " + isa_name(model->kernels().isa) +
                                          "): tg" + std::to_string(o.n_gen) + " vs threads",
                                      runs);
    const bool ok = std::fwrite(svg.data(), 1, svg.size(), fp) == svg.size();
    if (std::fclose(fp) != 0 || !ok) throw IoError("--svg: write error on '" + o.svg + "'");
  }

  auto run_json = [&](const ThreadRun& r, nlohmann::json& j) {
    j["threads"] = r.threads;
    for (const auto& x : r.results)
      j["tests"].push_back({{"name", x.name}, {"n_tokens", x.n_tokens}, {"depth", o.depth}, {"reps", o.reps},
                            {"tps_median", x.median}, {"tps_min", x.min}, {"tps_max", x.max},
                            {"tps_mean", x.mean}, {"tps_stddev", x.stddev}, {"tps_samples", x.tps},
                            {"cpu_tps_median", x.cpu_median}, {"cpu_tps_samples", x.cpu_tps}});
    if (o.profile)
      for (size_t i = 0; i < r.results.size(); ++i) j["tests"][i]["profile"] = profile_json(r.results[i].prof);
    if (const ExpertCache* ec = model->expert_cache())
      for (size_t i = 0; i < r.results.size(); ++i) {
        const ExpertCacheStats& c = r.results[i].ec;
        const double tok = c.tokens > 0 ? double(c.tokens) : 1.0;
        const double rate = c.read_seconds > 0 ? double(c.bytes_read) / c.read_seconds : 0.0;
        const double per_tok = double(c.bytes_read) / tok;
        j["tests"][i]["expert_cache"] = {{"policy", ec->policy_name()}, {"slots", ec->n_slots()},
                                         {"hits", c.hits}, {"misses", c.misses}, {"hit_rate", c.hit_rate()},
                                         {"tokens", c.tokens}, {"bytes_read", c.bytes_read},
                                         {"bytes_read_per_token", per_tok}, {"read_seconds", c.read_seconds},
                                         {"stall_seconds", c.stall_seconds}, {"disk_read_bytes_per_s", rate},
                                         {"disk_bound_tps", per_tok > 0 ? rate / per_tok : 0.0}};
      }
    if (!o.no_probe)
      j["read_bandwidth"] = {{"gbs_median", r.bw.median_gbs}, {"gbs_min", r.bw.min_gbs}, {"gbs_max", r.bw.max_gbs},
                             {"buffer_bytes", r.bw.buffer_bytes}, {"llc_bytes", r.bw.llc_bytes},
                             {"threads", r.bw.threads}, {"reps", r.bw.reps}};
    j["roofline_tg_tps"] = r.roofline_tps;
    j["tg_percent_of_roofline"] = r.pct;
    if (r.prof_tokens > 0) {
      j["profile"]["tokens"] = r.prof_tokens;
      j["profile"]["seconds"] = r.prof_seconds;
      j["profile"]["cpu_seconds"] = r.prof_cpu_seconds;
      for (const auto& e : r.prof.entries)
        j["profile"]["products"].push_back({{"role", e.role}, {"type", e.type}, {"calls", e.calls},
                                            {"bytes", e.bytes}, {"seconds", e.seconds},
                                            {"cpu_seconds", e.cpu_seconds}});
    }
  };

  if (o.json) {
    nlohmann::json j;
    j["model"] = model->name();
    j["model_file"] = f.path();
    j["model_type"] = dominant_type(f);
    j["size_bytes"] = weight_bytes;
    j["n_params"] = n_params;
    j["isa"] = isa_name(model->kernels().isa);
    j["weights"] = layout;
    j["repacked_bytes"] = model->repacked_bytes();
    if (const ExpertCache* ec = model->expert_cache())
      j["expert_cache"] = {{"slots", ec->n_slots()}, {"experts", ec->n_experts()}, {"slot_bytes", ec->slot_bytes()},
                           {"bytes", ec->bytes()}, {"policy", ec->policy_name()}, {"direct_io", ec->direct_io()},
                           {"note", model->memory_note()}};
    j["cache_type"] = cache_type_name(sp.cache_type);
    j["load_seconds"] = load_s;
    j["machine"] = {{"cpus", load.cpus}, {"load_average_1min", load.load1}, {"busy", load.busy},
                    {"wait_policy", wait_policy_description()}};
    j["active_bytes_per_token"] = active;
    j["cache"] = {{"type", cache_type_name(sp.cache_type)}, {"n_ctx", cs.n_ctx},
                  {"bytes_per_token", cs.cache_bytes_per_token}, {"bytes_total", cs.cache_bytes_total}};
    // One thread count: its fields at the top level (the format of earlier versions); a sweep: one entry each.
    if (runs.size() == 1) run_json(runs.front(), j);
    else
      for (const auto& r : runs) {
        nlohmann::json e;
        run_json(r, e);
        j["sweep"].push_back(e);
      }
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }

  const bool probe = !o.no_probe;
  std::printf("| model | size | params | weights | threads | cache | test | t/s (median ± sd) | min – max | t/s of CPU time |%s\n",
              probe ? " read GB/s | % roofline |" : "");
  std::printf("| ----- | ---: | -----: | ------- | ------: | ----- | ---- | ----------------: | --------: | ---: |%s\n",
              probe ? " --------: | ---------: |" : "");
  for (const auto& r : runs)
    for (size_t i = 0; i < r.results.size(); ++i) {
      const Stats& x = r.results[i];
      std::printf("| %s | %s | %s | %s | %d | %s | %s | %.2f ± %.2f | %.2f – %.2f | %.2f |", model_desc.c_str(),
                  human_bytes(double(weight_bytes)).c_str(), human_count(double(n_params)).c_str(), layout.c_str(),
                  r.threads, cache_type_name(sp.cache_type), x.name.c_str(), x.median, x.stddev, x.min, x.max,
                  x.cpu_median);
      if (probe) {
        if (int(i) == r.tg_index && r.roofline_tps > 0) std::printf(" %.2f | %.1f |", r.bw.median_gbs, r.pct);
        else std::printf(" %.2f | |", r.bw.median_gbs);
      }
      std::printf("\n");
    }
  std::printf("\n");
  if (probe && runs.size() == 1)
    std::printf("read bandwidth: %.2f GB/s (median of %d passes, min %.2f, max %.2f; %s buffer, LLC %s, %d threads)\n",
                runs[0].bw.median_gbs, runs[0].bw.reps, runs[0].bw.min_gbs, runs[0].bw.max_gbs,
                human_bytes(double(runs[0].bw.buffer_bytes)).c_str(), human_bytes(double(runs[0].bw.llc_bytes)).c_str(),
                runs[0].bw.threads);
  else if (probe)
    std::printf("read bandwidth: in-process probe per thread count (median of 7 passes, %s buffer, LLC %s)\n",
                human_bytes(double(runs[0].bw.buffer_bytes)).c_str(), human_bytes(double(runs[0].bw.llc_bytes)).c_str());
  std::printf("active weights per token: %s (%llu bytes)", human_bytes(double(active)).c_str(),
              (unsigned long long)active);
  if (runs.size() == 1 && runs[0].roofline_tps > 0) {
    std::printf("; roofline %.2f t/s", runs[0].roofline_tps);
    if (runs[0].tg_index >= 0)
      std::printf("; %s = %.1f %% of roofline", runs[0].results[size_t(runs[0].tg_index)].name.c_str(), runs[0].pct);
  }
  std::printf("\n");
  std::printf("latent cache (%s): %llu bytes/token, %s for %lld tokens\n", cache_type_name(sp.cache_type),
              (unsigned long long)cs.cache_bytes_per_token, human_bytes(double(cs.cache_bytes_total)).c_str(),
              (long long)cs.n_ctx);
  std::printf("kernels: %s; weights: %s", isa_name(model->kernels().isa), layout.c_str());
  if (model->repacked_bytes() > 0) std::printf(" (%s in anonymous memory)", human_bytes(double(model->repacked_bytes())).c_str());
  std::printf("; model load: %.3f s; repetitions: %d (+1 warm-up)\n", load_s, o.reps);
  if (!o.svg.empty()) std::printf("plot: %s\n", o.svg.c_str());
  if (const ExpertCache* ec = model->expert_cache()) {
    std::printf("expert cache: %lld of %lld experts in %s (%s, %s reads)\n", (long long)ec->n_slots(),
                (long long)ec->n_experts(), human_bytes(double(ec->bytes())).c_str(), ec->policy_name(),
                ec->direct_io() ? "O_DIRECT" : "buffered");
    for (const auto& r : runs)
      for (const auto& x : r.results) {
        const ExpertCacheStats& c = x.ec;
        const double tok = c.tokens > 0 ? double(c.tokens) : 1.0;
        const double rate = c.read_seconds > 0 ? double(c.bytes_read) / c.read_seconds : 0.0;
        const double per_tok = double(c.bytes_read) / tok;
        std::printf("expert cache, %s (%d threads): hit rate %.1f %% (%llu hits, %llu misses), %s read from disk per "
                    "token, disk %.2f GB/s while reading (%.2f s reading, %.2f s stalled)",
                    x.name.c_str(), r.threads, 100.0 * c.hit_rate(), (unsigned long long)c.hits,
                    (unsigned long long)c.misses, human_bytes(per_tok).c_str(), rate * 1e-9, c.read_seconds,
                    c.stall_seconds);
        if (per_tok > 0 && rate > 0) std::printf("; disk bound %.2f t/s", rate / per_tok);
        std::printf("\n");
      }
  }
  std::printf("machine: %d CPUs, load average %.2f at the start%s; wait policy %s\n", load.cpus, load.load1,
              load.busy ? " (busy: fewer free cores than threads)" : "", wait_policy_description().c_str());
  if (o.profile)
    for (const auto& r : runs)
      for (const auto& x : r.results)
        std::printf("\n%s", profile::format_markdown(x.prof, x.name + ", " + std::to_string(r.threads) + " threads (" +
                                                                std::to_string(o.reps) + " timed reps)").c_str());
  for (const auto& r : runs) {
    if (r.prof_tokens <= 0) continue;
    print_profile(r);
  }
  return 0;
}

const Registrar reg{Command{
    "bench", "measure prompt-processing and generation speed against the memory-bandwidth roofline",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<BenchOptions>();
      o->session.add(sub, /*with_ctx=*/false);
      // bench takes a list of thread counts instead of the common single count.
      sub.remove_option(sub.get_option("--threads"));
      sub.add_option("-t,--threads", o->threads,
                     "threads, or a comma list of counts swept in one run, e.g. 1,2,4,8,16 (default: " +
                         std::to_string(default_threads()) + ", see --help of run)");
      sub.add_option("--svg", o->svg, "write a plot of tg t/s and % of roofline against threads to FILE (SVG)");
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
      sub.add_flag("--profile-decode", o->profile_decode,
                   "after the tg test, one more tg pass timing every weight product (per tensor role: bytes, wall and "
                   "CPU ms, GB/s per token)");
      return [o] { return bench(*o); };
    },
    40}};

}  // namespace
}  // namespace latte::cli
