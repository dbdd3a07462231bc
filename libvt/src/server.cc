#include "vt/server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "conn.h"
#include "pool.h"
#include "vt/error.h"

namespace vt {

namespace {

constexpr unsigned kMaxInFlight = 256;  // per connection, as many as tags

struct Session {
  explicit Session(detail::Conn c, std::string p) : conn(std::move(c)), peer(std::move(p)) {}
  detail::Conn conn;
  std::string peer;
  std::mutex write_mu;

  std::mutex mu;
  std::condition_variable cv;
  unsigned in_flight = 0;
  unsigned writes_in_flight = 0;
  bool done = false;
  std::thread thread;

  void reply(const Message& m) {
    try {
      auto bytes = m.pack();
      std::lock_guard lock(write_mu);
      conn.write_all(bytes);
    } catch (const Error&) {
      conn.shutdown();  // the reader sees the hang-up and ends the session
    }
  }
  void reply_error(std::uint8_t tag, const std::string& text) {
    Message m;
    m.type = MsgType::Rerror;
    m.tag = tag;
    m.error = text.substr(0, kMaxStringSize);
    reply(m);
  }
};

}  // namespace

struct Server::Impl {
  BlockStore& store;
  ServerOptions options;
  detail::Fd listener;
  std::string bound;
  detail::Pool pool;

  std::mutex mu;
  std::list<std::shared_ptr<Session>> sessions;
  bool stopping = false;
  std::thread background;

  Impl(BlockStore& s, const std::string& address, ServerOptions o)
      : store(s),
        options(std::move(o)),
        listener(detail::listen_on(parse_address(address))),
        bound(detail::local_address(listener.get()).str()),
        pool(options.workers ? options.workers : std::max(4u, 2 * std::thread::hardware_concurrency())) {}

  void log(const std::string& line) {
    if (options.log) options.log(line);
  }

  void serve() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int fd = ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
      std::lock_guard lock(mu);
      if (stopping) {
        if (fd >= 0) ::close(fd);
        return;
      }
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
        log(std::string("accept: ") + std::strerror(errno));
        return;
      }
      reap();
      std::string peer = peer_name(ss, len);
      auto s = std::make_shared<Session>(detail::Conn(detail::Fd(fd)), peer);
      sessions.push_back(s);
      s->thread = std::thread([this, s] { run(*s); });
    }
  }

  static std::string peer_name(const sockaddr_storage& ss, socklen_t len) {
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      return "?";
    return std::string(host) + ":" + port;
  }

  // Joins the threads of sessions that have ended. Called with mu held.
  void reap() {
    for (auto it = sessions.begin(); it != sessions.end();) {
      bool done;
      {
        std::lock_guard lock((*it)->mu);
        done = (*it)->done;
      }
      if (done) {
        (*it)->thread.join();
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
  }

  void run(Session& s) {
    log("connection from " + s.peer);
    std::string why = "goodbye";
    try {
      handshake(s);
      while (serve_one(s)) {
      }
    } catch (const Error& e) {
      why = e.what();
    }
    s.conn.shutdown();
    std::unique_lock lock(s.mu);
    s.cv.wait(lock, [&] { return s.in_flight == 0; });
    s.done = true;
    log("connection from " + s.peer + " ended: " + why);
  }

  void handshake(Session& s) {
    s.conn.write_all(version_line("vtd"));
    negotiate_version(s.conn.read_line());
    Message hello = s.conn.read_message();
    if (hello.type != MsgType::Thello) {
      s.reply_error(hello.tag, "first message must be Thello");
      throw Error(Errc::Protocol, "first message was " + to_string(hello.type));
    }
    Message r;
    r.type = MsgType::Rhello;
    r.tag = hello.tag;
    r.sid = "vtd";
    s.reply(r);
  }

  // Reads and dispatches one message; false after Tgoodbye.
  bool serve_one(Session& s) {
    Message m = s.conn.read_message();
    switch (m.type) {
      case MsgType::Tgoodbye: return false;
      case MsgType::Tping: {
        Message r;
        r.type = MsgType::Rping;
        r.tag = m.tag;
        s.reply(r);
        return true;
      }
      case MsgType::Tread:
      case MsgType::Twrite:
      case MsgType::Tsync: break;
      case MsgType::Thello: s.reply_error(m.tag, "hello already done"); return true;
      default: throw Error(Errc::Protocol, "client sent " + to_string(m.type));
    }
    {
      std::unique_lock lock(s.mu);
      s.cv.wait(lock, [&] { return s.in_flight < kMaxInFlight; });
      s.in_flight++;
      if (m.type == MsgType::Twrite) s.writes_in_flight++;
    }
    pool.submit([this, &s, m = std::move(m)]() mutable { handle(s, m); });
    return true;
  }

  void handle(Session& s, Message& m) {
    bool is_write = m.type == MsgType::Twrite;
    try {
      Message r = execute(s, m);
      r.tag = m.tag;
      s.reply(r);
    } catch (const Error& e) {
      if (e.code() != Errc::NotFound) log(s.peer + ": " + to_string(m.type) + ": " + e.what());
      s.reply_error(m.tag, e.what());
    } catch (const std::exception& e) {
      log(s.peer + ": " + to_string(m.type) + ": " + e.what());
      s.reply_error(m.tag, e.what());
    }
    // Notify under the lock: once in_flight is 0 the session may be freed.
    std::lock_guard lock(s.mu);
    s.in_flight--;
    if (is_write) s.writes_in_flight--;
    s.cv.notify_all();
  }

  Message execute(Session& s, Message& m) {
    Message r;
    switch (m.type) {
      case MsgType::Tread: {
        r.type = MsgType::Rread;
        try {
          r.data = store.get(m.score, m.wire_type);
        } catch (const Error& e) {
          if (e.code() != Errc::NotFound) throw;
          throw Error(Errc::NotFound, "no block with score " + m.score.hex() + "/" + std::to_string(m.count) + "/" + std::to_string(m.wire_type.value) + " exists");
        }
        if (r.data.size() > m.count)
          throw Error(Errc::TooBig, "block " + m.score.hex() + " is " + std::to_string(r.data.size()) + " bytes, more than the " + std::to_string(m.count) + " asked for");
        return r;
      }
      case MsgType::Twrite:
        if (options.read_only) throw Error(Errc::ReadOnly, "server is read-only");
        if (m.data.size() > options.max_block)
          throw Error(Errc::TooBig, "block of " + std::to_string(m.data.size()) + " bytes exceeds the " + std::to_string(options.max_block) + "-byte maximum");
        r.type = MsgType::Rwrite;
        r.score = store.put(m.wire_type, m.data);
        return r;
      case MsgType::Tsync: {
        // Every earlier write on this connection completes before the sync.
        std::unique_lock lock(s.mu);
        s.cv.wait(lock, [&] { return s.writes_in_flight == 0; });
        lock.unlock();
        if (!options.read_only) store.sync();
        r.type = MsgType::Rsync;
        return r;
      }
      default: throw Error(Errc::Protocol, "unexpected " + to_string(m.type));
    }
  }

  void stop() {
    std::list<std::shared_ptr<Session>> all;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
      ::shutdown(listener.get(), SHUT_RDWR);  // wakes accept()
      all = sessions;
    }
    if (background.joinable()) background.join();
    for (auto& s : all) s->conn.shutdown();
    for (auto& s : all) s->thread.join();
    std::lock_guard lock(mu);
    sessions.clear();
  }
};

Server::Server(BlockStore& store, const std::string& address, ServerOptions options)
    : impl_(std::make_unique<Impl>(store, address, std::move(options))) {}

Server::~Server() { stop(); }

std::string Server::address() const { return impl_->bound; }
void Server::start() { impl_->background = std::thread([this] { impl_->serve(); }); }
void Server::serve() { impl_->serve(); }
void Server::stop() { impl_->stop(); }

}  // namespace vt
