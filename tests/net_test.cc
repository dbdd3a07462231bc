// Client and server over loopback: pipelining, ordering, failures.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "conn.h"
#include "full_disk.h"
#include "logged.h"
#include "vt/client.h"
#include "vt/error.h"
#include "vt/memstore.h"
#include "vt/redial.h"
#include "vt/server.h"

using namespace vt;
using namespace std::chrono_literals;

namespace {

// Delays each operation a little so that replies finish out of order.
class SlowStore : public MemStore {
 public:
  Bytes get(const Score& s, WireType t) override {
    nap();
    return MemStore::get(s, t);
  }
  Score put(WireType t, std::span<const std::uint8_t> d) override {
    nap();
    return MemStore::put(t, d);
  }
  // Slow puts go to the server's pool, not the session's thread.
  std::optional<Score> put_now(WireType, std::span<const std::uint8_t>) override { return std::nullopt; }
  std::atomic<int> syncs{0};
  void sync() override { syncs++; }

 private:
  void nap() {
    thread_local std::minstd_rand rng(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
  }
};

Bytes block_of(int i, std::size_t size = 100) {
  Bytes b(size);
  for (std::size_t k = 0; k < size; k++) b[k] = static_cast<std::uint8_t>(i * 31 + k * 7 + (i >> 8));
  b[0] = static_cast<std::uint8_t>(i);
  b[1] = static_cast<std::uint8_t>(i >> 8);
  return b;
}

}  // namespace

TEST(Net, WriteReadRoundTrip) {
  MemStore store;
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  Bytes data = block_of(1, 5000);
  Score s = c->put(kWireData, data);
  EXPECT_EQ(s, Score::of(data));
  EXPECT_EQ(c->get(s, kWireData), data);
  EXPECT_TRUE(c->has(s, kWireData));
  EXPECT_FALSE(c->has(s, kWireDir));  // the type is part of the name
  try {
    c->get(s, kWireDir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NotFound);
  }
  EXPECT_EQ(c->get(Score::zero(), kWireData), Bytes{});  // never asks the server
  c->ping();
  c->sync();
}

TEST(Net, PipelinesFromManyThreadsWithRepliesOutOfOrder) {
  SlowStore store;
  Server server(store, "127.0.0.1:0", {.workers = 16});
  server.start();
  auto c = Client::connect(server.address());
  constexpr int kThreads = 8, kPerThread = 256;

  // Each thread keeps up to 256 writes in flight, then reads them all back
  // at once; together they keep every tag busy.
  std::atomic<int> max_in_flight{0}, in_flight{0}, out_of_order{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::vector<Score> scores;
      for (int i = 0; i < kPerThread; i++) {
        Bytes b = block_of(t * 1000 + i);
        Score s = Score::of(b);
        scores.push_back(s);
        c->put_async(kWireData, std::move(b), s);
      }
      c->wait_puts();
      std::vector<std::future<Bytes>> reads;
      for (auto& s : scores) {
        int now = ++in_flight;
        int prev = max_in_flight.load();
        while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
        }
        reads.push_back(c->get_async(s, kWireData));
      }
      for (int i = 0; i < kPerThread; i++) {
        EXPECT_EQ(reads[i].get(), block_of(t * 1000 + i));
        in_flight--;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store.block_count(), std::size_t(kThreads * kPerThread));
  EXPECT_GE(max_in_flight.load(), 256);

  // Replies come back in completion order, not request order. The reads
  // go to the pool in batches of 64, which finish in an order of their own;
  // all four can finish in turn, so one round in order proves nothing.
  std::mutex mu;
  std::vector<int> order;
  auto read_round = [&] {
    order.clear();
    std::vector<std::future<void>> done;
    for (int i = 0; i < 256; i++) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p->get_future());
      Message m;
      m.type = MsgType::Tread;
      m.score = Score::of(block_of(i));
      m.wire_type = kWireData;
      m.count = 1000;
      c->call_async(m, [&, i, p](Message* reply, std::exception_ptr err) {
        EXPECT_FALSE(err);
        if (reply) {
          EXPECT_EQ(reply->type, MsgType::Rread);
        }
        std::lock_guard lock(mu);
        order.push_back(i);
        p->set_value();
      });
    }
    for (auto& f : done) f.get();
  };
  for (int round = 0; round < 5 && std::is_sorted(order.begin(), order.end()); round++) read_round();
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
}

// put_async and get_many let small messages wait to go out together; no
// mix of threads, batches and plain calls leaves a request unsent.
TEST(Net, GatheredSendsNeverStrandARequest) {
  MemStore store;
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; t++) {
    threads.emplace_back([&, t] {
      std::vector<BlockKey> mine;
      for (int round = 0; round < 30; round++) {
        for (int i = 0; i < 20; i++) {  // small: they fit the outbox together
          Bytes b = block_of(t * 10000 + round * 100 + i, 100);
          mine.push_back({Score::of(b), kWireData});
          c->put_async(kWireData, std::move(b), mine.back().score);
        }
        if (round % 3 == 0) c->ping();  // a plain call in between
        c->wait_puts();
        auto got = c->get_many(mine);
        ASSERT_EQ(got.size(), mine.size());
        EXPECT_EQ(got.back(), block_of(t * 10000 + round * 100 + 19, 100));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store.block_count(), 6u * 30 * 20);
}

// A message too big to pack fails on its own and gives its tag back: more
// such failures than there are tags leave the client working.
TEST(Net, AnUnpackableMessageCostsNoTag) {
  MemStore store;
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  Message big;
  big.type = MsgType::Twrite;
  big.wire_type = kWireData;
  big.data = Bytes(kMaxMessageSize + 1, 7);
  for (int i = 0; i < 300; i++) {
    try {
      c->call(big);
      ADD_FAILURE() << "an oversized message was sent";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::TooBig) << e.what();
    }
  }
  c->ping();
  Score s = c->put(kWireData, block_of(1));
  EXPECT_EQ(c->get(s, kWireData), block_of(1));
}

TEST(Net, SyncWaitsForEarlierWrites) {
  SlowStore store;
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  for (int i = 0; i < 100; i++) {
    Bytes b = block_of(i);
    Score s = Score::of(b);
    c->put_async(kWireData, std::move(b), s);
  }
  c->sync();
  EXPECT_EQ(store.block_count(), 100u);
  EXPECT_EQ(store.syncs.load(), 1);
}

// A store whose puts need no waiting gets them on the session's thread.
TEST(Net, WritesToAQuickStoreAreStoredOnTheSpot) {
  struct QuickStore : MemStore {
    std::atomic<int> now{0};
    std::optional<Score> put_now(WireType t, std::span<const std::uint8_t> d) override {
      now++;
      return MemStore::put_now(t, d);
    }
  } store;
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  std::vector<Score> scores;
  for (int i = 0; i < 200; i++) {
    Bytes b = block_of(i, 8192);
    scores.push_back(Score::of(b));
    c->put_async(kWireData, std::move(b), scores.back());
  }
  c->sync();
  EXPECT_EQ(store.now.load(), 200);
  EXPECT_EQ(store.block_count(), 200u);
  for (int i = 0; i < 200; i += 17) EXPECT_EQ(c->get(scores[i], kWireData), block_of(i, 8192));
}

// Reads that miss memory reach the store in batches, and one absent block
// in a batch fails only its own request.
TEST(Net, ReadsThatMissMemoryAreServedTogether) {
  struct CountingStore : MemStore {
    std::atomic<int> batches{0}, keys{0};
    std::vector<Bytes> get_many(std::span<const BlockKey> k) override {
      batches++;
      keys += static_cast<int>(k.size());
      return MemStore::get_many(k);
    }
  } store;
  std::vector<Score> scores;
  for (int i = 0; i < 200; i++) scores.push_back(store.put(kWireData, block_of(i, 1000)));
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  std::vector<BlockKey> want;
  for (const auto& sc : scores) want.push_back({sc, kWireData});
  auto got = c->get_many(want);
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; i++) EXPECT_EQ(got[i], block_of(i, 1000));
  EXPECT_EQ(store.keys.load(), 200);
  EXPECT_LT(store.batches.load(), 200 / 8) << "reads were served one by one";

  std::vector<std::future<Bytes>> futures;
  for (int i = 0; i < 50; i++) {
    futures.push_back(c->get_async(scores[i], kWireData));
    if (i == 25) futures.push_back(c->get_async(Score::of(block_of(9999)), kWireData));
  }
  for (std::size_t i = 0; i < futures.size(); i++) {
    if (i == 26) {
      EXPECT_THROW(futures[i].get(), Error);
    } else {
      EXPECT_EQ(futures[i].get(), block_of(static_cast<int>(i < 26 ? i : i - 1), 1000));
    }
  }
}

TEST(Net, ServerEnforcesLimitsAndReadOnly) {
  MemStore store;
  Server ro(store, "127.0.0.1:0", {.read_only = true});
  ro.start();
  auto c = Client::connect(ro.address());
  try {
    c->put(kWireData, block_of(1));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos);
  }
  Server small(store, "127.0.0.1:0", {.max_block = 1000});
  small.start();
  auto c2 = Client::connect(small.address());
  EXPECT_THROW(c2->put(kWireData, block_of(1, 1001)), Error);
  EXPECT_NO_THROW(c2->put(kWireData, block_of(1, 1000)));
  // A client asking for fewer bytes than the block holds gets an error.
  auto c3 = Client::connect(small.address(), {.max_block = 500});
  EXPECT_THROW(c3->get(Score::of(block_of(1, 1000)), kWireData), Error);
}

// A store that refuses every write (a full disk, here a read-only server)
// costs the log one line per run of the same failure, and a count.
TEST(Net, ARunOfTheSameFailureIsLoggedOnce) {
  MemStore store;
  test::Logged logged;
  auto server = std::make_unique<Server>(store, "127.0.0.1:0", ServerOptions{.read_only = true, .log = logged.sink()});
  server->start();
  {
    auto c = Client::connect(server->address());
    for (int i = 0; i < 100; i++) EXPECT_THROW(c->put(kWireData, block_of(i)), Error);
    EXPECT_THROW(c->get(Score::of(block_of(1000)), kWireData), Error);  // not found: never logged
    for (int i = 0; i < 3; i++) EXPECT_THROW(c->put(kWireData, block_of(i)), Error);
  }
  server.reset();  // the session ends: its counts are logged
  EXPECT_EQ(logged.count("read-only"), 1u) << logged.text();
  EXPECT_EQ(logged.count("the same again 102 times"), 1u) << logged.text();
}

TEST(Net, ClientRejectsWrongData) {
  // A server that answers every read with the wrong bytes.
  class LyingStore : public MemStore {
    Bytes get(const Score&, WireType) override { return {1, 2, 3}; }
  } store;
  Server server(store, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  try {
    c->get(Score::of(block_of(9)), kWireData);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Corrupt);
  }
}

TEST(Conn, MessageArrivedReadsWithoutWaiting) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  detail::Conn conn{detail::Fd(sv[0])};
  detail::Fd peer(sv[1]);
  Message ping;
  ping.type = MsgType::Tping;
  Bytes wire;
  ping.pack_into(wire);
  ping.pack_into(wire);
  EXPECT_FALSE(conn.message_arrived());  // nothing sent: no waiting either
  ASSERT_EQ(::write(peer.get(), wire.data(), 3), 3);
  EXPECT_FALSE(conn.message_arrived());  // half a message
  ASSERT_EQ(::write(peer.get(), wire.data() + 3, wire.size() - 3), static_cast<ssize_t>(wire.size() - 3));
  EXPECT_TRUE(conn.message_arrived());
  EXPECT_EQ(conn.read_message().type, MsgType::Tping);
  EXPECT_TRUE(conn.message_arrived());  // the second was read with the first
  EXPECT_EQ(conn.read_message().type, MsgType::Tping);
  peer = detail::Fd();
  EXPECT_FALSE(conn.message_arrived());  // the end of the stream
  EXPECT_THROW(conn.read_message(), Error);
}

TEST(Net, RefusedConnectionIsAClearError) {
  detail::Fd l = detail::listen_on(parse_address("127.0.0.1:0"));
  std::string addr = detail::local_address(l.get()).str();
  l = detail::Fd();  // nothing listens there now
  try {
    Client::connect(addr);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
}

namespace {

// A scripted peer: accepts one connection and runs `script` on it.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(detail::Conn&)> script)
      : listener_(detail::listen_on(parse_address("127.0.0.1:0"))), address_(detail::local_address(listener_.get()).str()) {
    thread_ = std::thread([this, script] {
      int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      detail::Conn c{detail::Fd(fd)};
      try {
        script(c);
      } catch (const Error&) {
      }
    });
  }
  ~FakeServer() { thread_.join(); }
  const std::string& address() const { return address_; }

 private:
  detail::Fd listener_;
  std::string address_;
  std::thread thread_;
};

void fake_hello(detail::Conn& c) {
  c.write_all(version_line("fake"));
  c.read_line();
  Message hello = c.read_message();
  Message r;
  r.type = MsgType::Rhello;
  r.tag = hello.tag;
  c.write_all(r.pack());
}

}  // namespace

TEST(Net, VersionMismatchIsAClearError) {
  FakeServer fake([](detail::Conn& c) {
    c.write_all(std::string_view("venti-04-future\n"));
    c.read_line();
  });
  try {
    Client::connect(fake.address());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Protocol);
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos);
  }
}

// A server whose store refuses writes (its disk is full) answers Rerror
// over a sound connection: Redial keeps the connection, so once the server
// takes writes again the next one succeeds at once, not after a redial
// pause, and the client knows the refusal from a lost connection.
TEST(Net, ARefusedWriteKeepsTheConnection) {
  test::FullStore store(true);
  std::atomic<int> connections{0};
  Server server(store, "127.0.0.1:0", {.log = [&](const std::string& l) {
                                          if (l.rfind("connection from", 0) == 0 && l.find("ended") == std::string::npos) connections++;
                                        }});
  server.start();
  Redial r(server.address(), std::chrono::hours(1));  // a redial would fail the test
  try {
    r.put_async(kWireData, block_of(1), Score::of(block_of(1)));
    r.wait_puts();
    ADD_FAILURE() << "the write must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Refused) << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(r.put(kWireData, block_of(2)), Error);
  store.full = false;
  r.put_async(kWireData, block_of(1), Score::of(block_of(1)));
  EXPECT_NO_THROW(r.wait_puts());
  EXPECT_EQ(r.put(kWireData, block_of(2)), Score::of(block_of(2)));
  EXPECT_NO_THROW(r.sync());
  EXPECT_EQ(r.get(Score::of(block_of(1)), kWireData), block_of(1));
  EXPECT_EQ(connections, 1);
}

TEST(Net, HangUpFailsEveryWaitingRequest) {
  std::atomic<int> seen{0};
  FakeServer fake([&](detail::Conn& c) {
    fake_hello(c);
    for (int i = 0; i < 10; i++) {
      c.read_message();
      seen++;
    }
    // Hang up with ten requests unanswered.
  });
  auto client = Client::connect(fake.address());
  std::vector<std::future<Bytes>> reads;
  for (int i = 0; i < 10; i++) reads.push_back(client->get_async(Score::of(block_of(i)), kWireData));
  for (auto& f : reads) {
    try {
      f.get();
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Closed);
    }
  }
  EXPECT_EQ(seen.load(), 10);
  // Later requests fail at once instead of hanging.
  EXPECT_THROW(client->ping(), Error);
  EXPECT_THROW(client->put(kWireData, block_of(1)), Error);
}

// A batch larger than the tag space, cut off by a hang-up after some answers:
// get_many fails with Closed instead of hanging, and so does the next one.
TEST(Net, HangUpFailsAWholeBatch) {
  FakeServer fake([&](detail::Conn& c) {
    fake_hello(c);
    for (int i = 0; i < 300; i++) {
      Message m = c.read_message();
      Message r;
      r.tag = m.tag;
      r.type = MsgType::Rread;
      r.data = block_of(0);  // right for the first block only; a wrong one fails its read
      if (i < 50) c.write_all(r.pack());
    }
  });
  auto client = Client::connect(fake.address());
  std::vector<BlockKey> keys;
  for (int i = 0; i < 400; i++) keys.push_back({Score::of(block_of(i % 2 ? 0 : i)), kWireData});
  try {
    client->get_many(keys);
    ADD_FAILURE() << "a cut-off batch succeeded";
  } catch (const Error& e) {
    EXPECT_TRUE(e.code() == Errc::Closed || e.code() == Errc::Corrupt) << e.what();
  }
  try {
    client->get_many(keys);
    ADD_FAILURE() << "a batch on a dead connection succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Closed) << e.what();
  }
}

TEST(Net, ASenderOutOfTagsTakesWhatIsFreeWhenNoMoreRepliesCome) {
  // This server answers only ten of the first 256 requests until it has
  // read ten more. A client that waited for a batch of free tags would wait
  // for replies that never come.
  constexpr int kBlocks = 300;
  std::map<Score, Bytes> blocks;
  std::vector<BlockKey> keys;
  for (int i = 0; i < kBlocks; i++) {
    blocks[Score::of(block_of(i))] = block_of(i);
    keys.push_back({Score::of(block_of(i)), kWireData});
  }
  FakeServer fake([&](detail::Conn& c) {
    fake_hello(c);
    auto answer = [&](const Message& m) {
      Message r;
      r.tag = m.tag;
      r.type = MsgType::Rread;
      r.data = blocks.at(m.score);
      c.write_all(r.pack());
    };
    std::vector<Message> held;
    for (int i = 0; i < 256; i++) held.push_back(c.read_message());
    for (int i = 0; i < 10; i++) answer(held[i]);
    for (int i = 0; i < 10; i++) held.push_back(c.read_message());
    for (std::size_t i = 10; i < held.size(); i++) answer(held[i]);
    for (int i = 266; i < kBlocks; i++) answer(c.read_message());
    c.read_message();  // goodbye
  });
  auto client = Client::connect(fake.address());
  auto got = client->get_many(keys);
  ASSERT_EQ(got.size(), keys.size());
  for (int i = 0; i < kBlocks; i++) EXPECT_EQ(got[i], block_of(i)) << i;
}

TEST(Net, ServerSurvivesGarbage) {
  MemStore store;
  Server server(store, "127.0.0.1:0");
  server.start();
  Address addr = parse_address(server.address());

  auto expect_hangup = [](detail::Conn& c) {
    for (;;) {
      try {
        Message m = c.read_message();
        if (m.type == MsgType::Rerror) continue;
      } catch (const Error& e) {
        EXPECT_TRUE(e.code() == Errc::Closed || e.code() == Errc::Io) << e.what();
        return;
      }
    }
  };
  {  // not a version line
    auto c = detail::Conn::dial(addr);
    c.write_all(std::string_view("GET / HTTP/1.0\r\n\r\n"));
    c.read_line();
    expect_hangup(c);
  }
  {  // binary noise instead of a version line
    auto c = detail::Conn::dial(addr);
    Bytes noise(5000);
    std::minstd_rand rng(1);
    for (auto& b : noise) b = static_cast<std::uint8_t>(rng());
    c.write_all(noise);
    c.read_line();
    expect_hangup(c);
  }
  {  // a version line longer than 1024 bytes
    auto c = detail::Conn::dial(addr);
    c.write_all(std::string(3000, 'v'));
    c.read_line();
    expect_hangup(c);
  }
  {  // a request before hello
    auto c = detail::Conn::dial(addr);
    c.write_all(version_line());
    c.read_line();
    Message ping;
    ping.type = MsgType::Tping;
    c.write_all(ping.pack());
    Message r = c.read_message();
    EXPECT_EQ(r.type, MsgType::Rerror);
    expect_hangup(c);
  }
  {  // a malformed message after hello
    auto c = detail::Conn::dial(addr);
    c.write_all(version_line());
    c.read_line();
    Message hello;
    hello.type = MsgType::Thello;
    hello.version = "02";
    c.write_all(hello.pack());
    EXPECT_EQ(c.read_message().type, MsgType::Rhello);
    const std::uint8_t bad[] = {0, 5, 12, 0, 1, 2, 3};  // Tread with a 3-byte score
    c.write_all(bad);
    expect_hangup(c);
  }
  {  // a message that stops halfway, then the connection closes
    auto c = detail::Conn::dial(addr);
    c.write_all(version_line());
    c.read_line();
    const std::uint8_t half[] = {0, 200, 14, 0, 13};
    c.write_all(half);
  }
  // The server still serves well-behaved clients.
  auto client = Client::connect(server.address());
  Score s = client->put(kWireData, block_of(42));
  EXPECT_EQ(client->get(s, kWireData), block_of(42));
}

TEST(Net, StopHangsUpOpenConnections) {
  MemStore store;
  auto server = std::make_unique<Server>(store, "127.0.0.1:0");
  server->start();
  auto c = Client::connect(server->address());
  c->ping();
  server->stop();
  EXPECT_THROW(c->ping(), Error);
}

namespace {

// A fresh directory for socket files, removed afterwards.
struct SocketDir {
  std::filesystem::path path;
  SocketDir() {
    char tmpl[] = "/tmp/vt-net-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~SocketDir() { std::filesystem::remove_all(path); }
  std::string address(const char* name) const { return "unix!" + (path / name).string(); }
};

}  // namespace

TEST(Net, UnixSocketsCarryTheProtocol) {
  SocketDir dir;
  MemStore store;
  std::string address = dir.address("venti.sock");
  {
    Server server(store, address);
    server.start();
    EXPECT_EQ(server.address(), address);
    auto c = Client::connect(address);
    Bytes data = block_of(3, 9000);
    Score s = c->put(kWireData, data);
    EXPECT_EQ(c->get(s, kWireData), data);
    c->sync();
  }
  // A stopped server leaves no socket file behind.
  EXPECT_FALSE(std::filesystem::exists(dir.path / "venti.sock"));
  try {
    Client::connect(address);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    EXPECT_NE(std::string(e.what()).find(address), std::string::npos) << e.what();
  }
}

TEST(Net, AStaleSocketIsReplacedButNothingElse) {
  SocketDir dir;
  MemStore store;
  // A socket file whose server died: nobody listens on it.
  std::string stale = dir.address("stale.sock");
  { detail::Fd dead = detail::listen_on(parse_address(stale)); }
  ASSERT_TRUE(std::filesystem::is_socket(dir.path / "stale.sock"));
  Server server(store, stale);
  server.start();
  Client::connect(stale)->ping();
  // A live server's socket, and a plain file, are left alone.
  EXPECT_THROW(Server(store, stale), Error);
  Client::connect(stale)->ping();
  std::ofstream(dir.path / "file") << "keep me";
  EXPECT_THROW(Server(store, dir.address("file")), Error);
  EXPECT_EQ(std::filesystem::file_size(dir.path / "file"), 7u);
}

TEST(Address, Forms) {
  EXPECT_EQ(parse_address("example.org:1234").str(), "example.org:1234");
  EXPECT_EQ(parse_address("tcp!example.org!1234").str(), "example.org:1234");
  EXPECT_EQ(parse_address("tcp!example.org!venti").str(), "example.org:17034");
  EXPECT_EQ(parse_address("example.org").str(), "example.org:17034");
  EXPECT_EQ(parse_address("[::1]:99").str(), "[::1]:99");
  EXPECT_EQ(parse_address("unix!/run/venti.sock").str(), "unix!/run/venti.sock");
  EXPECT_TRUE(parse_address("unix!/run/venti.sock").is_unix());
  EXPECT_EQ(parse_address("unix!/run/venti.sock").path, "/run/venti.sock");
  for (const char* bad : {"host:99999", "host:x", "udp!h!1", ":5", "[::1", "unix!"}) EXPECT_THROW(parse_address(bad), Error) << bad;
  ::setenv("venti", "tcp!10.1.2.3!555", 1);
  EXPECT_EQ(parse_address("").str(), "10.1.2.3:555");
  ::unsetenv("venti");
  EXPECT_EQ(parse_address("").str(), "127.0.0.1:17034");
}
