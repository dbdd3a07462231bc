// LogStore: durability, recovery, dedup, corruption, locking, reindex.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

#include "bloom.h"
#include "data.h"
#include "full_disk.h"
#include "logged.h"
#include "log_record.h"
#include "scratch.h"
#include "vt/error.h"
#include "vt/logstore.h"

using namespace vt;
namespace fs = std::filesystem;

namespace {

Bytes block_of(int i, std::size_t size = 1000) { return test::random_bytes(size, static_cast<std::uint32_t>(i)); }

// Runs `work` in a child process that then dies without cleaning up, as a
// crash would: no destructors, no final sync.
void crash_after(const std::function<void()>& work) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    work();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

class LogStoreTest : public testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    dir = test::scratch_path("logstore");
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path segment(int i = 0) const {
    char name[16];
    std::snprintf(name, sizeof name, "%08d.log", i);
    return dir / "log" / name;
  }
};

}  // namespace

// Stores written before the checksum moved from zlib to libdeflate must
// still read: the record checksum is the standard CRC-32, whatever computes it.
TEST(LogRecord, ChecksumIsTheStandardCrc32) {
  const std::string text = "123456789";  // the CRC catalogue's check input
  auto bytes = [](std::string_view v) { return std::span(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()); };
  EXPECT_EQ(detail::record_crc(bytes(text).first(4), bytes(text).subspan(4)), 0xCBF43926u);
  EXPECT_EQ(detail::record_crc({}, bytes(text)), 0xCBF43926u);
  EXPECT_EQ(detail::record_crc({}, {}), 0u);
}

TEST_F(LogStoreTest, BlocksSurviveReopen) {
  std::vector<Score> scores;
  {
    auto s = LogStore::open(dir);
    for (int i = 0; i < 200; i++) scores.push_back(s->put(kWireData, block_of(i)));
    scores.push_back(s->put(kWireDir, block_of(0)));  // same bytes, another type
    s->sync();
    EXPECT_EQ(s->stats().blocks, 201u);
  }
  auto s = LogStore::open(dir);
  for (int i = 0; i < 200; i++) EXPECT_EQ(s->get(scores[i], kWireData), block_of(i));
  EXPECT_EQ(s->get(scores[200], kWireDir), block_of(0));
  EXPECT_TRUE(s->has(scores[5], kWireData));
  EXPECT_FALSE(s->has(scores[5], kWireRoot));
  EXPECT_EQ(s->get(Score::zero(), kWireData), Bytes{});
  try {
    s->get(Score::of(block_of(999)), kWireData);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NotFound);
  }
}

TEST_F(LogStoreTest, DuplicatesAreNotStoredTwice) {
  auto s = LogStore::open(dir);
  s->put(kWireData, block_of(1));
  s->sync();
  auto size = fs::file_size(segment());
  s->put(kWireData, block_of(1));  // indexed already
  s->put(kWireData, block_of(2));
  s->put(kWireData, block_of(2));  // only pending so far
  s->sync();
  EXPECT_EQ(fs::file_size(segment()), size + 36 + 1000);
  auto st = s->stats();
  EXPECT_EQ(st.writes, 4u);
  EXPECT_EQ(st.dedup_hits, 2u);
  EXPECT_EQ(st.blocks, 2u);
}

TEST_F(LogStoreTest, WritesWithoutSyncAreRecoveredFromTheLogTail) {
  // Unsynced writes may be lost in a crash, but what reached the log file
  // is checked and indexed on the next open: here all but the last of 80 MB,
  // at most two 16 MiB buffers (one being written out, one filling) of
  // 1 KB blocks.
  constexpr int kBlocks = 80000;
  crash_after([&] {
    auto* s = LogStore::open(dir).release();  // never destroyed: no final sync
    for (int i = 0; i < kBlocks; i++) s->put(kWireData, block_of(i));
  });
  auto s = LogStore::open(dir);
  int found = 0;
  for (int i = 0; i < kBlocks; i++) {
    if (!s->has(Score::of(block_of(i)), kWireData)) continue;
    EXPECT_EQ(s->get(Score::of(block_of(i)), kWireData), block_of(i));
    found++;
  }
  EXPECT_GE(found, kBlocks - 32600);
}

TEST_F(LogStoreTest, SyncedWritesSurviveACrashBeforeAnyCheckpoint) {
  // sync() makes the log durable and leaves the index to the checkpoints;
  // the next open indexes what the log holds past the last one. All 3 MB
  // are still in the append buffer when sync() is called.
  constexpr int kBlocks = 3000;
  crash_after([&] {
    auto* s = LogStore::open(dir).release();
    for (int i = 0; i < kBlocks; i++) s->put(kWireData, block_of(i));
    s->sync();
    if (s->stats().checkpoints != 0) ::_exit(1);
  });
  auto s = LogStore::open(dir);
  for (int i = 0; i < kBlocks; i++) ASSERT_EQ(s->get(Score::of(block_of(i)), kWireData), block_of(i)) << i;
  EXPECT_EQ(s->stats().blocks, static_cast<std::uint64_t>(kBlocks));
}

TEST_F(LogStoreTest, TheLogIsSyncedInTheBackground) {
  // Past 32 MiB written, an fdatasync runs without anyone asking, so that
  // the next sync() has little left to wait for.
  auto s = LogStore::open(dir);
  for (int i = 0; i < 6000; i++) s->put(kWireData, block_of(i, 8192));  // 49 MB
  for (int tries = 0; s->stats().log_syncs == 0 && tries < 1000; tries++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(s->stats().log_syncs, 1u);
  EXPECT_EQ(s->stats().syncs, 0u);
  EXPECT_EQ(s->stats().checkpoints, 0u);
}

TEST_F(LogStoreTest, TheIndexCatchesUpOnItsOwn) {
  // Past 65,536 unindexed blocks a checkpoint commits them, on the store's
  // own thread: the writer neither calls sync() nor waits for one.
  constexpr int kBlocks = 70000;
  auto s = LogStore::open(dir);
  for (int i = 0; i < kBlocks; i++) s->put(kWireData, block_of(i, 16));
  for (int tries = 0; s->stats().checkpoints == 0 && tries < 1000; tries++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(s->stats().checkpoints, 1u);
  for (int i = 0; i < kBlocks; i += 997) EXPECT_EQ(s->get(Score::of(block_of(i, 16)), kWireData), block_of(i, 16));
  // What the checkpoint committed is indexed: a crash now loses none of it.
  s.reset();
  auto again = LogStore::open(dir);
  EXPECT_EQ(again->stats().blocks, static_cast<std::uint64_t>(kBlocks));
}

TEST(Bloom, NeverForgetsAKeyAndRarelyImaginesOne) {
  detail::Bloom bloom(100000);
  for (int i = 0; i < 100000; i++) bloom.add({Score::of(block_of(i, 8)), kWireData});
  for (int i = 0; i < 100000; i++) EXPECT_TRUE(bloom.may_contain({Score::of(block_of(i, 8)), kWireData})) << i;
  int imagined = 0, other_type = 0;
  for (int i = 100000; i < 200000; i++) imagined += bloom.may_contain({Score::of(block_of(i, 8)), kWireData});
  for (int i = 0; i < 100000; i++) other_type += bloom.may_contain({Score::of(block_of(i, 8)), kWireDir});
  EXPECT_LT(imagined, 2000);  // 1% expected at the sized load
  EXPECT_LT(other_type, 2000);
}

TEST_F(LogStoreTest, DuplicatesAreFoundAfterReopenAndAfterTheFilterGrows) {
  // A filter sized for 1,000 keys is rebuilt (after the checkpoint at
  // 65,536 entries) to hold 70,000; the one built at open holds them too.
  constexpr int kBlocks = 70000;
  auto bytes_of = [&](LogStore& s) { return s.stats().log_bytes; };
  {
    auto s = LogStore::open(dir, {.bloom_keys = 1000});
    for (int i = 0; i < kBlocks; i++) s->put(kWireData, block_of(i, 16));
    for (int tries = 0; s->stats().checkpoints == 0 && tries < 1000; tries++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s->sync();
    const auto before = bytes_of(*s);
    for (int i = 0; i < kBlocks; i++) s->put(kWireData, block_of(i, 16));
    EXPECT_EQ(s->stats().dedup_hits, static_cast<std::uint64_t>(kBlocks));
    EXPECT_EQ(bytes_of(*s), before);
  }
  auto s = LogStore::open(dir);
  const auto before = bytes_of(*s);
  for (int i = 0; i < kBlocks; i += 7) s->put(kWireData, block_of(i, 16));
  EXPECT_EQ(s->stats().dedup_hits, static_cast<std::uint64_t>((kBlocks + 6) / 7));
  EXPECT_EQ(bytes_of(*s), before);
  EXPECT_TRUE(s->has(Score::of(block_of(5, 16)), kWireData));
  EXPECT_FALSE(s->has(Score::of(block_of(kBlocks + 5, 16)), kWireData));
}

TEST_F(LogStoreTest, BufferedWritesReadBackBeforeSync) {
  auto s = LogStore::open(dir);
  Score a = s->put(kWireData, block_of(1));
  EXPECT_EQ(s->get(a, kWireData), block_of(1));  // still in the write buffer
  EXPECT_EQ(fs::file_size(segment()), 0u);
  s->sync();
  EXPECT_EQ(fs::file_size(segment()), 36u + 1000);
  EXPECT_EQ(s->get(a, kWireData), block_of(1));
}

// Runs of 1 MiB and more are read around the page cache (O_DIRECT) in
// aligned spans: records that start and end anywhere in a block, a run
// that ends at the unaligned end of the file, and every record still
// checked against its checksum.
TEST_F(LogStoreTest, LongRunsReadAroundThePageCacheAreStillChecked) {
  constexpr int kBlocks = 400;  // 3.2 MB of 8,036-byte records
  std::vector<BlockKey> keys;
  {
    auto s = LogStore::open(dir);
    for (int i = 0; i < kBlocks; i++) keys.push_back({s->put(kWireData, block_of(i, 8000)), kWireData});
  }
  {
    auto s = LogStore::open(dir);  // nothing held by the appender: the whole log is in the file
    auto all = s->get_many(keys);
    ASSERT_EQ(all.size(), keys.size());
    for (int i = 0; i < kBlocks; i++) ASSERT_EQ(all[i], block_of(i, 8000)) << i;
    auto tail = s->get_many(std::span(keys).subspan(37));  // from an unaligned offset to the end
    for (int i = 37; i < kBlocks; i++) ASSERT_EQ(tail[i - 37], block_of(i, 8000)) << i;
  }
  {
    std::fstream f(segment(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200 * (36 + 8000) + 36 + 4321);
    f.put('\x5a' ^ static_cast<char>(block_of(200, 8000)[4321]));
  }
  auto s = LogStore::open(dir);
  try {
    s->get_many(keys);
    ADD_FAILURE() << "a damaged record in a long run read back";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Corrupt);
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s->get_many(std::span(keys).first(150))[149], block_of(149, 8000));
}

// get_many reads records side by side in one go: across segment ends, in
// any order asked, from the file and the write buffer alike.
TEST_F(LogStoreTest, GetManyReadsFromEveryPlaceABlockCanBe) {
  auto s = LogStore::open(dir, LogStoreOptions{.segment_size = 256 << 10});
  std::vector<BlockKey> keys;
  std::vector<Bytes> want;
  auto add = [&](int i, bool async) {
    Bytes b = block_of(i, 500 + static_cast<std::size_t>(i) * 37 % 8000);
    Score sc = Score::of(b);
    if (async)
      s->put_async(kWireData, b, sc);
    else
      s->put(kWireData, b);
    keys.push_back({sc, kWireData});
    want.push_back(std::move(b));
  };
  for (int i = 0; i < 1500; i++) add(i, false);
  s->sync();                                      // in the file, many segments
  for (int i = 1500; i < 1510; i++) add(i, false);  // in the write buffer
  for (int i = 1510; i < 1600; i++) add(i, true);   // put_async'd
  std::vector<std::size_t> order(keys.size());
  for (std::size_t i = 0; i < order.size(); i++) order[i] = (i * 7919) % order.size();  // a permutation
  std::vector<BlockKey> asked;
  for (auto i : order) asked.push_back(keys[i]);
  auto got = s->get_many(asked);
  ASSERT_EQ(got.size(), asked.size());
  for (std::size_t k = 0; k < order.size(); k++) ASSERT_EQ(got[k], want[order[k]]) << k;
  s->wait_puts();
  auto in_order = s->get_many(keys);
  for (std::size_t i = 0; i < keys.size(); i++) ASSERT_EQ(in_order[i], want[i]) << i;
  EXPECT_GT(fs::file_size(dir / "log" / "00000002.log"), 0u);  // runs did cross segment ends
}

TEST_F(LogStoreTest, GetManyDetectsADamagedRecordInARun) {
  std::vector<BlockKey> keys;
  {
    auto s = LogStore::open(dir);
    for (int i = 0; i < 10; i++) keys.push_back({s->put(kWireData, block_of(i)), kWireData});
  }
  {
    std::fstream f(segment(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5 * (36 + 1000) + 36 + 10);  // inside the sixth block's data
    f.put('\x55');
  }
  auto s = LogStore::open(dir);
  try {
    s->get_many(keys);
    ADD_FAILURE() << "a damaged record read back";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  keys.erase(keys.begin() + 5);
  auto rest = s->get_many(keys);
  for (std::size_t k = 0; k < keys.size(); k++) EXPECT_EQ(rest[k], block_of(static_cast<int>(k < 5 ? k : k + 1)));
}

TEST_F(LogStoreTest, TornTailIsCutOff) {
  Score a;
  {
    auto s = LogStore::open(dir);
    a = s->put(kWireData, block_of(1));
    s->sync();
  }
  auto good = fs::file_size(segment());
  for (std::size_t cut : {std::size_t{10}, std::size_t{36 + 500}}) {
    // A crash halfway through a record: the header (or part of it) made
    // it to disk, the data did not.
    Bytes data = block_of(2);
    Bytes rec(detail::kRecordHeader + data.size());
    detail::encode_record_header(rec.data(), kWireData, Score::of(data), data);
    std::memcpy(rec.data() + detail::kRecordHeader, data.data(), data.size());
    {
      std::ofstream f(segment(), std::ios::app | std::ios::binary);
      f.write(reinterpret_cast<const char*>(rec.data()), static_cast<std::streamsize>(cut));
    }
    ASSERT_EQ(fs::file_size(segment()), good + cut);
    std::vector<std::string> log;
    LogStoreOptions o;
    o.log = [&](const std::string& l) { log.push_back(l); };
    auto s = LogStore::open(dir, o);
    EXPECT_EQ(fs::file_size(segment()), good);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_NE(log[0].find("torn tail"), std::string::npos) << log[0];
    EXPECT_EQ(s->get(a, kWireData), block_of(1));
    EXPECT_FALSE(s->has(Score::of(block_of(2)), kWireData));
    // The store goes on working after the cut.
    Score b = s->put(kWireData, block_of(3));
    s->sync();
    EXPECT_EQ(s->get(b, kWireData), block_of(3));
    s.reset();
    fs::resize_file(segment(), good);  // drop block 3 for the next round
    LogStore::reindex(dir);
  }
}

TEST_F(LogStoreTest, GarbageTailIsCutOff) {
  Score a;
  {
    auto s = LogStore::open(dir);
    a = s->put(kWireData, block_of(1));
  }
  auto good = fs::file_size(segment());
  {
    std::ofstream f(segment(), std::ios::app | std::ios::binary);
    f << std::string(100, '\xff');
  }
  auto s = LogStore::open(dir);
  EXPECT_EQ(fs::file_size(segment()), good);
  EXPECT_EQ(s->get(a, kWireData), block_of(1));
}

TEST_F(LogStoreTest, CorruptRecordIsDetected) {
  Score a, b;
  {
    auto s = LogStore::open(dir);
    a = s->put(kWireData, block_of(1));
    b = s->put(kWireData, block_of(2));
  }
  {
    std::fstream f(segment(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(36 + 500);  // inside the first block's data
    f.put('\x55');
  }
  auto report = LogStore::check(dir);
  EXPECT_EQ(report.index_entries, 2u);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_NE(report.problems[0].find("checksum"), std::string::npos) << report.problems[0];

  auto s = LogStore::open(dir);
  try {
    s->get(a, kWireData);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Corrupt);
  }
  EXPECT_EQ(s->get(b, kWireData), block_of(2));
  EXPECT_EQ(s->stats().errors, 1u);
}

TEST_F(LogStoreTest, CheckPassesOnASoundStore) {
  {
    auto s = LogStore::open(dir);
    for (int i = 0; i < 20; i++) s->put(kWireData, block_of(i));
  }
  auto r = LogStore::check(dir);
  EXPECT_EQ(r.records, 20u);
  EXPECT_EQ(r.index_entries, 20u);
  EXPECT_TRUE(r.problems.empty());
}

TEST_F(LogStoreTest, SecondOpenIsRefused) {
  auto s = LogStore::open(dir);
  try {
    LogStore::open(dir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LogStore::reindex(dir), Error);
}

TEST_F(LogStoreTest, ReindexGivesTheSameAnswers) {
  std::vector<Score> scores;
  LogStoreOptions small;
  small.segment_size = 8192;  // many segments
  {
    auto s = LogStore::open(dir, small);
    for (int i = 0; i < 100; i++) scores.push_back(s->put(i % 2 ? kWireData : kWireDir, block_of(i)));
  }
  EXPECT_GT(std::distance(fs::directory_iterator(dir / "log"), fs::directory_iterator()), 10);
  fs::remove_all(dir / "index");
  EXPECT_EQ(LogStore::reindex(dir, small), 100u);
  auto s = LogStore::open(dir, small);
  for (int i = 0; i < 100; i++) EXPECT_EQ(s->get(scores[i], i % 2 ? kWireData : kWireDir), block_of(i)) << i;
  EXPECT_EQ(s->stats().blocks, 100u);
}

TEST_F(LogStoreTest, LimitsAndBadInput) {
  LogStoreOptions o;
  o.max_block = 2000;
  auto s = LogStore::open(dir, o);
  EXPECT_THROW(s->put(kWireData, block_of(1, 2001)), Error);
  EXPECT_NO_THROW(s->put(kWireData, block_of(1, 2000)));
  EXPECT_THROW(s->put(WireType{0}, block_of(1)), Error);
  EXPECT_THROW(s->put(WireType{11}, block_of(1)), Error);
}

TEST_F(LogStoreTest, LogShorterThanTheIndexIsReported) {
  {
    auto s = LogStore::open(dir);
    for (int i = 0; i < 5; i++) s->put(kWireData, block_of(i));
  }
  fs::resize_file(segment(), 36 + 1000);  // lost synced data
  try {
    LogStore::open(dir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Corrupt);
    EXPECT_NE(std::string(e.what()).find("reindex"), std::string::npos) << e.what();
  }
  EXPECT_EQ(LogStore::reindex(dir), 1u);
  EXPECT_TRUE(LogStore::open(dir)->has(Score::of(block_of(0)), kWireData));
}

TEST_F(LogStoreTest, MissingSegmentIsReported) {
  LogStoreOptions small;
  small.segment_size = 4096;
  {
    auto s = LogStore::open(dir, small);
    for (int i = 0; i < 20; i++) s->put(kWireData, block_of(i));
  }
  fs::remove(segment(1));
  try {
    LogStore::open(dir, small);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Corrupt);
    EXPECT_NE(std::string(e.what()).find("00000001.log"), std::string::npos) << e.what();
  }
}

TEST_F(LogStoreTest, ConcurrentWritersAndReaders) {
  LogStoreOptions o;
  o.segment_size = 1 << 20;
  auto s = LogStore::open(dir, o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; i++) {
        int n = (t * 150 + i) % 1000;  // overlapping ranges: many duplicates
        Score sc = s->put(kWireData, block_of(n));
        EXPECT_EQ(s->get(sc, kWireData), block_of(n));
        if (i % 100 == 99) s->sync();
      }
    });
  }
  for (auto& th : threads) th.join();
  s->sync();
  auto st = s->stats();
  EXPECT_EQ(st.writes, 8u * 300);
  EXPECT_EQ(st.blocks, st.writes - st.dedup_hits);
  auto expected_blocks = st.blocks;
  s.reset();
  auto r = LogStore::check(dir);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.index_entries, expected_blocks);
}

// Enough distinct data for many write-outs and segment changes: blocks are
// read back while their bytes are in flight to the disk, and all survive.
TEST_F(LogStoreTest, WritesOutsideTheLockLoseNothing) {
  LogStoreOptions o;
  o.segment_size = 3 << 20;
  constexpr int kThreads = 6, kEach = 250;
  std::vector<Score> scores(kThreads * kEach);
  {
    auto s = LogStore::open(dir, o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; i++) {
          const int n = t * kEach + i;
          scores[n] = s->put(kWireData, block_of(n, 8192));
          const int back = t * kEach + (i * 7919) % (i + 1);  // and one written earlier
          EXPECT_EQ(s->get(scores[back], kWireData), block_of(back, 8192));
          EXPECT_EQ(s->get(scores[n], kWireData), block_of(n, 8192));
        }
      });
    }
    for (auto& th : threads) th.join();
    s->sync();
  }
  auto s = LogStore::open(dir, o);
  for (int n = 0; n < kThreads * kEach; n++) ASSERT_EQ(s->get(scores[n], kWireData), block_of(n, 8192)) << n;
  s.reset();
  EXPECT_TRUE(LogStore::check(dir).problems.empty());
}

// The log's write-outs happen on a thread of the store's: when the disk
// refuses them (a file size limit here, as a full disk), puts still read
// back, sync reports the failure, and once the disk takes the bytes again
// nothing is lost.
TEST_F(LogStoreTest, AWriteOutTheDiskRefusesIsReportedBySyncAndLosesNothing) {
  test::Logged logged;
  auto s = LogStore::open(dir, {.log = logged.sink()});
  test::FileSizeLimit full(64 << 10);

  std::vector<Score> scores;
  for (int i = 0; i < 3000; i++) scores.push_back(s->put(kWireData, block_of(i, 8192)));  // more than one 16 MiB write-out
  for (int i = 0; i < 3000; i++) EXPECT_EQ(s->get(scores[i], kWireData), block_of(i, 8192));
  EXPECT_THROW(s->sync(), Error);

  full.lift();
  s->sync();
  EXPECT_GE(logged.count("write-out failed"), 1u) << "the failed write-out is logged";
  s.reset();
  auto again = LogStore::open(dir);
  for (int i = 0; i < 1500; i++) EXPECT_EQ(again->get(scores[i], kWireData), block_of(i, 8192));
}

// A disk that stays full until the append buffer is full too: puts then
// fail clearly, and once the disk takes bytes again they go on by
// themselves. A writer (vtfs's flush) puts before it ever syncs, so it must
// not need a sync to get going again. The failures are logged once.
TEST_F(LogStoreTest, PutsResumeOnceTheDiskTakesBytesAgain) {
  test::Logged logged;
  auto s = LogStore::open(dir, {.log = logged.sink()});
  test::FileSizeLimit full(64 << 10);

  std::vector<int> stored;
  int refused = 0;
  for (int i = 0; i < 8000; i++) {  // 62 MiB: more than both append buffers
    try {
      s->put(kWireData, block_of(i, 8192));
      stored.push_back(i);
    } catch (const Error&) {
      refused++;
    }
  }
  EXPECT_GT(refused, 0) << "a full buffer of unwritable bytes refuses puts";
  EXPECT_GT(stored.size(), 1000u);

  full.lift();
  for (int i = 8000; i < 10000; i++) {
    ASSERT_NO_THROW(s->put(kWireData, block_of(i, 8192))) << i;
    stored.push_back(i);
  }
  s->sync();
  EXPECT_EQ(logged.count("write-out failed"), 1u);
  EXPECT_EQ(logged.count("work again"), 1u);
  s.reset();
  auto again = LogStore::open(dir);
  for (int i : stored) ASSERT_EQ(again->get(Score::of(block_of(i, 8192)), kWireData), block_of(i, 8192)) << i;
  again.reset();
  EXPECT_TRUE(LogStore::check(dir).problems.empty());
}

// put_async stores at once, trusting the caller's score; the blocks read
// back, duplicates are counted, and sync() makes all of them durable.
TEST_F(LogStoreTest, AsyncPutsReadBackAndSyncMakesThemDurable) {
  const int n = 6000;  // more than the append buffers hold
  crash_after([&] {
    auto s = LogStore::open(dir);
    for (int i = 0; i < n; i++) {
      Bytes b = block_of(i, 8192);
      Score sc = Score::of(b);
      s->put_async(kWireData, b, sc);
      if (i % 500 == 0) {
        EXPECT_EQ(s->stats().bytes_written, (i + 1) * 8192u) << "appended before put_async returns";
        EXPECT_EQ(s->get(sc, kWireData), b);
      }
    }
    s->put_async(kWireData, block_of(0, 8192), Score::of(block_of(0, 8192)));  // a duplicate
    s->sync();
    EXPECT_EQ(s->stats().writes, n + 1u);
    EXPECT_EQ(s->stats().dedup_hits, 1u);
  });
  auto s = LogStore::open(dir);
  for (int i = 0; i < n; i++) ASSERT_EQ(s->get(Score::of(block_of(i, 8192)), kWireData), block_of(i, 8192)) << i;
  EXPECT_EQ(s->stats().blocks, static_cast<std::uint64_t>(n));
}

TEST_F(LogStoreTest, AsyncPutOfABadBlockFailsAtOnce) {
  auto s = LogStore::open(dir);
  EXPECT_THROW(s->put_async(kWireData, Bytes(kDefaultMaxBlockSize + 1), Score::zero()), Error);
  EXPECT_THROW(s->put_async(WireType{200}, Bytes(10), Score::of(Bytes(10))), Error);
  EXPECT_NO_THROW(s->wait_puts());
}

// get_now answers from memory and the page cache only; get() still reads
// the disk.
TEST_F(LogStoreTest, GetNowAnswersOnlyWithoutWaitingForTheDisk) {
  auto s = LogStore::open(dir);
  Score a = s->put(kWireData, block_of(1, 8192));
  EXPECT_EQ(s->get_now(a, kWireData), block_of(1, 8192));  // in the write buffer
  s->sync();
  int fd = ::open(segment().c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  // Clean pages are dropped, but DONTNEED skips a page still in another
  // CPU's LRU batch: ask again until it is gone.
  std::optional<Bytes> now = block_of(1, 8192);
  for (int i = 0; i < 100 && now; i++) {
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    now = s->get_now(a, kWireData);
    if (now) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(now, std::nullopt);
  EXPECT_EQ(s->get(a, kWireData), block_of(1, 8192));
  EXPECT_EQ(s->get_now(a, kWireData), block_of(1, 8192));  // cached by the read
  ::close(fd);
  EXPECT_THROW(s->get_now(Score::of(block_of(2)), kWireData), Error);  // absent
}
