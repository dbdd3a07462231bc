// Private: a Bloom filter of block keys, so that a new block (the common
// case when writing) is known absent without searching the index, as
// classic venti's bloom filter does. Scores are SHA-1 hashes already, so
// their bytes serve as the filter's hash functions.
//
// Lock-free: add() and may_contain() may run concurrently. A key whose
// add() has returned is seen by every later may_contain().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "vt/store.h"

namespace vt::detail {

class Bloom {
 public:
  // Sized for `keys` keys at about 1% false positives; more still work,
  // with more false positives (each costs one index lookup).
  explicit Bloom(std::uint64_t keys);

  void add(const BlockKey& key);
  // False: certainly never added. True: probably added.
  bool may_contain(const BlockKey& key) const;
  std::uint64_t bits() const { return mask_ + 1; }

 private:
  static constexpr int kProbes = 7;
  std::uint64_t mask_;  // bits - 1; bits is a power of two
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
};

}  // namespace vt::detail
