#include "vt/posix.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <array>

#include "vt/direntry.h"

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

}  // namespace vt
