// Between vac metadata and the local system: mode bits, user and group names.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

namespace vt {

// st_mode permission bits (with setuid, setgid, sticky) <-> vac mode bits.
std::uint32_t vac_perms(mode_t mode);
mode_t unix_perms(std::uint32_t vac_mode);

// The rwx bits a POSIX access ACL (the system.posix_acl_access value) stands
// for, if it holds only the owner, group and other entries; such an ACL is
// just another way to chmod. None for an ACL with named users or groups or
// a mask. Throws Errc::Invalid for a malformed value.
std::optional<mode_t> acl_as_mode(std::span<const std::uint8_t> acl);

// Names for numbers and back; an unknown number becomes its decimal text,
// an unknown name the fallback.
std::string user_name(uid_t uid);
std::string group_name(gid_t gid);
uid_t uid_by_name(const std::string& name, uid_t fallback);
gid_t gid_by_name(const std::string& name, gid_t fallback);

// The same lookups, each answered by the system once. The system's lookup
// reads /etc/passwd (or asks nscd) on every call: for a small file that
// cost more than the rest of its metadata. A name changed while one of
// these lives is seen only by the next one. Thread-safe.
class IdNames {
 public:
  std::string user(uid_t uid);
  std::string group(gid_t gid);
  uid_t uid(const std::string& name, uid_t fallback);
  gid_t gid(const std::string& name, gid_t fallback);

 private:
  std::mutex mu_;
  std::unordered_map<uid_t, std::string> users_;
  std::unordered_map<gid_t, std::string> groups_;
  std::unordered_map<std::string, uid_t> uids_;
  std::unordered_map<std::string, gid_t> gids_;
};

}  // namespace vt
