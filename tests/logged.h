// Test helper: the lines a component logs (a store's, a server's), kept
// for a test to count. Safe to log to from any thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace vt::test {

class Logged {
 public:
  // The function to give as the component's `log` option.
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mu_);
      lines_.push_back(line);
    };
  }
  // Lines containing `what`.
  std::size_t count(const std::string& what) {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; }));
  }
  std::string text() {  // for failure messages
    std::lock_guard lock(mu_);
    return testing::PrintToString(lines_);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace vt::test
