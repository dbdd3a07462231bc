// Sink: writes a new stream front to back straight to the store, as the
// classic vac's sink does. Each block is hashed and sent as soon as it is
// full, and only one pointer block per level is held: memory does not grow
// with the stream, and nothing passes through the cache's local blocks.
//
// The stream is the one File would build from the same bytes (same blocks,
// same depth, same score), so an archive's score does not depend on which
// of the two wrote it. One thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vt/cache.h"
#include "vt/entry.h"

namespace vt {

class Sink {
 public:
  // A data stream of `psize`-byte pointer blocks and `dsize`-byte data blocks.
  Sink(Cache& cache, std::uint32_t psize, std::uint32_t dsize);

  // Appends. Throws Error(TooBig) past 2^48-1 bytes.
  void write(std::span<const std::uint8_t> data);
  // Writes what is held and returns the stream's entry (active, gen 0).
  // Its last blocks may still be on their way, so that many small files
  // can be in flight together: they are stored once a later
  // Cache::wait_writes() succeeds (VacFs::sync() waits), which throws if
  // any of them failed. The sink is spent afterwards.
  Entry finish();

 private:
  void put_data_block(std::span<const std::uint8_t> block);
  void push(std::size_t level, const Score& score);
  Score put_pointer_block(std::size_t level);

  Cache& cache_;
  std::uint32_t psize_, dsize_;
  std::uint64_t size_ = 0;
  std::uint64_t blocks_ = 0;  // data blocks put
  Score first_;               // the first data block: the whole of a one-block stream
  Bytes block_;               // the data block being filled
  std::vector<Bytes> levels_;  // pointer blocks being filled, level 1 first
  bool spent_ = false;
};

}  // namespace vt
