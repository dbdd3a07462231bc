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

// Directory indexes dropped and read again (a node limit of 50) while
// walkers read every file, a writer adds files and syncs, and a holder
// keeps one node: every read is right, the held node stays the one
// lookups return, and every added file survives.
TEST(VacFsConcurrency, IndexesComeAndGoUnderWalkersAndWriters) {
  MemStore store;
  Cache cache(store, CacheOptions{.budget = 8 << 20});
  auto fs = VacFs::create(cache);
  constexpr int kDirs = 20, kFiles = 20;
  auto name = [](int d, int f) { return "d" + std::to_string(d) + "/f" + std::to_string(f); };
  for (int d = 0; d < kDirs; d++) {
    auto dir = fs->create(fs->root(), DirEntry{.elem = "d" + std::to_string(d), .mode = kModeDir | 0755});
    for (int f = 0; f < kFiles; f++) {
      const std::string path = name(d, f);
      fs->write(fs->create(dir, DirEntry{.elem = "f" + std::to_string(f), .mode = 0644}), 0, Bytes(path.begin(), path.end()));
    }
  }
  fs->sync();
  fs->set_node_limit(50);

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<std::size_t> least{SIZE_MAX};  // nodes held: indexes did go
  auto walker = [&](int first) {
    for (int round = 0; !stop; round++) {
      const int d = (first + round) % kDirs, f = round % kFiles;
      auto file = fs->lookup(fs->lookup(fs->root(), "d" + std::to_string(d)), "f" + std::to_string(f));
      std::string got(64, '\0');
      got.resize(fs->read(file, 0, {reinterpret_cast<std::uint8_t*>(got.data()), got.size()}));
      if (got != name(d, f)) failures++;
      least = std::min(least.load(), fs->nodes_held());
    }
  };
  std::thread w1(walker, 0), w2(walker, 7);
  std::thread holder([&] {
    auto held = fs->lookup(fs->lookup(fs->root(), "d3"), "f3");
    while (!stop)
      if (fs->lookup(fs->lookup(fs->root(), "d3"), "f3") != held) failures++;
  });
  // Adds until indexes were seen dropped, 200 files at least (a bound, so
  // that a build where none ever goes fails rather than hangs).
  int added = 0;
  for (; added < 200 || (least >= std::size_t{kDirs * kFiles} && added < 5000); added++) {
    auto dir = fs->lookup(fs->root(), "d" + std::to_string(added % kDirs));
    fs->write(fs->create(dir, DirEntry{.elem = "new" + std::to_string(added), .mode = 0644}), 0, Bytes(1, 'n'));
    if (added % 20 == 0) fs->sync();
  }
  stop = true;
  for (auto* t : {&w1, &w2, &holder}) t->join();
  EXPECT_EQ(failures, 0);
  EXPECT_LT(least, std::size_t{kDirs * kFiles});
  const Score s = fs->sync();
  Cache c2(store);
  auto fs2 = VacFs::open(c2, s);
  std::size_t files = 0;
  for (const DirEntry& d : fs2->list(fs2->root())) files += fs2->list(fs2->lookup(fs2->root(), d.elem)).size();
  EXPECT_EQ(files, static_cast<std::size_t>(kDirs * kFiles + added));
}
