// Streaming stop-string filter used by the decode loop (runtime/session/generate.h) and the server.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace latte {

// Streaming stop-string filter: holds back text that may be the start of a stop string, so that a stop string
// split across tokens is never emitted. Not thread-safe.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Appends `text`; returns the part that is now safe to emit. Once a stop string is seen, stopped() is true,
  // the returned text is what preceded it, and later pushes return "".
  std::string push(std::string_view text);
  std::string flush();  // the held-back tail, at the end of generation when no stop string completed
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace latte
