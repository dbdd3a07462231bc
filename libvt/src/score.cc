#include "vt/score.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <memory>

#include "vt/error.h"

namespace vt {

const Score& Score::zero() {
  static const Score z = of({});
  return z;
}

namespace {

// OpenSSL 3's one-shot SHA1() looks the algorithm up and sets up a context
// on every call: a tenth of the time for an 8 KiB block. The algorithm is
// fetched once, and each thread keeps a context.
struct Hasher {
  struct MdFree {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
  };
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };

  static const EVP_MD* sha1() {
    static const std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "SHA1", nullptr));
    return md.get();
  }

  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx{EVP_MD_CTX_new()};

  bool digest(std::span<const std::uint8_t> data, std::uint8_t* out) {
    unsigned n = 0;
    return ctx && sha1() && EVP_DigestInit_ex2(ctx.get(), sha1(), nullptr) == 1 && EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
           EVP_DigestFinal_ex(ctx.get(), out, &n) == 1 && n == kScoreSize;
  }
};

}  // namespace

Score Score::of(std::span<const std::uint8_t> data) {
  thread_local Hasher hasher;
  Score s;
  if (!hasher.digest(data, s.bytes.data())) SHA1(data.data(), data.size(), s.bytes.data());  // the slow way still works
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
