#include "vt/sink.h"

#include "vt/error.h"

namespace vt {

Sink::Sink(Cache& cache, std::uint32_t psize, std::uint32_t dsize) : cache_(cache), psize_(psize), dsize_(dsize) {
  if (psize < 2 * kScoreSize || dsize == 0) throw Error(Errc::Invalid, "sink block sizes too small");
  block_.reserve(dsize);
}

void Sink::write(std::span<const std::uint8_t> data) {
  if (spent_) throw Error(Errc::Invalid, "write to a finished sink");
  if (data.size() > kMaxStreamSize - size_) throw Error(Errc::TooBig, "write past the largest stream size (2^48-1 bytes)");
  try {
    while (!data.empty()) {
      if (block_.empty() && data.size() >= dsize_) {  // a whole block: no need to gather it
        put_data_block(data.first(dsize_));
        data = data.subspan(dsize_);
        size_ += dsize_;
        continue;
      }
      std::size_t n = std::min<std::size_t>(dsize_ - block_.size(), data.size());
      block_.insert(block_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
      data = data.subspan(n);
      size_ += n;
      if (block_.size() == dsize_) put_data_block(block_);
    }
  } catch (...) {
    spent_ = true;  // a block may be missing: this stream must never be finished
    throw;
  }
}

void Sink::put_data_block(std::span<const std::uint8_t> block) {
  Score s = cache_.write(kDataType, block);
  block_.clear();
  if (blocks_++ == 0) {
    first_ = s;  // held back: a one-block stream has no pointer block
    return;
  }
  if (blocks_ == 2) push(0, first_);
  push(0, s);
}

// Adds a score to the pointer block at `level` (0 = just above the data).
// A full block is written only when the next score arrives, so the top
// level is never written early and the tree stays as shallow as File's.
void Sink::push(std::size_t level, const Score& score) {
  if (level == levels_.size()) {
    if (levels_.size() == kMaxDepth) throw Error(Errc::TooBig, "stream would need a tree deeper than 7 levels");
    levels_.emplace_back();
    levels_.back().reserve(psize_);
  }
  if (levels_[level].size() + kScoreSize > psize_) {
    Score full = put_pointer_block(level);
    push(level + 1, full);
  }
  levels_[level].insert(levels_[level].end(), score.bytes.begin(), score.bytes.end());
}

Score Sink::put_pointer_block(std::size_t level) {
  Score s = cache_.write(static_cast<BlockType>(kDataType + level + 1), levels_[level]);
  levels_[level].clear();
  return s;
}

Entry Sink::finish() {
  if (spent_) throw Error(Errc::Invalid, "sink finished twice");
  spent_ = true;
  if (!block_.empty()) put_data_block(block_);
  Entry e;
  e.psize = psize_;
  e.dsize = dsize_;
  e.flags = kEntryActive;
  e.size = size_;
  if (blocks_ <= 1) {
    e.score = blocks_ ? first_ : Score::zero();
  } else {
    for (std::size_t level = 0; level + 1 < levels_.size(); level++) push(level + 1, put_pointer_block(level));
    e.score = put_pointer_block(levels_.size() - 1);
    e.type = static_cast<BlockType>(kDataType + levels_.size());
  }
  return e;
}

}  // namespace vt
