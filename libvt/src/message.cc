#include "vt/message.h"

#include "bytes.h"
#include "vt/error.h"

namespace vt {

namespace {

void put_small_bytes(detail::Writer& w, const std::vector<std::uint8_t>& b, const char* field) {
  if (b.size() > 255) throw Error(Errc::Invalid, std::string(field) + " longer than 255 bytes");
  w.u8(b.size());
  w.bytes(b);
}

std::vector<std::uint8_t> get_small_bytes(detail::Reader& r) {
  auto b = r.bytes(r.u8());
  return {b.begin(), b.end()};
}

}  // namespace

std::string to_string(MsgType t) {
  switch (t) {
    case MsgType::Rerror: return "Rerror";
    case MsgType::Tping: return "Tping";
    case MsgType::Rping: return "Rping";
    case MsgType::Thello: return "Thello";
    case MsgType::Rhello: return "Rhello";
    case MsgType::Tgoodbye: return "Tgoodbye";
    case MsgType::Tread: return "Tread";
    case MsgType::Rread: return "Rread";
    case MsgType::Twrite: return "Twrite";
    case MsgType::Rwrite: return "Rwrite";
    case MsgType::Tsync: return "Tsync";
    case MsgType::Rsync: return "Rsync";
  }
  return "message type " + std::to_string(static_cast<int>(t));
}

std::vector<std::uint8_t> Message::pack() const {
  std::vector<std::uint8_t> out;
  out.reserve(2 + 2 + 24 + data.size());
  pack_into(out);
  return out;
}

void Message::pack_into(std::vector<std::uint8_t>& out) const {
  const std::size_t start = out.size();
  try {
    pack_body(out);
  } catch (...) {
    out.resize(start);
    throw;
  }
  std::size_t size = out.size() - start - 2;
  if (size > kMaxMessageSize) {
    out.resize(start);
    throw Error(Errc::TooBig, to_string(type) + " of " + std::to_string(size) + " bytes does not fit in a message");
  }
  detail::put_be(out.data() + start, size, 2);
}

void Message::pack_body(std::vector<std::uint8_t>& out) const {
  detail::Writer w(out);
  w.u16(0);  // size, filled in below
  w.u8(static_cast<std::uint8_t>(type));
  w.u8(tag);
  switch (type) {
    case MsgType::Rerror: w.string(error); break;
    case MsgType::Thello:
      w.string(version);
      w.string(uid);
      w.u8(strength);
      put_small_bytes(w, crypto, "crypto");
      put_small_bytes(w, codec, "codec");
      break;
    case MsgType::Rhello:
      w.string(sid);
      w.u8(rcrypto);
      w.u8(rcodec);
      break;
    case MsgType::Tread:
      if (!is_valid_wire_type(wire_type)) throw Error(Errc::Invalid, "Tread: invalid wire type");
      w.score(score);
      w.u8(wire_type.value);
      w.u8(0);
      w.u16(count);
      break;
    case MsgType::Rread: w.bytes(data); break;
    case MsgType::Twrite:
      if (!is_valid_wire_type(wire_type)) throw Error(Errc::Invalid, "Twrite: invalid wire type");
      w.u8(wire_type.value);
      w.zeros(3);
      w.bytes(data);
      break;
    case MsgType::Rwrite: w.score(score); break;
    case MsgType::Tping:
    case MsgType::Rping:
    case MsgType::Tgoodbye:
    case MsgType::Tsync:
    case MsgType::Rsync: break;
    default: throw Error(Errc::Invalid, "cannot pack " + to_string(type));
  }
}

Message Message::unpack(std::span<const std::uint8_t> body) {
  Message m;
  try {
    detail::Reader r(body, "message");
    std::uint8_t t = r.u8();
    m.tag = r.u8();
    m.type = static_cast<MsgType>(t);
    switch (m.type) {
      case MsgType::Rerror: m.error = r.string(); break;
      case MsgType::Thello:
        m.version = r.string();
        m.uid = r.string();
        m.strength = r.u8();
        m.crypto = get_small_bytes(r);
        m.codec = get_small_bytes(r);
        break;
      case MsgType::Rhello:
        m.sid = r.string();
        m.rcrypto = r.u8();
        m.rcodec = r.u8();
        break;
      case MsgType::Tread:
        m.score = r.score();
        m.wire_type = WireType{r.u8()};
        r.u8();
        m.count = r.u16();
        if (!is_valid_wire_type(m.wire_type)) r.fail("invalid wire type " + std::to_string(m.wire_type.value));
        break;
      case MsgType::Rread: {
        auto d = r.rest();
        m.data.assign(d.begin(), d.end());
        break;
      }
      case MsgType::Twrite: {
        m.wire_type = WireType{r.u8()};
        r.skip(3);
        if (!is_valid_wire_type(m.wire_type)) r.fail("invalid wire type " + std::to_string(m.wire_type.value));
        auto d = r.rest();
        m.data.assign(d.begin(), d.end());
        break;
      }
      case MsgType::Rwrite: m.score = r.score(); break;
      case MsgType::Tping:
      case MsgType::Rping:
      case MsgType::Tgoodbye:
      case MsgType::Tsync:
      case MsgType::Rsync: break;
      default: r.fail("unknown message type " + std::to_string(t));
    }
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " bytes left over in " + to_string(m.type));
  } catch (const Error& e) {
    throw Error(Errc::Protocol, e.what());
  }
  return m;
}

std::string version_line(std::string_view comment) {
  return "venti-02-" + std::string(comment) + "\n";
}

std::string negotiate_version(std::string_view line) {
  auto bad = [&](const std::string& why) {
    return Error(Errc::Protocol, "bad version line '" + std::string(line.substr(0, 80)) + "': " + why);
  };
  if (!line.starts_with("venti-")) throw bad("no venti- prefix");
  auto rest = line.substr(6);
  auto dash = rest.find('-');
  if (dash == std::string_view::npos) throw bad("no comment field");
  auto versions = rest.substr(0, dash);
  while (!versions.empty()) {
    auto colon = versions.find(':');
    if (versions.substr(0, colon) == "02") return "02";
    if (colon == std::string_view::npos) break;
    versions.remove_prefix(colon + 1);
  }
  throw bad("no common protocol version (we speak 02)");
}

}  // namespace vt
