// Writes a large file out in 1 MiB chunks on a thread of its own, around
// the page cache (O_DIRECT) where the file system allows: filling fresh
// page-cache pages cost vt unvac more CPU than the rest of its work (a
// GiB: 0.6-0.8 s of system time against 1.4-2.0 s), and with the write on
// another thread the next chunk is fetched meanwhile.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>

namespace vt::tools {

class ChunkWriter {
 public:
  static constexpr std::size_t kChunk = 1 << 20;

  ChunkWriter();
  ~ChunkWriter();  // waits for the last write
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Starts a file: `fd` is open for writing (not owned); `name` is for errors.
  void start(int fd, std::string name);
  // A buffer of kChunk bytes to fill, free once the write before the last
  // has finished.
  std::span<std::uint8_t> buffer();
  // Writes the first `n` bytes of buffer() at `offset` (a multiple of
  // kChunk); only the file's last chunk may be shorter.
  void write(std::uint64_t offset, std::size_t n);
  // Waits for every write of this file; throws the first failure.
  void finish();

 private:
  struct Free {
    void operator()(std::uint8_t* p) const;
  };
  void run();
  void write_now(const std::uint8_t* data, std::size_t n, std::uint64_t offset);
  void use_page_cache();  // drops O_DIRECT for the rest of the file

  std::unique_ptr<std::uint8_t, Free> buffers_[2];
  int filling_ = 0;  // the buffer buffer() hands out

  std::mutex mu_;
  std::condition_variable cv_;
  // The job: a buffer to write (guarded by mu_).
  const std::uint8_t* job_ = nullptr;
  std::size_t job_size_ = 0;
  std::uint64_t job_offset_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;
  int fd_ = -1;
  int flags_ = 0;  // fd's status flags before O_DIRECT
  bool direct_ = false;
  std::string name_;
  std::thread thread_;
};

}  // namespace vt::tools
