#include "vt/score.h"

#include <openssl/sha.h>

#include <algorithm>

#include "vt/error.h"

namespace vt {

const Score& Score::zero() {
  static const Score z = of({});
  return z;
}

Score Score::of(std::span<const std::uint8_t> data) {
  Score s;
  SHA1(data.data(), data.size(), s.bytes.data());
  return s;
}

Score Score::local(std::uint32_t addr) {
  Score s;
  for (int i = 0; i < 4; i++) s.bytes[16 + i] = static_cast<std::uint8_t>(addr >> (24 - 8 * i));
  return s;
}

bool Score::is_local() const {
  return std::all_of(bytes.begin(), bytes.begin() + 16, [](auto b) { return b == 0; });
}

std::uint32_t Score::local_addr() const {
  std::uint32_t a = 0;
  for (int i = 16; i < 20; i++) a = (a << 8) | bytes[i];
  return a;
}

std::string Score::hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(2 * kScoreSize, '0');
  for (std::size_t i = 0; i < kScoreSize; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  return out;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Score Score::parse(std::string_view text) {
  auto colon = text.rfind(':');
  auto hex = colon == std::string_view::npos ? text : text.substr(colon + 1);
  auto bad = [&] { return Error(Errc::Invalid, "bad score '" + std::string(text) + "': want [label:]40 hex digits"); };
  if (hex.size() != 2 * kScoreSize) throw bad();
  Score s;
  for (std::size_t i = 0; i < kScoreSize; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw bad();
    s.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return s;
}

}  // namespace vt
