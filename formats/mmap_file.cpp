#include "formats/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "formats/error.h"

namespace latte {

namespace {
std::string errno_text() { return std::strerror(errno); }

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

std::unique_ptr<MappedFile> MappedFile::open(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw IoError(path + ": cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw IoError(path + ": cannot stat: " + errno_text());
  if (S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory");
  if (!S_ISREG(st.st_mode)) throw IoError(path + ": not a regular file");
  std::unique_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ == 0) return m;
  void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, f.fd, 0);
  if (p == MAP_FAILED) throw IoError(path + ": cannot mmap " + std::to_string(m->size_) + " bytes: " + errno_text());
  m->addr_ = p;
  return m;
}

MappedFile::~MappedFile() { unmap_region(addr_, size_); }

void* MappedFile::release() {
  void* p = addr_;
  addr_ = nullptr;
  size_ = 0;
  return p;
}

void unmap_region(void* addr, size_t size) {
  if (addr != nullptr && size != 0) ::munmap(addr, size);
}

}  // namespace latte
