// VacFs under concurrent use: readers, seekers and writers of a file carry
// on while its directory is renamed back and forth between two parents.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "vt/error.h"
#include "vt/memstore.h"
#include "vt/vacfs.h"

using namespace vt;

TEST(VacFsConcurrency, ReadsAndWritesCarryOnDuringRenames) {
  MemStore store;
  Cache cache(store, CacheOptions{.budget = 8 << 20});
  auto fs = VacFs::create(cache);
  auto root = fs->root();
  auto a = fs->create(root, DirEntry{.elem = "a", .mode = kModeDir | 0755});
  fs->create(root, DirEntry{.elem = "b", .mode = kModeDir | 0755});
  auto sub = fs->create(a, DirEntry{.elem = "sub", .mode = kModeDir | 0755});
  auto f = fs->create(sub, DirEntry{.elem = "f", .mode = 0644});
  auto g = fs->create(sub, DirEntry{.elem = "g", .mode = 0644});
  const Bytes content(64 << 10, 7);
  fs->write(f, 0, content);

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mu;
  auto fail = [&](const std::string& why) {
    std::lock_guard lock(failure_mu);
    if (failures++ == 0) first_failure = why;
  };
  auto guarded = [&](auto body) {
    return [&, body] {
      while (!stop) {
        try {
          body();
        } catch (const std::exception& e) {
          fail(e.what());
        }
      }
    };
  };
  std::atomic<int> reads{0};
  std::thread reader(guarded([&] {
    reads++;
    Bytes out(content.size());
    if (fs->read(f, 0, out) != out.size() || out != content) fail("f read back wrong");
  }));
  // Seeks and block counts (stat) take the same locks as reads.
  std::thread seeker(guarded([&] {
    if (fs->seek(f, 0, true) != 0u || fs->seek(f, 100, false) != content.size() || fs->allocated(f) != content.size())
      fail("f's data and holes seen wrong");
    if (auto hole = fs->seek(g, 0, false); hole && *hole > fs->size(g)) fail("g's hole past its end");
    fs->allocated(g);
  }));
  std::thread rewriter(guarded([&] { fs->write(f, 8192, std::span(content).first(20000)); }));
  std::uint64_t appended = 0;  // written by the appender thread only
  std::thread appender(guarded([&] {
    fs->write(g, appended, Bytes(100, static_cast<std::uint8_t>(appended / 100 % 251)));
    appended += 100;
  }));
  const char* dirs[] = {"a", "b"};
  // Renames until the reader has overlapped plenty of them (an even count).
  for (int i = 0; i < 300 || reads < 300 || i % 2; i++) {
    auto from = fs->lookup(root, dirs[i % 2]), to = fs->lookup(root, dirs[(i + 1) % 2]);
    fs->rename(from, "sub", to, "sub");
    if (i % 50 == 0) fs->sync();
  }
  stop = true;
  for (auto* t : {&reader, &seeker, &rewriter, &appender}) t->join();
  EXPECT_EQ(failures, 0) << first_failure;

  Score s = fs->sync();
  Cache c2(store);
  auto fs2 = VacFs::open(c2, s);
  auto sub2 = fs2->lookup(fs2->lookup(fs2->root(), "a"), "sub");  // an even number of moves
  ASSERT_TRUE(sub2);
  Bytes out(content.size());
  EXPECT_EQ(fs2->read(fs2->lookup(sub2, "f"), 0, out), out.size());
  EXPECT_EQ(out, content);
  auto g2 = fs2->lookup(sub2, "g");
  ASSERT_EQ(fs2->size(g2), appended);
  Bytes got(appended);
  fs2->read(g2, 0, got);
  for (std::uint64_t off = 0; off < appended; off += 100) ASSERT_EQ(got[off], off / 100 % 251) << off;
}
