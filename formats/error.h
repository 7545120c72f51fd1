// Latte's error hierarchy. Everything below the C API throws latte::Error (or a subclass);
// the C API maps the kind to a status code, the CLI prints what() on one line and exits non-zero.
// Messages name the file / tensor / key / byte offset involved. The library never calls exit().
#pragma once
#include <stdexcept>
#include <string>

namespace latte {

enum class ErrorKind {
  Format,       // malformed or truncated file, bad metadata, wrong shapes
  Unsupported,  // valid input we do not handle (tensor type id, architecture, chat template)
  Resource,     // out of memory, context full where shifting is disabled, I/O failure
  Argument,     // bad user argument (flag value, token id out of range, invalid UTF-8 where forbidden)
  Io,           // file missing / unreadable / unwritable
  Cancelled,    // the caller asked to stop
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

struct FormatError : Error {
  explicit FormatError(const std::string& m) : Error(ErrorKind::Format, m) {}
};
struct UnsupportedError : Error {
  explicit UnsupportedError(const std::string& m) : Error(ErrorKind::Unsupported, m) {}
};
struct ResourceError : Error {
  explicit ResourceError(const std::string& m) : Error(ErrorKind::Resource, m) {}
};
struct ArgumentError : Error {
  explicit ArgumentError(const std::string& m) : Error(ErrorKind::Argument, m) {}
};
struct IoError : Error {
  explicit IoError(const std::string& m) : Error(ErrorKind::Io, m) {}
};
struct CancelledError : Error {
  explicit CancelledError(const std::string& m = "cancelled") : Error(ErrorKind::Cancelled, m) {}
};

}  // namespace latte
