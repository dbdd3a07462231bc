// Scores: the SHA-1 names of blocks, and the "local" addresses that the cache
// disguises as scores (16 zero bytes + a u32 address, FORMATS.md §1).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace vt {

inline constexpr std::size_t kScoreSize = 20;

class Score {
 public:
  std::array<std::uint8_t, kScoreSize> bytes{};

  Score() = default;
  explicit Score(std::span<const std::uint8_t, kScoreSize> b) { std::memcpy(bytes.data(), b.data(), kScoreSize); }

  // SHA-1 of the empty string: the score of every all-zero block.
  static const Score& zero();
  // The SHA-1 of `data`.
  static Score of(std::span<const std::uint8_t> data);
  // A cache address disguised as a score.
  static Score local(std::uint32_t addr);
  // Parses "[label:]<40 hex>": splits at the last ':'; throws Error(Invalid).
  static Score parse(std::string_view text);

  bool is_zero() const { return *this == zero(); }
  bool is_local() const;
  std::uint32_t local_addr() const;  // only meaningful when is_local()
  std::string hex() const;

  auto operator<=>(const Score&) const = default;
};

struct ScoreHash {
  std::size_t operator()(const Score& s) const noexcept {
    std::size_t h;  // a SHA-1 is already uniformly spread
    std::memcpy(&h, s.bytes.data() + kScoreSize - sizeof h, sizeof h);
    return h;
  }
};

}  // namespace vt
