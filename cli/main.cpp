// latte: entry point. Builds the sub-commands from the registry (cli/command.h), runs one, and turns any
// exception into one line on stderr plus a non-zero exit code.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "cli/command.h"
#include "formats/error.h"

namespace latte::cli {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

void add_model_options(CLI::App& sub, CommonModelOptions& o, bool model_required) {
  auto* m = sub.add_option("-m,--model", o.model, "GGUF model file");
  if (model_required) m->required();
  add_threads_option(sub, o.threads, "threads (default: physical cores)");
}

int max_threads() { return 4 * std::max(1, int(std::thread::hardware_concurrency())); }

CLI::Option* add_threads_option(CLI::App& sub, int& threads, const std::string& help) {
  // A transform, not a plain check: a count beyond max_threads() is replaced by the cap (with a warning), since
  // more OpenMP threads than that only time-slice the same cores (-t 1000 on 2 cores ran 22 s for 6 tokens).
  return sub.add_option("-t,--threads", threads, help)
      ->transform(CLI::Validator(
          [](std::string& v) -> std::string {
            char* end = nullptr;
            errno = 0;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || errno == ERANGE || n < 0 || n > INT_MAX)
              return "'" + v + "' is not a thread count (a whole number >= 0; 0 = physical cores)";
            if (n > max_threads()) {
              std::fprintf(stderr,
                           "latte: warning: -t %ld is more than 4 threads per logical CPU (%u here); using %d\n", n,
                           std::thread::hardware_concurrency(), max_threads());
              v = std::to_string(max_threads());
            }
            return {};
          },
          "INT", "thread count"));
}

}  // namespace latte::cli

int main(int argc, char** argv) {
  using namespace latte::cli;
  apply_default_wait_policy(argv);
  CLI::App app{"latte — DeepSeek-architecture (deepseek2) GGUF inference on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "latte 0.1.0");
  // Flag errors are one line too, like every other error (subcommands inherit this).
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("latte: error: ") + e.what() + " (run with --help for usage)\n";
  });
  auto cmds = registry();
  std::stable_sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
  std::function<int()> to_run;
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    auto run = c.setup(*sub);
    sub->callback([&to_run, run] { to_run = run; });
  }
  // An unknown first word is named (CLI11 alone says "A subcommand is required" for `latte runn`).
  if (argc > 1 && argv[1][0] != '-' &&
      std::none_of(cmds.begin(), cmds.end(), [&](const Command& c) { return c.name == argv[1]; })) {
    std::string names;
    for (const auto& c : cmds) names += (names.empty() ? "" : ", ") + c.name;
    std::fprintf(stderr, "latte: error: unknown command '%s' (commands: %s; run with --help for usage)\n", argv[1],
                 names.c_str());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every flag error exits 1 like all other errors (CLI11's own codes are 100+).
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    return to_run ? to_run() : 0;
  } catch (const latte::Error& e) {
    std::fprintf(stderr, "latte: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "latte: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latte: error: %s\n", e.what());
    return 1;
  }
}
