// VtEntry: the 40-byte description of one hash tree (FORMATS.md §4).
#pragma once

#include <cstdint>
#include <span>

#include "vt/score.h"
#include "vt/types.h"

namespace vt {

inline constexpr std::size_t kEntrySize = 40;
inline constexpr std::uint64_t kMaxStreamSize = (std::uint64_t{1} << 48) - 1;

// Unpacked flag bits (the Dir bit and the depth live in Entry::type).
inline constexpr std::uint8_t kEntryActive = 0x01;
inline constexpr std::uint8_t kEntryLocal = 0x20;
inline constexpr std::uint8_t kEntryNoArchive = 0x80;

struct Entry {
  std::uint32_t gen = 0;
  std::uint32_t psize = 0;  // pointer block size
  std::uint32_t dsize = 0;  // data block size
  BlockType type = kDataType;  // kDataType or kDirType, plus the tree depth
  std::uint8_t flags = 0;
  std::uint64_t size = 0;
  Score score = Score::zero();

  bool active() const { return flags & kEntryActive; }
  bool is_dir() const { return (type & ~7) == kDirType; }
  int depth() const { return type & 7; }

  // Throws Error(Invalid) when a field cannot be represented on the wire.
  void pack(std::span<std::uint8_t, kEntrySize> out) const;
  // Throws Error(Corrupt) for an entry no writer could have produced; an
  // inactive entry is returned as read without further checks.
  static Entry unpack(std::span<const std::uint8_t, kEntrySize> in);

  bool operator==(const Entry&) const = default;
};

// Pointer-tree depth needed for `size` bytes (FORMATS.md §5).
int depth_for_size(std::uint64_t size, std::uint32_t psize, std::uint32_t dsize);

// Block-size encoding for sizes >= 64 KiB: (m << 5) | e meaning m << e.
// Throws Error(Invalid) when `size` has no exact encoding.
std::uint16_t encode_big_size(std::uint32_t size);
std::uint32_t decode_big_size(std::uint16_t code);

}  // namespace vt
