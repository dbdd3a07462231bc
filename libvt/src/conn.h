// Private: a TCP connection with buffered, bounds-checked reads of version
// lines and protocol messages.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vt/address.h"
#include "vt/message.h"

namespace vt::detail {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class Conn {
 public:
  explicit Conn(Fd fd) : fd_(std::move(fd)) {}

  // Throws Error(Io) when the address does not resolve or refuses.
  static Conn dial(const Address& address);

  // A version line without its newline; at most 1024 printable bytes.
  std::string read_line();
  // One message. Throws Error(Closed) at end of stream, Error(Protocol) for
  // a malformed message.
  Message read_message();
  // True when a whole message is already buffered (read_message won't block).
  bool message_buffered() const;
  // Like message_buffered(), after reading what has arrived without waiting.
  // False also at the end of the stream (read_message then reports it).
  bool message_arrived();
  void write_all(std::span<const std::uint8_t> data);
  void write_all(std::string_view s) { write_all({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}); }
  // Wakes a thread blocked in read; later reads and writes fail.
  void shutdown();
  int fd() const { return fd_.get(); }

 private:
  enum class Got { Data, Nothing, End };
  bool fill();  // waits; false at end of stream
  Got receive(bool wait);

  Fd fd_;
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(1 << 20);
  std::size_t head_ = 0, tail_ = 0;
};

// A listening socket bound to `address` (port 0 picks one).
Fd listen_on(const Address& address);
Address local_address(int fd);

}  // namespace vt::detail
