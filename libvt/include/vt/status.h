// A tiny HTTP/1.0 endpoint that answers every GET with a plain-text page,
// for watching a server's counters without speaking venti. Off unless a
// program creates one; meant for loopback.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace vt {

class StatusServer {
 public:
  // Binds `address` and serves `page()` on a background thread.
  StatusServer(const std::string& address, std::function<std::string()> page);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;
  std::string address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Fetches the page from a StatusServer (used by `vt stats`).
std::string fetch_status(const std::string& address);

}  // namespace vt
