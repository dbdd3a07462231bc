#include "chunk_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <new>

#include "vt/error.h"

namespace vt::tools {

namespace {
constexpr std::size_t kAlign = 4096;
}

void ChunkWriter::Free::operator()(std::uint8_t* p) const { std::free(p); }

ChunkWriter::ChunkWriter() {
  for (auto& b : buffers_) {
    b.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kAlign, kChunk)));
    if (!b) throw std::bad_alloc();
  }
  thread_ = std::thread([this] { run(); });
}

ChunkWriter::~ChunkWriter() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return job_ == nullptr; });
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ChunkWriter::start(int fd, std::string name) {
  fd_ = fd;
  name_ = std::move(name);
  flags_ = ::fcntl(fd, F_GETFL);
  // No O_DIRECT (tmpfs, some network file systems): the page cache it is.
  direct_ = flags_ >= 0 && ::fcntl(fd, F_SETFL, flags_ | O_DIRECT) == 0;
}

std::span<std::uint8_t> ChunkWriter::buffer() { return {buffers_[filling_].get(), kChunk}; }

void ChunkWriter::write(std::uint64_t offset, std::size_t n) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return job_ == nullptr; });  // the other buffer is free again
  job_ = buffers_[filling_].get();
  job_size_ = n;
  job_offset_ = offset;
  filling_ ^= 1;
  cv_.notify_all();
}

void ChunkWriter::finish() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return job_ == nullptr; });
  if (direct_) ::fcntl(fd_, F_SETFL, flags_);
  direct_ = false;
  if (auto e = std::exchange(failure_, nullptr)) std::rethrow_exception(e);
}

void ChunkWriter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || job_ != nullptr; });
    if (!job_) return;
    lock.unlock();
    try {
      if (!failure_) write_now(job_, job_size_, job_offset_);
    } catch (...) {
      failure_ = std::current_exception();
    }
    lock.lock();
    job_ = nullptr;
    cv_.notify_all();
  }
}

void ChunkWriter::use_page_cache() {
  if (::fcntl(fd_, F_SETFL, flags_) < 0) throw_errno("fcntl " + name_);
  direct_ = false;
}

void ChunkWriter::write_now(const std::uint8_t* data, std::size_t n, std::uint64_t offset) {
  // A short last chunk cannot go around the cache: O_DIRECT wants whole blocks.
  if (direct_ && n % kAlign != 0) use_page_cache();
  for (std::size_t done = 0; done < n;) {
    ssize_t w = ::pwrite(fd_, data + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && direct_) {  // the file system wants other alignment
      use_page_cache();
      continue;
    }
    if (w < 0) throw_errno("write " + name_);
    done += static_cast<std::size_t>(w);
  }
}

}  // namespace vt::tools
