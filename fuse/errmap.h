// libvt errors -> errno, in one place.
#pragma once

#include <cerrno>
#include <exception>

#include "vt/error.h"

namespace vtfs {

inline int to_errno(const std::exception& e) {
  auto* ve = dynamic_cast<const vt::Error*>(&e);
  if (!ve) return EIO;
  switch (ve->code()) {
    case vt::Errc::NotFound: return ENOENT;
    case vt::Errc::Exists: return EEXIST;
    case vt::Errc::NotEmpty: return ENOTEMPTY;
    case vt::Errc::NotDir: return ENOTDIR;
    case vt::Errc::IsDir: return EISDIR;
    case vt::Errc::NameTooLong: return ENAMETOOLONG;
    case vt::Errc::Invalid: return EINVAL;
    case vt::Errc::TooBig: return EFBIG;
    case vt::Errc::ReadOnly: return EROFS;
    case vt::Errc::Io:
    case vt::Errc::Refused:
    case vt::Errc::Closed:
    case vt::Errc::Corrupt:
    case vt::Errc::Protocol: return EIO;
  }
  return EIO;
}

}  // namespace vtfs
