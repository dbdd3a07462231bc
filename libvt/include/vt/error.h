// The one error type of libvt: every failure is thrown as vt::Error with a
// category that callers (the FUSE daemon, the tools) map to errno or exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace vt {

enum class Errc {
  Invalid,   // bad argument or malformed input (a block, a message, a score)
  NotFound,  // no such block
  Corrupt,   // stored or received data fails a check (hash, checksum, bounds)
  Protocol,  // the peer broke the venti protocol
  Io,        // the operating system said no (network, disk)
  Refused,   // a venti server answered with an error (Rerror): the connection is fine
  Closed,    // the connection is gone
  ReadOnly,  // a write to a read-only store
  TooBig,    // a block larger than allowed
  Exists,    // a name that is already taken
  NotEmpty,  // a directory that still has entries
  NotDir,    // a directory was expected
  IsDir,     // a directory where a file was expected
  NameTooLong,  // a file name longer than the format (or the caller) allows
};

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

// Throws Error(Errc::Io, "<what>: strerror(errno)").
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace vt
