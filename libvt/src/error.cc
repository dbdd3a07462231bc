#include "vt/error.h"

#include <cerrno>
#include <cstring>

namespace vt {

void throw_errno(const std::string& what) {
  int e = errno;
  throw Error(Errc::Io, what + ": " + std::strerror(e));
}

}  // namespace vt
