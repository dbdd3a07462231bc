// Block types: the client numbering used in entries and caches, and the old
// numbering used on the wire and on disk (FORMATS.md §2).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace vt {

using Bytes = std::vector<std::uint8_t>;

// Client-side type: DataType + depth, DirType + depth, or RootType.
using BlockType = std::uint8_t;
inline constexpr BlockType kDataType = 0;
inline constexpr BlockType kDirType = 8;
inline constexpr BlockType kRootType = 16;
inline constexpr int kMaxDepth = 7;

inline constexpr bool is_valid_type(BlockType t) { return t <= kRootType; }
inline constexpr int type_depth(BlockType t) { return t == kRootType ? 0 : t & 7; }
inline constexpr bool is_pointer_type(BlockType t) { return t != kRootType && (t & 7) != 0; }

// The type number carried in Tread/Twrite and kept by stores.
struct WireType {
  std::uint8_t value = 0;
  auto operator<=>(const WireType&) const = default;
};
inline constexpr WireType kWireRoot{1};
inline constexpr WireType kWireDir{2};
inline constexpr WireType kWireData{13};

bool is_valid_wire_type(WireType w);
// Throw Error(Invalid) for numbers outside the tables.
WireType to_wire(BlockType t);
BlockType from_wire(WireType w);

// The wire type's zero-truncation class: pointer blocks drop zero scores.
inline constexpr bool is_pointer_wire(WireType w) { return w.value >= 3 && w.value <= 9; }

// "data", "dir", "root", "data+N", "dir+N" or a client type number.
BlockType parse_type(const std::string& text);
std::string type_name(BlockType t);

}  // namespace vt
