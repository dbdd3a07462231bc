#include "appender.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "file_io.h"
#include "vt/error.h"

namespace vt::detail {

Appender::Appender(std::size_t threshold, std::size_t max_record)
    : threshold_(threshold), capacity_((kAlign + threshold + max_record + kAlign - 1) / kAlign * kAlign) {
  buf_.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kAlign, capacity_)));
  if (!buf_) throw std::bad_alloc();
}

void Appender::start(const std::filesystem::path& path, int fd, std::uint64_t size) {
  name_ = path.filename().string();
  // No O_DIRECT (tmpfs, some network file systems): plain buffered writes.
  direct_ = Fd(::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  base_ = direct_ ? size / kAlign * kAlign : size;
  len_ = static_cast<std::size_t>(size - base_);
  // The partial block already in the file is written again with the next
  // records, so it must be held too.
  if (!pread_all(fd, {buf_.get(), len_}, base_, name_)) throw Error(Errc::Corrupt, name_ + " is shorter than its records");
  fd_ = fd;  // started only once the held block is read
}

void Appender::stop() {
  if (!started()) return;
  write_out(true);
  fd_ = -1;
  direct_ = Fd();
  len_ = 0;
}

void Appender::append(std::span<const std::uint8_t> head, std::span<const std::uint8_t> data) {
  if (len_ + head.size() + data.size() > capacity_) throw Error(Errc::TooBig, "record larger than the append buffer");
  std::memcpy(buf_.get() + len_, head.data(), head.size());
  std::memcpy(buf_.get() + len_ + head.size(), data.data(), data.size());
  len_ += head.size() + data.size();
}

void Appender::write_direct(std::size_t n) {
  ssize_t got;
  do got = ::pwrite(direct_.get(), buf_.get(), n, static_cast<off_t>(base_));
  while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(n)) return;
  if (got < 0 && errno != EINVAL) throw_errno("write " + name_);
  // The file system wants other alignment, or wrote part: finish through
  // the page cache from here on.
  direct_ = Fd();
  std::size_t done = got > 0 ? static_cast<std::size_t>(got) : 0;
  pwrite_all(fd_, {buf_.get() + done, n - done}, base_ + done, name_);
}

void Appender::write_out(bool all) {
  if (len_ == 0) return;
  if (!direct_) {
    pwrite_all(fd_, {buf_.get(), len_}, base_, name_);
    base_ += len_;
    len_ = 0;
    return;
  }
  const std::size_t whole = len_ / kAlign * kAlign, rest = len_ - whole;
  if (whole > 0) write_direct(whole);
  if (all && rest > 0) pwrite_all(fd_, {buf_.get() + whole, rest}, base_ + whole, name_);
  std::memmove(buf_.get(), buf_.get() + whole, rest);
  base_ += whole;
  len_ = rest;
}

Appender::Read Appender::read(std::uint64_t off, std::span<std::uint8_t> head, std::span<std::uint8_t> data, bool nowait) const {
  const std::uint64_t end = off + head.size() + data.size();
  if (!started() || end <= base_) return Read::in_file;
  if (end > base_ + len_) throw Error(Errc::Corrupt, name_ + ": record runs past the buffered log");
  bool blocked = false;
  auto copy = [&](std::span<std::uint8_t> out, std::uint64_t at) {
    while (!out.empty() && at < base_ && !blocked) {
      iovec v{out.data(), static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), base_ - at))};
      ssize_t n = ::preadv2(fd_, &v, 1, static_cast<off_t>(at), nowait ? RWF_NOWAIT : 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN && nowait) blocked = true;
      else if (n <= 0) throw Error(Errc::Io, "read " + name_ + ": " + (n < 0 ? std::strerror(errno) : "short file"));
      else {
        out = out.subspan(static_cast<std::size_t>(n));
        at += static_cast<std::uint64_t>(n);
      }
    }
    if (!out.empty() && !blocked) std::memcpy(out.data(), buf_.get() + (at - base_), out.size());
  };
  copy(head, off);
  copy(data, off + head.size());
  return blocked ? Read::would_block : Read::copied;
}

}  // namespace vt::detail
