#include "vt/root.h"

#include <algorithm>
#include <cstring>

#include "bytes.h"
#include "vt/entry.h"
#include "vt/error.h"

namespace vt {

namespace {

constexpr std::uint16_t kRootVersion = 2;
constexpr std::uint16_t kRootVersionBig = 0x8000;

void put_string(std::uint8_t* p, const std::string& s, const char* field) {
  if (s.size() >= kRootStringSize || s.find('\0') != std::string::npos)
    throw Error(Errc::Invalid, std::string("root ") + field + " must be under 128 bytes with no NUL");
  std::memset(p, 0, kRootStringSize);
  std::memcpy(p, s.data(), s.size());
}

std::string get_string(std::span<const std::uint8_t> b) {
  auto end = std::find(b.begin(), b.end(), 0);
  return std::string(b.begin(), end);
}

}  // namespace

std::array<std::uint8_t, kRootSize> Root::pack() const {
  if (blocksize < 256) throw Error(Errc::Invalid, "root block size " + std::to_string(blocksize) + " below 256");
  bool big = blocksize >= 65536;
  std::array<std::uint8_t, kRootSize> out{};
  std::uint8_t* p = out.data();
  detail::put_be(p, kRootVersion | (big ? kRootVersionBig : 0), 2);
  put_string(p + 2, name, "name");
  put_string(p + 130, type, "type");
  std::memcpy(p + 258, score.bytes.data(), kScoreSize);
  detail::put_be(p + 278, big ? encode_big_size(blocksize) : blocksize, 2);
  std::memcpy(p + 280, prev.bytes.data(), kScoreSize);
  return out;
}

Root Root::unpack(std::span<const std::uint8_t> block) {
  if (block.size() < kRootSize) throw Error(Errc::Corrupt, "root block is " + std::to_string(block.size()) + " bytes, want 300");
  detail::Reader r(block, "root");
  std::uint16_t version = r.u16();
  if ((version & ~kRootVersionBig) != kRootVersion)
    throw Error(Errc::Corrupt, "root version " + std::to_string(version & ~kRootVersionBig) + ", want 2");
  Root root;
  root.name = get_string(r.bytes(kRootStringSize));
  root.type = get_string(r.bytes(kRootStringSize));
  root.score = r.score();
  std::uint16_t bs = r.u16();
  root.blocksize = (version & kRootVersionBig) ? decode_big_size(bs) : bs;
  root.prev = r.score();
  if (root.blocksize < 256) throw Error(Errc::Corrupt, "root block size " + std::to_string(root.blocksize) + " below 256");
  return root;
}

bool Root::has_prev() const {
  return !prev.is_zero() && prev != Score{};
}

}  // namespace vt
