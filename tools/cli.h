// Shared bits of the command-line tools: usage errors and error reporting.
#pragma once

#include <fmt/core.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>

#include "vt/error.h"

namespace vt::cli {

// Thrown for a bad command line; reported with the usage text, exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR.
inline void write_all(int fd, std::span<const std::uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write standard output");
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

// Runs `body`, reporting failures as "<prog>: <message>" on stderr.
template <typename F>
int run(const char* prog, const std::string& usage, F&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    if (*e.what()) fmt::print(stderr, "{}: {}\n", prog, e.what());
    fmt::print(stderr, "{}", usage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", prog, e.what());
    return 1;
  }
}

}  // namespace vt::cli
