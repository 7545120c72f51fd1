// Sub-command registry of the `latte` binary. Each cli/cmd_*.cpp defines one command and registers it
// with a file-scope `static const latte::cli::Registrar reg{...}`; main() builds the CLI11 app from the list.
// The CLI is thin: parse flags, call the library, print. Errors: throw latte::Error; main prints one line.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace latte::cli {

struct Command {
  std::string name;
  std::string help;
  // Declares the sub-command's options on `sub` and returns the function that runs it (exit code).
  std::function<std::function<int()>(CLI::App& sub)> setup;
  int order = 100;  // position in --help
};

std::vector<Command>& registry();

struct Registrar {
  explicit Registrar(Command c) { registry().push_back(std::move(c)); }
};

// Standard option helpers shared by commands, so each flag is declared once.
struct CommonModelOptions {
  std::string model;
  int threads = 0;  // 0 = physical cores
};
void add_model_options(CLI::App& sub, CommonModelOptions& o, bool model_required = true);
// "-t,--threads N": N >= 0 (0 = physical cores); above max_threads() it is capped there with a warning.
CLI::Option* add_threads_option(CLI::App& sub, int& threads, const std::string& help);
// Called first in main(): without OMP_WAIT_POLICY / GOMP_SPINCOUNT in the environment, sets latte's default and
// re-executes the program once so that libgomp starts with it (cli/wait_policy.cpp). Returns otherwise.
void apply_default_wait_policy(char** argv);
// The OpenMP wait policy in effect for this process, e.g. "OMP_WAIT_POLICY=passive (latte's default)".
std::string wait_policy_description();
int max_threads();  // 4 x the logical CPUs

}  // namespace latte::cli
