#include "vt/types.h"

#include <charconv>

#include "vt/error.h"

namespace vt {

bool is_valid_wire_type(WireType w) { return (w.value >= 1 && w.value <= 9) || w.value == 13; }

WireType to_wire(BlockType t) {
  if (t == kRootType) return kWireRoot;
  if (t == kDataType) return kWireData;
  if (t == kDirType) return kWireDir;
  if (t < kRootType) return WireType{static_cast<std::uint8_t>((t & 7) + 2)};
  throw Error(Errc::Invalid, "invalid block type " + std::to_string(t));
}

BlockType from_wire(WireType w) {
  switch (w.value) {
    case 1: return kRootType;
    case 2: return kDirType;
    case 13: return kDataType;
    default:
      if (w.value >= 3 && w.value <= 9) return static_cast<BlockType>(kDirType + w.value - 2);
      throw Error(Errc::Invalid, "invalid wire block type " + std::to_string(w.value));
  }
}

BlockType parse_type(const std::string& text) {
  auto number = [&](std::string_view s) -> int {
    int v = -1;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return -1;
    return v;
  };
  auto with_depth = [&](std::string_view prefix, BlockType base) -> int {
    if (text == prefix) return base;
    if (text.starts_with(std::string(prefix) + "+")) {
      int d = number(std::string_view(text).substr(prefix.size() + 1));
      if (d >= 0 && d <= kMaxDepth) return base + d;
    }
    return -1;
  };
  int t = text == "root" ? kRootType : number(text);
  if (t < 0) t = with_depth("data", kDataType);
  if (t < 0) t = with_depth("dir", kDirType);
  if (t < 0 || !is_valid_type(static_cast<BlockType>(t)))
    throw Error(Errc::Invalid, "bad block type '" + text + "': want 0-16, data[+N], dir[+N] or root");
  return static_cast<BlockType>(t);
}

std::string type_name(BlockType t) {
  if (t == kRootType) return "root";
  std::string base = t < kDirType ? "data" : "dir";
  return t & 7 ? base + "+" + std::to_string(t & 7) : base;
}

}  // namespace vt
