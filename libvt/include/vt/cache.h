// The block cache (the seed's VtCache, made thread-safe and bounded).
//
// Global blocks live on the store, are immutable, and are named by score,
// type and in-memory size; clean ones are evicted least recently used when
// the cache is over its budget. Local blocks are mutable, not yet written,
// and named by a local score (16 zero bytes + an address); they stay until
// their owner writes them out (File::flush) or frees them.
//
// A BlockPtr keeps its block alive for as long as the caller holds it.
// Global blocks must not be modified; copy() gives a local block to edit.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "vt/score.h"
#include "vt/store.h"
#include "vt/types.h"

namespace vt {

struct Block {
  BlockType type;
  Score score;  // the SHA-1 of the stored form, or a local score
  Bytes data;   // full in-memory size: zero-extended

  bool is_local() const { return score.is_local(); }
  // Pointer blocks: the i-th score.
  Score pointer(std::size_t i) const { return Score(std::span<const std::uint8_t, kScoreSize>(data.data() + i * kScoreSize, kScoreSize)); }
  void set_pointer(std::size_t i, const Score& s) { std::memcpy(data.data() + i * kScoreSize, s.bytes.data(), kScoreSize); }
};
using BlockPtr = std::shared_ptr<Block>;

struct CacheOptions {
  std::size_t budget = std::size_t{64} << 20;  // bytes of block data held
  // Dirty bytes past which writers should flush (see File): half the budget.
  std::size_t dirty_high_water = 0;
  // Blocks a sequential reader fetches ahead (stores that pipeline only).
  unsigned readahead = 64;
};

struct CacheStats {
  std::uint64_t hits = 0, misses = 0;  // global block lookups
  std::uint64_t reads = 0;             // blocks fetched from the store
  std::uint64_t prefetches = 0;        // of which read ahead
  std::uint64_t writes = 0;            // blocks written to the store
  std::uint64_t copies = 0;            // global blocks copied to local ones
  std::uint64_t local_lookups = 0;     // local blocks looked up
  std::uint64_t evictions = 0;
  std::size_t bytes_clean = 0, bytes_dirty = 0;
};

class Cache {
 public:
  explicit Cache(BlockStore& store, CacheOptions options = {});
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  BlockStore& store();

  // A global block, zero-extended to `size`. The zero score never reaches
  // the store. Throws Error(NotFound, Corrupt, Io, Closed) from the store;
  // a failed fetch is not remembered, so a retry asks again.
  BlockPtr global(const Score& score, BlockType type, std::size_t size);
  // Several global blocks of one type and size, in order. The ones not
  // cached are fetched together (BlockStore::get_many). Throws the first
  // failure; the blocks that did arrive stay cached.
  std::vector<BlockPtr> global_many(std::span<const Score> scores, BlockType type, std::size_t size);
  // Starts fetching a block that will probably be wanted soon.
  void prefetch(const Score& score, BlockType type, std::size_t size);

  // A new local block of `size` zero bytes (zero scores for pointer types).
  BlockPtr alloc(BlockType type, std::size_t size);
  // A local copy of `block`, for copy-on-write.
  BlockPtr copy(const Block& block);
  // A local block by address; throws Error(Corrupt) if there is none.
  BlockPtr local(std::uint32_t addr);
  // Forgets a local block (its owner replaced or discarded it).
  void free_local(std::uint32_t addr);
  // A local block has been written as `score`: it becomes a clean global
  // block, with `data` as its contents when given (pointer blocks whose
  // children were written too), without copying the rest.
  void promote(std::uint32_t addr, const Score& score, std::optional<Bytes> data = std::nullopt);
  // Forgets clean blocks that will not be read again soon (written behind a
  // streaming writer), unless somebody else is using them.
  void drop(std::span<const BlockPtr> blocks);

  // Starts writing a block (zero-truncated first) and returns its score.
  // Failures surface in wait_writes().
  Score write(BlockType type, std::span<const std::uint8_t> data);
  // The same for many blocks of one type, hashed on two threads when there
  // are enough of them to pay for it; started in order, scores in order.
  std::vector<Score> write_many(BlockType type, std::span<const std::span<const std::uint8_t>> blocks);
  // Taken before a batch of writes and given to wait_writes() after it.
  std::uint64_t write_mark() const;
  // Waits for every started write. Throws if any write failed since `mark`:
  // a store reports a failure to one waiter, but every batch that overlapped
  // it must fail, or a flush could promote a block that was never stored.
  void wait_writes(std::uint64_t mark);

  unsigned readahead() const;
  std::size_t dirty_bytes() const;
  bool over_high_water() const;
  // Unwritten blocks alone fill the budget: nothing more may be held until
  // some are stored.
  bool over_budget() const;
  CacheStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vt
