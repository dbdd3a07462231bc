// Test helpers: deterministic pseudo-random bytes, a different stream for
// every seed; random damage to bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>

#include "vt/types.h"

namespace vt::test {

inline Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  Bytes b(n);
  std::uint32_t x = seed * 2654435761u + 1;  // an odd multiplier: distinct seeds, distinct states
  for (auto& c : b) {
    x = x * 1103515245u + 12345u;
    c = static_cast<std::uint8_t>(x >> 16);
  }
  return b;
}

// A damaged copy of `b`, as a hostile peer or archive might send: a few
// random bytes, a run of an extreme value (lengths, counts, sizes), cut
// short, grown, or one bit flipped.
inline Bytes mutate(Bytes b, std::mt19937& rng) {
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const std::uint8_t extremes[] = {0x00, 0xff, 0x7f, 0x80, 0x01};
  switch (pick(5)) {
    case 0:  // a few random bytes
      for (std::size_t k = 0, n = 1 + pick(4); k < n && !b.empty(); k++) b[pick(b.size())] = static_cast<std::uint8_t>(rng());
      break;
    case 1:  // a run of an extreme value (lengths, counts, sizes)
      if (!b.empty()) {
        const std::size_t at = pick(b.size()), n = std::min(b.size() - at, 1 + pick(8));
        std::fill_n(b.begin() + static_cast<std::ptrdiff_t>(at), n, extremes[pick(std::size(extremes))]);
      }
      break;
    case 2:  // cut short
      b.resize(b.empty() ? 0 : pick(b.size()));
      break;
    case 3:  // grown
      b.resize(b.size() + 1 + pick(64), static_cast<std::uint8_t>(rng()));
      break;
    default:  // one bit
      if (!b.empty()) b[pick(b.size())] ^= static_cast<std::uint8_t>(1u << pick(8));
  }
  return b;
}

}  // namespace vt::test
