// Test helper: deterministic pseudo-random bytes, a different stream for
// every seed.
#pragma once

#include <cstdint>

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

}  // namespace vt::test
