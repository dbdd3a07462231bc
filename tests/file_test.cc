// Cache and File: a randomized model test against byte arrays, tree shapes,
// classic scores, failure mid-flush, memory bounds, concurrency.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "data.h"
#include "fixtures.h"
#include "vt/cache.h"
#include "vt/error.h"
#include "vt/file.h"
#include "vt/memstore.h"
#include "vt/zero.h"

using namespace vt;

namespace {

using test::random_bytes;

Bytes read_all(File& f) {
  Bytes out(f.size());
  EXPECT_EQ(f.read(0, out), out.size());
  return out;
}

// Stream `index` of the directory root `e`, read back through a fresh cache:
// what the store really holds.
Bytes stored_stream(BlockStore& store, const Entry& e, std::uint32_t index = 0) {
  Cache fresh(store);
  return read_all(*File::open_root(fresh, e)->open(index));
}

// A store whose puts can be made to fail, like a server that went away.
class FlakyStore : public MemStore {
 public:
  std::atomic<bool> down{false};
  std::atomic<int> puts{0}, refused{0};
  Score put(WireType t, std::span<const std::uint8_t> d) override {
    if (down) {
      refused++;
      throw Error(Errc::Closed, "server went away");
    }
    puts++;
    return MemStore::put(t, d);
  }
  Bytes get(const Score& s, WireType t) override {
    if (down) throw Error(Errc::Closed, "server went away");
    return MemStore::get(s, t);
  }
};

// Keeps nothing: for writing more data than memory holds.
class SinkStore : public BlockStore {
 public:
  Bytes get(const Score& s, WireType) override {
    if (s.is_zero()) return {};
    throw Error(Errc::NotFound, "sink keeps nothing");
  }
  Score put(WireType, std::span<const std::uint8_t> d) override { return Score::of(d); }
  bool has(const Score& s, WireType) override { return s.is_zero(); }
  void sync() override {}
};

// Reports a failed put at the next wait_puts(), to one waiter, as the
// network client does.
class DeferredFailStore : public MemStore {
 public:
  std::atomic<bool> down{false};
  std::atomic<bool> refuse{false};  // put_async throws: no connection at all
  std::atomic<int> lost{0};         // puts dropped while down
  void put_async(WireType t, std::span<const std::uint8_t> d, const Score&) override {
    if (refuse) throw Error(Errc::Closed, "cannot connect");
    if (down) {
      std::lock_guard lock(mu_);
      error_ = std::make_exception_ptr(Error(Errc::Closed, "server went away"));
      lost++;
    } else {
      MemStore::put(t, d);
    }
  }
  void wait_puts() override {
    std::unique_lock lock(mu_);
    if (auto e = std::exchange(error_, nullptr)) {
      lock.unlock();
      std::rethrow_exception(e);
    }
  }

 private:
  std::mutex mu_;
  std::exception_ptr error_;
};

}  // namespace

TEST(File, SmallWritesReadBack) {
  MemStore store;
  Cache cache(store);
  auto f = File::create_root(cache, 8160, 8192, false);
  std::string hello = "hello, venti";
  f->write(0, {reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()});
  EXPECT_EQ(f->size(), hello.size());
  Bytes out(100);
  ASSERT_EQ(f->read(0, out), hello.size());
  EXPECT_EQ(std::string(out.begin(), out.begin() + 12), hello);
  EXPECT_EQ(f->read(5, std::span(out).first(3)), 3u);
  EXPECT_EQ(std::string(out.begin(), out.begin() + 3), ", v");
  EXPECT_EQ(f->read(100, out), 0u);
  Entry e = f->flush();
  EXPECT_FALSE(e.score.is_local());
  EXPECT_EQ(e.score, Score::of({reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()}));
  EXPECT_EQ(e.depth(), 0);
  EXPECT_EQ(cache.dirty_bytes(), 0u);
}

TEST(File, ZeroFilesHaveTheZeroScore) {
  MemStore store;
  Cache cache(store);
  for (std::uint64_t n : {0ull, 1ull, 8192ull, 50000ull, 5000000ull}) {
    auto f = File::create_root(cache, 8160, 8192, false);
    Bytes zeros(n);
    f->write(0, zeros);
    Entry e = f->flush();
    EXPECT_EQ(e.score, Score::zero()) << n;
    EXPECT_EQ(e.size, n);
    EXPECT_EQ(e.depth(), depth_for_size(n, 8160, 8192)) << n;
  }
  EXPECT_EQ(store.block_count(), 0u);  // nothing was ever stored
}

TEST(File, SparseFilesCostNothing) {
  MemStore store;
  Cache cache(store);
  auto f = File::create_root(cache, 8160, 8192, false);
  f->set_size(1ull << 40);  // a terabyte of hole
  Bytes b = random_bytes(100, 1);
  f->write((1ull << 40) - 100, b);
  f->flush();
  EXPECT_LE(store.block_count(), 6u);  // the data block and one pointer block per level
  Bytes out(100);
  EXPECT_EQ(f->read((1ull << 40) - 100, out), 100u);
  EXPECT_EQ(out, b);
  EXPECT_EQ(f->read(12345678, out), 100u);
  EXPECT_EQ(out, Bytes(100, 0));
}

TEST(File, BoundarySizes) {
  MemStore store;
  Cache cache(store);
  for (std::size_t n : {1ul, 8191ul, 8192ul, 8193ul, 8192ul * 408, 8192ul * 408 + 1}) {
    Bytes b = random_bytes(n, static_cast<std::uint32_t>(n));
    auto f = File::create_root(cache, 8160, 8192, false);
    f->write(0, b);
    Entry e = f->flush();
    EXPECT_EQ(e.depth(), depth_for_size(n, 8160, 8192)) << n;
    Cache fresh(store);
    auto g = File::open_root(fresh, e);
    EXPECT_EQ(read_all(*g), b) << n;
  }
}

// A reader that reads once (File::Reuse::once, as a FUSE read) leaves no
// data block it read to its end in the cache; the default keeps them. A
// block read only in part stays, and so does the tree's pointer block.
TEST(File, AReaderThatReadsOnceLeavesNoDataBlocksBehind) {
  MemStore store;
  Entry e;
  const Bytes b = random_bytes(8192 * 300 + 100, 7);
  {
    Cache cache(store);
    auto f = File::create_root(cache, 8160, 8192, false);
    f->write(0, b);
    e = f->flush();
  }
  auto read_in_pieces = [&](File& f, File::Reuse reuse, std::size_t piece) {
    Bytes out(b.size());
    for (std::size_t at = 0; at < b.size(); at += piece)
      f.read(at, std::span(out).subspan(at, std::min(piece, b.size() - at)), reuse);
    return out;
  };
  {
    Cache cache(store);
    auto f = File::open_root(cache, e);
    EXPECT_EQ(read_in_pieces(*f, File::Reuse::likely, 1 << 20), b);
    EXPECT_GE(cache.stats().bytes_clean, b.size());
  }
  {
    Cache cache(store);
    auto f = File::open_root(cache, e);
    EXPECT_EQ(read_in_pieces(*f, File::Reuse::once, 1 << 20), b);
    EXPECT_LE(cache.stats().bytes_clean, 8160u);  // the pointer block alone
  }
  {
    Cache cache(store);
    auto f = File::open_root(cache, e);
    Bytes half(4096);
    f->read(8192 * 5, half, File::Reuse::once);  // the first half of block 5
    EXPECT_GE(cache.stats().bytes_clean, 8192u + 8160u);
    EXPECT_EQ(Bytes(b.begin() + 8192 * 5, b.begin() + 8192 * 5 + 4096), half);
    EXPECT_EQ(read_in_pieces(*f, File::Reuse::once, 3000), b);  // pieces that end inside blocks
    EXPECT_LE(cache.stats().bytes_clean, 8160u);
  }
}

// A hostile entry whose size claims more than its tree can hold reads as
// zeros past the tree, not as other blocks of it.
TEST(File, ASizePastTheTreeReadsAsZeros) {
  MemStore store;
  Bytes pointers;
  for (int i = 0; i < 13; i++) {
    Score s = store.put(to_wire(kDataType), random_bytes(256, static_cast<std::uint32_t>(i)));
    pointers.insert(pointers.end(), s.bytes.begin(), s.bytes.end());
  }
  Entry e;
  e.psize = 260;  // 13 pointers: the tree holds 13 blocks
  e.dsize = 256;
  e.type = kDataType + 1;
  e.flags = kEntryActive;
  e.size = 13 * 256 + 1000;
  e.score = store.put(to_wire(static_cast<BlockType>(kDataType + 1)), pointers);
  Cache cache(store);
  auto f = File::open_root(cache, e);
  Bytes out(e.size, 0xee);
  ASSERT_EQ(f->read(0, out), out.size());
  for (int i = 0; i < 13; i++)
    EXPECT_TRUE(std::equal(out.begin() + i * 256, out.begin() + (i + 1) * 256, random_bytes(256, static_cast<std::uint32_t>(i)).begin())) << i;
  EXPECT_TRUE(std::all_of(out.begin() + 13 * 256, out.end(), [](std::uint8_t b) { return b == 0; }));
}

// A data block's score comes from the pointer block above it: the score of
// its stored bytes, zero for a hole or past the tree.
TEST(File, BlockScoreNamesEachDataBlock) {
  MemStore store;
  Cache cache(store);
  auto f = File::create_root(cache, 8180, 8192, false);
  f->write(0, random_bytes(8192, 1));
  f->write(2 * 8192, random_bytes(100, 3));  // block 1 is a hole
  f->flush();
  EXPECT_EQ(f->block_score(0), Score::of(random_bytes(8192, 1)));
  EXPECT_EQ(f->block_score(1), Score::zero());
  EXPECT_EQ(f->block_score(2), Score::of(random_bytes(100, 3)));  // stored zero-truncated
  EXPECT_EQ(f->block_score(5000), Score::zero());
}

// A copy by sharing blocks reads as a copy of the bytes would, stores no
// data block again, and refuses (changing nothing) what it cannot share.
TEST(File, ShareRangeCopiesByScore) {
  MemStore store;
  Cache cache(store);
  // Small blocks, so that the streams have deep trees (13 scores a block).
  auto root = File::create_root(cache, 260, 8192, true);
  auto a = root->create(260, 256, false), b = root->create(260, 256, false);
  Bytes src = random_bytes(256 * 400 + 100, 1);  // a partial last block
  a->write(0, src);
  root->flush();
  a->write(256 * 390, random_bytes(256, 2));  // one block not stored yet
  std::memcpy(src.data() + 256 * 390, random_bytes(256, 2).data(), 256);
  Bytes want = random_bytes(256 * 50, 3);
  b->write(0, want);

  ASSERT_TRUE(b->share_range(*a, 256 * 10, 256 * 20, 256 * 5));  // into the middle
  std::memcpy(want.data() + 256 * 20, src.data() + 256 * 10, 256 * 5);
  EXPECT_EQ(read_all(*b), want);
  for (int k = 0; k < 5; k++) {  // the stored blocks themselves, not copies
    EXPECT_FALSE(b->block_score(20 + k).is_local()) << k;
    EXPECT_EQ(b->block_score(20 + k), a->block_score(10 + k)) << k;
  }
  // Past the end, with the local block and the partial last one.
  const std::uint64_t from = 256 * 380, len = src.size() - from, at = 256 * 3000;
  ASSERT_TRUE(b->share_range(*a, from, at, len));
  want.resize(at + len);
  std::memcpy(want.data() + at, src.data() + from, len);
  EXPECT_EQ(read_all(*b), want);
  EXPECT_TRUE(b->block_score(3000 + 10).is_local());  // copied, not shared
  // Within one stream, apart.
  ASSERT_TRUE(b->share_range(*b, 0, 256 * 40, 256 * 2));
  std::memcpy(want.data() + 256 * 40, want.data(), 256 * 2);
  EXPECT_EQ(read_all(*b), want);

  // What cannot be shared is refused and changes nothing.
  EXPECT_FALSE(b->share_range(*a, 1, 0, 256));                    // off a block boundary
  EXPECT_FALSE(b->share_range(*a, 0, 256, 255));                  // a partial block not at the source's end
  EXPECT_FALSE(b->share_range(*a, from, 0, len));                 // a partial last block before the end
  EXPECT_FALSE(b->share_range(*a, 0, 0, src.size() + 256));       // past the source's end
  EXPECT_FALSE(b->share_range(*b, 0, 256, 256 * 2));              // overlapping
  EXPECT_FALSE(b->share_range(*root, 0, 0, 256));                 // a directory stream
  EXPECT_EQ(read_all(*b), want);

  Entry e = root->flush();
  EXPECT_EQ(stored_stream(store, e, b->index()), want);
  EXPECT_EQ(stored_stream(store, e, a->index()), src);
}

// A store that fails partway leaves a copy by sharing partly done, like a
// short write: what was shared reads as the source, the rest as before.
TEST(File, ShareRangeThatFailsPartwayKeepsTheStreamWhole) {
  FlakyStore store;
  Entry e;
  const Bytes a_bytes = random_bytes(256 * 100, 4), b_bytes = random_bytes(256 * 100, 5);
  {
    Cache cache(store);
    auto root = File::create_root(cache, 260, 8192, true);
    root->create(260, 256, false)->write(0, a_bytes);
    root->create(260, 256, false)->write(0, b_bytes);
    e = root->flush();
  }
  Cache cache(store);  // nothing cached
  auto root = File::open_root(cache, e);
  auto a = root->open(0), b = root->open(1);
  read_all(*a);
  Bytes first(256);
  b->read(0, first);  // b's pointer blocks down to its first 13 data blocks
  store.down = true;
  EXPECT_THROW(b->share_range(*a, 0, 0, 256 * 20), Error);  // block 13 needs a block from the store
  store.down = false;
  Bytes want = b_bytes;
  std::memcpy(want.data(), a_bytes.data(), 256 * 13);
  EXPECT_EQ(read_all(*b), want);
  EXPECT_EQ(stored_stream(store, root->flush(), 1), want);
}

TEST(File, DeepTreesGrowAndShrink) {
  MemStore store;
  Cache cache(store);
  // psize 260 holds 13 scores; 256-byte data blocks: depth 4 past 13^3 blocks.
  auto f = File::create_root(cache, 260, 256, false);
  Bytes b = random_bytes(256 * 2300, 7);
  f->write(0, b);
  EXPECT_EQ(f->entry().depth(), 4);
  Entry e = f->flush();
  EXPECT_EQ(e.depth(), 4);
  Cache fresh(store);
  EXPECT_EQ(read_all(*File::open_root(fresh, e)), b);

  f->set_size(1000);
  EXPECT_EQ(f->entry().depth(), 1);
  b.resize(1000);
  EXPECT_EQ(read_all(*f), b);
  f->set_size(256 * 200);  // grows again: the old tail must read as zeros
  b.resize(256 * 200, 0);
  EXPECT_EQ(read_all(*f), b);
  Entry e2 = f->flush();
  // Same bytes, same blocks: the score equals that of a file written fresh.
  auto g = File::create_root(cache, 260, 256, false);
  g->write(0, b);
  EXPECT_EQ(g->flush().score, e2.score);
}

TEST(File, DirectoryStreamsCreateOpenRemove) {
  MemStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  std::vector<std::shared_ptr<File>> kids;
  for (int i = 0; i < 300; i++) {  // several dir blocks (204 entries each)
    kids.push_back(root->create(8160, 8192, i % 3 == 0));
    EXPECT_EQ(kids.back()->index(), static_cast<std::uint32_t>(i));
    Bytes b = random_bytes(100 + i, i);
    if (!kids.back()->entry().is_dir()) kids.back()->write(0, b);
  }
  EXPECT_EQ(root->entry_count(), 300u);
  Entry before = kids[10]->entry();
  kids[10]->remove();
  EXPECT_THROW(kids[10]->size(), Error);
  EXPECT_THROW(root->open(10), Error);
  auto reused = root->create(8160, 8192, false);
  EXPECT_EQ(reused->index(), 10u);
  EXPECT_EQ(reused->entry().gen, before.gen + 1);
  EXPECT_EQ(reused->size(), 0u);

  Entry re = root->flush();
  Cache fresh(store);
  auto r2 = File::open_root(fresh, re);
  EXPECT_EQ(r2->entry_count(), 300u);
  for (int i : {0, 1, 2, 150, 299}) {
    auto k = r2->open(static_cast<std::uint32_t>(i));
    if (!k->entry().is_dir()) {
      EXPECT_EQ(read_all(*k), random_bytes(100 + i, i)) << i;
    }
  }
}

// A write changes a stream's entry in its directory; above the first
// directory whose blocks are already local, no entry changes. Going on up
// would cost each write a walk from every level to the root.
TEST(File, AWriteDeepInATreeLooksUpLinearlyManyBlocks) {
  MemStore store;
  Cache cache(store);
  auto lookups_per_write = [&](int depth) {
    std::shared_ptr<File> dir = File::create_root(cache, 8160, 8192, true);
    for (int i = 0; i < depth; i++) dir = dir->create(8160, 8192, true);
    auto f = dir->create(8160, 8192, false);
    f->write(0, Bytes(100, 1));  // the whole path is local now
    const auto before = cache.stats().local_lookups;
    for (int i = 0; i < 10; i++) f->write(0, Bytes(100, static_cast<std::uint8_t>(i)));
    EXPECT_EQ(f->size(), 100u);
    return (cache.stats().local_lookups - before) / 10;
  };
  const auto shallow = lookups_per_write(8), deep = lookups_per_write(64);
  // Linear: 8x the depth, 8x the lookups (give or take the file's own).
  // Quadratic would be about 60x.
  EXPECT_LE(deep, 10 * shallow) << shallow << " lookups at depth 8, " << deep << " at depth 64";
  EXPECT_GT(deep, shallow);
}

TEST(File, StaleHandleToAReusedSlotFails) {
  MemStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto a = root->create(8160, 8192, false);
  auto stale = root->open(0);
  a->remove();
  auto b = root->create(8160, 8192, false);
  ASSERT_EQ(b->index(), 0u);
  EXPECT_THROW(stale->write(0, Bytes(10, 1)), Error);
}

TEST(File, ModelTest) {
  MemStore store;
  auto cache = std::make_unique<Cache>(store, CacheOptions{.budget = 4 << 20});
  auto root = File::create_root(*cache, 1020, 1024, true);  // small blocks: deep trees
  constexpr int kStreams = 6;
  std::vector<std::shared_ptr<File>> files;
  std::vector<Bytes> model(kStreams);
  for (int i = 0; i < kStreams; i++) files.push_back(root->create(i % 2 ? 1020 : 260, i % 2 ? 1024 : 512, false));
  std::mt19937 rng(12345);
  auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n)(rng); };
  for (int op = 0; op < 4000; op++) {
    int i = static_cast<int>(pick(kStreams - 1));
    File& f = *files[i];
    Bytes& m = model[i];
    switch (pick(9)) {
      case 0:
      case 1:
      case 2: {  // write somewhere near the data
        std::uint64_t off = pick(m.size() + 3000);
        Bytes b = random_bytes(pick(5000), static_cast<std::uint32_t>(op));
        f.write(off, b);
        if (off + b.size() > m.size()) m.resize(off + b.size(), 0);
        std::copy(b.begin(), b.end(), m.begin() + static_cast<std::ptrdiff_t>(off));
        break;
      }
      case 3: {  // truncate
        std::uint64_t n = pick(m.size());
        f.set_size(n);
        m.resize(n);
        break;
      }
      case 4: {  // extend with a hole
        std::uint64_t n = m.size() + pick(100000);
        f.set_size(n);
        m.resize(n, 0);
        break;
      }
      case 5:
      case 6:
      case 7: {  // read a range
        std::uint64_t off = pick(m.size() + 10);
        Bytes out(pick(6000));
        std::size_t got = f.read(off, out);
        std::size_t want = off >= m.size() ? 0 : std::min<std::size_t>(out.size(), m.size() - off);
        ASSERT_EQ(got, want) << "op " << op;
        ASSERT_TRUE(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(got), m.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(off, m.size()))))
            << "op " << op;
        break;
      }
      case 8: f.flush(); break;
      case 9: {  // flush everything, reopen through a fresh cache, compare
        Entry re = root->flush();
        EXPECT_EQ(cache->dirty_bytes(), 0u);
        files.clear();
        root.reset();
        cache = std::make_unique<Cache>(store, CacheOptions{.budget = 4 << 20});
        root = File::open_root(*cache, re);
        for (int k = 0; k < kStreams; k++) {
          files.push_back(root->open(static_cast<std::uint32_t>(k)));
          ASSERT_EQ(read_all(*files[k]), model[k]) << "stream " << k << " after op " << op;
        }
        break;
      }
    }
  }
}

TEST(File, ClassicFixtureScoresAreReproduced) {
  for (std::string name : {"classic-small", "classic-deep"}) {
    MemStore store;
    test::load_fixture(name, store);
    Cache cache(store);
    int checked = 0;
    for (const auto& f : std::filesystem::directory_iterator(test::fixture_dir(name) + "/blocks")) {
      if (f.path().extension() != ".2") continue;
      std::ifstream in(f.path(), std::ios::binary);
      Bytes dir((std::istreambuf_iterator<char>(in)), {});
      zero_extend(kWireDir, dir, (dir.size() + kEntrySize - 1) / kEntrySize * kEntrySize);
      for (std::size_t off = 0; off + kEntrySize <= dir.size(); off += kEntrySize) {
        Entry e = Entry::unpack(std::span(dir).subspan(off).first<kEntrySize>());
        if (!e.active()) continue;
        // Rewrite the stream's bytes into a new tree: same bytes, same score.
        Bytes data = read_all(*File::open_root(cache, e));
        MemStore other;
        Cache c2(other);
        auto copy = File::create_root(c2, e.psize, e.dsize, e.is_dir());
        copy->write(0, data);
        Entry re = copy->flush();
        EXPECT_EQ(re.score, e.score) << name << " " << f.path().filename() << " entry " << off / kEntrySize;
        EXPECT_EQ(re.depth(), e.depth());
        checked++;
      }
    }
    EXPECT_GT(checked, 5) << name;
  }
}

// Two flushes overlap and one block fails: whichever waits first hears of
// it, and the other must fail too rather than promote unwritten blocks.
TEST(Cache, AFailedWriteFailsEveryBatchItOverlapped) {
  DeferredFailStore store;
  Cache cache(store);
  auto first = cache.write_mark();
  auto second = cache.write_mark();
  store.down = true;
  cache.write(kDataType, random_bytes(100, 1));  // the first batch's write
  store.down = false;
  EXPECT_THROW(cache.wait_writes(second), Error);
  EXPECT_THROW(cache.wait_writes(first), Error);
  auto later = cache.write_mark();
  Score s = cache.write(kDataType, random_bytes(100, 2));
  EXPECT_NO_THROW(cache.wait_writes(later));
  EXPECT_TRUE(store.has(s, to_wire(kDataType)));
}

// A store that counts batched reads and can have one bad block.
class BatchStore : public MemStore {
 public:
  std::atomic<int> batches{0}, batched_keys{0};
  Score bad = Score::zero();
  Bytes get(const Score& s, WireType t) override {
    if (s == bad && !s.is_zero()) throw Error(Errc::Corrupt, "bad block");
    return MemStore::get(s, t);
  }
  std::vector<Bytes> get_many(std::span<const BlockKey> keys) override {
    batches++;
    batched_keys += static_cast<int>(keys.size());
    return BlockStore::get_many(keys);
  }
};

// The misses of a batch reach the store in one request; a batch that fails
// is fetched block by block, so only the bad block fails.
TEST(Cache, GlobalManyFetchesTheMissesTogether) {
  BatchStore store;
  std::vector<Score> scores;
  for (int i = 0; i < 20; i++) scores.push_back(store.put(to_wire(kDataType), random_bytes(8192, static_cast<std::uint32_t>(i))));
  Cache cache(store);
  cache.global(scores[3], kDataType, 8192);  // cached already
  std::vector<Score> asked(scores.begin(), scores.begin() + 10);
  asked.push_back(Score::zero());
  auto got = cache.global_many(asked, kDataType, 8192);
  EXPECT_EQ(store.batches, 1);
  EXPECT_EQ(store.batched_keys, 9);  // not the cached one, not the zero score
  for (int i = 0; i < 10; i++) EXPECT_EQ(got[static_cast<std::size_t>(i)]->data, random_bytes(8192, static_cast<std::uint32_t>(i)));
  EXPECT_EQ(got[10]->data, Bytes(8192, 0));

  store.bad = scores[15];
  std::vector<Score> rest(scores.begin() + 10, scores.end());
  EXPECT_THROW(cache.global_many(rest, kDataType, 8192), Error);
  store.batched_keys = 0;
  store.bad = Score::zero();
  auto again = cache.global_many(rest, kDataType, 8192);  // the good ones stayed cached
  EXPECT_EQ(store.batched_keys, 1);
  EXPECT_EQ(again[5]->data, random_bytes(8192, 15));
  EXPECT_THROW(cache.global_many(std::vector<Score>{Score::local(7)}, kDataType, 8192), Error);
}

// Writing many blocks at once (two threads hash them) gives what writing
// them one by one gives, in order, from two callers at once too.
TEST(CacheConcurrency, WriteManyIsWriteInOrder) {
  MemStore store;
  Cache cache(store);
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 409u}) {
    std::vector<Bytes> blocks;
    for (std::size_t i = 0; i < n; i++) {
      Bytes b = i % 7 == 3 ? Bytes(8192, 0) : random_bytes(1 + (i * 977) % 8192, static_cast<std::uint32_t>(n * 1000 + i));
      b.resize(8192, 0);  // zero-extended, as in memory
      blocks.push_back(std::move(b));
    }
    std::vector<std::span<const std::uint8_t>> spans(blocks.begin(), blocks.end());
    std::vector<Score> other;
    std::thread second([&] { other = cache.write_many(kDataType, spans); });
    auto scores = cache.write_many(kDataType, spans);
    second.join();
    cache.wait_writes(cache.write_mark());
    ASSERT_EQ(scores.size(), n);
    EXPECT_EQ(other, scores);
    for (std::size_t i = 0; i < n; i++) {
      Bytes stored(blocks[i].begin(), blocks[i].begin() + static_cast<std::ptrdiff_t>(zero_truncated_size(to_wire(kDataType), blocks[i])));
      EXPECT_EQ(scores[i], Score::of(stored)) << n << " " << i;
      if (!stored.empty()) {
        EXPECT_EQ(store.get(scores[i], to_wire(kDataType)), stored);
      }
    }
  }
}

// Where test threads wait until it opens.
class Gate {
 public:
  void pass() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }
  void set(bool open) {
    {
      std::lock_guard lock(mu_);
      open_ = open;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A store whose reads wait at a gate the test opens, and then maybe fail.
class GateStore : public MemStore {
 public:
  std::atomic<int> gets{0};
  std::atomic<bool> fail{false};
  Bytes get(const Score& s, WireType t) override {
    gets++;
    gate_.pass();
    if (fail) throw Error(Errc::Io, "disk error");
    return MemStore::get(s, t);
  }
  void open(bool o) { gate_.set(o); }

 private:
  Gate gate_;
};

// Threads that miss the same block at once share one fetch: one store read,
// one block, or one error for all of them; a failure is not remembered.
TEST(CacheConcurrency, MissesOfOneBlockShareOneFetch) {
  GateStore store;
  Bytes data = random_bytes(8192, 7);
  Score s = store.put(to_wire(kDataType), data);
  Cache cache(store);
  auto all_miss = [&](int threads) {
    std::vector<std::thread> ts;
    std::vector<BlockPtr> got(static_cast<std::size_t>(threads));
    std::atomic<int> errors{0};
    auto before = cache.stats();
    for (int i = 0; i < threads; i++) ts.emplace_back([&, i] {
      try {
        got[static_cast<std::size_t>(i)] = cache.global(s, kDataType, 8192);
      } catch (const Error&) {
        errors++;
      }
    });
    for (;;) {  // every thread has found the slot (one fetching, the rest waiting)
      auto now = cache.stats();
      if (now.hits + now.misses - before.hits - before.misses == static_cast<std::uint64_t>(threads)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    store.open(true);
    for (auto& t : ts) t.join();
    store.open(false);
    return std::pair{got, errors.load()};
  };

  store.fail = true;
  auto [failed, errors] = all_miss(6);
  EXPECT_EQ(store.gets, 1);
  EXPECT_EQ(errors, 6);

  store.fail = false;
  auto [blocks, none] = all_miss(6);
  EXPECT_EQ(store.gets, 2);  // the failure was forgotten: fetched again
  EXPECT_EQ(none, 0);
  for (auto& b : blocks) {
    ASSERT_TRUE(b);
    EXPECT_EQ(b.get(), blocks[0].get());
    EXPECT_EQ(b->data, data);
  }
  store.open(true);
  EXPECT_EQ(cache.global(s, kDataType, 8192).get(), blocks[0].get());  // cached now
  EXPECT_EQ(store.gets, 2);
}

TEST(File, FailedFlushKeepsLocalBlocksAndRetrySucceeds) {
  FlakyStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  Bytes b = random_bytes(500000, 3);
  f->write(0, b);
  std::size_t dirty = cache.dirty_bytes();
  store.down = true;
  EXPECT_THROW(root->flush(), Error);
  EXPECT_EQ(cache.dirty_bytes(), dirty);
  EXPECT_TRUE(root->entry().score.is_local());
  EXPECT_EQ(read_all(*f), b);
  store.down = false;
  Entry e = root->flush();
  EXPECT_FALSE(e.score.is_local());
  Cache fresh(store);
  EXPECT_EQ(read_all(*File::open_root(fresh, e)->open(0)), b);
}

// A store that refuses everything (a full disk, a server gone) while a
// writer goes on: once the unwritten blocks fill the budget, writes fail
// with the store's reason instead of memory growing, and what was accepted
// is kept and stored once the store works again.
TEST(File, WritesFailRatherThanOutgrowTheBudgetWhileTheStoreRefuses) {
  FlakyStore store;
  constexpr std::size_t kBudget = 4 << 20, kChunk = 64 << 10;
  Cache cache(store, CacheOptions{.budget = kBudget});
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  store.down = true;
  Bytes b = random_bytes(32 << 20, 41);
  std::size_t accepted = 0;
  std::string why;
  for (; accepted < b.size(); accepted += kChunk) {
    try {
      f->write(accepted, std::span(b).subspan(accepted, kChunk));
    } catch (const Error& e) {
      why = e.what();
      break;
    }
  }
  EXPECT_LT(accepted, b.size()) << "some write must fail";
  EXPECT_EQ(why, "server went away");
  EXPECT_LE(cache.dirty_bytes(), kBudget + kChunk + (1 << 20)) << "a chunk and a few pointer blocks past the budget at most";
  EXPECT_EQ(f->size(), accepted) << "the failed write changed nothing";
  EXPECT_THROW(f->write(accepted, std::span(b).subspan(accepted, kChunk)), Error) << "and the next fails too";
  // Writes do not try the store again at every request (each try hashes
  // and sends every dirty block; this store refuses the first at once): a
  // try a second at most (a few on a slow machine), not one per write past
  // the high-water mark (36 here).
  EXPECT_LE(store.refused, 4);

  store.down = false;
  root->flush();  // a sync finds the store back at once
  f->write(accepted, std::span(b).subspan(accepted, kChunk));
  accepted += kChunk;
  Entry e = root->flush();
  Cache fresh(store);
  EXPECT_EQ(read_all(*File::open_root(fresh, e)->open(0)), Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(accepted)));
}

TEST(File, AnAppendingWriterHasItsBlocksWrittenBehind) {
  FlakyStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  const std::size_t span = 8160 / kScoreSize * 8192;  // the data below one level-1 block
  Bytes b = random_bytes(3 * span + 100000, 21);
  for (std::size_t off = 0; off < b.size(); off += 1 << 20)
    f->write(off, std::span(b).subspan(off, std::min<std::size_t>(1 << 20, b.size() - off)));
  // The spans went to the store as they filled; of the three, at most two
  // may still be being written, so at least the first is stored, and the
  // rest of the data is local. The stored ones left the cache.
  EXPECT_GE(store.puts, static_cast<int>(span / 8192));
  EXPECT_LT(cache.dirty_bytes(), 2 * span + 200000u);
  EXPECT_LE(cache.stats().bytes_clean, span);
  EXPECT_EQ(read_all(*f), b);
  Entry e = f->flush();

  // The same stream as one written out of order, where nothing is written behind.
  MemStore other;
  Cache other_cache(other);
  auto g = File::create_root(other_cache, 8160, 8192, false);
  for (std::size_t off = b.size() / 2; off < b.size(); off += 4096)
    g->write(off, std::span(b).subspan(off, std::min<std::size_t>(4096, b.size() - off)));
  g->write(0, std::span(b).first(b.size() / 2));
  EXPECT_EQ(g->flush().score, e.score);
  EXPECT_EQ(stored_stream(store, root->flush()), b);
}

TEST(File, ExtendOnlyGrows) {
  MemStore store;
  Cache cache(store);
  auto f = File::create_root(cache, 8160, 8192, false);
  Bytes b = random_bytes(10000, 27);
  f->write(0, b);
  EXPECT_FALSE(f->extend(5000));
  EXPECT_FALSE(f->extend(10000));
  EXPECT_EQ(f->size(), 10000u);
  EXPECT_TRUE(f->extend(3 << 20));
  EXPECT_EQ(f->size(), 3u << 20);
  b.resize(3 << 20, 0);
  EXPECT_EQ(read_all(*f), b);
  Cache fresh(store);
  EXPECT_EQ(read_all(*File::open_root(fresh, f->flush())), b);
}

// zero_range against a reference, on a deep tree of small blocks (13
// pointers a block): partial blocks, whole blocks, whole subtrees, ranges
// reaching past the end; stored and unwritten data alike.
TEST(File, ZeroRangeMakesHoles) {
  MemStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 260, 512, true);
  auto f = root->create(260, 512, false);
  Bytes ref = random_bytes(200000, 28);  // 391 blocks: three levels
  f->write(0, ref);
  std::mt19937 rng(29);
  for (int round = 0; round < 60; round++) {
    if (round == 30) root->flush();  // the rest works on stored blocks
    const std::uint64_t off = rng() % (ref.size() + 1000), len = rng() % (round % 3 == 0 ? 60000 : 3000);
    f->zero_range(off, len);
    if (off < ref.size()) std::fill(ref.begin() + off, ref.begin() + std::min<std::uint64_t>(ref.size(), off + len), 0);
    ASSERT_EQ(f->size(), ref.size());
    ASSERT_EQ(read_all(*f), ref) << "round " << round << " off " << off << " len " << len;
  }
  f->zero_range(1024, 512 * 13 * 13);  // a whole level-2 subtree and more
  std::fill(ref.begin() + 1024, ref.begin() + 1024 + 512 * 13 * 13, 0);
  EXPECT_EQ(read_all(*f), ref);
  for (std::uint64_t bn = 2; bn < 2 + 13 * 13; bn++) EXPECT_TRUE(f->block_score(bn).is_zero()) << bn;
  const Entry e = root->flush();
  EXPECT_EQ(stored_stream(store, e), ref);
  // The same bytes written plainly give the same tree: holes are holes.
  MemStore other;
  Cache other_cache(other);
  auto g = File::create_root(other_cache, 260, 512, false);
  g->write(0, ref);
  EXPECT_EQ(g->flush().score, f->entry().score);
}

// SEEK_DATA/SEEK_HOLE and the allocated bytes, against a model of which
// data blocks were written: before and after the flush, and read back from
// the store alone.
TEST(File, SeekDataAndHoleFollowTheWrittenBlocks) {
  MemStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 260, 512, true);  // 13 scores a block
  auto f = root->create(260, 512, false);
  const std::uint64_t size = 512 * 13 * 13 * 3 + 100;  // depth 3, a short last block
  std::vector<bool> data(size / 512 + 1, false);
  std::mt19937 rng(41);
  for (int i = 0; i < 12; i++) {
    const std::uint64_t off = rng() % (size - 3000), len = 1 + rng() % (i % 4 == 0 ? 2000 : 200);
    f->write(off, random_bytes(len, 100 + i));
    for (std::uint64_t bn = off / 512; bn <= (off + len - 1) / 512; bn++) data[bn] = true;
  }
  f->set_size(size);  // the tail: a hole
  auto expect_seeks = [&](File& file, const char* when) {
    for (std::uint64_t off = 0; off < size + 600; off += 97) {
      std::optional<std::uint64_t> want_data, want_hole;
      if (off < size) {
        want_hole = size;
        for (std::uint64_t bn = off / 512; bn * 512 < size; bn++) {
          if (data[bn] && !want_data) want_data = std::max(off, bn * 512);
          if (!data[bn] && *want_hole == size) want_hole = std::max(off, bn * 512);
        }
      }
      ASSERT_EQ(file.seek_data(off), want_data) << when << " at " << off;
      ASSERT_EQ(file.seek_hole(off), want_hole) << when << " at " << off;
    }
  };
  expect_seeks(*f, "unwritten");
  const std::uint64_t unflushed = f->allocated();
  const Entry e = root->flush();
  expect_seeks(*f, "flushed");
  Cache fresh(store);
  auto g = File::open_root(fresh, e)->open(0);
  expect_seeks(*g, "stored");
  // Counted by level-1 subtrees (13 blocks each) that hold any data.
  std::uint64_t want = 0;
  for (std::uint64_t first = 0; first * 512 < size; first += 13) {
    const std::uint64_t end = std::min<std::uint64_t>(first + 13, data.size());
    if (std::any_of(data.begin() + first, data.begin() + end, [](bool d) { return d; })) want += (end - first) * 512;
  }
  ASSERT_LT(want, size);
  EXPECT_EQ(g->allocated(), want);
  EXPECT_EQ(f->allocated(), want);
  EXPECT_GE(unflushed, want);  // pointer blocks not yet stored may still hold only holes
  EXPECT_LE(unflushed, size);
  // A file of one hole takes nothing; a dense one its size.
  auto h = root->create(260, 512, false);
  h->set_size(1 << 20);
  EXPECT_EQ(h->allocated(), 0u);
  EXPECT_EQ(h->seek_data(0), std::nullopt);
  EXPECT_EQ(h->seek_hole(5), 5u);
  h->write(0, random_bytes(1 << 20, 7));
  EXPECT_EQ(h->allocated(), 1u << 20);
  EXPECT_EQ(h->seek_hole(0), 1u << 20);
}

// A stat asks allocated(): past 256 pointer blocks to read it gives up and
// counts the size, so a stat costs little whatever the tree.
TEST(File, AllocatedReadsABoundedNumberOfPointerBlocks) {
  MemStore store;
  Cache cache(store);
  // 13 scores a block: a level-2 block covers 169 data blocks, so 2,000
  // blocks have 13 pointer blocks above level 1 and 50,000 more than 296.
  for (std::uint64_t blocks : {2000u, 50000u}) {
    auto f = File::create_root(cache, 260, 256, false);
    f->write(0, random_bytes(blocks * 256, 9));
    f->zero_range(39 * 256, 260 * 256);  // 20 whole level-1 subtrees
    f->flush();
    EXPECT_EQ(f->allocated(), blocks < 10000 ? (blocks - 260) * 256 : blocks * 256) << blocks;
  }
}

// A hostile tree names one pointer block 13 times over at every level: a
// 16 GB file of six levels' worth of the same blocks, with a hole only in
// its last twelfth. A seek for that hole gives up after a bounded number
// of pointer blocks and reports the end, as lseek(2) may, rather than
// walking 13^6 of them.
TEST(File, SeeksInAHostileTreeAreBounded) {
  MemStore store;
  Score s = store.put(to_wire(kDataType), random_bytes(256, 1));
  for (int level = 1; level <= 7; level++) {
    Bytes pointers;
    for (int i = 0; i < (level == 7 ? 12 : 13); i++) pointers.insert(pointers.end(), s.bytes.begin(), s.bytes.end());
    s = store.put(to_wire(static_cast<BlockType>(kDataType + level)), pointers);
  }
  Entry e;
  e.psize = 260;
  e.dsize = 256;
  e.type = kDataType + 7;
  e.flags = kEntryActive;
  e.size = 62748517ull * 256;  // 13^7 blocks
  e.score = s;
  Cache cache(store);
  auto f = File::open_root(cache, e);
  const std::uint64_t hole = 12ull * 4826809 * 256;  // 12 * 13^6 blocks
  EXPECT_EQ(f->seek_data(0), 0u);
  EXPECT_EQ(f->seek_data(hole + 5), std::nullopt);  // the top block says so at once
  EXPECT_EQ(f->seek_hole(hole - 256), hole);        // near: found
  EXPECT_EQ(f->seek_hole(0), e.size);               // far: given up
  EXPECT_EQ(f->allocated(), e.size);
}

// Holds every put until opened, counting the puts waiting. It trusts the
// scores it is given, as a server that is sent a block later might: a block
// changed after hashing would not be caught here.
class PutGateStore : public MemStore {
 public:
  std::atomic<int> waiting{0};
  void put_async(WireType t, std::span<const std::uint8_t> d, const Score&) override {
    waiting++;
    gate_.pass();
    waiting--;
    MemStore::put(t, d);
  }
  void open() { gate_.set(true); }

 private:
  Gate gate_;
};

bool finishes(std::future<void>& f, std::chrono::milliseconds within) { return f.wait_for(within) == std::future_status::ready; }

void wait_for_puts(PutGateStore& store) {
  for (int i = 0; i < 5000 && store.waiting == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GT(store.waiting, 0) << "no span reached the store";
}

// The spans an appending writer completes are hashed and stored while it
// goes on: two may be out at once, and only a third waits for the first.
TEST(File, AnAppendingWriterDoesNotWaitForTwoSpans) {
  PutGateStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  const std::size_t span = 8160 / kScoreSize * 8192;
  Bytes b = random_bytes(3 * span + 5000, 23);
  auto two = std::async(std::launch::async, [&] { f->write(0, std::span(b).first(2 * span + 1000)); });
  EXPECT_TRUE(finishes(two, std::chrono::seconds(10))) << "the writer waited for the store";
  wait_for_puts(store);
  auto third = std::async(std::launch::async, [&] { f->write(2 * span + 1000, std::span(b).subspan(2 * span + 1000)); });
  EXPECT_FALSE(finishes(third, std::chrono::milliseconds(300))) << "a third span did not wait for the first";
  store.open();
  third.get();
  EXPECT_EQ(read_all(*f), b);
  EXPECT_EQ(stored_stream(store, root->flush()), b);
}

// Spans out count as dirty until they land. In a cache too small to hold
// them beside the writer's own blocks, the writer waits for them rather
// than flush the whole tree at every write, which would store its partial
// span's pointer blocks again and again.
TEST(File, ASmallCacheWaitsForSpansRatherThanFlushing) {
  class PointerCountingStore : public MemStore {
   public:
    std::atomic<int> pointers{0};
    Score put(WireType t, std::span<const std::uint8_t> d) override {
      if (is_pointer_wire(t)) pointers++;
      return MemStore::put(t, d);
    }
  } store;
  Cache cache(store, CacheOptions{.budget = 8 << 20});  // high water 4 MiB: one span and a bit
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  Bytes b = random_bytes(40 << 20, 26);
  for (std::size_t off = 0; off < b.size(); off += 1 << 20) f->write(off, std::span(b).subspan(off, 1 << 20));
  EXPECT_EQ(store.pointers, 0) << "flushed the tree while spans were out";
  EXPECT_EQ(stored_stream(store, root->flush()), b);
}

// What would change a span's blocks while they are hashed waits for them:
// a rewrite inside it, a truncation, a copy into it, a removal. Each
// result is checked against the same stream written with nothing behind,
// whose score would differ if a changed block kept its old score.
TEST(File, ChangesToASpanBeingWrittenWaitForIt) {
  const std::size_t span = 8160 / kScoreSize * 8192;
  Bytes b = random_bytes(span + 3000, 24);
  Bytes patch = random_bytes(10000, 25);
  auto reference = [&](const std::function<void(File&)>& edit) {
    MemStore other;
    Cache c(other);
    auto g = File::create_root(c, 8160, 8192, false);
    for (std::size_t off = b.size(); off > 0;) {  // backwards: no span is ever appended
      std::size_t n = std::min<std::size_t>(off, 4096);
      off -= n;
      g->write(off, std::span(b).subspan(off, n));
    }
    edit(*g);
    return g->flush().score;
  };
  struct Edit {
    const char* what;
    std::function<void(File&)> run;
  };
  const std::vector<Edit> edits = {
      {"rewrite", [&](File& g) { g.write(5 * 8192 + 100, patch); }},
      {"truncate", [&](File& g) { g.set_size(7 * 8192 + 11); }},
      {"share", [&](File& g) { ASSERT_TRUE(g.share_range(g, 0, 10 * 8192, 2 * 8192)); }},
  };
  for (const Edit& edit : edits) {
    SCOPED_TRACE(edit.what);
    PutGateStore store;
    Cache cache(store);
    auto root = File::create_root(cache, 8160, 8192, true);
    auto f = root->create(8160, 8192, false);
    f->write(0, b);  // completes the first span, which goes out
    wait_for_puts(store);  // hashed, and held at the store
    auto change = std::async(std::launch::async, [&] { edit.run(*f); });
    EXPECT_FALSE(finishes(change, std::chrono::milliseconds(200))) << "did not wait for the span";
    store.open();
    change.get();
    const Entry e = f->flush();
    const std::uint32_t index = f->index();
    EXPECT_EQ(e.score, reference(edit.run));
    EXPECT_EQ(stored_stream(store, root->flush(), index).size(), e.size);
  }
  // A removed stream's span comes back to blocks nobody frees twice.
  PutGateStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  f->write(0, b);
  wait_for_puts(store);
  auto gone = std::async(std::launch::async, [&] { f->remove(); });
  store.open();
  gone.get();
  root->flush();
  EXPECT_EQ(cache.dirty_bytes(), 0u);
}

TEST(File, BlocksWrittenBehindAreWrittenAgainAfterAFailure) {
  DeferredFailStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  const std::size_t span = 8160 / kScoreSize * 8192;
  Bytes b = random_bytes(2 * span + 5000, 22);
  store.down = true;  // the first span's writes are lost, reported at the next wait
  f->write(0, std::span(b).first(span + 1000));
  for (int i = 0; i < 10000 && store.lost < static_cast<int>(span / 8192); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(store.lost, static_cast<int>(span / 8192));
  store.down = false;
  f->write(span + 1000, std::span(b).subspan(span + 1000, span));
  EXPECT_EQ(read_all(*f), Bytes(b.begin(), b.begin() + 2 * span + 1000));
  f->write(2 * span + 1000, std::span(b).subspan(2 * span + 1000));
  EXPECT_EQ(stored_stream(store, root->flush()), b);
}

// Counts the waits for puts: each is a round of wake-ups with a real store.
class WaitCountingStore : public FlakyStore {
 public:
  std::atomic<int> waits{0};
  void wait_puts() override { waits++; }
};

TEST(File, AFinishedWriterHasItsStreamWrittenBehind) {
  WaitCountingStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  std::vector<std::shared_ptr<File>> files;
  auto data = [](std::uint32_t i) { return random_bytes(1000 + (i % 20) * 3000, 30 + i); };
  const std::uint32_t n = 100;  // 3 MB in all: past the 2 MiB held unconfirmed
  std::size_t largest = 0;
  for (std::uint32_t i = 0; i < n; i++) {
    files.push_back(root->create(8160, 8192, false));
    files.back()->write(0, data(i));
    files.back()->write_behind();
    largest = std::max(largest, data(i).size());
    EXPECT_FALSE(files.back()->entry().score.is_local());
    EXPECT_EQ(read_all(*files.back()), data(i));
    // Only the directory stream is local; of the written blocks only those
    // no wait has confirmed yet, at most 2 MiB and a file's, are cached.
    EXPECT_LE(cache.dirty_bytes(), 2u * 8192);
    EXPECT_LE(cache.stats().bytes_clean, (2u << 20) + largest + 8192);
  }
  // Confirmed a few MiB at a time, not a file at a time.
  EXPECT_GE(store.waits, 1);
  EXPECT_LE(store.waits, 2);
  Entry e = root->flush();
  for (std::uint32_t i = 0; i < n; i++) EXPECT_EQ(stored_stream(store, e, i), data(i));
}

// A stream written behind while the store loses writes (reported at the
// next wait); with `refuse_resend`, sending them again fails once too.
void write_behind_through_a_failure(bool refuse_resend) {
  DeferredFailStore store;
  Cache cache(store);
  auto root = File::create_root(cache, 8160, 8192, true);
  auto f = root->create(8160, 8192, false);
  Bytes b = random_bytes(50000, 31);
  f->write(0, b);
  store.down = true;
  f->write_behind();
  store.down = false;
  EXPECT_EQ(read_all(*f), b);
  if (refuse_resend) {
    store.refuse = true;
    EXPECT_THROW(root->flush(), Error);
    store.refuse = false;
  }
  EXPECT_EQ(stored_stream(store, root->flush()), b);
}

TEST(File, AStreamWrittenBehindIsWrittenAgainAfterAFailure) { write_behind_through_a_failure(false); }

TEST(File, AStreamWrittenBehindSurvivesAFailedResend) { write_behind_through_a_failure(true); }

TEST(File, MemoryIsBoundedWhateverTheFileSize) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizer shadow memory makes RSS meaningless; the plain build checks this";
#endif
  // In a child process, so its peak RSS is this workload's alone.
  constexpr std::size_t kBudget = 32 << 20;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SinkStore store;
    Cache cache(store, CacheOptions{.budget = kBudget});
    auto f = File::create_root(cache, 8160, 8192, false);
    Bytes chunk = random_bytes(1 << 20, 9);
    rusage before;
    getrusage(RUSAGE_SELF, &before);
    for (int i = 0; i < 2048; i++) {  // 2 GiB
      chunk[0] = static_cast<std::uint8_t>(i);
      chunk[8192] = static_cast<std::uint8_t>(i >> 8);
      f->write(std::uint64_t(i) << 20, chunk);
    }
    Entry e = f->flush();
    rusage after;
    getrusage(RUSAGE_SELF, &after);
    bool ok = e.size == (2ull << 30) && after.ru_maxrss - before.ru_maxrss < long(kBudget / 1024 + 16 * 1024);
    if (!ok) fprintf(stderr, "size %llu, peak RSS grew by %ld KiB\n", (unsigned long long)e.size, after.ru_maxrss - before.ru_maxrss);
    _exit(ok ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(FileConcurrency, ThreadsOnSharedAndSeparateStreams) {
  MemStore store;
  Cache cache(store, CacheOptions{.budget = 2 << 20});
  auto root = File::create_root(cache, 8160, 8192, true);
  auto shared = root->create(8160, 8192, false);
  std::vector<std::shared_ptr<File>> own, copies;
  for (int t = 0; t < 4; t++) own.push_back(root->create(8160, 8192, false));
  for (int t = 0; t < 4; t++) copies.push_back(root->create(8160, 8192, false));
  constexpr std::size_t kRegion = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      Bytes mine = random_bytes(kRegion, t);
      for (int round = 0; round < 5; round++) {
        if (t < 4) {  // disjoint regions of one stream
          shared->write(std::uint64_t(t) * kRegion, mine);
          Bytes out(kRegion);
          shared->read(std::uint64_t(t) * kRegion, out);
          EXPECT_EQ(out, mine);
        } else {  // a stream each, with flushes
          File& f = *own[t - 4];
          f.write(0, mine);
          f.set_size(kRegion / 2 + round);
          f.write(kRegion / 2, Bytes(mine.begin() + kRegion / 2, mine.end()));
          EXPECT_EQ(read_all(f), mine);
          if (round % 2) f.flush();
          const std::size_t whole = kRegion / 8192 * 8192;  // copied by sharing what is stored
          EXPECT_TRUE(copies[t - 4]->share_range(f, 0, 0, whole));
          Bytes copy(whole);
          copies[t - 4]->read(0, copy);
          EXPECT_TRUE(std::equal(copy.begin(), copy.end(), mine.begin()));
        }
        if (t == 0 && round == 2) root->flush();
      }
    });
  }
  for (auto& th : threads) th.join();
  Entry e = root->flush();
  Cache fresh(store);
  auto r = File::open_root(fresh, e);
  for (int t = 0; t < 4; t++) {
    Bytes out(kRegion);
    r->open(0)->read(std::uint64_t(t) * kRegion, out);
    EXPECT_EQ(out, random_bytes(kRegion, t));
    EXPECT_EQ(read_all(*r->open(std::uint32_t(t + 1))), random_bytes(kRegion, t + 4));
    Bytes mine = random_bytes(kRegion, t + 4);
    EXPECT_EQ(read_all(*r->open(std::uint32_t(t + 5))), Bytes(mine.begin(), mine.begin() + kRegion / 8192 * 8192));
  }
}

TEST(FileConcurrency, WritersAppendingAndWritingBehindWhileOthersReadAndFlush) {
  MemStore store;
  Cache cache(store, CacheOptions{.budget = 1 << 20});
  auto root = File::create_root(cache, 260, 512, true);  // 13 pointers: a span every 6.5 KiB
  std::vector<std::shared_ptr<File>> files;
  for (int t = 0; t < 2; t++) files.push_back(root->create(260, 512, false));
  constexpr std::size_t kSize = 300000;
  std::atomic<int> writing{2};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&, t] {
      Bytes mine = random_bytes(kSize, 40 + t);
      for (std::size_t off = 0; off < kSize; off += 3000) {
        files[t]->write(off, std::span(mine).subspan(off, std::min<std::size_t>(3000, kSize - off)));
        if (off % 30000 == 0) files[t]->write_behind();  // as if closed and opened again
        // Rewrites what was just appended, in spans that may be out.
        if (t == 1 && off >= 6000) files[t]->write(off - 5000, std::span(mine).subspan(off - 5000, 1000));
      }
      writing--;
    });
  }
  threads.emplace_back([&] {
    Bytes want = random_bytes(kSize, 40);
    while (writing > 0) {
      std::uint64_t n = files[0]->size();
      Bytes out(n);
      ASSERT_EQ(files[0]->read(0, out), n);
      ASSERT_TRUE(std::equal(out.begin(), out.end(), want.begin()));
      root->flush();
    }
  });
  for (auto& th : threads) th.join();
  Entry e = root->flush();
  Cache fresh(store);
  auto r = File::open_root(fresh, e);
  for (int t = 0; t < 2; t++) EXPECT_EQ(read_all(*r->open(static_cast<std::uint32_t>(t))), random_bytes(kSize, 40 + t));
}
