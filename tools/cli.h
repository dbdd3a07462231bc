// Shared bits of the command-line tools: usage errors and error reporting.
#pragma once

#include <fmt/core.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "vt/error.h"

namespace vt::cli {

// Thrown for a bad command line; reported with the usage text, exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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
