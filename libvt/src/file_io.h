// Private: whole-buffer positional reads and writes, retried across EINTR
// and short transfers. `what` names the file in the error.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vt::detail {

// Throws Error(Io) on failure.
void pwrite_all(int fd, std::span<const std::uint8_t> data, std::uint64_t off, const std::string& what);
// Reads exactly data.size() bytes at off; false at end of file. Throws
// Error(Io) on failure.
bool pread_all(int fd, std::span<std::uint8_t> data, std::uint64_t off, const std::string& what);

}  // namespace vt::detail
