// venti-02 protocol messages (FORMATS.md §7): one struct for every message
// type, as in libventi's VtFcall; only the fields of `type` are meaningful.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vt/score.h"
#include "vt/types.h"

namespace vt {

enum class MsgType : std::uint8_t {
  Rerror = 1,
  Tping = 2,
  Rping = 3,
  Thello = 4,
  Rhello = 5,
  Tgoodbye = 6,
  Tread = 12,
  Rread = 13,
  Twrite = 14,
  Rwrite = 15,
  Tsync = 16,
  Rsync = 17,
};

inline constexpr std::size_t kMaxStringSize = 1024;
inline constexpr std::size_t kMaxMessageSize = 65535;  // the u16 size field
inline constexpr std::size_t kDefaultMaxBlockSize = 57344;

struct Message {
  MsgType type = MsgType::Tping;
  std::uint8_t tag = 0;

  std::string error;              // Rerror
  std::string version, uid;       // Thello
  std::uint8_t strength = 0;      // Thello
  std::vector<std::uint8_t> crypto, codec;  // Thello
  std::string sid;                // Rhello
  std::uint8_t rcrypto = 0, rcodec = 0;     // Rhello
  Score score;                    // Tread, Rwrite
  WireType wire_type;             // Tread, Twrite
  std::uint16_t count = 0;        // Tread
  Bytes data;                     // Rread, Twrite

  // The message with its u16 size prefix. Throws Error(Invalid) when it does
  // not fit in one message or a field is out of range.
  std::vector<std::uint8_t> pack() const;
  void pack_into(std::vector<std::uint8_t>& out) const;  // appends; `out` unchanged on error
  // Parses the bytes after the size prefix. Throws Error(Protocol) for an
  // unknown type, a short or overlong body, or a bad field.
  static Message unpack(std::span<const std::uint8_t> body);

  bool is_request() const { return static_cast<std::uint8_t>(type) % 2 == 0; }

 private:
  void pack_body(std::vector<std::uint8_t>& out) const;  // size prefix left 0
};

std::string to_string(MsgType t);

// Version lines: "venti-<v>[:<v>…]-<comment>\n".
std::string version_line(std::string_view comment = "libvt");
// Picks "02" from a peer's line; throws Error(Protocol) when it is malformed
// or offers no version in common.
std::string negotiate_version(std::string_view peer_line);

}  // namespace vt
