// VtRoot: the 300-byte block a `vac:` score names (FORMATS.md §6).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "vt/score.h"

namespace vt {

inline constexpr std::size_t kRootSize = 300;
inline constexpr std::size_t kRootStringSize = 128;

struct Root {
  std::string name;   // archive name, < 128 bytes
  std::string type;   // "vac" for vac archives
  Score score;        // a DirType block
  std::uint32_t blocksize = 0;
  Score prev = Score::zero();  // the root this one was derived from

  // Throws Error(Invalid) for names that do not fit or a bad block size.
  std::array<std::uint8_t, kRootSize> pack() const;
  // Throws Error(Corrupt) for a short block, bad version or block size.
  static Root unpack(std::span<const std::uint8_t> block);

  // True when prev names an earlier root (classic vac writes zero bytes).
  bool has_prev() const;
  bool operator==(const Root&) const = default;
};

}  // namespace vt
