// A venti-02 server over any BlockStore. Each connection has a reader; its
// requests run concurrently on a shared worker pool and replies go out as
// they finish, in any order. A bad message gets an Rerror or a hang-up of
// that connection only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "vt/message.h"
#include "vt/store.h"

namespace vt {

struct ServerOptions {
  bool read_only = false;
  std::size_t max_block = kDefaultMaxBlockSize;
  unsigned workers = 0;  // 0: twice the hardware threads, at least 4
  std::function<void(const std::string&)> log;  // one line per event; none if empty
};

class Server {
 public:
  // Binds `address` ("127.0.0.1:0" picks a free port). Throws Error(Io).
  Server(BlockStore& store, const std::string& address, ServerOptions options = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::string address() const;  // the bound "host:port"
  void start();  // serves on a background thread
  void serve();  // serves on this thread until stop()
  // Stops accepting, hangs up every connection and waits for their threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vt
