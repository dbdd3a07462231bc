#include "vt/direntry.h"

#include "bytes.h"
#include "vt/error.h"

namespace vt {

namespace {

constexpr std::uint32_t kDirMagic = 0x1c4d9072;
constexpr std::uint8_t kSectionPlan9 = 1;
constexpr std::uint8_t kSectionQidSpace = 3;
constexpr std::uint8_t kSectionPosix = 16;
constexpr std::uint8_t kSectionXattr = 17;
constexpr std::size_t kMaxName = 1024;

void put_section(detail::Writer& w, std::uint8_t type, const Bytes& body) {
  if (body.size() > 0xffff) throw Error(Errc::TooBig, "metadata section larger than 64 KiB");
  w.u8(type);
  w.u16(body.size());
  w.bytes(body);
}

}  // namespace

void check_elem(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
    throw Error(Errc::Invalid, "bad file name '" + name + "'");
  if (name.size() > kMaxName) throw Error(Errc::NameTooLong, "file name longer than 1024 bytes");
}

Bytes DirEntry::pack() const {
  if (elem.empty() || elem.size() > kMaxName) throw Error(Errc::Invalid, "bad file name '" + elem + "'");
  Bytes out;
  detail::Writer w(out);
  w.u32(kDirMagic);
  w.u16(9);
  w.string(elem);
  w.u32(entry);
  w.u32(gen);
  w.u32(mentry);
  w.u32(mgen);
  w.u64(qid);
  w.string(uid);
  w.string(gid);
  w.string(mid);
  w.u32(mtime);
  w.u32(mcount);
  w.u32(ctime);
  w.u32(atime);
  w.u32(mode);
  if (qid_space) {
    Bytes b;
    detail::Writer s(b);
    s.u64(qid_space->first);
    s.u64(qid_space->second);
    put_section(w, kSectionQidSpace, b);
  }
  if (posix) {
    Bytes b;
    detail::Writer s(b);
    s.u8(1);  // section version
    s.u32(posix->mtime_ns);
    s.u32(posix->atime_ns);
    s.u32(posix->ctime_ns);
    s.u32(posix->uid);
    s.u32(posix->gid);
    s.u64(posix->rdev);
    put_section(w, kSectionPosix, b);
  }
  for (const auto& [name, value] : xattrs) {
    if (name.empty() || name.size() > 255) throw Error(Errc::Invalid, "bad extended attribute name");
    Bytes b;
    detail::Writer s(b);
    s.u8(name.size());
    s.bytes({reinterpret_cast<const std::uint8_t*>(name.data()), name.size()});
    s.bytes(value);
    put_section(w, kSectionXattr, b);
  }
  return out;
}

DirEntry DirEntry::unpack(std::span<const std::uint8_t> bytes) {
  detail::Reader r(bytes, "directory entry");
  if (r.u32() != kDirMagic) r.fail("bad magic");
  std::uint16_t version = r.u16();
  if (version < 7 || version > 9) r.fail("unsupported version " + std::to_string(version));
  DirEntry d;
  d.elem = r.string(kMaxName);  // checked by whoever treats it as a path element
  d.entry = r.u32();
  if (version == 9) {
    d.gen = r.u32();
    d.mentry = r.u32();
    d.mgen = r.u32();
  } else {
    d.mentry = d.entry + 1;
  }
  d.qid = r.u64();
  if (version == 7) r.skip(kScoreSize);  // the old "replacement" score
  d.uid = r.string();
  d.gid = r.string();
  d.mid = r.string();
  d.mtime = r.u32();
  d.mcount = r.u32();
  d.ctime = r.u32();
  d.atime = r.u32();
  d.mode = r.u32();
  while (r.remaining() > 0) {
    std::uint8_t type = r.u8();
    detail::Reader s(r.bytes(r.u16()), "directory entry section");
    switch (type) {
      case kSectionQidSpace: {
        std::uint64_t off = s.u64(), max = s.u64();
        d.qid_space = {off, max};
        break;
      }
      case kSectionPosix:
        if (s.u8() != 1) break;  // a later layout: skip it
        d.posix = PosixInfo{};
        d.posix->mtime_ns = s.u32();
        d.posix->atime_ns = s.u32();
        d.posix->ctime_ns = s.u32();
        d.posix->uid = s.u32();
        d.posix->gid = s.u32();
        d.posix->rdev = s.u64();
        break;
      case kSectionXattr: {
        auto name = s.bytes(s.u8());
        auto value = s.rest();
        d.xattrs.emplace_back(std::string(name.begin(), name.end()), Bytes(value.begin(), value.end()));
        break;
      }
      case kSectionPlan9:
      default: break;  // readers skip what they do not know
    }
  }
  return d;
}

}  // namespace vt
