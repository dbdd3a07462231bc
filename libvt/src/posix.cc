#include "vt/posix.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <array>

#include "vt/direntry.h"
#include "vt/error.h"

namespace vt {

std::uint32_t vac_perms(mode_t mode) {
  std::uint32_t v = mode & 0777;
  if (mode & S_ISUID) v |= kModeSetUid;
  if (mode & S_ISGID) v |= kModeSetGid;
  if (mode & S_ISVTX) v |= kModeSticky;
  return v;
}

mode_t unix_perms(std::uint32_t vac_mode) {
  mode_t m = vac_mode & 0777;
  if (vac_mode & kModeSetUid) m |= S_ISUID;
  if (vac_mode & kModeSetGid) m |= S_ISGID;
  if (vac_mode & kModeSticky) m |= S_ISVTX;
  return m;
}

std::optional<mode_t> acl_as_mode(std::span<const std::uint8_t> acl) {
  // Linux's xattr form: a little-endian u32 version 2, then 8-byte entries
  // {u16 tag, u16 perm, u32 id}.
  enum : std::uint16_t { kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kGroup = 0x08, kMask = 0x10, kOther = 0x20 };
  auto u16 = [&](std::size_t at) { return static_cast<std::uint16_t>(acl[at] | acl[at + 1] << 8); };
  if (acl.size() < 4 || (acl.size() - 4) % 8 != 0 || u16(0) != 2 || u16(2) != 0) throw Error(Errc::Invalid, "not a POSIX ACL");
  mode_t mode = 0;
  unsigned seen = 0;
  bool plain = true;
  for (std::size_t at = 4; at < acl.size(); at += 8) {
    std::uint16_t tag = u16(at), perm = u16(at + 2);
    if (perm & ~7u) throw Error(Errc::Invalid, "POSIX ACL entry with bad permissions");
    switch (tag) {
      case kUserObj: mode |= perm << 6; break;
      case kGroupObj: mode |= perm << 3; break;
      case kOther: mode |= perm; break;
      case kUser:
      case kGroup:
      case kMask: plain = false; continue;
      default: throw Error(Errc::Invalid, "POSIX ACL entry with unknown tag");
    }
    if (seen & tag) throw Error(Errc::Invalid, "POSIX ACL with a repeated entry");
    seen |= tag;
  }
  if (seen != (kUserObj | kGroupObj | kOther)) throw Error(Errc::Invalid, "POSIX ACL without owner, group and other entries");
  if (!plain) return std::nullopt;
  return mode;
}

std::string user_name(uid_t uid) {
  passwd pw, *res = nullptr;
  std::array<char, 4096> buf;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res) return res->pw_name;
  return std::to_string(uid);
}

std::string group_name(gid_t gid) {
  group gr, *res = nullptr;
  std::array<char, 4096> buf;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &res) == 0 && res) return res->gr_name;
  return std::to_string(gid);
}

uid_t uid_by_name(const std::string& name, uid_t fallback) {
  passwd pw, *res = nullptr;
  std::array<char, 4096> buf;
  if (!name.empty() && getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res) return res->pw_uid;
  return fallback;
}

gid_t gid_by_name(const std::string& name, gid_t fallback) {
  group gr, *res = nullptr;
  std::array<char, 4096> buf;
  if (!name.empty() && getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res) == 0 && res) return res->gr_gid;
  return fallback;
}

namespace {

// The cached answer for `key`, asking `lookup` (outside the lock) once.
template <class Map, class Key, class Lookup>
auto remember(std::mutex& mu, Map& map, const Key& key, Lookup lookup) {
  {
    std::lock_guard lock(mu);
    if (auto it = map.find(key); it != map.end()) return it->second;
  }
  auto value = lookup();
  std::lock_guard lock(mu);
  return map.emplace(key, std::move(value)).first->second;
}

}  // namespace

std::string IdNames::user(uid_t uid) {
  return remember(mu_, users_, uid, [&] { return user_name(uid); });
}

std::string IdNames::group(gid_t gid) {
  return remember(mu_, groups_, gid, [&] { return group_name(gid); });
}

// An unknown name is remembered as unknown; each caller has its own fallback.
uid_t IdNames::uid(const std::string& name, uid_t fallback) {
  constexpr auto unknown = static_cast<uid_t>(-1);
  uid_t u = remember(mu_, uids_, name, [&] { return uid_by_name(name, unknown); });
  return u == unknown ? fallback : u;
}

gid_t IdNames::gid(const std::string& name, gid_t fallback) {
  constexpr auto unknown = static_cast<gid_t>(-1);
  gid_t g = remember(mu_, gids_, name, [&] { return gid_by_name(name, unknown); });
  return g == unknown ? fallback : g;
}

}  // namespace vt
