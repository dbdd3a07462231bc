#include "vt/metablock.h"

#include <algorithm>
#include <cstring>

#include "bytes.h"
#include "vt/error.h"

namespace vt {

namespace {
constexpr std::size_t kHeader = 12;
}

int compare_elem(std::uint32_t magic, const std::string& a, const std::string& b) {
  std::size_t n = std::min(a.size(), b.size());
  int c = std::memcmp(a.data(), b.data(), n);
  if (c != 0 || a.size() == b.size()) return c;
  bool a_shorter = a.size() < b.size();
  if (magic == kMetaMagicOld) return a_shorter ? 1 : -1;  // the longer name first
  return a_shorter ? -1 : 1;
}

MetaBlock MetaBlock::parse(std::span<const std::uint8_t> block) {
  MetaBlock mb;
  if (std::all_of(block.begin(), block.end(), [](auto b) { return b == 0; })) return mb;
  mb.block_.assign(block.begin(), block.end());
  detail::Reader r(block, "meta block");
  mb.magic_ = r.u32();
  if (mb.magic_ != kMetaMagic && mb.magic_ != kMetaMagicOld) r.fail("bad magic");
  std::uint16_t size = r.u16();
  r.u16();  // free
  std::uint16_t maxindex = r.u16(), nindex = r.u16();
  if (size > block.size()) r.fail("size " + std::to_string(size) + " past the block end");
  if (nindex > maxindex || kHeader + 4u * maxindex > size) r.fail("index table does not fit");
  std::size_t data_start = kHeader + 4u * maxindex;
  for (std::uint16_t i = 0; i < nindex; i++) {
    std::uint16_t off = r.u16(), len = r.u16();
    if (off < data_start || off + len > size) r.fail("entry " + std::to_string(i) + " lies outside the block");
    mb.entries_.emplace_back(off, len);
    // The name is needed for searching; a bad entry fails here, with context.
    mb.names_.push_back(DirEntry::unpack(block.subspan(off, len)).elem);
  }
  return mb;
}

DirEntry MetaBlock::entry(std::size_t i) const {
  auto [off, len] = entries_.at(i);
  return DirEntry::unpack(std::span(block_).subspan(off, len));
}

std::optional<DirEntry> MetaBlock::find(const std::string& name) const {
  std::size_t lo = 0, hi = names_.size();
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    int c = compare_elem(magic_, names_[mid], name);
    if (c == 0) return entry(mid);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return std::nullopt;
}

std::vector<Bytes> MetaBlock::build(std::vector<DirEntry> entries, std::uint32_t dsize) {
  std::sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) { return compare_elem(kMetaMagic, a.elem, b.elem) < 0; });
  const std::size_t maxindex = std::max<std::size_t>(dsize / 100, 1);
  const std::size_t data_start = kHeader + 4 * maxindex;
  const std::size_t fill = std::max<std::size_t>(dsize * 4 / 5, data_start + 1);
  std::vector<Bytes> blocks;
  std::vector<Bytes> packed;
  std::size_t used = data_start;
  auto emit = [&] {
    if (packed.empty()) return;
    Bytes b(dsize, 0);
    std::uint8_t* p = b.data();
    std::size_t off = data_start;
    for (std::size_t i = 0; i < packed.size(); i++) {
      detail::put_be(p + kHeader + 4 * i, off, 2);
      detail::put_be(p + kHeader + 4 * i + 2, packed[i].size(), 2);
      std::memcpy(p + off, packed[i].data(), packed[i].size());
      off += packed[i].size();
    }
    detail::put_be(p, kMetaMagic, 4);
    detail::put_be(p + 4, off, 2);
    detail::put_be(p + 6, 0, 2);
    detail::put_be(p + 8, maxindex, 2);
    detail::put_be(p + 10, packed.size(), 2);
    blocks.push_back(std::move(b));
    packed.clear();
    used = data_start;
  };
  for (const auto& e : entries) {
    Bytes b = e.pack();
    if (data_start + b.size() > dsize || data_start + b.size() > 0xffff)
      throw Error(Errc::TooBig, "metadata of '" + e.elem + "' does not fit in a " + std::to_string(dsize) + "-byte block");
    if (packed.size() == maxindex || (used + b.size() > fill && !packed.empty()) || used + b.size() > dsize) emit();
    used += b.size();
    packed.push_back(std::move(b));
  }
  emit();
  return blocks;
}

}  // namespace vt
