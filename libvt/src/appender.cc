#include "appender.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "file_io.h"
#include "vt/error.h"

namespace vt::detail {

Appender::Appender(std::size_t threshold, std::size_t max_record)
    : threshold_(threshold),
      capacity_((kAlign + threshold + max_record + kAlign - 1) / kAlign * kAlign),
      buf_(make_buffer()),
      spare_(make_buffer()) {}

Appender::Buffer Appender::make_buffer() const {
  Buffer b(static_cast<std::uint8_t*>(std::aligned_alloc(kAlign, capacity_)));
  if (!b) throw std::bad_alloc();
  return b;
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
  if (len_ + head.size() + data.size() > capacity_) {
    if (flight_failed_) throw Error(Errc::Io, "the append buffer is full: " + refusal_);
    throw Error(Errc::TooBig, "record larger than the append buffer");
  }
  std::memcpy(buf_.get() + len_, head.data(), head.size());
  std::memcpy(buf_.get() + len_ + head.size(), data.data(), data.size());
  len_ += head.size() + data.size();
}

void Appender::write_now(const std::uint8_t* from, std::size_t n, std::uint64_t at) {
  if (direct_) {
    ssize_t got;
    do got = ::pwrite(direct_.get(), from, n, static_cast<off_t>(at));
    while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(n)) return;
    if (got < 0 && errno != EINVAL) throw_errno("write " + name_);
    // The file system wants other alignment, or wrote part: finish through
    // the page cache from here on.
    direct_ = Fd();
    const std::size_t done = got > 0 ? static_cast<std::size_t>(got) : 0;
    from += done, n -= done, at += done;
  }
  pwrite_all(fd_, {from, n}, at, name_);
}

void Appender::write_out(bool all) {
  if (in_flight()) throw std::logic_error("Appender::write_out during a flight");
  if (flight_failed_) land_failed_flight();
  if (len_ == 0) return;
  const std::size_t whole = direct_ ? len_ / kAlign * kAlign : len_, rest = len_ - whole;
  if (whole > 0) write_now(buf_.get(), whole, base_);
  if (all && rest > 0) pwrite_all(fd_, {buf_.get() + whole, rest}, base_ + whole, name_);
  std::memmove(buf_.get(), buf_.get() + whole, rest);
  base_ += whole;
  len_ = rest;
}

std::optional<Appender::Flight> Appender::take() {
  if (!started() || in_flight()) return std::nullopt;
  if (!flight_failed_) {
    const std::size_t whole = direct_ ? len_ / kAlign * kAlign : len_, rest = len_ - whole;
    if (whole == 0) return std::nullopt;
    std::memcpy(spare_.get(), buf_.get() + whole, rest);  // the held partial block
    flight_ = std::exchange(buf_, std::move(spare_));
    flight_len_ = whole;
    base_ += whole;
    len_ = rest;
  }
  flight_failed_ = false;  // a failed flight is tried again
  return Flight{{flight_.get(), flight_len_}, flight_at()};
}

// Only writes: what a refusal means (another alignment, a full disk) is
// for landed() to find out, under the lock.
bool Appender::send(const Flight& f) const {
  try {
    pwrite_all(direct_ ? direct_.get() : fd_, f.bytes, f.at, name_);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void Appender::landed(bool sent) {
  if (sent) {
    spare_ = std::move(flight_);
    flight_len_ = 0;
    return;
  }
  // Once more at once, as write_out would (this also finds out whether the
  // file system wants the page cache); if that fails too, the bytes stay
  // for the next attempt.
  flight_failed_ = true;
  try {
    land_failed_flight();
  } catch (const Error& e) {
    refusal_ = e.what();
    throw;
  }
}

void Appender::land_failed_flight() {
  write_now(flight_.get(), flight_len_, flight_at());
  spare_ = std::move(flight_);
  flight_len_ = 0;
  flight_failed_ = false;
}

Appender::Read Appender::read(std::uint64_t off, std::span<std::uint8_t> head, std::span<std::uint8_t> data, bool nowait) const {
  const std::uint64_t end = off + head.size() + data.size(), file_end = in_file_end();
  if (!started() || end <= file_end) return Read::in_file;
  if (end > base_ + len_) throw Error(Errc::Corrupt, name_ + ": record runs past the buffered log");
  bool blocked = false;
  auto copy = [&](std::span<std::uint8_t> out, std::uint64_t at) {
    while (!out.empty() && at < file_end && !blocked) {
      iovec v{out.data(), static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), file_end - at))};
      ssize_t n = ::preadv2(fd_, &v, 1, static_cast<off_t>(at), nowait ? RWF_NOWAIT : 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN && nowait) blocked = true;
      else if (n <= 0) throw Error(Errc::Io, "read " + name_ + ": " + (n < 0 ? std::strerror(errno) : "short file"));
      else {
        out = out.subspan(static_cast<std::size_t>(n));
        at += static_cast<std::uint64_t>(n);
      }
    }
    while (!out.empty() && !blocked) {  // from the flight's buffer, then the gathering one
      const bool flying = at < base_;
      const std::uint8_t* from = flying ? flight_.get() + (at - flight_at()) : buf_.get() + (at - base_);
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), (flying ? base_ : base_ + len_) - at));
      std::memcpy(out.data(), from, n);
      out = out.subspan(n);
      at += n;
    }
  };
  copy(head, off);
  copy(data, off + head.size());
  return blocked ? Read::would_block : Read::copied;
}

}  // namespace vt::detail
