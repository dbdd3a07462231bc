#include "bloom.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace vt::detail {

namespace {

// Two independent 64-bit hashes from the score's bytes; the type is mixed
// in so that one score stored as two types is two keys.
std::pair<std::uint64_t, std::uint64_t> hashes(const BlockKey& k) {
  std::uint64_t a, b;
  std::memcpy(&a, k.score.bytes.data(), 8);
  std::memcpy(&b, k.score.bytes.data() + 8, 8);
  a ^= std::uint64_t{k.type.value} * 0x9e3779b97f4a7c15u;
  return {a, b | 1};  // odd: the probes visit distinct bits
}

}  // namespace

Bloom::Bloom(std::uint64_t keys) {
  // 10 bits per key for about 1% false positives with 7 probes; at least
  // 2^20 bits (128 KiB).
  std::uint64_t want = std::max<std::uint64_t>(keys * 10, std::uint64_t{1} << 20);
  std::uint64_t bits = std::bit_ceil(want);
  mask_ = bits - 1;
  words_ = std::make_unique<std::atomic<std::uint64_t>[]>(bits / 64);  // value-initialized: zero
}

void Bloom::add(const BlockKey& key) {
  auto [h, step] = hashes(key);
  for (int i = 0; i < kProbes; i++, h += step) {
    std::uint64_t bit = h & mask_;
    words_[bit / 64].fetch_or(std::uint64_t{1} << (bit % 64), std::memory_order_release);
  }
}

bool Bloom::may_contain(const BlockKey& key) const {
  auto [h, step] = hashes(key);
  for (int i = 0; i < kProbes; i++, h += step) {
    std::uint64_t bit = h & mask_;
    if (!(words_[bit / 64].load(std::memory_order_acquire) & (std::uint64_t{1} << (bit % 64)))) return false;
  }
  return true;
}

}  // namespace vt::detail
