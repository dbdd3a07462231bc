#include "vt/zero.h"

#include <cstring>

#include "vt/score.h"

namespace vt {

std::size_t zero_truncated_size(WireType type, std::span<const std::uint8_t> block) {
  if (type == kWireRoot) return block.size();
  std::size_t n = block.size();
  if (is_pointer_wire(type)) {
    n -= n % kScoreSize;
    const auto& z = Score::zero().bytes;
    while (n >= kScoreSize && std::memcmp(block.data() + n - kScoreSize, z.data(), kScoreSize) == 0) n -= kScoreSize;
    return n;
  }
  while (n > 0 && block[n - 1] == 0) n--;
  return n;
}

void zero_extend(WireType type, std::vector<std::uint8_t>& block, std::size_t size) {
  std::size_t n = block.size();
  if (n >= size) return;
  block.resize(size, 0);
  if (!is_pointer_wire(type)) return;
  const auto& z = Score::zero().bytes;
  // A partial score at the old end is not a score: overwrite it too.
  for (std::size_t at = n / kScoreSize * kScoreSize; at + kScoreSize <= size; at += kScoreSize)
    std::memcpy(block.data() + at, z.data(), kScoreSize);
}

}  // namespace vt
