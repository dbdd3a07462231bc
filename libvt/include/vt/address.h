// Server addresses: "host:port", "tcp!host!port", "host" (port 17034),
// "unix!/path" (a Unix-domain socket, as plan9port dials), and the $venti
// environment variable as the default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vt {

inline constexpr std::uint16_t kDefaultPort = 17034;

struct Address {
  std::string host = "127.0.0.1";
  std::uint16_t port = kDefaultPort;
  std::string path;  // a Unix-domain socket when not empty (host, port unused)
  bool is_unix() const { return !path.empty(); }
  std::string str() const;  // "host:port" (brackets around IPv6 literals) or "unix!/path"
};

// Throws Error(Invalid) for malformed text. "" means $venti, else 127.0.0.1:17034.
Address parse_address(std::string_view text);

}  // namespace vt
