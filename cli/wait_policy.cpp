// The OpenMP wait policy of the `latte` binary. libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when it is
// loaded, before main() runs (and a setenv from the executable's .preinit_array is lost: libc resets environ after
// it). Without either variable libgomp lets an idle worker spin 300,000 times before it sleeps, and on a shared
// machine those spinning workers take the cores other processes, and our own other workers, need: on the 2-CPU dev
// VM at load ~25, tiny-dsv3 decode ran at 12-36 t/s with libgomp's default, 53-67 with a spin of 10,000,
// 685-1059 with 1,000 and 1027-3187 passive. So when the user has set neither, main() sets
// OMP_WAIT_POLICY=passive (idle workers sleep at once; a fork/join then costs a futex wake-up, a few µs, which is
// noise against a real model's milliseconds per token) and executes itself again, once, so that libgomp starts
// with it. A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins (OMP_WAIT_POLICY=active for dedicated cores).
// liblatte itself sets nothing: a program embedding it keeps its own environment. Numbers: README "Threads and the
// OpenMP wait policy".
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "cli/command.h"

namespace latte::cli {
namespace {

constexpr const char* kDefaultPolicy = "passive";
constexpr const char* kMarker = "LATTE_DEFAULT_WAIT_POLICY";  // set for the re-executed process only
bool g_default_applied = false;

}  // namespace

void apply_default_wait_policy(char** argv) {
  if (std::getenv(kMarker)) {  // the re-executed process: the default is in effect
    g_default_applied = true;
    ::unsetenv(kMarker);  // not inherited by anything we start
    return;
  }
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (::setenv("OMP_WAIT_POLICY", kDefaultPolicy, 1) != 0 || ::setenv(kMarker, "1", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed (no /proc?): run on with libgomp's own default
  ::unsetenv("OMP_WAIT_POLICY");
  ::unsetenv(kMarker);
}

std::string wait_policy_description() {
  if (g_default_applied) return std::string("OMP_WAIT_POLICY=") + kDefaultPolicy + " (latte's default)";
  std::string s;
  if (const char* p = std::getenv("OMP_WAIT_POLICY")) s += std::string("OMP_WAIT_POLICY=") + p;
  if (const char* c = std::getenv("GOMP_SPINCOUNT")) s += (s.empty() ? "" : " ") + std::string("GOMP_SPINCOUNT=") + c;
  return s.empty() ? "libgomp's default (GOMP_SPINCOUNT=300000)" : s + " (from the environment)";
}

}  // namespace latte::cli
