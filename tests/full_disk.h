// Test helper: a disk that fills up, for this process.
#pragma once

#include <sys/resource.h>

#include <csignal>
#include <cstdint>

namespace vt::test {

// Every write past `bytes` into any file fails (EFBIG) while this lives or
// until lift(): a full disk for this process, no privileges needed.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uint64_t bytes) : handler_(std::signal(SIGXFSZ, SIG_IGN)) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit low = old_;
    low.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &low);
  }
  ~FileSizeLimit() { lift(); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  void lift() {
    if (lifted_) return;
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, handler_);
    lifted_ = true;
  }

 private:
  rlimit old_{};
  void (*handler_)(int);
  bool lifted_ = false;
};

}  // namespace vt::test
