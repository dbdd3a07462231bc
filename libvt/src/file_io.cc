#include "file_io.h"

#include <unistd.h>

#include <cerrno>

#include "vt/error.h"

namespace vt::detail {

void pwrite_all(int fd, std::span<const std::uint8_t> data, std::uint64_t off, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + what);
    }
    data = data.subspan(static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
}

bool pread_all(int fd, std::span<std::uint8_t> data, std::uint64_t off, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + what);
    }
    if (n == 0) return false;
    data = data.subspan(static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace vt::detail
