#include "vt/address.h"

#include <charconv>
#include <cstdlib>

#include "vt/error.h"

namespace vt {

std::string Address::str() const {
  if (is_unix()) return "unix!" + path;
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

static std::uint16_t parse_port(std::string_view text, std::string_view whole) {
  if (text == "venti") return kDefaultPort;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v > 65535)  // 0: any port, for listening
    throw Error(Errc::Invalid, "bad port in address '" + std::string(whole) + "'");
  return static_cast<std::uint16_t>(v);
}

Address parse_address(std::string_view text) {
  if (text.empty()) {
    const char* env = std::getenv("venti");
    if (env == nullptr || *env == '\0') return Address{};
    text = env;
  }
  std::string_view whole = text;
  Address a;
  if (auto bang = text.find('!'); bang != std::string_view::npos) {  // net!host[!port]
    auto net = text.substr(0, bang);
    if (net == "unix") {
      a.path = std::string(text.substr(bang + 1));
      if (a.path.empty()) throw Error(Errc::Invalid, "no socket path in address '" + std::string(whole) + "'");
      return a;
    }
    if (net != "tcp" && net != "net") throw Error(Errc::Invalid, "unsupported network in address '" + std::string(whole) + "'");
    text.remove_prefix(bang + 1);
    auto bang2 = text.find('!');
    a.host = std::string(text.substr(0, bang2));
    if (bang2 != std::string_view::npos) a.port = parse_port(text.substr(bang2 + 1), whole);
  } else if (text.starts_with("[")) {  // [v6]:port
    auto close = text.find(']');
    if (close == std::string_view::npos) throw Error(Errc::Invalid, "bad address '" + std::string(whole) + "'");
    a.host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') throw Error(Errc::Invalid, "bad address '" + std::string(whole) + "'");
      a.port = parse_port(rest.substr(1), whole);
    }
  } else {
    auto colon = text.rfind(':');
    a.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) a.port = parse_port(text.substr(colon + 1), whole);
  }
  if (a.host == "*") a.host = "0.0.0.0";
  if (a.host.empty()) throw Error(Errc::Invalid, "no host in address '" + std::string(whole) + "'");
  return a;
}

}  // namespace vt
