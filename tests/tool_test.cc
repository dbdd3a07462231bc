// The vt command against an in-process server.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "process.h"
#include "vt/heap.h"
#include "vt/memstore.h"
#include "vt/server.h"

using namespace vt;

namespace {

using Result = test::ShellResult;
Result sh(const std::string& cmd) { return test::shell(cmd); }

class Tool : public testing::Test {
 protected:
  MemStore store;
  Server server{store, "127.0.0.1:0"};
  std::string vt;
  void SetUp() override {
    server.start();
    vt = std::string(VT_BIN_DIR) + "/vt -h " + server.address();
  }
};

}  // namespace

TEST_F(Tool, WriteThenReadRoundTrips) {
  std::string path = testing::TempDir() + "/vt_tool_block";
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 10000; i++) f.put(static_cast<char>(i * 7));
  }
  Result w = sh(vt + " write < " + path);
  ASSERT_EQ(w.status, 0) << w.out;
  ASSERT_EQ(w.out.size(), 41u);
  std::string score = w.out.substr(0, 40);
  Result cmp = sh(vt + " read vac:" + score + " | cmp - " + path);
  EXPECT_EQ(cmp.status, 0) << cmp.out;
  EXPECT_EQ(sh(vt + " read -t data " + score + " | cmp - " + path).status, 0);
  // Stored as data: asking for a dir block is "not found", exit 1.
  Result wrong = sh(vt + " read -t dir " + score);
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.out.find("no block"), std::string::npos) << wrong.out;
}

TEST_F(Tool, WriteWithTypeAndTruncation) {
  Result w = sh("printf 'abc\\0\\0\\0' | " + vt + " write -z -t dir");
  ASSERT_EQ(w.status, 0) << w.out;
  EXPECT_EQ(w.out, "a9993e364706816aba3e25717850c26c9cd0d89d\n");  // SHA-1("abc")
  EXPECT_EQ(sh(vt + " read -t dir " + w.out.substr(0, 40)).out, "abc");
}

TEST_F(Tool, PingSyncAndErrors) {
  EXPECT_EQ(sh(vt + " ping").status, 0);
  EXPECT_EQ(sh(vt + " sync").status, 0);
  EXPECT_EQ(sh(vt + " frobnicate").status, 2);
  EXPECT_EQ(sh(vt + " read").status, 2);
  EXPECT_EQ(sh(vt + " read nothex").status, 1);
  EXPECT_EQ(sh(vt + " write -t 99 </dev/null").status, 1);
  Result refused = sh(std::string(VT_BIN_DIR) + "/vt -h 127.0.0.1:1 ping");
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.out.find("refused"), std::string::npos) << refused.out;
  EXPECT_EQ(sh("head -c 70000 /dev/zero | " + vt + " write").status, 1);  // over the block limit
}

TEST(BlockHeap, TunablesAreAddedOnceAndTheUsersAreKept) {
  EXPECT_EQ(block_heap_tunables(""), "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1");
  EXPECT_EQ(block_heap_tunables("glibc.malloc.hugetlb=0"), "glibc.malloc.hugetlb=0:glibc.malloc.arena_max=1");
  EXPECT_EQ(block_heap_tunables("glibc.malloc.tcache_count=0"),
            "glibc.malloc.tcache_count=0:glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1");
  EXPECT_EQ(block_heap_tunables("glibc.malloc.arena_max=4:glibc.malloc.hugetlb=1"), "");
}

// The programs really run with the setting: vtd re-executed itself.
TEST(BlockHeap, VtdRunsWithTheTunables) {
  auto tunables_of_vtd = [](const std::string& env) {
    std::string vtd = std::string(VT_BIN_DIR) + "/vtd";
    return sh("d=$(mktemp -d); " + env + " " + vtd + " -a 127.0.0.1:0 $d/store > $d/addr 2>/dev/null & p=$!; "
              "for i in $(seq 200); do [ -s $d/addr ] && break; sleep 0.05; done; "
              "tr '\\0' '\\n' < /proc/$p/environ | grep ^GLIBC_TUNABLES; echo comm=$(cat /proc/$p/comm); kill $p; wait $p; rm -rf $d")
        .out;
  };
  std::string ours = tunables_of_vtd("");
  EXPECT_NE(ours.find("glibc.malloc.hugetlb=1"), std::string::npos) << ours;
  EXPECT_NE(ours.find("comm=vtd\n"), std::string::npos) << ours;  // named as itself, not "exe"
  std::string kept = tunables_of_vtd("GLIBC_TUNABLES=glibc.malloc.hugetlb=0");
  EXPECT_NE(kept.find("glibc.malloc.hugetlb=0"), std::string::npos) << kept;
  EXPECT_EQ(kept.find("glibc.malloc.hugetlb=1"), std::string::npos) << kept;
}
