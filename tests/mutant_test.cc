// Mutant archives: a classic fixture with one block changed at random and
// every block above it rewritten to match, so that each score checks out
// and the damage reaches the parsers (a hostile archive, not a broken
// disk, which the hash would catch). Reading and changing such an archive
// must end in an Error, never a crash or a hang; run under ASan in CI.
//
// VT_MUTANTS=N runs N mutants per fixture instead of the default.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "data.h"
#include "fixtures.h"
#include "vt/cache.h"
#include "vt/error.h"
#include "vt/memstore.h"
#include "vt/metablock.h"
#include "vt/score.h"
#include "vt/vacfs.h"

namespace vt {
namespace {

using Block = test::FixtureBlock;

// Every block of a fixture, by score (a block's file is named by its score).
std::map<Score, Block> blocks_by_score(const std::string& name) {
  std::map<Score, Block> out;
  for (auto& b : test::fixture_blocks(name)) out[Score::of(b.data)] = std::move(b);
  return out;
}

// The archive with `victim` replaced by `mutant`: each block that names
// the victim's score is rewritten to name the mutant's, and so on up.
// Returns the new root score (the old one if no root was above).
Score plant(std::map<Score, Block> blocks, const Score& victim, Bytes mutant, MemStore& store, Score root) {
  std::vector<std::pair<Score, Bytes>> work{{victim, std::move(mutant)}};
  std::set<Score> done;
  while (!work.empty()) {
    auto [old, now] = std::move(work.back());
    work.pop_back();
    if (!done.insert(old).second) continue;
    const WireType type = blocks.at(old).type;
    blocks.at(old).data = now;
    const Score fresh = Score::of(now);
    if (old == root) root = fresh;
    for (auto& [s, b] : blocks) {
      if (b.type == kWireData || s == old) continue;
      Bytes changed = b.data;
      bool named = false;
      for (std::size_t i = 0; i + kScoreSize <= changed.size(); i++) {
        if (std::equal(old.bytes.begin(), old.bytes.end(), changed.begin() + static_cast<std::ptrdiff_t>(i))) {
          std::copy(fresh.bytes.begin(), fresh.bytes.end(), changed.begin() + static_cast<std::ptrdiff_t>(i));
          named = true;
        }
      }
      if (named) work.emplace_back(s, std::move(changed));
    }
    store.put(type, now);
  }
  for (const auto& [s, b] : blocks) store.put(b.type, b.data);
  return root;
}

// A directory's meta stream is data to the store; its blocks start with
// the MetaBlock magic (FORMATS.md).
bool is_meta_block(const Bytes& b) {
  if (b.size() < 4) return false;
  const std::uint32_t magic = std::uint32_t{b[0]} << 24 | b[1] << 16 | b[2] << 8 | b[3];
  return magic == kMetaMagic || magic == kMetaMagicOld;
}

// Reads everything under `dir`, as a user of the archive would; each part
// that fails counts as an error and the walk goes on.
void read_all(VacFs& v, const VacFs::NodePtr& dir, int depth, int& errors) {
  if (depth > 64) return;
  std::vector<DirEntry> list;
  try {
    list = v.list(dir);
  } catch (const Error&) {
    errors++;
    return;
  }
  for (const DirEntry& d : list) {
    try {
      auto n = v.lookup(dir, d.elem);
      if (!n) continue;
      DirEntry st = v.stat(n);
      if (st.is_dir()) {
        read_all(v, n, depth + 1, errors);
      } else if (st.mode & kModeLink) {
        v.readlink(n);
      } else {
        std::uint64_t size = v.size(n), off = 0;
        Bytes buf(64 << 10);
        while (off < size && off < (std::uint64_t{8} << 20)) {
          const std::size_t got = v.read(n, off, buf);
          if (got == 0) break;
          off += got;
        }
        v.seek(n, 0, false);
        v.allocated(n);
      }
    } catch (const Error&) {
      errors++;
    }
  }
}

// Changes the archive where it can and syncs: copy-on-write over a damaged
// tree must fail cleanly too.
void change_and_sync(VacFs& v) {
  auto root = v.root();
  std::vector<DirEntry> list;
  try {
    list = v.list(root);
  } catch (const Error&) {
  }
  for (const DirEntry& d : list) {
    try {
      auto n = v.lookup(root, d.elem);
      if (n && v.stat(n).is_dir()) v.create(n, DirEntry{.elem = "new", .mode = 0644});
    } catch (const Error&) {
    }
  }
  try {
    auto f = v.create(root, DirEntry{.elem = "added", .mode = 0644});
    v.write(f, 0, Bytes(100, 'x'));
  } catch (const Error&) {
  }
  try {
    v.sync();
  } catch (const Error&) {
  }
}

int mutants() {
  const char* n = std::getenv("VT_MUTANTS");
  return n ? std::atoi(n) : 300;
}

class Mutants : public testing::TestWithParam<std::string> {};

TEST_P(Mutants, EndInAnErrorNotACrash) {
  const auto blocks = blocks_by_score(GetParam());
  const Score root = test::fixture_root(GetParam());
  // Structure only: what a file holds is just bytes to a reader.
  std::vector<Score> scores;
  for (const auto& [s, b] : blocks)
    if (b.type != kWireData || is_meta_block(b.data)) scores.push_back(s);
  std::mt19937 rng(42);
  int failed_opens = 0, errors = 0;
  for (int i = 0; i < mutants(); i++) {
    const Score victim = scores[rng() % scores.size()];
    MemStore store;
    const Score mutant_root = plant(blocks, victim, test::mutate(blocks.at(victim).data, rng), store, root);
    Cache cache(store, CacheOptions{.budget = 4 << 20});
    std::unique_ptr<VacFs> v;
    try {
      v = VacFs::open(cache, mutant_root);
    } catch (const Error&) {
      failed_opens++;
      continue;
    }
    read_all(*v, v->root(), 0, errors);
    change_and_sync(*v);
  }
  // Not every mutant is harmful (a changed byte in a file's data is just
  // data), but some must be, or the harness mutates nothing that matters.
  EXPECT_GT(failed_opens + errors, mutants() / 20) << failed_opens << " opens failed, " << errors << " errors";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Mutants, testing::Values("classic-small", "classic-deep"));

}  // namespace
}  // namespace vt
