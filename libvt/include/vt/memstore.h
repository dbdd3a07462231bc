// An in-memory BlockStore for tests and throwaway servers.
#pragma once

#include <cstddef>
#include <memory>
#include <shared_mutex>
#include <unordered_map>

#include "vt/store.h"

namespace vt {

class MemStore : public BlockStore {
 public:
  explicit MemStore(std::size_t max_block = 57344) : max_block_(max_block) {}
  Bytes get(const Score& score, WireType type) override;
  Score put(WireType type, std::span<const std::uint8_t> data) override;
  std::optional<Score> put_now(WireType type, std::span<const std::uint8_t> data) override { return put(type, data); }
  bool has(const Score& score, WireType type) override;
  void sync() override {}

  std::size_t block_count() const;

 private:
  std::size_t max_block_;
  mutable std::shared_mutex mu_;
  std::unordered_map<BlockKey, Bytes, BlockKeyHash> blocks_;
};

}  // namespace vt
