// Shared helpers for the benchmarks: timing, data, the SHA-1 ceiling, and
// starting a vtd process.
#pragma once

#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <cstdint>
#include <string>
#include <vector>

#include <deque>
#include <future>

#include "vt/client.h"
#include "vt/heap.h"
#include "vt/score.h"
#include "vt/types.h"

namespace vt::bench {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Incompressible, reproducible bytes.
inline void fill_random(std::span<std::uint8_t> out, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i + 8 <= out.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
}

// One core's SHA-1 rate over `block`-sized pieces, in MB/s.
inline double sha1_rate(std::size_t block = 8192, std::size_t total = std::size_t{512} << 20) {
  std::vector<std::uint8_t> buf(block);
  fill_random(buf, 42);
  auto t0 = std::chrono::steady_clock::now();
  std::uint8_t sink = 0;
  for (std::size_t done = 0; done < total; done += block) {
    buf[0]++;
    sink ^= Score::of(buf).bytes[0];
  }
  double s = seconds_since(t0);
  if (sink == 42) fmt::print("");  // keeps the loop from being optimised away
  return total / s / 1e6;
}

constexpr std::size_t kBlock = 8192;

// Raw pipelined block writes (new or duplicate) and a sync, in MB/s.
inline double write_blocks(Client& c, const std::vector<Bytes>& blocks, const std::vector<Score>& scores) {
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < blocks.size(); i++) c.put_async(kWireData, blocks[i], scores[i]);
  c.sync();
  return blocks.size() * kBlock / seconds_since(t0) / 1e6;
}

// Raw pipelined block reads in MB/s: batches of 256 (get_many, as the
// cache reads), two batches in flight so the connection never runs dry.
inline double read_blocks(Client& c, const std::vector<Score>& scores) {
  constexpr std::size_t kBatch = 256;
  auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  auto batch = [&](std::size_t from) {
    std::vector<BlockKey> keys;
    for (std::size_t i = from; i < std::min(from + kBatch, scores.size()); i++) keys.push_back({scores[i], kWireData});
    std::size_t n = 0;
    for (const auto& b : c.get_many(keys)) n += b.size();
    return n;
  };
  std::future<std::size_t> ahead = std::async(std::launch::async, batch, 0);
  for (std::size_t from = kBatch; from < scores.size(); from += kBatch) {
    auto next = std::async(std::launch::async, batch, from);
    bytes += ahead.get();
    ahead = std::move(next);
  }
  bytes += ahead.get();
  if (bytes != scores.size() * kBlock) throw std::runtime_error("short read");
  return bytes / seconds_since(t0) / 1e6;
}

// A vtd child process on a free port.
class VtdProcess {
 public:
  VtdProcess(const std::string& vtd, const std::string& store) {
    int out[2];
    if (::pipe(out) < 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 2);
      ::execl(vtd.c_str(), vtd.c_str(), "-a", "127.0.0.1:0", store.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') address_.push_back(c);
    ::close(out[0]);
    if (address_.empty()) throw std::runtime_error("vtd did not start: " + vtd);
  }
  ~VtdProcess() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  const std::string& address() const { return address_; }

 private:
  pid_t pid_;
  std::string address_;
};

}  // namespace vt::bench
