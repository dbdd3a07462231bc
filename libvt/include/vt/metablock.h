// MetaBlock (FORMATS.md §8.1): the DirEntries of one meta-stream block.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vt/direntry.h"

namespace vt {

inline constexpr std::uint32_t kMetaMagic = 0x5656fc7a;     // byte-wise order (written)
inline constexpr std::uint32_t kMetaMagicOld = 0x5656fc79;  // prefix-longer-first order

// Orders names as a block with `magic` does.
int compare_elem(std::uint32_t magic, const std::string& a, const std::string& b);

class MetaBlock {
 public:
  // Parses a block; an all-zero block (a hole in the meta stream) has no
  // entries. Throws Error(Corrupt) for a bad header or index.
  static MetaBlock parse(std::span<const std::uint8_t> block);

  std::uint32_t magic() const { return magic_; }
  std::size_t size() const { return entries_.size(); }
  // The i-th entry in index order (unpacked on demand).
  DirEntry entry(std::size_t i) const;
  // Binary search in the block's own order.
  std::optional<DirEntry> find(const std::string& name) const;

  // Packs entries (sorted by byte-wise name order) into blocks of `dsize`
  // bytes, filling each to about 80%. Throws Error(TooBig) for an entry
  // that cannot fit in a block.
  static std::vector<Bytes> build(std::vector<DirEntry> entries, std::uint32_t dsize);

 private:
  std::uint32_t magic_ = kMetaMagic;
  Bytes block_;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> entries_;  // offset, length
  std::vector<std::string> names_;
};

}  // namespace vt
