// Between vac metadata and the local system: mode bits, user and group names.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace vt {

// st_mode permission bits (with setuid, setgid, sticky) <-> vac mode bits.
std::uint32_t vac_perms(mode_t mode);
mode_t unix_perms(std::uint32_t vac_mode);

// Names for numbers and back; an unknown number becomes its decimal text,
// an unknown name the fallback.
std::string user_name(uid_t uid);
std::string group_name(gid_t gid);
uid_t uid_by_name(const std::string& name, uid_t fallback);
gid_t gid_by_name(const std::string& name, gid_t fallback);

}  // namespace vt
