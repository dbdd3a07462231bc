// The vtd program: durability across kill -9, read-only mode, the lock,
// concurrent clients, the status page, check and reindex.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "data.h"
#include "process.h"
#include "scratch.h"
#include "vt/client.h"
#include "vt/error.h"
#include "vt/status.h"

using namespace vt;
namespace fs = std::filesystem;

namespace {

const std::string kVtd = std::string(VT_BIN_DIR) + "/vtd";

Bytes block_of(int i, std::size_t size = 8192) { return test::random_bytes(size, static_cast<std::uint32_t>(i)); }

class Vtd : public testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    dir = test::scratch_path("vtd");
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::unique_ptr<test::Process> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kVtd, "-a", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(dir.string());
    auto p = std::make_unique<test::Process>(argv);
    EXPECT_FALSE(p->first_line().empty()) << p->stderr_text();
    return p;
  }
};

}  // namespace

TEST_F(Vtd, SyncedBlocksSurviveKillNine) {
  constexpr int kBlocks = 2000;
  std::vector<Score> scores;
  {
    auto vtd = start();
    auto c = Client::connect(vtd->first_line());
    for (int i = 0; i < kBlocks; i++) {
      Bytes b = block_of(i);
      scores.push_back(Score::of(b));
      c->put_async(kWireData, std::move(b), scores.back());
    }
    c->sync();
    vtd->signal(SIGKILL);
    EXPECT_EQ(vtd->wait(), 128 + SIGKILL);
  }
  auto vtd = start();
  auto c = Client::connect(vtd->first_line());
  std::vector<std::future<Bytes>> reads;
  for (auto& s : scores) reads.push_back(c->get_async(s, kWireData));
  for (int i = 0; i < kBlocks; i++) ASSERT_EQ(reads[i].get(), block_of(i)) << i;
}

TEST_F(Vtd, SigtermSyncsAndExitsCleanly) {
  Score s;
  {
    auto vtd = start();
    auto c = Client::connect(vtd->first_line());
    s = c->put(kWireData, block_of(1));
    vtd->signal(SIGTERM);
    EXPECT_EQ(vtd->wait(), 0) << vtd->stderr_text();
  }
  auto report = test::Process({kVtd, "check", dir.string()});
  EXPECT_EQ(report.wait(), 0);
  EXPECT_EQ(report.first_line(), "1 records, 8192 bytes of blocks, 1 index entries");
}

TEST_F(Vtd, ReadOnlyServesReadsAndRefusesWrites) {
  Score s;
  {
    auto vtd = start();
    auto c = Client::connect(vtd->first_line());
    s = c->put(kWireData, block_of(1));
    c->sync();
  }
  auto vtd = start({"-r"});
  auto c = Client::connect(vtd->first_line());
  EXPECT_EQ(c->get(s, kWireData), block_of(1));
  try {
    c->put(kWireData, block_of(2));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
  }
}

TEST_F(Vtd, SecondServerOnTheSameStoreIsRefused) {
  auto first = start();
  test::Process second({kVtd, "-a", "127.0.0.1:0", dir.string()});
  EXPECT_EQ(second.wait(), 1);
  EXPECT_NE(second.stderr_text().find("in use by another process"), std::string::npos) << second.stderr_text();
}

TEST_F(Vtd, ConcurrentClientsWithOverlappingBlocks) {
  auto vtd = start();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      auto c = Client::connect(vtd->first_line());
      for (int i = 0; i < 200; i++) {
        int n = (t * 100 + i) % 800;
        Score s = c->put(kWireData, block_of(n, 1000 + n));
        EXPECT_EQ(c->get(s, kWireData), block_of(n, 1000 + n));
      }
      c->sync();
    });
  }
  for (auto& th : threads) th.join();
  vtd->signal(SIGTERM);
  EXPECT_EQ(vtd->wait(), 0);
  test::Process check({kVtd, "check", dir.string()});
  EXPECT_EQ(check.wait(), 0);
  EXPECT_EQ(check.first_line().substr(0, 12), "800 records,");
}

TEST_F(Vtd, StatusPage) {
  auto vtd = start({"-s", "127.0.0.1:0"});
  // The status address is logged on stderr.
  std::string err;
  for (int i = 0; i < 50 && err.find("status on http://") == std::string::npos; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    err = vtd->stderr_text();
  }
  auto at = err.find("http://");
  ASSERT_NE(at, std::string::npos) << err;
  std::string addr = err.substr(at + 7, err.find('/', at + 7) - at - 7);
  auto c = Client::connect(vtd->first_line());
  c->put(kWireData, block_of(1));
  c->put(kWireData, block_of(1));
  c->get(Score::of(block_of(1)), kWireData);
  c->sync();
  std::string page = fetch_status(addr);
  EXPECT_NE(page.find("blocks 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("dedup_hits 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("reads 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("bytes_written 8192\n"), std::string::npos) << page;
  EXPECT_NE(page.find("syncs 1\nlog_syncs 1\ncheckpoints 0\n"), std::string::npos) << page;  // a sync leaves the index alone
}

TEST_F(Vtd, ReindexRebuildsTheIndex) {
  std::vector<Score> scores;
  {
    auto vtd = start();
    auto c = Client::connect(vtd->first_line());
    for (int i = 0; i < 50; i++) scores.push_back(c->put(kWireData, block_of(i)));
    c->sync();
  }
  fs::remove_all(dir / "index");
  test::Process reindex({kVtd, "reindex", dir.string()});
  EXPECT_EQ(reindex.wait(), 0);
  EXPECT_EQ(reindex.first_line(), "indexed 50 records");
  auto vtd = start();
  auto c = Client::connect(vtd->first_line());
  for (int i = 0; i < 50; i++) EXPECT_EQ(c->get(scores[i], kWireData), block_of(i));
}

TEST_F(Vtd, BadCommandLines) {
  EXPECT_EQ(test::Process({kVtd}).wait(), 2);
  EXPECT_EQ(test::Process({kVtd, "-b", "100", dir.string()}).wait(), 2);
  EXPECT_EQ(test::Process({kVtd, "-a", "127.0.0.1:bad", dir.string()}).wait(), 1);
  EXPECT_EQ(test::Process({kVtd, "check", (dir / "nothing").string()}).wait(), 1);
}
