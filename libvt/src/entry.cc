#include "vt/entry.h"

#include <string>

#include "bytes.h"
#include "vt/error.h"

namespace vt {

namespace {

constexpr std::uint8_t kFlagDir = 0x02;
constexpr std::uint8_t kFlagDepthMask = 0x1c;
constexpr int kFlagDepthShift = 2;
constexpr std::uint8_t kFlagBig = 0x40;
constexpr std::uint32_t kMaxBlockSize = 1u << 24;  // far above any real block

}  // namespace

std::uint16_t encode_big_size(std::uint32_t size) {
  std::uint32_t m = size;
  unsigned e = 0;
  while (m >= (1u << 11) && (m & 1) == 0) {  // 11 bits of mantissa
    m >>= 1;
    e++;
  }
  if (m >= (1u << 11)) throw Error(Errc::Invalid, "block size " + std::to_string(size) + " has no exact big encoding");
  return static_cast<std::uint16_t>(m << 5 | e);
}

std::uint32_t decode_big_size(std::uint16_t code) {
  std::uint32_t e = code & 31;
  std::uint64_t v = static_cast<std::uint64_t>(code >> 5) << e;
  return v > kMaxBlockSize ? 0 : static_cast<std::uint32_t>(v);  // 0 fails validation
}

int depth_for_size(std::uint64_t size, std::uint32_t psize, std::uint32_t dsize) {
  std::uint64_t per = psize / kScoreSize;
  if (dsize == 0 || per < 2) return kMaxDepth + 1;
  std::uint64_t blocks = (size + dsize - 1) / dsize;
  int depth = 0;
  for (std::uint64_t reach = 1; reach < blocks; reach *= per) {
    depth++;
    if (depth > kMaxDepth) break;
  }
  return depth;
}

void Entry::pack(std::span<std::uint8_t, kEntrySize> out) const {
  if (size > kMaxStreamSize) throw Error(Errc::Invalid, "entry size " + std::to_string(size) + " exceeds 2^48-1");
  if (depth() > kMaxDepth || type >= kRootType) throw Error(Errc::Invalid, "bad entry type " + std::to_string(type));
  bool big = psize >= 65536 || dsize >= 65536;
  std::uint8_t wflags = flags & (kEntryActive | kEntryLocal | kEntryNoArchive);
  wflags |= static_cast<std::uint8_t>(depth() << kFlagDepthShift);
  if (is_dir()) wflags |= kFlagDir;
  if (big) wflags |= kFlagBig;
  std::uint8_t* p = out.data();
  detail::put_be(p, gen, 4);
  detail::put_be(p + 4, big ? encode_big_size(psize) : psize, 2);
  detail::put_be(p + 6, big ? encode_big_size(dsize) : dsize, 2);
  p[8] = wflags;
  std::memset(p + 9, 0, 5);
  detail::put_be(p + 14, size, 6);
  std::memcpy(p + 20, score.bytes.data(), kScoreSize);
}

Entry Entry::unpack(std::span<const std::uint8_t, kEntrySize> in) {
  detail::Reader r(in, "entry");
  Entry e;
  e.gen = r.u32();
  std::uint16_t ps = r.u16(), ds = r.u16();
  std::uint8_t wflags = r.u8();
  r.skip(5);
  e.size = r.u48();
  e.score = r.score();
  bool big = wflags & kFlagBig;
  e.psize = big ? decode_big_size(ps) : ps;
  e.dsize = big ? decode_big_size(ds) : ds;
  e.type = static_cast<BlockType>(((wflags & kFlagDir) ? kDirType : kDataType) + ((wflags & kFlagDepthMask) >> kFlagDepthShift));
  e.flags = wflags & (kEntryActive | kEntryLocal | kEntryNoArchive);
  if (!e.active()) return e;

  // Old archives wrote empty active entries with no block sizes.
  if (e.psize == 0 && e.dsize == 0 && e.score.is_zero()) e.psize = e.dsize = 4096;
  auto bad = [](const std::string& why) { return Error(Errc::Corrupt, "bad entry: " + why); };
  if (e.psize < 256 || e.dsize < 256)
    throw bad("block sizes " + std::to_string(e.psize) + "/" + std::to_string(e.dsize) + " below 256");
  if (e.depth() > kMaxDepth) throw bad("depth " + std::to_string(e.depth()) + " above " + std::to_string(kMaxDepth));
  if (depth_for_size(e.size, e.psize, e.dsize) > e.depth())
    throw bad("size " + std::to_string(e.size) + " needs a deeper tree than depth " + std::to_string(e.depth()));
  return e;
}

}  // namespace vt
