// latte: entry point. Builds the sub-commands from the registry (cli/command.h), runs one, and turns any
// exception into one line on stderr plus a non-zero exit code.
#include <algorithm>
#include <cstdio>
#include <exception>

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
  sub.add_option("-t,--threads", o.threads, "threads (default: physical cores)")->check(CLI::NonNegativeNumber);
}

}  // namespace latte::cli

int main(int argc, char** argv) {
  using namespace latte::cli;
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
