// Test helper: a path under the test temp directory named after the running
// test, unique per process. Parameterised tests are named "Test/0"; the '/'
// becomes '-' so the path is one directory, which TearDown removes whole.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace vt::test {

inline std::filesystem::path scratch_path(const std::string& prefix) {
  std::string name = testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(name.begin(), name.end(), '/', '-');
  return std::filesystem::path(testing::TempDir()) / (prefix + "-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace vt::test
