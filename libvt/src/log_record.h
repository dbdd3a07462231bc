// Private: the log record layout (see vt/logstore.h) and its checks.
#pragma once

#include <libdeflate.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "bytes.h"
#include "vt/score.h"
#include "vt/types.h"

namespace vt::detail {

inline constexpr std::uint32_t kRecordMagic = 0x56544c52;  // "VTLR"
inline constexpr std::size_t kRecordHeader = 36;

struct RecordHeader {
  WireType type;
  std::uint32_t length = 0;
  Score score;
  std::uint32_t crc = 0;
};

// The standard CRC-32 (zlib's, ISO-HDLC).
inline std::uint32_t record_crc(std::span<const std::uint8_t> head32, std::span<const std::uint8_t> data) {
  std::uint32_t c = libdeflate_crc32(0, head32.data(), head32.size());
  return libdeflate_crc32(c, data.data(), data.size());
}

inline void encode_record_header(std::uint8_t* out, WireType type, const Score& score, std::span<const std::uint8_t> data) {
  put_be(out, kRecordMagic, 4);
  out[4] = type.value;
  out[5] = 0;
  put_be(out + 6, 0, 2);
  put_be(out + 8, data.size(), 4);
  std::memcpy(out + 12, score.bytes.data(), kScoreSize);
  put_be(out + 32, record_crc({out, 32}, data), 4);
}

// Parses a header; nullopt with `why` set when it is not one.
inline std::optional<RecordHeader> decode_record_header(const std::uint8_t* in, std::size_t max_block, std::string& why) {
  if (get_be(in, 4) != kRecordMagic) {
    why = "bad record magic";
    return std::nullopt;
  }
  RecordHeader h;
  h.type = WireType{in[4]};
  h.length = static_cast<std::uint32_t>(get_be(in + 8, 4));
  std::memcpy(h.score.bytes.data(), in + 12, kScoreSize);
  h.crc = static_cast<std::uint32_t>(get_be(in + 32, 4));
  if (!is_valid_wire_type(h.type) || in[5] != 0 || get_be(in + 6, 2) != 0) {
    why = "bad record type";
    return std::nullopt;
  }
  if (h.length > max_block) {
    why = "record length " + std::to_string(h.length) + " above the block limit";
    return std::nullopt;
  }
  return h;
}

}  // namespace vt::detail
