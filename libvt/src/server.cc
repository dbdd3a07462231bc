#include "vt/server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <utility>

#include "conn.h"
#include "pool.h"
#include "vt/error.h"

namespace vt {

namespace {

constexpr unsigned kMaxInFlight = 256;  // per connection, as many as tags
// Reads that miss memory go to the store in batches of up to this many:
// large enough for long disk reads, small enough to spread over workers.
constexpr std::size_t kReadBatch = 64;
// Replies made on the spot go out in groups of this many while more
// requests wait: the client gets its tags back in a steady stream rather
// than a whole window's worth at the end of a long batch, so it never
// idles while the server works, nor the server while the client does.
constexpr unsigned kReplyBatch = 32;

Message error_reply(std::uint8_t tag, const std::string& text) {
  Message m;
  m.type = MsgType::Rerror;
  m.tag = tag;
  m.error = text.substr(0, kMaxStringSize);
  return m;
}

struct Session {
  explicit Session(detail::Conn c, std::string p) : conn(std::move(c)), peer(std::move(p)) {}
  detail::Conn conn;
  std::string peer;
  std::mutex write_mu;  // guards outbox, writing
  Bytes outbox;
  bool writing = false;

  std::mutex mu;
  std::condition_variable cv;
  unsigned in_flight = 0;
  unsigned writes_in_flight = 0;
  bool done = false;
  std::thread thread;

  // The failure last logged and how often it came again since: a store
  // that refuses every write (a full disk) would otherwise log every one.
  std::mutex log_mu;
  std::string last_failure;
  std::uint64_t repeats = 0;

  void reply(const Message& m) {
    Bytes bytes;
    try {
      m.pack_into(bytes);
    } catch (const Error&) {
      conn.shutdown();  // cannot happen for replies we build; end the session
      return;
    }
    send(bytes);
  }
  // Replies that finish while another is being written are gathered and
  // sent together: fewer system calls and fewer wake-ups at the client.
  void send(std::span<const std::uint8_t> bytes) {
    Bytes batch;
    try {
      {
        std::lock_guard lock(write_mu);
        outbox.insert(outbox.end(), bytes.begin(), bytes.end());
        if (writing) return;  // the writer will send it
        writing = true;
      }
      for (;;) {
        {
          std::lock_guard lock(write_mu);
          batch.clear();
          std::swap(batch, outbox);
          if (batch.empty()) {
            writing = false;
            return;
          }
        }
        conn.write_all(batch);
      }
    } catch (const Error&) {
      std::lock_guard lock(write_mu);
      writing = false;
      outbox.clear();
      conn.shutdown();  // the reader sees the hang-up and ends the session
    }
  }
  void reply_error(std::uint8_t tag, const std::string& text) { reply(error_reply(tag, text)); }
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

  // A failed request, logged once for a run of the same failure.
  void log_failure(Session& s, const std::string& what) {
    std::lock_guard lock(s.log_mu);
    if (what == s.last_failure) {
      s.repeats++;
      return;
    }
    log_repeats(s);
    s.last_failure = what;
    log(s.peer + ": " + what);
  }
  void log_repeats(Session& s) {  // with s.log_mu held
    if (s.repeats > 0) log(s.peer + ": the same again " + std::to_string(s.repeats) + (s.repeats == 1 ? " time" : " times"));
    s.repeats = 0;
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
      int one = 1;  // small replies must not wait for Nagle
      if (ss.ss_family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::string peer = peer_name(ss, len);
      auto s = std::make_shared<Session>(detail::Conn(detail::Fd(fd)), peer);
      sessions.push_back(s);
      s->thread = std::thread([this, s] { run(*s); });
    }
  }

  static std::string peer_name(const sockaddr_storage& ss, socklen_t len) {
    if (ss.ss_family == AF_UNIX) return "a local process";
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
      while (serve_some(s)) {
      }
    } catch (const Error& e) {
      why = e.what();
    }
    s.conn.shutdown();
    std::unique_lock lock(s.mu);
    s.cv.wait(lock, [&] { return s.in_flight == 0; });
    s.done = true;
    {
      std::lock_guard log_lock(s.log_mu);
      log_repeats(s);
    }
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

  // Reads and dispatches the messages that have arrived (at least one);
  // false after Tgoodbye. Requests read together are queued together.
  bool serve_some(Session& s) {
    std::vector<std::function<void()>> jobs;
    std::vector<Message> reads;  // misses, to be read together
    Bytes answered;              // replies to requests served on the spot
    auto queue_reads = [&] {
      if (reads.empty()) return;
      jobs.push_back([this, &s, batch = std::exchange(reads, {})]() mutable { handle_reads(s, batch); });
    };
    // Whatever happens, requests counted in flight get served.
    struct Flush {
      detail::Pool& p;
      std::vector<std::function<void()>>& j;
      decltype(queue_reads)& queue;
      Session& s;
      Bytes& answered;
      ~Flush() {
        if (!answered.empty()) s.send(answered);
        queue();
        p.submit(j);
      }
    } flush{pool, jobs, queue_reads, s, answered};
    bool more = true;
    unsigned unsent = 0;  // replies in `answered`
    do {
      if (unsent == kReplyBatch) {
        s.send(answered);
        answered.clear();
        unsent = 0;
      }
      const std::size_t answered_before = answered.size();
      Message m = s.conn.read_message();
      switch (m.type) {
        case MsgType::Tgoodbye: more = false; break;
        case MsgType::Tping: {
          Message r;
          r.type = MsgType::Rping;
          r.tag = m.tag;
          r.pack_into(answered);
          break;
        }
        case MsgType::Thello: s.reply_error(m.tag, "hello already done"); break;
        case MsgType::Tread:
          if (answer_now(m, answered)) break;
          [[fallthrough]];
        case MsgType::Twrite:
          if (m.type == MsgType::Twrite && store_now(s, m, answered)) break;
          [[fallthrough]];
        case MsgType::Tsync: {
          std::unique_lock lock(s.mu);
          if (s.in_flight >= kMaxInFlight) {  // let the queued ones drain first
            lock.unlock();
            queue_reads();
            pool.submit(jobs);
            lock.lock();
            s.cv.wait(lock, [&] { return s.in_flight < kMaxInFlight; });
          }
          s.in_flight++;
          if (m.type == MsgType::Twrite) s.writes_in_flight++;
          if (m.type == MsgType::Tread) {
            reads.push_back(std::move(m));
            if (reads.size() == kReadBatch) queue_reads();
          } else {
            jobs.push_back([this, &s, m = std::move(m)]() mutable { handle(s, m); });
          }
          break;
        }
        default: throw Error(Errc::Protocol, "client sent " + to_string(m.type));
      }
      if (answered.size() != answered_before) unsent++;
      // Replies wait for more requests that have already arrived: sent as
      // soon as the buffer runs dry, they would wake the client once per
      // read rather than once per group.
    } while (more && s.conn.message_arrived());
    return more;
  }

  // Reads that missed memory, served together: the store finds them in one
  // go and reads records that lie side by side with one system call, so a
  // cold sequential reader gets large disk reads, not 8 KiB ones. If any
  // read fails, each is served alone and gets its own answer.
  void handle_reads(Session& s, std::vector<Message>& batch) {
    std::vector<BlockKey> keys;
    keys.reserve(batch.size());
    for (const auto& m : batch) keys.push_back({m.score, m.wire_type});
    std::vector<Bytes> blocks;
    try {
      blocks = store.get_many(keys);
    } catch (const std::exception&) {
      blocks.clear();
    }
    bool fits = blocks.size() == batch.size();
    for (std::size_t i = 0; fits && i < batch.size(); i++) fits = blocks[i].size() <= batch[i].count;
    if (!fits) {
      for (auto& m : batch) handle(s, m);
      return;
    }
    Bytes out;
    for (std::size_t i = 0; i < batch.size(); i++) {
      Message r;
      r.type = MsgType::Rread;
      r.tag = batch[i].tag;
      r.data = std::move(blocks[i]);
      r.pack_into(out);
    }
    s.send(out);
    std::lock_guard lock(s.mu);  // notify under the lock, as handle() does
    s.in_flight -= static_cast<unsigned>(batch.size());
    s.cv.notify_all();
  }

  // A read the store can answer from memory is answered by the session's
  // own thread: no hand-off to the pool and back. Anything else (a disk
  // read, an error) goes to the pool, which reports errors.
  bool answer_now(const Message& m, Bytes& out) {
    std::optional<Bytes> data;
    try {
      data = store.get_now(m.score, m.wire_type);
    } catch (const Error&) {
      return false;
    }
    if (!data || data->size() > m.count) return false;
    Message r;
    r.type = MsgType::Rread;
    r.tag = m.tag;
    r.data = std::move(*data);
    r.pack_into(out);
    return true;
  }

  // What every Twrite must pass, on the spot or on the pool.
  void check_write(const Message& m) const {
    if (options.read_only) throw Error(Errc::ReadOnly, "server is read-only");
    check_block_size(m.data.size(), options.max_block);
  }

  // A write to a store that takes it on the spot is done by the session's
  // own thread, as answer_now does for reads: handing 8 KiB blocks to the
  // pool and back cost more than storing them. Failures are answered here.
  bool store_now(Session& s, const Message& m, Bytes& out) {
    Message r;
    try {
      check_write(m);
      auto score = store.put_now(m.wire_type, m.data);
      if (!score) return false;
      r.type = MsgType::Rwrite;
      r.score = *score;
    } catch (const std::exception& e) {
      log_failure(s, std::string("Twrite: ") + e.what());
      r = error_reply(m.tag, e.what());
    }
    r.tag = m.tag;
    r.pack_into(out);
    return true;
  }

  void handle(Session& s, Message& m) {
    bool is_write = m.type == MsgType::Twrite;
    try {
      Message r = execute(s, m);
      r.tag = m.tag;
      s.reply(r);
    } catch (const Error& e) {
      if (e.code() != Errc::NotFound) log_failure(s, to_string(m.type) + ": " + e.what());
      s.reply_error(m.tag, e.what());
    } catch (const std::exception& e) {
      log_failure(s, to_string(m.type) + ": " + e.what());
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
        check_write(m);
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
    if (Address a = parse_address(bound); a.is_unix()) ::unlink(a.path.c_str());
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
