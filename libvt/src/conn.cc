#include "conn.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bytes.h"
#include "vt/error.h"

namespace vt::detail {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) freeaddrinfo(list);
  }
};

void resolve(const Address& a, bool passive, AddrInfo& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  std::string port = std::to_string(a.port);
  int rc = getaddrinfo(a.host.c_str(), port.c_str(), &hints, &out.list);
  if (rc != 0) throw Error(Errc::Io, "cannot resolve " + a.str() + ": " + gai_strerror(rc));
}

// Tries each address `a` resolves to with a fresh socket until `use` (connect,
// or bind and listen) succeeds; throws "`failure` a: why" when none does.
template <typename Use>
Fd first_socket(const Address& a, bool passive, const std::string& failure, Use use) {
  AddrInfo ai;
  resolve(a, passive, ai);
  int err = 0;
  for (auto* p = ai.list; p; p = p->ai_next) {
    Fd fd(::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol));
    if (fd && use(fd.get(), *p)) return fd;
    err = errno;
  }
  throw Error(Errc::Io, failure + " " + a.str() + ": " + std::strerror(err));
}

sockaddr_un unix_sockaddr(const Address& a) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (a.path.size() >= sizeof sun.sun_path) throw Error(Errc::Invalid, "socket path too long: " + a.path);
  std::memcpy(sun.sun_path, a.path.c_str(), a.path.size() + 1);
  return sun;
}

// A Unix-domain socket on which `use` (connect, or bind and listen) succeeded.
template <typename Use>
Fd unix_socket(const Address& a, const std::string& failure, Use use) {
  sockaddr_un sun = unix_sockaddr(a);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd && use(fd.get(), sun)) return fd;
  throw Error(Errc::Io, failure + " " + a.str() + ": " + std::strerror(errno));
}

bool connect_unix(int s, const sockaddr_un& sun) { return ::connect(s, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0; }

bool bind_unix(int s, const sockaddr_un& sun) {
  return ::bind(s, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0 && ::listen(s, 128) == 0;
}

// A socket file nobody listens on (left by a server that died) may be
// replaced; anything else at the path is not ours to remove.
bool stale_socket(const Address& a) {
  struct stat st;
  if (::lstat(a.path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode)) return false;
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return probe && !connect_unix(probe.get(), unix_sockaddr(a)) && errno == ECONNREFUSED;
}

}  // namespace

Conn Conn::dial(const Address& address) {
  if (address.is_unix()) return Conn(unix_socket(address, "cannot connect to venti server", connect_unix));
  Fd fd = first_socket(address, false, "cannot connect to venti server",
                       [](int s, const addrinfo& p) { return ::connect(s, p.ai_addr, p.ai_addrlen) == 0; });
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Conn(std::move(fd));
}

bool Conn::fill() { return receive(true) == Got::Data; }

Conn::Got Conn::receive(bool wait) {
  if (head_ > 0 && head_ == tail_) head_ = tail_ = 0;
  if (tail_ == buf_.size()) {  // compact
    std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
  }
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf_.data() + tail_, buf_.size() - tail_, wait ? 0 : MSG_DONTWAIT);
    if (n > 0) {
      tail_ += static_cast<std::size_t>(n);
      return Got::Data;
    }
    if (n == 0) return Got::End;
    if (errno == EINTR) continue;
    if (!wait && (errno == EAGAIN || errno == EWOULDBLOCK)) return Got::Nothing;
    throw_errno("read from venti connection");
  }
}

bool Conn::message_arrived() {
  while (!message_buffered())
    if (receive(false) != Got::Data) return false;
  return true;
}

std::string Conn::read_line() {
  std::string line;
  for (;;) {
    if (head_ == tail_ && !fill()) throw Error(Errc::Closed, "connection closed during version exchange");
    std::uint8_t c = buf_[head_++];
    if (c == '\n') return line;
    if (c < ' ' || c > 0x7e) throw Error(Errc::Protocol, "version line has a non-printable byte");
    if (line.size() >= kMaxStringSize) throw Error(Errc::Protocol, "version line longer than 1024 bytes");
    line.push_back(static_cast<char>(c));
  }
}

bool Conn::message_buffered() const {
  return tail_ - head_ >= 2 && tail_ - head_ >= 2 + get_be(buf_.data() + head_, 2);
}

Message Conn::read_message() {
  while (tail_ - head_ < 2) {
    if (!fill()) {
      if (tail_ == head_) throw Error(Errc::Closed, "connection closed");
      throw Error(Errc::Closed, "connection closed inside a message");
    }
  }
  std::size_t size = get_be(buf_.data() + head_, 2);
  while (tail_ - head_ < 2 + size) {
    if (!fill()) throw Error(Errc::Closed, "connection closed inside a message");
  }
  auto body = std::span<const std::uint8_t>(buf_.data() + head_ + 2, size);
  head_ += 2 + size;
  return Message::unpack(body);
}

void Conn::write_all(std::span<const std::uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write to venti connection");
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

void Conn::shutdown() { ::shutdown(fd_.get(), SHUT_RDWR); }

Fd listen_on(const Address& address) {
  if (address.is_unix()) {
    if (stale_socket(address)) ::unlink(address.path.c_str());
    return unix_socket(address, "cannot listen on", bind_unix);
  }
  return first_socket(address, true, "cannot listen on", [](int s, const addrinfo& p) {
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    return ::bind(s, p.ai_addr, p.ai_addrlen) == 0 && ::listen(s, 128) == 0;
  });
}

Address local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) throw_errno("getsockname");
  if (ss.ss_family == AF_UNIX) {
    Address a;
    a.path = reinterpret_cast<const sockaddr_un*>(&ss)->sun_path;
    return a;
  }
  char host[NI_MAXHOST], port[NI_MAXSERV];
  int rc = getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
  if (rc != 0) throw Error(Errc::Io, std::string("getnameinfo: ") + gai_strerror(rc));
  return Address{host, static_cast<std::uint16_t>(std::stoi(port))};
}

}  // namespace vt::detail
