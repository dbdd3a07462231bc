// Sink: a stream written front to back is the stream File builds from the
// same bytes, block for block; memory and failures are bounded as promised.
#include <gtest/gtest.h>

#include <atomic>

#include "data.h"
#include "vt/cache.h"
#include "vt/error.h"
#include "vt/file.h"
#include "vt/memstore.h"
#include "vt/sink.h"
#include "vt/vacfs.h"

using namespace vt;

namespace {

using test::random_bytes;

// The smallest blocks File takes, so that deep trees stay small.
constexpr std::uint32_t kPsize = 256, kDsize = 256;  // 12 scores per pointer block

// The entry File ends with after writing `data` at 0 in `chunk`-byte
// writes and flushing.
Entry via_file(Cache& c, const Bytes& data, std::size_t chunk) {
  auto dir = File::create_root(c, 10 * kEntrySize, kDsize, true);
  auto f = dir->create(kPsize, kDsize, false);
  for (std::size_t at = 0; at < data.size(); at += chunk) f->write(at, std::span(data).subspan(at, std::min(chunk, data.size() - at)));
  f->set_size(data.size());
  dir->flush();
  return f->entry();
}

Entry via_sink(Cache& c, const Bytes& data, std::size_t chunk) {
  Sink s(c, kPsize, kDsize);
  for (std::size_t at = 0; at < data.size(); at += chunk) s.write(std::span(data).subspan(at, std::min(chunk, data.size() - at)));
  return s.finish();
}

void expect_same_stream(const Entry& sunk, const Entry& filed) {
  EXPECT_EQ(sunk.score, filed.score);
  EXPECT_EQ(sunk.type, filed.type);
  EXPECT_EQ(sunk.size, filed.size);
  EXPECT_EQ(sunk.psize, filed.psize);
  EXPECT_EQ(sunk.dsize, filed.dsize);
  EXPECT_TRUE(sunk.active());
}

TEST(Sink, EverySizeAroundABlockAndALevelGivesFilesStream) {
  MemStore store;
  Cache cache(store);
  const std::uint64_t b = kDsize;
  for (std::uint64_t size : {b * 0, b - 1, b, b + 1, 12 * b - 1, 12 * b, 12 * b + 1, 144 * b, 144 * b + 7, 1728 * b, 1728 * b + 1, 2000 * b + 5}) {
    SCOPED_TRACE(size);
    Bytes data = random_bytes(size, static_cast<std::uint32_t>(size));
    // Writes smaller than a block are gathered; larger ones mix whole
    // blocks taken in place with gathered pieces.
    Entry sunk = via_sink(cache, data, 100);
    expect_same_stream(sunk, via_file(cache, data, 1000));
    expect_same_stream(via_sink(cache, data, 1000), sunk);
    EXPECT_EQ(sunk.depth(), depth_for_size(size, kPsize, kDsize));
    // And the stream reads back through File.
    auto f = File::open_root(cache, sunk);
    Bytes back(size);
    EXPECT_EQ(f->read(0, back), size);
    EXPECT_EQ(back, data);
  }
}

TEST(Sink, ZeroBlocksAndZeroSubtreesAreHolesAsInFile) {
  MemStore store;
  Cache cache(store);
  // Zeros: one block, then a whole pointer block's worth (12), then 144
  // (a level-2 subtree), between data; and a zero tail.
  Bytes data;
  auto add = [&](std::size_t blocks, bool zero, std::uint32_t seed) {
    Bytes part = zero ? Bytes(blocks * kDsize, 0) : random_bytes(blocks * kDsize, seed);
    data.insert(data.end(), part.begin(), part.end());
  };
  add(2, false, 1), add(1, true, 0), add(10, false, 2), add(12, true, 0), add(144, true, 0), add(4, false, 3), add(30, true, 0);
  data.resize(data.size() - 10);
  Entry sunk = via_sink(cache, data, 4096);
  MemStore file_store;
  Cache file_cache(file_store);
  expect_same_stream(sunk, via_file(file_cache, data, kDsize));
  // The same blocks, and none for the holes (the zero score is never
  // stored); File's store also has the directory block holding the entry.
  EXPECT_EQ(store.block_count() + 1, file_store.block_count());
  auto f = File::open_root(cache, sunk);
  Bytes back(data.size());
  f->read(0, back);
  EXPECT_EQ(back, data);
}

TEST(Sink, AnAllZeroStreamIsTheZeroScore) {
  MemStore store;
  Cache cache(store);
  Sink s(cache, kPsize, kDsize);
  Bytes zeros(50 * kDsize, 0);
  s.write(zeros);
  Entry e = s.finish();
  EXPECT_TRUE(e.score.is_zero());
  EXPECT_EQ(e.size, zeros.size());
  EXPECT_EQ(e.depth(), depth_for_size(zeros.size(), kPsize, kDsize));
  EXPECT_EQ(store.block_count(), 0u);
}

// Counts what is held: the sink must not keep the blocks it wrote.
class CountingStore : public MemStore {
 public:
  std::atomic<int> puts{0};
  Score put(WireType t, std::span<const std::uint8_t> d) override {
    puts++;
    return MemStore::put(t, d);
  }
};

TEST(Sink, BlocksGoToTheStoreAsTheyFillNotAtTheEnd) {
  CountingStore store;
  Cache cache(store);
  Sink s(cache, kPsize, kDsize);
  Bytes data = random_bytes(30 * kDsize, 7);
  s.write(std::span(data).first(kDsize - 1));
  EXPECT_EQ(store.puts, 0);
  s.write(std::span(data).subspan(kDsize - 1));
  EXPECT_EQ(store.puts, 30 + 2);  // every data block, and both full pointer blocks
  s.finish();
  EXPECT_EQ(cache.dirty_bytes(), 0u);
  EXPECT_EQ(cache.stats().bytes_clean, 0u);  // nothing cached
}

// Refuses puts: at once, or (like the network client) when waited for.
class FailingStore : public MemStore {
 public:
  explicit FailingStore(bool async) : async_(async) {}
  Score put(WireType, std::span<const std::uint8_t>) override { throw Error(Errc::Io, "disk full"); }
  void put_async(WireType, std::span<const std::uint8_t>, const Score&) override {
    if (!async_) throw Error(Errc::Io, "disk full");
    failed_ = true;
  }
  void wait_puts() override {
    if (std::exchange(failed_, false)) throw Error(Errc::Io, "disk full");
  }

 private:
  bool async_;
  bool failed_ = false;
};

TEST(Sink, AFailedBlockFailsTheStreamForGood) {
  for (bool async : {false, true}) {
    SCOPED_TRACE(async);
    FailingStore store(async);
    Cache cache(store);
    const std::uint64_t mark = cache.write_mark();
    Sink s(cache, kPsize, kDsize);
    Bytes data = random_bytes(5 * kDsize, 9);
    try {
      s.write(data);
      s.finish();
      cache.wait_writes(mark);
      FAIL() << "the stream was stored";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Io);
    }
    // Whichever call saw the failure, no entry can come out of this sink.
    EXPECT_THROW(s.finish(), Error);
    EXPECT_THROW(s.write(data), Error);
  }
}

// Like the network client: the first put fails, and the failure is told
// by the next wait; every later put works.
class FailsFirstPut : public MemStore {
 public:
  void put_async(WireType t, std::span<const std::uint8_t> d, const Score& s) override {
    if (!tripped_) {
      tripped_ = failed_ = true;
      return;
    }
    MemStore::put_async(t, d, s);
  }
  void wait_puts() override {
    if (std::exchange(failed_, false)) throw Error(Errc::Io, "disk full");
  }

 private:
  bool tripped_ = false, failed_ = false;
};

TEST(Sink, AnArchiveHoldingAFailedStreamDoesNotSync) {
  FailsFirstPut store;
  Cache cache(store);
  auto fs = VacFs::create(cache);
  Sink s = fs->sink();
  Bytes data = random_bytes(100000, 4);
  s.write(data);
  DirEntry meta;
  meta.elem = "f";
  meta.mode = 0644;
  fs->create_from(fs->root(), meta, s.finish());
  EXPECT_THROW(fs->sync(), Error);  // its own blocks were all stored
  EXPECT_TRUE(fs->score().is_zero());
}

TEST(Sink, TooDeepATreeIsRefused) {
  MemStore store;
  Cache cache(store);
  // Two scores per pointer block and one-byte data blocks: depth 7 holds
  // 2^7 blocks, the next one would need depth 8.
  Sink s(cache, 2 * kScoreSize, 1);
  Bytes data = random_bytes(128, 3);
  s.write(data);
  EXPECT_THROW(s.write(data), Error);
}

}  // namespace
