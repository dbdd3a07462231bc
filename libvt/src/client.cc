#include "vt/client.h"

#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "conn.h"
#include "vt/error.h"
#include "vt/zero.h"

namespace vt {

namespace {
// put_async and get_many gather their messages and send them in writes of
// this size: one system call for eight 8 KiB blocks instead of one each.
constexpr std::size_t kOutboxBytes = 64 << 10;
// Messages wait in the outbox only while this many tags are free, so a
// thread waiting for a tag always waits for messages already sent.
constexpr std::size_t kDeferTags = 32;
// A sender that finds no tag free waits for this many: woken per reply, it
// would send one message per wake-up and the server would read one per
// wake-up too. It also takes what is free once the reader has read every
// reply that has come: a server may hold back replies until it has more
// requests, and those must not wait for replies that will not come.
constexpr std::size_t kRefillTags = kDeferTags;
}  // namespace

struct Client::Impl {
  std::string address;
  ClientOptions options;
  detail::Conn conn;
  std::mutex write_mu;  // guards outbox and the socket's write side
  Bytes outbox;         // whole messages not sent yet

  std::mutex mu;
  std::condition_variable tag_free;
  std::vector<std::uint8_t> free_tags;
  std::array<Done, 256> waiting;
  bool dead = false;
  std::string dead_why;
  bool reader_idle = false;  // the reader has read every reply that has come

  std::condition_variable puts_done;
  std::size_t puts_in_flight = 0;
  std::exception_ptr put_error;

  std::thread reader;

  Impl(std::string addr, ClientOptions opts, detail::Conn c) : address(std::move(addr)), options(std::move(opts)), conn(std::move(c)) {
    for (int t = 255; t >= 0; t--) free_tags.push_back(static_cast<std::uint8_t>(t));
  }

  Error closed_error() const { return Error(Errc::Closed, "venti server " + address + ": " + dead_why); }

  void read_loop() {
    try {
      for (;;) {
        if (!conn.message_buffered()) {  // about to wait for the server
          std::lock_guard lock(mu);
          reader_idle = true;
          if (!free_tags.empty()) tag_free.notify_all();
        }
        Message reply = conn.read_message();
        Done done;
        {
          std::lock_guard lock(mu);
          reader_idle = false;
          done = std::move(waiting[reply.tag]);
          waiting[reply.tag] = nullptr;
          if (!done) throw Error(Errc::Protocol, "reply with unknown tag " + std::to_string(reply.tag));
          free_tags.push_back(reply.tag);
          if (free_tags.size() == kRefillTags) tag_free.notify_all();
        }
        done(&reply, nullptr);
      }
    } catch (const std::exception& e) {
      fail_all(e.what());
    }
  }

  // The connection is unusable: every waiting request fails.
  void fail_all(const std::string& why) {
    std::array<Done, 256> orphans;
    {
      std::lock_guard lock(mu);
      if (!dead) {
        dead = true;
        dead_why = why;
      }
      orphans = std::move(waiting);
      waiting = {};
    }
    conn.shutdown();
    tag_free.notify_all();
    auto err = std::make_exception_ptr(closed_error());
    for (auto& d : orphans)
      if (d) d(nullptr, err);
  }

  // Packs the message straight into the outbox. With `defer`, it may wait
  // there for more to go with it: whoever then waits for a reply calls
  // flush() first.
  void send(const Message& m, Done done, bool defer = false) {
    std::uint8_t tag;
    {
      std::unique_lock lock(mu);
      if (free_tags.empty())
        tag_free.wait(lock, [&] { return dead || free_tags.size() >= kRefillTags || (reader_idle && !free_tags.empty()); });
      if (dead) throw closed_error();
      tag = free_tags.back();
      free_tags.pop_back();
      waiting[tag] = std::move(done);
      defer = defer && free_tags.size() >= kDeferTags;
    }
    std::unique_lock lock(write_mu);
    const std::size_t at = outbox.size();
    try {
      m.pack_into(outbox);
    } catch (...) {  // a message that cannot be packed costs no tag
      lock.unlock();
      give_back(tag);
      throw;
    }
    outbox[at + 3] = tag;  // size[2] type[1] tag[1]
    try {
      if (!defer || outbox.size() >= kOutboxBytes) flush_locked();
    } catch (const std::exception& e) {
      lock.unlock();
      fail_all(e.what());
    }
  }

  void give_back(std::uint8_t tag) {
    {
      std::lock_guard lock(mu);
      waiting[tag] = nullptr;
      free_tags.push_back(tag);
      if (free_tags.size() == kRefillTags || reader_idle) tag_free.notify_all();
    }
  }

  // Sends what waits in the outbox; a failure fails every waiting request.
  void flush() {
    try {
      std::lock_guard lock(write_mu);
      flush_locked();
    } catch (const std::exception& e) {
      fail_all(e.what());
    }
  }
  void flush_locked() {
    if (outbox.empty()) return;
    Bytes out;
    out.swap(outbox);
    conn.write_all(out);
  }

  void put_finished(std::exception_ptr err) {
    {
      std::lock_guard lock(mu);
      if (err && !put_error) put_error = err;
      puts_in_flight--;
    }
    puts_done.notify_all();
  }
};

namespace {

void handshake(detail::Conn& conn, const ClientOptions& options, const std::string& address) {
  conn.write_all(version_line());
  std::string version = negotiate_version(conn.read_line());
  Message hello;
  hello.type = MsgType::Thello;
  hello.tag = 0;
  hello.version = version;
  hello.uid = options.uid;
  conn.write_all(hello.pack());
  Message reply = conn.read_message();
  if (reply.type == MsgType::Rerror) throw Error(Errc::Protocol, "venti server " + address + " refused hello: " + reply.error);
  if (reply.type != MsgType::Rhello || reply.tag != 0)
    throw Error(Errc::Protocol, "venti server " + address + " answered hello with " + to_string(reply.type));
}

// An Rerror carries text only; `code` says what it means for this request.
Error reply_error(const Message& reply, MsgType want, const std::string& address, Errc code = Errc::Refused) {
  if (reply.type == MsgType::Rerror) return Error(code, "venti server " + address + ": " + reply.error);
  return Error(Errc::Protocol, "venti server " + address + " answered with " + to_string(reply.type) + ", want " + to_string(want));
}

}  // namespace

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Client> Client::connect(const std::string& address, ClientOptions options) {
  Address addr = parse_address(address);
  detail::Conn conn = detail::Conn::dial(addr);
  handshake(conn, options, addr.str());
  auto impl = std::make_unique<Impl>(addr.str(), std::move(options), std::move(conn));
  auto* raw = impl.get();
  impl->reader = std::thread([raw] { raw->read_loop(); });
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::~Client() {
  try {
    wait_puts();
  } catch (...) {
  }
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->dead) {
      Message bye;
      bye.type = MsgType::Tgoodbye;
      try {
        std::lock_guard wlock(impl_->write_mu);
        impl_->flush_locked();  // whatever waits goes first
        impl_->conn.write_all(bye.pack());
      } catch (...) {
      }
    }
  }
  impl_->conn.shutdown();
  impl_->reader.join();
}

const std::string& Client::address() const { return impl_->address; }

void Client::call_async(Message request, Done done) { impl_->send(request, std::move(done)); }

Message Client::call(Message request) {
  std::promise<Message> p;
  auto f = p.get_future();
  call_async(std::move(request), [&p](Message* reply, std::exception_ptr err) {
    if (err)
      p.set_exception(err);
    else
      p.set_value(std::move(*reply));
  });
  return f.get();
}

namespace {

Message read_request(const Score& score, WireType type, std::size_t max) {
  Message m;
  m.type = MsgType::Tread;
  m.score = score;
  m.wire_type = type;
  m.count = static_cast<std::uint16_t>(std::min<std::size_t>(max, kMaxMessageSize - 4));
  return m;
}

Bytes checked_block(Message& reply, const Score& score, std::size_t max, const std::string& address) {
  if (reply.type != MsgType::Rread) throw reply_error(reply, MsgType::Rread, address, Errc::NotFound);
  if (reply.data.size() > max)
    throw Error(Errc::Corrupt, "venti server " + address + " sent " + std::to_string(reply.data.size()) + " bytes for " + score.hex() + ", more than asked");
  if (Score::of(reply.data) != score) throw Error(Errc::Corrupt, "venti server " + address + " sent wrong data for " + score.hex());
  return std::move(reply.data);
}

}  // namespace

Bytes Client::get(const Score& score, WireType type) { return get_async(score, type).get(); }

std::future<Bytes> Client::get_async(const Score& score, WireType type) {
  auto p = std::make_shared<std::promise<Bytes>>();
  auto f = p->get_future();
  if (score.is_zero()) {
    p->set_value({});
    return f;
  }
  std::size_t max = impl_->options.max_block;
  const std::string& address = impl_->address;
  call_async(read_request(score, type, max), [p, score, max, &address](Message* reply, std::exception_ptr err) {
    try {
      if (err) std::rethrow_exception(err);
      p->set_value(checked_block(*reply, score, max, address));
    } catch (...) {
      p->set_exception(std::current_exception());
    }
  });
  return f;
}

std::vector<Bytes> Client::get_many(std::span<const BlockKey> keys) {
  struct Batch {
    std::mutex mu;
    std::condition_variable done;
    std::size_t left;
    std::vector<Bytes> out;
    std::exception_ptr error;
    void finish(std::size_t i, Bytes data, std::exception_ptr e) {
      std::lock_guard lock(mu);
      if (e && !error) error = e;
      if (!e) out[i] = std::move(data);
      arrive_locked();
    }
    void arrive() {
      std::lock_guard lock(mu);
      arrive_locked();
    }
    void arrive_locked() {
      if (--left == 0) done.notify_one();
    }
  };
  auto batch = std::make_shared<Batch>();
  batch->out.resize(keys.size());
  batch->left = keys.size() + 1;  // +1: the sending loop itself
  const std::size_t max = impl_->options.max_block;
  const std::string& address = impl_->address;
  for (std::size_t i = 0; i < keys.size(); i++) {
    const Score score = keys[i].score;
    if (score.is_zero()) {
      batch->finish(i, {}, nullptr);
      continue;
    }
    try {
      impl_->send(read_request(score, keys[i].type, max), [batch, i, score, max, &address](Message* reply, std::exception_ptr err) {
        Bytes data;
        if (!err) {
          try {
            data = checked_block(*reply, score, max, address);
          } catch (...) {
            err = std::current_exception();
          }
        }
        batch->finish(i, std::move(data), err);
      }, true);
    } catch (...) {  // the connection is gone: the rest fail with it
      auto err = std::current_exception();
      for (std::size_t j = i; j < keys.size(); j++) batch->finish(j, {}, err);
      break;
    }
  }
  impl_->flush();
  batch->arrive();  // the loop's share: done only once everything is sent
  std::unique_lock lock(batch->mu);
  batch->done.wait(lock, [&] { return batch->left == 0; });
  if (batch->error) std::rethrow_exception(batch->error);
  return std::move(batch->out);
}

bool Client::has(const Score& score, WireType type) {
  if (score.is_zero()) return true;
  Message reply = call(read_request(score, type, impl_->options.max_block));
  if (reply.type == MsgType::Rerror) return false;
  checked_block(reply, score, impl_->options.max_block, impl_->address);
  return true;
}

Score Client::put(WireType type, std::span<const std::uint8_t> data) {
  Score s = Score::of(data);
  put_async(type, data, s);
  wait_puts();
  return s;
}

void Client::put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) {
  check_block_size(data.size(), impl_->options.max_block);
  Message m;
  m.type = MsgType::Twrite;
  m.wire_type = type;
  m.data.assign(data.begin(), data.end());
  {
    std::lock_guard lock(impl_->mu);
    impl_->puts_in_flight++;
  }
  Impl* impl = impl_.get();
  try {
    impl_->send(std::move(m), [impl, score](Message* reply, std::exception_ptr err) {
      if (!err && reply->type != MsgType::Rwrite) err = std::make_exception_ptr(reply_error(*reply, MsgType::Rwrite, impl->address));
      if (!err && reply->score != score)
        err = std::make_exception_ptr(Error(Errc::Corrupt, "venti server " + impl->address + " computed score " + reply->score.hex() + ", want " + score.hex()));
      impl->put_finished(err);
    }, true);
  } catch (...) {
    impl->put_finished(nullptr);
    throw;
  }
}

void Client::wait_puts() {
  impl_->flush();
  std::unique_lock lock(impl_->mu);
  impl_->puts_done.wait(lock, [&] { return impl_->puts_in_flight == 0; });
  if (auto err = std::exchange(impl_->put_error, nullptr)) std::rethrow_exception(err);
}

void Client::sync() {
  wait_puts();
  Message m;
  m.type = MsgType::Tsync;
  Message reply = call(std::move(m));
  if (reply.type != MsgType::Rsync) throw reply_error(reply, MsgType::Rsync, impl_->address);
}

void Client::ping() {
  Message m;
  m.type = MsgType::Tping;
  Message reply = call(std::move(m));
  if (reply.type != MsgType::Rping) throw reply_error(reply, MsgType::Rping, impl_->address);
}

}  // namespace vt
