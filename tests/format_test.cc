// Golden vectors for scores, block types, zero truncation, VtEntry, VtRoot.
#include <gtest/gtest.h>

#include "vt/entry.h"
#include "vt/error.h"
#include "vt/root.h"
#include "vt/score.h"
#include "vt/types.h"
#include "vt/store.h"
#include "vt/zero.h"

using namespace vt;

static Bytes from_hex(const std::string& h) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(static_cast<std::uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

TEST(Score, ZeroScoreIsSha1OfNothing) {
  EXPECT_EQ(Score::zero().hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_TRUE(Score::zero().is_zero());
  EXPECT_FALSE(Score{}.is_zero());
}

TEST(Score, Sha1OfKnownText) {
  std::string abc = "abc";
  EXPECT_EQ(Score::of({reinterpret_cast<const std::uint8_t*>(abc.data()), 3}).hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Score, ParseAcceptsLabelsAndEitherCase) {
  auto s = Score::parse("vac:64DAEFAECC4DF4B5CB48A368B361EF56012A4F46");
  EXPECT_EQ(s.hex(), "64daefaecc4df4b5cb48a368b361ef56012a4f46");
  EXPECT_EQ(Score::parse("a:b:64daefaecc4df4b5cb48a368b361ef56012a4f46"), s);  // split at the last ':'
  EXPECT_EQ(Score::parse(s.hex()), s);
}

TEST(Score, ParseRejectsMalformed) {
  for (const char* bad : {"", "vac:", "vac:64daefaecc4df4b5cb48a368b361ef56012a4f4", "vac:64daefaecc4df4b5cb48a368b361ef56012a4f466",
                          "vac:64daefaecc4df4b5cb48a368b361ef56012a4fzz", "64daefaecc4df4b5cb48a368b361ef56012a4f46:"}) {
    EXPECT_THROW(Score::parse(bad), Error) << bad;
  }
}

TEST(Score, LocalScoresCarryAnAddress) {
  Score s = Score::local(0x01020304);
  EXPECT_TRUE(s.is_local());
  EXPECT_EQ(s.local_addr(), 0x01020304u);
  EXPECT_EQ(s.hex(), "0000000000000000000000000000000001020304");
  EXPECT_FALSE(Score::zero().is_local());
}

TEST(Types, WireTable) {
  EXPECT_EQ(to_wire(kDataType).value, 13);
  EXPECT_EQ(to_wire(kDirType).value, 2);
  EXPECT_EQ(to_wire(kRootType).value, 1);
  for (int d = 1; d <= 7; d++) {
    EXPECT_EQ(to_wire(static_cast<BlockType>(kDataType + d)).value, d + 2);
    EXPECT_EQ(to_wire(static_cast<BlockType>(kDirType + d)).value, d + 2);
    EXPECT_EQ(from_wire(WireType{static_cast<std::uint8_t>(d + 2)}), kDirType + d);
  }
  EXPECT_EQ(from_wire(WireType{1}), kRootType);
  EXPECT_EQ(from_wire(WireType{2}), kDirType);
  EXPECT_EQ(from_wire(WireType{13}), kDataType);
  for (int w : {0, 10, 11, 12, 14, 255}) EXPECT_THROW(from_wire(WireType{static_cast<std::uint8_t>(w)}), Error) << w;
  EXPECT_THROW(to_wire(17), Error);
}

TEST(Types, ParseNames) {
  EXPECT_EQ(parse_type("data"), kDataType);
  EXPECT_EQ(parse_type("dir+3"), kDirType + 3);
  EXPECT_EQ(parse_type("root"), kRootType);
  EXPECT_EQ(parse_type("9"), 9);
  for (const char* bad : {"17", "data+8", "dir+", "x", "-1"}) EXPECT_THROW(parse_type(bad), Error) << bad;
  EXPECT_EQ(type_name(kDataType + 2), "data+2");
}

TEST(Zero, DataBlocksDropTrailingZeroBytes) {
  Bytes b = {1, 0, 2, 0, 0, 0};
  EXPECT_EQ(zero_truncated_size(kWireData, b), 3u);
  EXPECT_EQ(zero_truncated_size(kWireDir, b), 3u);
  EXPECT_EQ(zero_truncated_size(kWireData, Bytes(100, 0)), 0u);
  Bytes short_block = {1, 0, 2};
  zero_extend(kWireData, short_block, 6);
  EXPECT_EQ(short_block, (Bytes{1, 0, 2, 0, 0, 0}));
}

// The scan goes by words and 64-byte runs: every end position around those
// edges, in blocks of every length near them, with zeros or not before it.
TEST(Zero, DataBlocksDropTrailingZerosWhereverTheLastByteIs) {
  for (std::size_t size = 0; size <= 200; size++) {
    EXPECT_EQ(zero_truncated_size(kWireData, Bytes(size, 0)), 0u) << size;
    for (std::size_t last = 0; last < size; last++) {
      for (std::uint8_t before : {0, 0xff}) {
        Bytes b(size, 0);
        std::fill(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(last), before);
        b[last] = 0x80;
        ASSERT_EQ(zero_truncated_size(kWireData, b), last + 1) << "size " << size << " last " << last;
      }
    }
  }
  // Unaligned: a span that starts mid-word.
  Bytes b(8192 + 3, 0);
  b[1000] = 1;
  EXPECT_EQ(zero_truncated_size(kWireData, std::span(b).subspan(3)), 998u);
}

TEST(Zero, PointerBlocksDropTrailingZeroScores) {
  Score a = Score::local(7);  // any non-zero-score value
  Bytes b(61, 0);  // a score, two zero scores, one byte of slop
  std::copy(a.bytes.begin(), a.bytes.end(), b.begin());
  std::copy(Score::zero().bytes.begin(), Score::zero().bytes.end(), b.begin() + 20);
  std::copy(Score::zero().bytes.begin(), Score::zero().bytes.end(), b.begin() + 40);
  EXPECT_EQ(zero_truncated_size(WireType{3}, b), 20u);
  // 20 zero bytes are a score, not the zero score: they stay.
  Bytes zeros(40, 0);
  EXPECT_EQ(zero_truncated_size(WireType{4}, zeros), 40u);

  Bytes t(a.bytes.begin(), a.bytes.end());
  zero_extend(WireType{3}, t, 65);
  ASSERT_EQ(t.size(), 65u);
  EXPECT_TRUE(std::equal(t.begin() + 20, t.begin() + 40, Score::zero().bytes.begin()));
  EXPECT_TRUE(std::equal(t.begin() + 40, t.begin() + 60, Score::zero().bytes.begin()));
  EXPECT_EQ(Bytes(t.begin() + 60, t.end()), Bytes(5, 0));
}

TEST(Zero, RootBlocksAreNeverTruncated) {
  EXPECT_EQ(zero_truncated_size(kWireRoot, Bytes(300, 0)), 300u);
}

TEST(Entry, GoldenBytes) {
  Entry e;
  e.gen = 0x01020304;
  e.psize = 8160;
  e.dsize = 8192;
  e.type = kDirType + 4;
  e.flags = kEntryActive;
  e.size = 0x0000123456789abcULL;
  e.score = Score::parse("da39a3ee5e6b4b0d3255bfef95601890afd80709");
  std::array<std::uint8_t, 40> out{};
  e.pack(out);
  EXPECT_EQ(Bytes(out.begin(), out.end()),
            from_hex("01020304" "1fe0" "2000" "13" "0000000000" "123456789abc" "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
  EXPECT_EQ(Entry::unpack(out), e);
}

TEST(Entry, BigBlockSizes) {
  EXPECT_EQ(decode_big_size(encode_big_size(1 << 20)), 1u << 20);
  EXPECT_EQ(decode_big_size(encode_big_size(65536 + 4096)), 65536u + 4096);
  EXPECT_THROW(encode_big_size(65537), Error);  // odd and too wide for 11 bits
  Entry e;
  e.psize = 1 << 20;
  e.dsize = 1 << 17;
  e.flags = kEntryActive;
  e.size = 5;
  std::array<std::uint8_t, 40> out{};
  e.pack(out);
  EXPECT_EQ(out[8] & 0x40, 0x40);
  EXPECT_EQ(Entry::unpack(out), e);
}

TEST(Entry, OldEmptyEntriesGetDefaultSizes) {
  std::array<std::uint8_t, 40> raw{};
  raw[8] = 0x01;  // active, no sizes
  std::memcpy(raw.data() + 20, Score::zero().bytes.data(), 20);
  Entry e = Entry::unpack(raw);
  EXPECT_EQ(e.psize, 4096u);
  EXPECT_EQ(e.dsize, 4096u);
}

TEST(Entry, RejectsImpossibleEntries) {
  auto make = [](std::uint16_t psize, std::uint16_t dsize, std::uint8_t flags, std::uint64_t size) {
    std::array<std::uint8_t, 40> raw{};
    raw[4] = psize >> 8, raw[5] = psize & 255, raw[6] = dsize >> 8, raw[7] = dsize & 255, raw[8] = flags;
    for (int i = 0; i < 6; i++) raw[14 + i] = static_cast<std::uint8_t>(size >> (40 - 8 * i));
    return raw;
  };
  EXPECT_THROW(Entry::unpack(make(100, 8192, 0x01, 0)), Error);       // psize < 256
  EXPECT_THROW(Entry::unpack(make(8192, 8192, 0x01, 8193)), Error);   // depth 0 holds one block
  EXPECT_THROW(Entry::unpack(make(8160, 8192, 0x01 | (2 << 2), 0xffffffffffffULL)), Error);
  EXPECT_NO_THROW(Entry::unpack(make(8160, 8192, 0x01 | (1 << 2), 8193)));
  EXPECT_NO_THROW(Entry::unpack(make(0, 0, 0x00, 99)));  // inactive: not checked
}

TEST(Entry, DepthForSize) {
  EXPECT_EQ(depth_for_size(0, 8160, 8192), 0);
  EXPECT_EQ(depth_for_size(8192, 8160, 8192), 0);
  EXPECT_EQ(depth_for_size(8193, 8160, 8192), 1);
  EXPECT_EQ(depth_for_size(8192ULL * 408, 8160, 8192), 1);
  EXPECT_EQ(depth_for_size(8192ULL * 408 + 1, 8160, 8192), 2);
  EXPECT_EQ(depth_for_size(300000, 1020, 1024), 2);  // 293 blocks, 51 per pointer block
}

TEST(Root, GoldenBytesAndRoundTrip) {
  Root r;
  r.name = "tree";
  r.type = "vac";
  r.score = Score::parse("a07d0a95017ce8fa532c28559a9fe18c268a82b5");
  r.blocksize = 8192;
  r.prev = Score::zero();
  auto b = r.pack();
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[1], 2);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&b[2]), 4), "tree");
  EXPECT_EQ(b[6], 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&b[130]), 3), "vac");
  EXPECT_EQ(Bytes(b.begin() + 258, b.begin() + 278), from_hex("a07d0a95017ce8fa532c28559a9fe18c268a82b5"));
  EXPECT_EQ(b[278], 0x20);
  EXPECT_EQ(b[279], 0x00);
  EXPECT_EQ(Root::unpack(b), r);
  EXPECT_FALSE(r.has_prev());
}

TEST(Root, BigBlockSize) {
  Root r;
  r.type = "vac";
  r.blocksize = 1 << 20;
  auto b = r.pack();
  EXPECT_EQ(b[0] & 0x80, 0x80);
  EXPECT_EQ(Root::unpack(b).blocksize, 1u << 20);
}

TEST(Root, RejectsBadBlocks) {
  Root r;
  r.type = "vac";
  r.blocksize = 8192;
  auto b = r.pack();
  EXPECT_THROW(Root::unpack(std::span(b).first(299)), Error);
  auto v3 = b;
  v3[1] = 3;
  EXPECT_THROW(Root::unpack(v3), Error);
  auto small = b;
  small[278] = 0, small[279] = 100;
  EXPECT_THROW(Root::unpack(small), Error);
  r.name = std::string(128, 'x');
  EXPECT_THROW(r.pack(), Error);
}
