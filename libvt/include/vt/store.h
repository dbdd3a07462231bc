// BlockStore: where blocks live. The network client, the in-memory store and
// vtd's durable store all implement it, so the cache and the tools run
// unchanged over a remote server or an in-process store.
#pragma once

#include <cstdint>
#include <future>
#include <optional>
#include <span>
#include <vector>

#include "vt/score.h"
#include "vt/types.h"

namespace vt {

// What names a block in a store: its score and its type.
struct BlockKey {
  Score score;
  WireType type;
  bool operator==(const BlockKey&) const = default;
};
struct BlockKeyHash {
  std::size_t operator()(const BlockKey& k) const noexcept { return ScoreHash{}(k.score) ^ k.type.value; }
};

// The checks every store makes before it stores a block: Error(Invalid)
// for a type no venti block has, Error(TooBig) past `max_block` bytes.
void check_block(WireType type, std::size_t size, std::size_t max_block);
void check_block_size(std::size_t size, std::size_t max_block);

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // The block's stored bytes. Throws Error(NotFound) when absent. The zero
  // score reads as an empty block of any type without touching storage.
  virtual Bytes get(const Score& score, WireType type) = 0;
  // Stores `data` exactly as given and returns its score.
  virtual Score put(WireType type, std::span<const std::uint8_t> data) = 0;
  virtual bool has(const Score& score, WireType type) = 0;
  // Returns once every earlier put is on stable storage.
  virtual void sync() = 0;

  // Pipelined forms, for callers with many blocks in flight. The defaults
  // work synchronously; the network client overlaps round trips.
  virtual std::future<Bytes> get_async(const Score& score, WireType type);
  // Several blocks, in the order asked; throws as get() does if any fails.
  // The default has them all in flight at once (get_async); a store whose
  // blocks lie side by side reads them together.
  virtual std::vector<Bytes> get_many(std::span<const BlockKey> keys);
  // Starts storing `data`, whose score the caller computed; a failure is
  // thrown now or by the next wait_puts() (or sync()). A store that sends
  // later copies `data`; one that stores at once does not.
  virtual void put_async(WireType type, std::span<const std::uint8_t> data, const Score& score);
  virtual void wait_puts();
  // True when the async forms really overlap (worth reading ahead).
  virtual bool pipelined() const { return false; }
  // The block, if the store can have it without waiting for a disk or a
  // network (a server answers such reads on the spot); nullopt means call
  // get(). Throws as get() does.
  virtual std::optional<Bytes> get_now(const Score&, WireType) { return std::nullopt; }
  // put(), if this store's puts wait for nothing but memory and the local
  // disk (a server then stores writes on the spot, without handing them to
  // another thread); nullopt means call put(). Throws as put() does.
  virtual std::optional<Score> put_now(WireType, std::span<const std::uint8_t>) { return std::nullopt; }
};

}  // namespace vt
