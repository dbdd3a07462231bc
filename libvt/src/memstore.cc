#include "vt/memstore.h"

#include <mutex>

#include "vt/error.h"

namespace vt {

Bytes MemStore::get(const Score& score, WireType type) {
  if (score.is_zero()) return {};
  std::shared_lock lock(mu_);
  auto it = blocks_.find({score, type});
  if (it == blocks_.end()) throw Error(Errc::NotFound, "no block " + score.hex() + " of type " + std::to_string(type.value));
  return it->second;
}

Score MemStore::put(WireType type, std::span<const std::uint8_t> data) {
  check_block(type, data.size(), max_block_);
  Score s = Score::of(data);
  std::unique_lock lock(mu_);
  blocks_.try_emplace({s, type}, data.begin(), data.end());
  return s;
}

bool MemStore::has(const Score& score, WireType type) {
  if (score.is_zero()) return true;
  std::shared_lock lock(mu_);
  return blocks_.contains({score, type});
}

std::size_t MemStore::block_count() const {
  std::shared_lock lock(mu_);
  return blocks_.size();
}

}  // namespace vt
