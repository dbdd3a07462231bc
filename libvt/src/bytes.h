// Private: big-endian encoding with bounds checks. A Reader never reads past
// its span; running short throws Error(Corrupt) naming what was being read.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vt/error.h"
#include "vt/score.h"

namespace vt::detail {

inline std::uint64_t get_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

inline void put_be(std::uint8_t* p, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

class Reader {
 public:
  Reader(std::span<const std::uint8_t> data, std::string_view what) : data_(data), what_(what) {}

  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1, 1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(take(2, 2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(take(4, 4)); }
  std::uint64_t u48() { return take(6, 6); }
  std::uint64_t u64() { return take(8, 8); }

  std::span<const std::uint8_t> bytes(std::size_t n) {
    need(n);
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  Score score() { return Score(bytes(kScoreSize).first<kScoreSize>()); }
  // A u16-length-prefixed string of at most `max` bytes.
  std::string string(std::size_t max = 1024) {
    std::size_t n = u16();
    if (n > max) fail("string longer than " + std::to_string(max) + " bytes");
    auto b = bytes(n);
    return std::string(b.begin(), b.end());
  }
  std::span<const std::uint8_t> rest() { return bytes(remaining()); }
  void skip(std::size_t n) { bytes(n); }

  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t pos() const { return pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(Errc::Corrupt, std::string(what_) + ": " + why);
  }

 private:
  void need(std::size_t n) const {
    if (n > remaining()) fail("truncated");
  }
  std::uint64_t take(std::size_t n, int width) {
    need(n);
    auto v = get_be(data_.data() + pos_, width);
    pos_ += n;
    return v;
  }

  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
  std::string_view what_;
};

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}

  void u8(std::uint64_t v) { put(v, 1); }
  void u16(std::uint64_t v) { put(v, 2); }
  void u32(std::uint64_t v) { put(v, 4); }
  void u48(std::uint64_t v) { put(v, 6); }
  void u64(std::uint64_t v) { put(v, 8); }
  void bytes(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void score(const Score& s) { bytes(s.bytes); }
  void zeros(std::size_t n) { out_.resize(out_.size() + n, 0); }
  // u16 length + bytes; throws Error(Invalid) past `max` bytes.
  void string(std::string_view s, std::size_t max = 1024) {
    if (s.size() > max) throw Error(Errc::Invalid, "string longer than " + std::to_string(max) + " bytes");
    u16(s.size());
    bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  }

 private:
  void put(std::uint64_t v, int n) {
    auto at = out_.size();
    out_.resize(at + n);
    put_be(out_.data() + at, v, n);
  }
  std::vector<std::uint8_t>& out_;
};

}  // namespace vt::detail
