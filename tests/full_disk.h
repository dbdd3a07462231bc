// Test helpers: a disk that fills up, for this process or for a store.
#pragma once

#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <span>

#include "vt/error.h"
#include "vt/memstore.h"

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

// A memory store whose disk is full while `full` is set: puts fail as a
// full disk's would.
class FullStore : public MemStore {
 public:
  explicit FullStore(bool full_now) : full(full_now) {}
  std::atomic<bool> full;
  Score put(WireType t, std::span<const std::uint8_t> d) override {
    if (full) throw Error(Errc::Io, "No space left on device");
    return MemStore::put(t, d);
  }
};

}  // namespace vt::test
