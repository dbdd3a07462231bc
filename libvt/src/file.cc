#include "vt/file.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <shared_mutex>
#include <vector>

#include "spans.h"
#include "vt/error.h"

namespace vt {

struct File::Tree {
  explicit Tree(Cache& c, const Entry& e) : cache(c), root(e), spans(c) {}
  Cache& cache;
  std::shared_mutex mu;
  Entry root;
  // Data blocks of closed files written behind (see write_behind), whose
  // writes no wait has confirmed yet. Held, so the cache keeps them,
  // and written again if a write failed after `mark` was taken.
  struct {
    std::vector<BlockPtr> blocks;
    std::size_t bytes = 0;
    std::uint64_t mark = 0;
  } behind;
  // The last write-back by a writer that the store refused: writers wait
  // this long before trying again (see write_back_locked).
  struct {
    std::chrono::steady_clock::time_point until;
    std::string why;
  } refused;
  // The spans an appending writer completed, being hashed and stored (see
  // write_behind_locked). The last member: its thread stops first.
  detail::Spans spans;
};

namespace {

// The geometry of one stream.
struct Shape {
  std::uint32_t psize, dsize;
  BlockType base;  // kDataType or kDirType

  explicit Shape(const Entry& e) : psize(e.psize), dsize(e.dsize), base(e.is_dir() ? kDirType : kDataType) {}
  std::uint64_t per() const { return psize / kScoreSize; }
  std::size_t size(int level) const { return level == 0 ? dsize : psize; }
  BlockType type(int level) const { return static_cast<BlockType>(base + level); }
  // Data blocks a tree of `depth` can address.
  std::uint64_t capacity(int depth) const {
    std::uint64_t c = 1;
    for (int i = 0; i < depth; i++) {
      if (c > UINT64_MAX / per()) return UINT64_MAX;
      c *= per();
    }
    return c;
  }
  // Index, within its level-`level` pointer block, of the child on the way to bn.
  std::size_t digit(std::uint64_t bn, int level) const { return static_cast<std::size_t>(bn / capacity(level - 1) % per()); }
  std::uint32_t per_dir_block() const { return dsize / kEntrySize; }
};

std::uint64_t dir_size_for(std::uint64_t entries, const Shape& sh) {
  return entries / sh.per_dir_block() * sh.dsize + entries % sh.per_dir_block() * kEntrySize;
}

BlockPtr load(Cache& c, const Score& s, BlockType type, std::size_t size) {
  if (!s.is_local()) return c.global(s, type, size);
  BlockPtr b = c.local(s.local_addr());
  if (b->type != type || b->data.size() != size)
    throw Error(Errc::Corrupt, "local block " + std::to_string(s.local_addr()) + " is a " + type_name(b->type) + " block of " +
                                   std::to_string(b->data.size()) + " bytes, want " + type_name(type) + " of " + std::to_string(size));
  return b;
}

// A block the caller may modify: local already, a fresh zero block, or a copy.
BlockPtr writable(Cache& c, const Score& s, BlockType type, std::size_t size, bool fresh) {
  if (s.is_local()) return load(c, s, type, size);
  if (fresh || s.is_zero()) return c.alloc(type, size);
  return c.copy(*c.global(s, type, size));
}

Entry unpack_at(const Block& b, std::size_t off) {
  return Entry::unpack(std::span<const std::uint8_t, kEntrySize>(b.data.data() + off, kEntrySize));
}

void pack_at(Block& b, std::size_t off, const Entry& e) {
  e.pack(std::span<std::uint8_t, kEntrySize>(b.data.data() + off, kEntrySize));
}

// An entry as stored: flagged local exactly when its score is.
Entry as_stored(Entry e) {
  e.flags = static_cast<std::uint8_t>((e.flags & ~kEntryLocal) | (e.score.is_local() ? kEntryLocal : 0));
  return e;
}

struct ReadPath {
  BlockPtr leaf;
  BlockPtr parent;  // the pointer block above the leaf, if any
  std::size_t index = 0;
};

// The pointer block just above data block bn (depth >= 1, bn within the
// tree), and bn's index in it.
std::pair<BlockPtr, std::size_t> walk_parent(Cache& c, const Entry& e, std::uint64_t bn) {
  Shape sh(e);
  BlockPtr b = load(c, e.score, sh.type(e.depth()), sh.size(e.depth()));
  for (int level = e.depth(); level > 1; level--) b = load(c, b->pointer(sh.digit(bn, level)), sh.type(level - 1), sh.size(level - 1));
  return {b, sh.digit(bn, 1)};
}

ReadPath walk_read(Cache& c, const Entry& e, std::uint64_t bn) {
  Shape sh(e);
  if (bn >= sh.capacity(e.depth())) return {c.global(Score::zero(), sh.type(0), sh.dsize), nullptr, 0};
  if (e.depth() == 0) return {load(c, e.score, sh.type(0), sh.dsize), nullptr, 0};
  ReadPath p;
  std::tie(p.parent, p.index) = walk_parent(c, e, bn);
  p.leaf = load(c, p.parent->pointer(p.index), sh.type(0), sh.dsize);
  return p;
}

// The score of data block bn of `e` (zero past the tree; maybe local).
Score leaf_score(Cache& c, const Entry& e, std::uint64_t bn) {
  Shape sh(e);
  if (bn >= sh.capacity(e.depth())) return Score::zero();
  if (e.depth() == 0) return e.score;
  auto [parent, index] = walk_parent(c, e, bn);  // the leaf itself is not needed
  return parent->pointer(index);
}

// A search for the first data block at or after `from` that is a hole
// (`hole`) or holds data, which reads at most `budget` pointer blocks: a
// hostile tree (one pointer block named again and again) could otherwise
// keep it going for hours.
struct BlockSearch {
  std::uint64_t from;
  bool hole;
  std::int64_t budget;
};

// The search within the level-`level` subtree `s`, whose first block is
// `base`; nullopt if it is not there, or the budget ran out (then < 0).
std::optional<std::uint64_t> find_block(Cache& c, const Score& s, int level, std::uint64_t base, const Shape& sh, BlockSearch& q) {
  if (s.is_zero() || level == 0) {
    if (s.is_zero() != q.hole) return std::nullopt;
    return std::max(base, q.from);
  }
  if (--q.budget < 0) return std::nullopt;
  BlockPtr b = load(c, s, sh.type(level), sh.psize);
  const std::uint64_t child = sh.capacity(level - 1);
  for (std::uint64_t i = q.from > base ? (q.from - base) / child : 0; i < sh.per() && q.budget >= 0; i++) {
    if (i > 0 && child > (UINT64_MAX - base) / i) break;  // past any stream
    if (auto bn = find_block(c, b->pointer(i), level - 1, base + i * child, sh, q)) return bn;
  }
  return std::nullopt;
}

// The data blocks below `end` of the level-`level` subtree `s` (first block
// `base`) that no zero score above level 1 shows to be holes; nullopt once
// more than `budget` pointer blocks would have to be read.
std::optional<std::uint64_t> counted_blocks(Cache& c, const Score& s, int level, std::uint64_t base, std::uint64_t end,
                                            const Shape& sh, int& budget) {
  if (s.is_zero()) return 0;
  const std::uint64_t span = sh.capacity(level);
  if (level <= 1) return std::min(span, end - base);
  if (--budget < 0) return std::nullopt;
  BlockPtr b = load(c, s, sh.type(level), sh.psize);
  const std::uint64_t child = sh.capacity(level - 1);
  std::uint64_t n = 0;
  for (std::uint64_t i = 0; i < sh.per() && i <= (end - base - 1) / child; i++) {
    auto k = counted_blocks(c, b->pointer(i), level - 1, base + i * child, end, sh, budget);
    if (!k) return std::nullopt;
    n += *k;
  }
  return n;
}

// Data blocks first..first+count-1 below one pointer block: the stored ones
// fetched together, the local ones from memory.
std::vector<BlockPtr> load_leaves(Cache& c, const Block& parent, std::size_t first, std::size_t count, const Shape& sh) {
  std::vector<BlockPtr> out(count);
  std::vector<Score> stored;
  std::vector<std::size_t> where;
  for (std::size_t k = 0; k < count; k++) {
    Score s = parent.pointer(first + k);
    if (s.is_local()) {
      out[k] = load(c, s, sh.type(0), sh.dsize);
    } else {
      stored.push_back(s);
      where.push_back(k);
    }
  }
  if (!stored.empty()) {
    auto got = c.global_many(stored, sh.type(0), sh.dsize);
    for (std::size_t j = 0; j < got.size(); j++) out[where[j]] = std::move(got[j]);
  }
  return out;
}

// Adds a level above the top of `e`.
void grow(Cache& c, Entry& e) {
  if (e.depth() >= kMaxDepth) throw Error(Errc::TooBig, "stream would need a tree deeper than 7 levels");
  Shape sh(e);
  if (!e.score.is_zero()) {  // an all-zero tree is the zero score at any depth
    BlockPtr top = c.alloc(sh.type(e.depth() + 1), sh.psize);
    top->set_pointer(0, e.score);
    e.score = top->score;
  }
  e.type++;
}

// Makes the path to data block bn local (copying as needed) and returns the
// blocks on it, top first. `fresh_leaf`: the caller overwrites the whole
// leaf, so a stored one need not be read.
std::vector<BlockPtr> walk_write(Cache& c, Entry& e, std::uint64_t bn, bool fresh_leaf) {
  Shape sh(e);
  while (bn >= sh.capacity(e.depth())) grow(c, e);
  std::vector<BlockPtr> path;
  int depth = e.depth();
  BlockPtr b = writable(c, e.score, sh.type(depth), sh.size(depth), fresh_leaf && depth == 0);
  e.score = b->score;
  path.push_back(b);
  for (int level = depth; level > 0; level--) {
    std::size_t i = sh.digit(bn, level);
    Score s = b->pointer(i);
    BlockPtr child = writable(c, s, sh.type(level - 1), sh.size(level - 1), fresh_leaf && level == 1);
    if (child->score != s) b->set_pointer(i, child->score);
    b = child;
    path.push_back(b);
  }
  return path;
}

// Forgets the unwritten blocks below `s` (a discarded subtree).
void free_subtree(Cache& c, const Score& s, BlockType type, const Shape& sh) {
  if (!s.is_local()) return;
  int level = type_depth(type);
  BlockPtr b = load(c, s, type, sh.size(level));
  if (level > 0) {
    for (std::size_t i = 0; i < sh.per(); i++) free_subtree(c, b->pointer(i), static_cast<BlockType>(type - 1), sh);
  } else if (sh.base == kDirType) {
    for (std::uint32_t k = 0; k < sh.per_dir_block(); k++) {
      Entry e = unpack_at(*b, k * kEntrySize);
      if (e.active()) free_subtree(c, e.score, e.type, Shape(e));
    }
  }
  c.free_local(s.local_addr());
}

// Makes data blocks [first, end) of the level-`level` subtree `s`, whose
// first block is `base`, holes: subtrees wholly inside become the zero
// score (their unwritten blocks freed), the others are walked. Returns the
// subtree's new score.
Score zero_blocks(Cache& c, const Score& s, int level, std::uint64_t base, std::uint64_t first, std::uint64_t end, const Shape& sh) {
  if (s.is_zero()) return s;
  if (first <= base && base + sh.capacity(level) <= end) {  // always so for a single block
    free_subtree(c, s, sh.type(level), sh);
    return Score::zero();
  }
  BlockPtr b = writable(c, s, sh.type(level), sh.psize, false);
  const std::uint64_t child = sh.capacity(level - 1);
  for (std::size_t i = 0; i < sh.per(); i++) {
    const std::uint64_t at = base + i * child;
    if (at >= end) break;
    if (at + child <= first) continue;
    const Score was = b->pointer(i), now = zero_blocks(c, was, level - 1, at, first, end, sh);
    if (now != was) b->set_pointer(i, now);
  }
  return b->score;
}

// A block written by a flush: once every write succeeded, the local block
// becomes a clean global one (with new contents if its children changed).
struct Written {
  std::uint32_t addr;
  Score score;
  std::optional<Bytes> data;
};

// The local data blocks below a level-1 pointer block, started writing
// together (many are hashed on two threads; they hold no scores): their
// slots, the blocks, and their new scores.
struct LeafWrites {
  std::vector<std::size_t> at;
  std::vector<BlockPtr> leaves;
  std::vector<Score> scores;
};

LeafWrites write_leaves(Cache& c, const Block& parent, const Shape& sh) {
  LeafWrites w;
  std::vector<std::span<const std::uint8_t>> data;
  for (std::size_t i = 0; i < sh.per(); i++) {
    Score s = parent.pointer(i);
    if (!s.is_local()) continue;
    w.at.push_back(i);
    w.leaves.push_back(load(c, s, sh.type(0), sh.dsize));
    data.push_back(w.leaves.back()->data);
  }
  w.scores = c.write_many(sh.type(0), data);
  return w;
}

// Writes the unwritten blocks below `s` bottom-up, working on copies so that
// nothing changes until every write has succeeded. Returns the new score.
Score flush_tree(Cache& c, const Score& s, BlockType type, const Shape& sh, std::vector<Written>& written) {
  if (!s.is_local()) return s;
  int level = type_depth(type);
  BlockPtr b = load(c, s, type, sh.size(level));
  if (level == 0 && sh.base == kDataType) {  // no scores inside: write as is
    Score score = c.write(type, b->data);
    written.push_back({s.local_addr(), score, std::nullopt});
    return score;
  }
  Block copy = *b;
  if (level == 1 && sh.base == kDataType) {
    LeafWrites w = write_leaves(c, copy, sh);
    for (std::size_t k = 0; k < w.at.size(); k++) {
      written.push_back({w.leaves[k]->score.local_addr(), w.scores[k], std::nullopt});
      copy.set_pointer(w.at[k], w.scores[k]);
    }
  } else if (level > 0) {
    for (std::size_t i = 0; i < sh.per(); i++) {
      Score child = copy.pointer(i);
      if (child.is_local()) copy.set_pointer(i, flush_tree(c, child, static_cast<BlockType>(type - 1), sh, written));
    }
  } else {
    for (std::uint32_t k = 0; k < sh.per_dir_block(); k++) {
      Entry e = unpack_at(copy, k * kEntrySize);
      if (!e.active() || !e.score.is_local()) continue;
      e.score = flush_tree(c, e.score, e.type, Shape(e), written);
      pack_at(copy, k * kEntrySize, as_stored(e));
    }
  }
  Score score = c.write(type, copy.data);
  written.push_back({s.local_addr(), score, std::move(copy.data)});
  return score;
}

void promote_all(Cache& c, std::vector<Written>& written) {
  for (auto& w : written) c.promote(w.addr, w.score, std::move(w.data));
}

// Waits for the writes `work` started; on failure drains the rest, so a
// later flush does not see a stale error, and rethrows.
template <typename F>
auto write_all(Cache& c, F work) {
  const std::uint64_t mark = c.write_mark();
  try {
    auto r = work();
    c.wait_writes(mark);
    return r;
  } catch (...) {
    try {
      c.wait_writes(mark);
    } catch (...) {
    }
    throw;
  }
}

}  // namespace

File::File(std::shared_ptr<Tree> tree, std::shared_ptr<File> parent, std::uint32_t index, std::uint32_t gen)
    : tree_(std::move(tree)), parent_(std::move(parent)), index_(index), gen_(gen) {}

std::shared_ptr<File> File::open_root(Cache& cache, const Entry& entry) {
  if (!entry.active()) throw Error(Errc::Invalid, "root entry is not active");
  if (entry.psize < 256 || entry.dsize < 256) throw Error(Errc::Invalid, "root entry has block sizes below 256");
  return std::shared_ptr<File>(new File(std::make_shared<Tree>(cache, entry), nullptr, 0, entry.gen));
}

std::shared_ptr<File> File::create_root(Cache& cache, std::uint32_t psize, std::uint32_t dsize, bool dir) {
  Entry e;
  e.psize = psize;
  e.dsize = dsize;
  e.type = dir ? kDirType : kDataType;
  e.flags = kEntryActive;
  return open_root(cache, e);
}

void File::check_live() const {
  if (removed_) throw Error(Errc::NotFound, "stream was removed");
}

Entry File::entry_locked() {
  check_live();
  if (!parent_) return tree_->root;
  Entry e = parent_->read_entry_locked(index_);
  if (!e.active() || e.gen != gen_) throw Error(Errc::NotFound, "stream " + std::to_string(index_) + " was removed");
  return e;
}

void File::set_entry_locked(const Entry& e) {
  const Entry n = as_stored(e);
  if (!parent_)
    tree_->root = n;
  else
    parent_->write_entry_locked(index_, n);
}

Entry File::read_entry_locked(std::uint32_t index) {
  Entry d = entry_locked();
  if (!d.is_dir()) throw Error(Errc::Invalid, "not a directory stream");
  Shape sh(d);
  if (dir_size_for(index + 1ull, sh) > d.size) return Entry{};  // past the end: a free slot
  ReadPath p = walk_read(tree_->cache, d, index / sh.per_dir_block());
  return unpack_at(*p.leaf, index % sh.per_dir_block() * kEntrySize);
}

void File::write_entry_locked(std::uint32_t index, const Entry& e) {
  const Entry before = entry_locked();
  if (!before.is_dir()) throw Error(Errc::Invalid, "not a directory stream");
  Entry d = before;
  Shape sh(d);
  auto path = walk_write(tree_->cache, d, index / sh.per_dir_block(), false);
  pack_at(*path.back(), index % sh.per_dir_block() * kEntrySize, e);
  d.size = std::max(d.size, dir_size_for(index + 1ull, sh));
  // Once this stream's blocks are local, its own entry stays as it is, and
  // so does every one above it: stop here, and a write costs O(depth).
  if (as_stored(d) != before) set_entry_locked(d);
}

std::uint32_t File::entry_count_locked() {
  Entry d = entry_locked();
  if (!d.is_dir()) throw Error(Errc::Invalid, "not a directory stream");
  Shape sh(d);
  std::uint64_t n = d.size / sh.dsize * sh.per_dir_block() + d.size % sh.dsize / kEntrySize;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
}

std::shared_ptr<File> File::open(std::uint32_t index) {
  std::shared_lock lock(tree_->mu);
  Entry e = read_entry_locked(index);
  if (!e.active()) throw Error(Errc::NotFound, "stream slot " + std::to_string(index) + " is not in use");
  return std::shared_ptr<File>(new File(tree_, shared_from_this(), index, e.gen));
}

std::shared_ptr<File> File::create(std::uint32_t psize, std::uint32_t dsize, bool dir) {
  if (psize < 256 || dsize < 256) throw Error(Errc::Invalid, "block sizes must be at least 256");
  Entry e;
  e.psize = psize;
  e.dsize = dsize;
  e.type = dir ? kDirType : kDataType;
  e.flags = kEntryActive;
  std::unique_lock lock(tree_->mu);
  return create_locked(e);
}

std::shared_ptr<File> File::adopt(const Entry& entry) {
  if (!entry.active()) throw Error(Errc::Invalid, "cannot adopt an inactive stream");
  std::unique_lock lock(tree_->mu);
  return create_locked(entry);
}

std::shared_ptr<File> File::create_locked(const Entry& entry) {
  std::uint32_t n = entry_count_locked(), k = std::min(free_hint_, n);
  Entry old;
  for (; k < n; k++) {
    old = read_entry_locked(k);
    if (!old.active()) break;
  }
  if (k == n) old = Entry{};
  Entry e = entry;
  e.gen = old.gen;
  write_entry_locked(k, e);
  free_hint_ = k + 1;
  return std::shared_ptr<File>(new File(tree_, shared_from_this(), k, e.gen));
}

void File::remove() {
  std::unique_lock lock(tree_->mu);
  free_slot_locked(true);
}

void File::move_to(const std::shared_ptr<File>& dir) {
  if (dir->tree_ != tree_) throw Error(Errc::Invalid, "cannot move a stream to another tree");
  std::unique_lock lock(tree_->mu);
  if (!parent_) throw Error(Errc::Invalid, "cannot move a root stream");
  auto moved = dir->create_locked(entry_locked());
  try {
    free_slot_locked(false);
  } catch (...) {
    moved->free_slot_locked(false);  // leave one copy, not two
    throw;
  }
  parent_ = dir;
  index_ = moved->index_;
  gen_ = moved->gen_;
  removed_ = false;
}

std::uint32_t File::index() {
  std::shared_lock lock(tree_->mu);
  return index_;
}

void File::free_slot_locked(bool free_blocks) {
  if (!parent_) throw Error(Errc::Invalid, "cannot remove a root stream");
  if (free_blocks) collect_spans_locked(0);
  Entry e = entry_locked();
  if (free_blocks) free_subtree(tree_->cache, e.score, e.type, Shape(e));
  Entry dead;
  dead.gen = e.gen + 1;
  dead.score = Score::zero();
  parent_->write_entry_locked(index_, dead);
  parent_->free_hint_ = std::min(parent_->free_hint_, index_);
  removed_ = true;
}

std::uint32_t File::entry_count() {
  std::shared_lock lock(tree_->mu);
  return entry_count_locked();
}

Entry File::entry() {
  std::shared_lock lock(tree_->mu);
  return entry_locked();
}

std::uint64_t File::size() { return entry().size; }

std::size_t File::read(std::uint64_t offset, std::span<std::uint8_t> out, Reuse reuse) {
  std::shared_lock lock(tree_->mu);
  return read_locked(offset, out, reuse);
}

std::size_t File::read_locked(std::uint64_t offset, std::span<std::uint8_t> out, Reuse reuse) {
  Entry e = entry_locked();
  if (offset >= e.size) return 0;
  Shape sh(e);
  Cache& c = tree_->cache;
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), e.size - offset));
  const std::uint64_t last_bn = (e.size - 1) / sh.dsize, end_bn = (offset + n - 1) / sh.dsize;
  const unsigned ra = c.readahead();
  auto copy = [&](const Block& leaf, std::size_t& done) {
    std::uint64_t pos = offset + done;
    std::size_t within = pos % sh.dsize, chunk = std::min<std::size_t>(sh.dsize - within, n - done);
    std::memcpy(out.data() + done, leaf.data.data() + within, chunk);
    done += chunk;
  };
  for (std::size_t done = 0; done < n;) {
    std::uint64_t bn = (offset + done) / sh.dsize;
    if (e.depth() == 0 || bn >= sh.capacity(e.depth())) {  // past the tree: zeros
      copy(*walk_read(c, e, bn).leaf, done);
      continue;
    }
    // The blocks of this read below one pointer block, fetched together.
    auto [parent, index] = walk_parent(c, e, bn);
    std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(sh.per() - index, end_bn - bn + 1));
    auto leaves = load_leaves(c, *parent, index, count, sh);
    for (std::size_t k = 0; k < count; k++, bn++) {
      copy(*leaves[k], done);
      // Every ra/2 blocks, ask for the next ra that share this pointer block.
      if (ra > 1 && bn % (ra / 2) == 0) {
        for (std::size_t i = index + k + 1; i < sh.per() && i <= index + k + ra && bn + (i - index - k) <= last_bn; i++)
          c.prefetch(parent->pointer(i), sh.type(0), sh.dsize);
      }
    }
    if (reuse == Reuse::once) {
      // Every block but the last was read to its end; the last only if the
      // read ends with it (or with the stream).
      const bool last_whole = (offset + done) % sh.dsize == 0 || bn - 1 == last_bn;
      c.drop(std::span(leaves).first(last_whole ? count : count - 1));
    }
  }
  return n;
}

void File::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
  std::unique_lock lock(tree_->mu);
  // The store has refused what the cache holds (a full disk, a server
  // gone) and the budget is spent: this write fails, with the store's
  // reason, rather than memory growing without bound.
  if (tree_->cache.over_budget()) {
    write_back_locked();
    if (tree_->cache.over_budget()) throw Error(Errc::Io, "the cache is full of blocks not yet stored");
  }
  write_behind_locked(write_locked(offset, data), offset, data.size());
  if (!tree_->cache.over_high_water()) return;
  try {
    write_back_locked();
  } catch (const Error&) {  // the data stays local; the next sync reports it
  }
}

// Writes back every stream, not only this one: a tree of small files would
// otherwise flush (and wait for) each new file alone while the dirty bytes
// of others stay. Spans out count as dirty until they land, so they are
// waited for first. After the store refused, writes do not try again for
// a while: each try hashes and sends every dirty block, and a writer
// would pay that at every request while a disk stays full.
void File::write_back_locked() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kPause = std::chrono::seconds(1);
  auto& refused = tree_->refused;
  if (Clock::now() < refused.until) throw Error(Errc::Io, refused.why);
  collect_spans_locked(0);
  if (!tree_->cache.over_high_water()) return;
  File* top = this;
  while (top->parent_) top = top->parent_.get();
  try {
    top->flush_locked();
  } catch (const Error& e) {
    refused.until = Clock::now() + kPause;
    refused.why = e.what();
    throw;
  }
}

void File::settle_behind_locked() {
  auto& behind = tree_->behind;
  if (behind.blocks.empty()) return;
  Cache& c = tree_->cache;
  auto resend = [&] {
    const std::uint64_t mark = c.write_mark();
    behind.mark = mark - 1;  // until all are sent again: a failure here must not look like success
    for (const BlockPtr& b : behind.blocks) c.write(b->type, b->data);
    behind.mark = mark;
  };
  if (c.write_mark() != behind.mark) resend();  // a write failed since they went
  try {
    c.wait_writes(behind.mark);
  } catch (const Error&) {  // maybe one of theirs: once more, then it is the caller's
    resend();
    c.wait_writes(behind.mark);
  }
  c.drop(behind.blocks);
  behind.blocks.clear();
  behind.bytes = 0;
}

// The blocks of closed files written behind are confirmed (waited for) a
// few MiB at a time: those of the last hundred or so small files. A wait
// per small file would cost each a round trip to a venti server, holding
// the tree lock.
void File::start_behind_locked() {
  constexpr std::size_t kSettleBytes = 2 << 20;
  auto& behind = tree_->behind;
  if (behind.bytes >= kSettleBytes) settle_behind_locked();
  if (behind.blocks.empty()) behind.mark = tree_->cache.write_mark();
}

void File::hold_behind_locked(BlockPtr b) {
  tree_->behind.bytes += b->data.size();
  tree_->behind.blocks.push_back(std::move(b));
}

// A writer appending to a stream completes the data blocks below a level-1
// pointer block every few MiB (408 blocks of 8 KiB with vac's sizes). Those
// are hashed and stored on another thread while the writer goes on, then
// put in place and dropped from the cache: a big copy keeps neither its
// memory nor the cache's other blocks busy, and on a small machine the
// hashing takes the core the copying leaves idle. A few spans may be out;
// the writer waits for the oldest beyond that.
void File::write_behind_locked(const Entry& e, std::uint64_t offset, std::size_t n) {
  constexpr std::size_t kSpansOut = 2;
  if (e.depth() == 0 || e.is_dir() || offset + n != e.size) return;  // appends to data streams only
  Shape sh(e);
  const std::uint64_t per = sh.per(), first = offset / sh.dsize / per, end = (offset + n) / sh.dsize / per;
  if (first == end) return;  // no level-1 block completed
  try {
    for (std::uint64_t span = first; span < end; span++) write_span_behind(e, span * per);
    collect_spans_locked(kSpansOut);
  } catch (const Error&) {
    // What was not sent stays local, for a flush to write and report on.
  }
}

void File::write_span_behind(const Entry& e, std::uint64_t first_block) {
  Shape sh(e);
  Cache& c = tree_->cache;
  BlockPtr parent = walk_parent(c, e, first_block).first;
  if (!parent->is_local() || tree_->spans.below(parent.get())) return;
  detail::Spans::Span span{.type = sh.type(0), .parent = parent};
  for (std::size_t i = 0; i < sh.per(); i++) {
    Score s = parent->pointer(i);
    if (!s.is_local()) continue;
    span.at.push_back(i);
    span.leaves.push_back(load(c, s, sh.type(0), sh.dsize));
  }
  if (!span.leaves.empty()) tree_->spans.start(std::move(span));
}

// Puts the scores of the spans written behind in place once at most `out`
// are still being written (0: before anything but an append past them, so
// that no span's blocks change while they are hashed). A span whose writes
// failed stays local, for a flush to write and report on.
void File::collect_spans_locked(std::size_t out) {
  if (out == 0 && tree_->spans.empty()) return;
  Cache& c = tree_->cache;
  for (auto& span : tree_->spans.collect(out)) {
    if (!span.stored || !span.parent->is_local()) continue;
    for (std::size_t k = 0; k < span.at.size(); k++) {
      const Score was = span.leaves[k]->score;
      if (span.parent->pointer(span.at[k]) != was) continue;  // replaced: not this block's slot any more
      span.parent->set_pointer(span.at[k], span.scores[k]);
      if (span.scores[k].is_zero())
        c.free_local(was.local_addr());
      else
        c.promote(was.local_addr(), span.scores[k]);
    }
    c.drop(span.leaves);
  }
}

void File::write_behind() {
  std::unique_lock lock(tree_->mu);
  collect_spans_locked(0);
  Entry e = entry_locked();
  if (e.is_dir() || !e.score.is_local()) return;
  Cache& c = tree_->cache;
  try {
    start_behind_locked();
    std::vector<Written> written;
    e.score = flush_tree(c, e.score, e.type, Shape(e), written);
    for (const auto& w : written)  // held until a wait confirms them
      if (!w.score.is_zero()) hold_behind_locked(c.local(w.addr));
    promote_all(c, written);
    set_entry_locked(e);
  } catch (const Error&) {
    // Nothing changed: the blocks stay local, for a flush to write and report on.
  }
}

Entry File::write_locked(std::uint64_t offset, std::span<const std::uint8_t> data) {
  if (data.empty()) return entry_locked();
  if (offset > kMaxStreamSize || data.size() > kMaxStreamSize - offset)
    throw Error(Errc::TooBig, "write past the largest stream size (2^48-1 bytes)");
  Entry e = entry_locked();
  Shape sh(e);
  for (std::size_t done = 0; done < data.size();) {
    std::uint64_t pos = offset + done, bn = pos / sh.dsize;
    std::size_t within = pos % sh.dsize, chunk = std::min<std::size_t>(sh.dsize - within, data.size() - done);
    bool fresh = within == 0 && (chunk == sh.dsize || pos + chunk >= e.size);
    auto path = walk_write(tree_->cache, e, bn, fresh);
    if (path.size() > 1 && tree_->spans.below(path[path.size() - 2].get())) {  // rewriting a span being written
      collect_spans_locked(0);
      path = walk_write(tree_->cache, e, bn, fresh);
    }
    std::memcpy(path.back()->data.data() + within, data.data() + done, chunk);
    done += chunk;
  }
  e.size = std::max<std::uint64_t>(e.size, offset + data.size());
  set_entry_locked(e);
  return e;
}

void File::set_size(std::uint64_t size) {
  std::unique_lock lock(tree_->mu);
  set_size_locked(size);
}

bool File::extend(std::uint64_t size) {
  std::unique_lock lock(tree_->mu);
  if (size <= entry_locked().size) return false;
  set_size_locked(size);
  return true;
}

void File::zero_range(std::uint64_t offset, std::uint64_t len) {
  std::unique_lock lock(tree_->mu);
  collect_spans_locked(0);
  Entry e = entry_locked();
  if (e.is_dir()) throw Error(Errc::Invalid, "cannot zero a range of a directory stream");
  if (offset >= e.size) return;
  const std::uint64_t end = offset + std::min(len, e.size - offset), ds = e.dsize;
  // Whole blocks become holes; the bytes of a block only partly in the
  // range are written as zeros. Past the size a block holds zeros already,
  // so a range reaching the end takes the last block whole.
  const std::uint64_t first = (offset + ds - 1) / ds, last = end == e.size ? (end + ds - 1) / ds : end / ds;
  auto zero_bytes = [&](std::uint64_t from, std::uint64_t to) {
    if (from < to) write_locked(from, Bytes(static_cast<std::size_t>(to - from), 0));
  };
  if (first >= last) {  // within one block
    zero_bytes(offset, end);
    return;
  }
  zero_bytes(offset, first * ds);
  if (last * ds < end) zero_bytes(last * ds, end);
  e = entry_locked();
  e.score = zero_blocks(tree_->cache, e.score, e.depth(), 0, first, last, Shape(e));
  set_entry_locked(e);
}

void File::set_size_locked(std::uint64_t size) {
  if (size > kMaxStreamSize) throw Error(Errc::TooBig, "size past the largest stream size (2^48-1 bytes)");
  Entry e = entry_locked();
  if (size == e.size) return;
  Shape sh(e);
  Cache& c = tree_->cache;
  if (size > e.size) {  // the bytes past the old end are zero already
    while (sh.capacity(e.depth()) < (size + sh.dsize - 1) / sh.dsize) grow(c, e);
    e.size = size;
    set_entry_locked(e);
    return;
  }
  collect_spans_locked(0);  // shrinking zeroes and frees blocks a span may hold; it leaves the entry as it is
  if (size == 0) {
    free_subtree(c, e.score, e.type, sh);
    e.score = Score::zero();
    e.type = sh.type(0);
    e.size = 0;
    set_entry_locked(e);
    return;
  }
  // Zero everything from `size` on along the path to the new last block...
  std::uint64_t last = (size - 1) / sh.dsize;
  auto path = walk_write(c, e, last, false);
  for (int level = e.depth(); level > 0; level--) {
    Block& b = *path[static_cast<std::size_t>(e.depth() - level)];
    for (std::size_t i = sh.digit(last, level) + 1; i < sh.per(); i++) {
      Score s = b.pointer(i);
      if (s.is_zero()) continue;
      free_subtree(c, s, sh.type(level - 1), sh);
      b.set_pointer(i, Score::zero());
    }
  }
  std::size_t keep = static_cast<std::size_t>(size - last * sh.dsize);
  std::memset(path.back()->data.data() + keep, 0, sh.dsize - keep);
  // ...then drop levels the smaller size does not need.
  for (int want = depth_for_size(size, sh.psize, sh.dsize); e.depth() > want;) {
    BlockPtr top = load(c, e.score, e.type, sh.psize);
    Score first = top->pointer(0);
    if (top->is_local()) c.free_local(top->score.local_addr());
    e.score = first;
    e.type--;
  }
  e.size = size;
  set_entry_locked(e);
}

Entry File::flush() {
  std::unique_lock lock(tree_->mu);
  return flush_locked();
}

Entry File::flush_locked() {
  collect_spans_locked(0);
  settle_behind_locked();
  Entry e = entry_locked();
  if (!e.score.is_local()) return e;
  Cache& c = tree_->cache;
  std::vector<Written> written;
  e.score = write_all(c, [&] { return flush_tree(c, e.score, e.type, Shape(e), written); });
  promote_all(c, written);
  set_entry_locked(e);
  tree_->refused.until = {};  // the store takes blocks: writers may write back again
  return entry_locked();
}

Score File::block_score(std::uint64_t bn) {
  std::shared_lock lock(tree_->mu);
  return leaf_score(tree_->cache, entry_locked(), bn);
}

// Past this many pointer blocks read (512 MiB of them at 8 KiB, a dense
// 200 GiB), a seek gives up and reports data where it stands, as lseek(2)
// may: the rest of the file counts as data.
constexpr std::int64_t kSeekPointerBlocks = 1 << 16;

std::optional<std::uint64_t> File::seek_data(std::uint64_t offset) { return seek(offset, false); }
std::optional<std::uint64_t> File::seek_hole(std::uint64_t offset) { return seek(offset, true); }

std::optional<std::uint64_t> File::seek(std::uint64_t offset, bool hole) {
  std::shared_lock lock(tree_->mu);
  const Entry e = entry_locked();
  if (offset >= e.size) return std::nullopt;
  Shape sh(e);
  BlockSearch q{offset / sh.dsize, hole, kSeekPointerBlocks};
  auto bn = find_block(tree_->cache, e.score, e.depth(), 0, sh, q);
  if (q.budget < 0) return hole ? e.size : offset;  // given up: the rest is data
  if (bn && *bn <= (e.size - 1) / sh.dsize) return std::max(offset, *bn * sh.dsize);
  return hole ? std::optional(e.size) : std::nullopt;  // the end counts as a hole
}

std::uint64_t File::allocated() {
  // A stat asks for this: past this many pointer blocks the stream counts
  // as all data rather than the stat growing with it.
  constexpr int kPointerBlocks = 256;
  std::shared_lock lock(tree_->mu);
  const Entry e = entry_locked();
  if (e.size == 0) return 0;
  Shape sh(e);
  int budget = kPointerBlocks;
  const std::uint64_t blocks = (e.size - 1) / sh.dsize + 1;
  auto n = counted_blocks(tree_->cache, e.score, e.depth(), 0, blocks, sh, budget);
  return n && *n < blocks ? *n * sh.dsize : e.size;
}

bool File::share_range(File& src, std::uint64_t off_in, std::uint64_t off_out, std::uint64_t len) {
  if (src.tree_ != tree_) return false;
  std::unique_lock lock(tree_->mu);
  collect_spans_locked(0);
  Entry de = entry_locked();
  const Entry se = &src == this ? de : src.entry_locked();
  if (de.is_dir() || se.is_dir() || de.dsize != se.dsize || de.psize != se.psize) return false;
  if (len == 0) return true;
  if (off_out > kMaxStreamSize || len > kMaxStreamSize - off_out) throw Error(Errc::TooBig, "copy past the largest stream size (2^48-1 bytes)");
  Shape sh(de);
  if (off_in % sh.dsize || off_out % sh.dsize || off_in > se.size || len > se.size - off_in) return false;
  // A last block only partly copied is shared whole: past the source's end
  // it holds zeros, which must then lie past the copy's end too.
  if (len % sh.dsize && (off_in + len != se.size || off_out + len < de.size)) return false;
  if (&src == this && off_in < off_out + len && off_out < off_in + len) return false;
  Cache& c = tree_->cache;
  const Entry& from = &src == this ? de : se;  // one stream: read it as it changes
  std::uint64_t done = 0;
  try {
    for (; done < len; done = std::min(len, done + sh.dsize)) {
      const std::uint64_t bn = (off_out + done) / sh.dsize;
      Score s = leaf_score(c, from, (off_in + done) / sh.dsize);
      BlockPtr unwritten = s.is_local() ? load(c, s, sh.type(0), sh.dsize) : nullptr;
      auto path = walk_write(c, de, bn, true);
      if (unwritten) {  // not stored yet: its bytes are copied
        std::memcpy(path.back()->data.data(), unwritten->data.data(), sh.dsize);
        continue;
      }
      c.free_local(path.back()->score.local_addr());
      if (path.size() == 1)
        de.score = s;
      else
        path[path.size() - 2]->set_pointer(sh.digit(bn, 1), s);
    }
  } catch (...) {
    // What was copied counts, as for a short write: past the end, bytes
    // must not be left that the size does not cover.
    if (done > 0) {
      de.size = std::max(de.size, off_out + done);
      set_entry_locked(de);
    }
    throw;
  }
  de.size = std::max(de.size, off_out + len);
  set_entry_locked(de);
  return true;
}

void File::prefetch() {
  std::shared_lock lock(tree_->mu);
  Entry e = entry_locked();
  if (!e.active() || e.size == 0) return;
  Shape sh(e);
  tree_->cache.prefetch(e.score, e.type, sh.size(e.depth()));
}

}  // namespace vt
