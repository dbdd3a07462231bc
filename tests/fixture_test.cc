// The classic fixtures: every block hashes to its name, and the root and
// directory structures unpack.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fixtures.h"
#include "vt/entry.h"
#include "vt/memstore.h"
#include "vt/root.h"
#include "vt/zero.h"

using namespace vt;
namespace fs = std::filesystem;

class Fixture : public testing::TestWithParam<std::string> {};

TEST_P(Fixture, BlocksHashToTheirNames) {
  int n = 0;
  for (const auto& f : fs::directory_iterator(test::fixture_dir(GetParam()) + "/blocks")) {
    std::ifstream in(f.path(), std::ios::binary);
    Bytes data((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(Score::of(data).hex(), f.path().stem().string());
    WireType type{static_cast<std::uint8_t>(std::stoi(f.path().extension().string().substr(1)))};
    EXPECT_TRUE(is_valid_wire_type(type));
    // Already zero-truncated, as every writer sends them.
    EXPECT_EQ(zero_truncated_size(type, data), data.size()) << f.path();
    n++;
  }
  EXPECT_GT(n, 10);
}

TEST_P(Fixture, RootAndEntriesUnpack) {
  MemStore store;
  Score root_score = test::load_fixture(GetParam(), store);
  Root root = Root::unpack(store.get(root_score, kWireRoot));
  EXPECT_EQ(root.type, "vac");
  EXPECT_GE(root.blocksize, 1024u);
  EXPECT_FALSE(root.has_prev());

  Bytes top = store.get(root.score, kWireDir);
  zero_extend(kWireDir, top, 3 * kEntrySize);
  for (int i = 0; i < 3; i++) {
    Entry e = Entry::unpack(std::span(top).subspan(i * kEntrySize).first<kEntrySize>());
    EXPECT_TRUE(e.active()) << i;
    EXPECT_EQ(e.is_dir(), i == 0) << i;
  }

  // Every directory block of the archive holds valid entries.
  int entries = 0;
  for (const auto& f : fs::directory_iterator(test::fixture_dir(GetParam()) + "/blocks")) {
    if (f.path().extension() != ".2") continue;
    std::ifstream in(f.path(), std::ios::binary);
    Bytes data((std::istreambuf_iterator<char>(in)), {});
    zero_extend(kWireDir, data, (data.size() + kEntrySize - 1) / kEntrySize * kEntrySize);
    for (std::size_t off = 0; off + kEntrySize <= data.size(); off += kEntrySize) {
      Entry e = Entry::unpack(std::span(data).subspan(off).first<kEntrySize>());
      if (!e.active()) continue;
      entries++;
      EXPECT_TRUE(e.score.is_zero() || store.has(e.score, e.depth() ? to_wire(e.type) : (e.is_dir() ? kWireDir : kWireData)))
          << "entry at " << off << " of " << f.path();
    }
  }
  EXPECT_GT(entries, 3);
}

INSTANTIATE_TEST_SUITE_P(Classic, Fixture, testing::Values("classic-small", "classic-deep"));
