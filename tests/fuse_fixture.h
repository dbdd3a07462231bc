// Test helper: the fixture of the FUSE suites. Each test gets a fresh
// scratch directory with a mount point and an embedded store beside it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mount.h"
#include "process.h"
#include "scratch.h"

namespace vt::test {

class Fuse : public testing::Test {
 protected:
  std::filesystem::path base;
  void SetUp() override {
    if (!fuse_available()) GTEST_SKIP() << "no usable /dev/fuse or fusermount3 on this machine";
    base = scratch_path("fuse");
    shell("fusermount3 -uz '" + (base / "mnt").string() + "' 2>/dev/null");
    std::filesystem::remove_all(base);
    std::filesystem::create_directories(base);
  }
  void TearDown() override {
    if (!base.empty()) std::filesystem::remove_all(base);
  }
  std::vector<std::string> embedded(std::vector<std::string> more = {}) {
    std::vector<std::string> a = {"--store", (base / "store").string(), "--listen", "none"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::string mnt() const { return (base / "mnt").string(); }
  static void run(const std::string& cmd) {
    auto r = shell(cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.out;
  }
  static void same_trees(const std::string& a, const std::string& b) {
    auto r = shell("diff -r --no-dereference '" + a + "' '" + b + "'");
    EXPECT_EQ(r.status, 0) << r.out;
  }
};

}  // namespace vt::test
