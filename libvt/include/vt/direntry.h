// vac DirEntry (FORMATS.md §8.2): one file's metadata in a MetaBlock.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vt/types.h"

namespace vt {

// Mode bits above the permissions.
inline constexpr std::uint32_t kModeSticky = 1u << 9;
inline constexpr std::uint32_t kModeSetUid = 1u << 10;
inline constexpr std::uint32_t kModeSetGid = 1u << 11;
inline constexpr std::uint32_t kModeAppend = 1u << 12;
inline constexpr std::uint32_t kModeExclusive = 1u << 13;
inline constexpr std::uint32_t kModeLink = 1u << 14;
inline constexpr std::uint32_t kModeDir = 1u << 15;
inline constexpr std::uint32_t kModeSnapshot = 1u << 20;
inline constexpr std::uint32_t kModeDevice = 1u << 21;
inline constexpr std::uint32_t kModeNamedPipe = 1u << 22;

// What the classic format cannot hold, in a section of type 16 that classic
// readers skip: nanoseconds, numeric owners, device numbers.
struct PosixInfo {
  std::uint32_t mtime_ns = 0, atime_ns = 0, ctime_ns = 0;
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t rdev = 0;
  bool operator==(const PosixInfo&) const = default;
};

struct DirEntry {
  std::string elem;
  std::uint32_t entry = 0, gen = 0;    // data or dir stream slot in the parent
  std::uint32_t mentry = 0, mgen = 0;  // meta stream slot (directories)
  std::uint64_t qid = 0;
  std::string uid, gid, mid;
  std::uint32_t mtime = 0, mcount = 0, ctime = 0, atime = 0;
  std::uint32_t mode = 0;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> qid_space;  // offset, max
  std::optional<PosixInfo> posix;
  std::vector<std::pair<std::string, Bytes>> xattrs;  // section type 17 each

  bool is_dir() const { return mode & kModeDir; }
  // A regular file: not a directory, symbolic link, named pipe or device.
  bool is_file() const { return !(mode & (kModeDir | kModeLink | kModeNamedPipe | kModeDevice)); }

  // Version 9. Throws Error(Invalid) for fields that cannot be stored.
  Bytes pack() const;
  // Versions 7, 8, 9; unknown sections are skipped. Throws Error(Corrupt)
  // for malformed bytes. The name is not checked here (the root's is "/"):
  // see check_elem.
  static DirEntry unpack(std::span<const std::uint8_t> bytes);

  bool operator==(const DirEntry&) const = default;
};

// Throws Error(Invalid) unless `name` is a usable file name, or
// Error(NameTooLong) past 1024 bytes.
void check_elem(const std::string& name);

}  // namespace vt
