#include "vt/status.h"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "conn.h"
#include "vt/error.h"

namespace vt {

struct StatusServer::Impl {
  detail::Fd listener;
  std::string bound;
  std::function<std::string()> page;
  std::atomic<bool> stopping{false};
  std::thread thread;

  void serve() {
    while (!stopping) {
      int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // shut down
      }
      detail::Conn c{detail::Fd(fd)};
      try {
        answer(c);
      } catch (const std::exception&) {
      }
    }
  }

  void answer(detail::Conn& c) {
    // Read the request head (bounded, with a timeout) and ignore it.
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos && head.size() < 8192) {
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, static_cast<std::size_t>(n));
    }
    bool get = head.starts_with("GET ");
    std::string body = get ? page() : "only GET\n";
    std::string reply = std::string(get ? "HTTP/1.0 200 OK" : "HTTP/1.0 405 Method Not Allowed") +
                        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    c.write_all(reply);
  }
};

StatusServer::StatusServer(const std::string& address, std::function<std::string()> page) : impl_(std::make_unique<Impl>()) {
  impl_->listener = detail::listen_on(parse_address(address));
  impl_->bound = detail::local_address(impl_->listener.get()).str();
  impl_->page = std::move(page);
  impl_->thread = std::thread([this] { impl_->serve(); });
}

StatusServer::~StatusServer() {
  impl_->stopping = true;
  ::shutdown(impl_->listener.get(), SHUT_RDWR);
  impl_->thread.join();
}

std::string StatusServer::address() const { return impl_->bound; }

std::string fetch_status(const std::string& address) {
  auto a = parse_address(address);
  auto c = detail::Conn::dial(a);
  c.write_all("GET / HTTP/1.0\r\nHost: " + a.host + "\r\n\r\n");
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = ::recv(c.fd(), buf, sizeof buf, 0)) > 0;) all.append(buf, static_cast<std::size_t>(n));
  auto body = all.find("\r\n\r\n");
  if (!all.starts_with("HTTP/1.0 200") || body == std::string::npos) throw Error(Errc::Protocol, "status endpoint " + a.str() + " gave a bad answer");
  return all.substr(body + 4);
}

}  // namespace vt
