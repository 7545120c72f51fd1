// The OpenMP wait policy of the `latte` binary. libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, in its own
// constructor, before main() runs; so the default is set from the executable's .preinit_array, which the dynamic
// loader runs before any shared library's constructor. Without either variable in the environment libgomp lets an
// idle worker spin 300,000 times (~0.1-1 ms) before it sleeps, and on a shared machine those spinning workers take
// the cores other processes (and our own other workers) need. The default here is a bounded spin
// (kDefaultSpinCount): workers still catch the next parallel region of a decode step without a futex wake-up, but
// stop burning a core soon after. A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins. liblatte itself sets
// nothing: a program embedding it keeps its own environment. Measurements: README "Threads and wait policy".
#include <cstdlib>
#include <string>

#include "cli/command.h"

namespace latte::cli {
namespace {

constexpr const char* kDefaultSpinCount = "10000";
bool g_default_applied = false;

void apply_default_wait_policy(int, char**, char**) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  g_default_applied = ::setenv("GOMP_SPINCOUNT", kDefaultSpinCount, 0) == 0;
}

}  // namespace

std::string wait_policy_description() {
  if (g_default_applied) return std::string("GOMP_SPINCOUNT=") + kDefaultSpinCount + " (latte's default)";
  std::string s;
  if (const char* p = std::getenv("OMP_WAIT_POLICY")) s += std::string("OMP_WAIT_POLICY=") + p;
  if (const char* c = std::getenv("GOMP_SPINCOUNT")) s += (s.empty() ? "" : " ") + std::string("GOMP_SPINCOUNT=") + c;
  return s + " (from the environment)";
}

}  // namespace latte::cli

// Runs before the shared libraries' constructors (ELF DT_PREINIT_ARRAY; executables only).
__attribute__((section(".preinit_array"), used)) static void (*latte_preinit_wait_policy)(int, char**, char**) =
    latte::cli::apply_default_wait_policy;
