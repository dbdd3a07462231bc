// Protocol messages: round trips, malformed input, version negotiation.
#include <gtest/gtest.h>

#include "data.h"
#include "vt/error.h"
#include "vt/message.h"

using namespace vt;

static Message round_trip(const Message& m) {
  auto bytes = m.pack();
  EXPECT_EQ(bytes.size() - 2, std::size_t(bytes[0] << 8 | bytes[1]));
  return Message::unpack(std::span(bytes).subspan(2));
}

TEST(Message, RoundTripsEveryType) {
  Message hello;
  hello.type = MsgType::Thello;
  hello.tag = 7;
  hello.version = "02";
  hello.uid = "glenda";
  hello.strength = 3;
  hello.crypto = {1, 2};
  hello.codec = {9};
  auto h = round_trip(hello);
  EXPECT_EQ(h.tag, 7);
  EXPECT_EQ(h.version, "02");
  EXPECT_EQ(h.uid, "glenda");
  EXPECT_EQ(h.strength, 3);
  EXPECT_EQ(h.crypto, (std::vector<std::uint8_t>{1, 2}));
  EXPECT_EQ(h.codec, (std::vector<std::uint8_t>{9}));

  Message rhello;
  rhello.type = MsgType::Rhello;
  rhello.sid = "s";
  rhello.rcrypto = 1;
  rhello.rcodec = 2;
  auto rh = round_trip(rhello);
  EXPECT_EQ(rh.sid, "s");
  EXPECT_EQ(rh.rcrypto, 1);
  EXPECT_EQ(rh.rcodec, 2);

  Message read;
  read.type = MsgType::Tread;
  read.score = Score::zero();
  read.wire_type = WireType{5};
  read.count = 8192;
  auto rd = round_trip(read);
  EXPECT_EQ(rd.score, Score::zero());
  EXPECT_EQ(rd.wire_type.value, 5);
  EXPECT_EQ(rd.count, 8192);

  Message write;
  write.type = MsgType::Twrite;
  write.wire_type = kWireData;
  write.data = {1, 2, 3};
  auto wr = round_trip(write);
  EXPECT_EQ(wr.wire_type, kWireData);
  EXPECT_EQ(wr.data, write.data);

  Message err;
  err.type = MsgType::Rerror;
  err.error = "no such block";
  EXPECT_EQ(round_trip(err).error, "no such block");

  Message rread;
  rread.type = MsgType::Rread;
  rread.data = Bytes(1000, 7);
  EXPECT_EQ(round_trip(rread).data, rread.data);

  Message rwrite;
  rwrite.type = MsgType::Rwrite;
  rwrite.score = Score::local(5);
  EXPECT_EQ(round_trip(rwrite).score, rwrite.score);

  for (auto t : {MsgType::Tping, MsgType::Rping, MsgType::Tgoodbye, MsgType::Tsync, MsgType::Rsync}) {
    Message m;
    m.type = t;
    m.tag = 200;
    auto r = round_trip(m);
    EXPECT_EQ(r.type, t);
    EXPECT_EQ(r.tag, 200);
  }
}

TEST(Message, GoldenTread) {
  Message m;
  m.type = MsgType::Tread;
  m.tag = 1;
  m.score = Score::zero();
  m.wire_type = kWireData;
  m.count = 0x1234;
  auto b = m.pack();
  ASSERT_EQ(b.size(), 2u + 2 + 20 + 4);
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[1], 26);
  EXPECT_EQ(b[2], 12);
  EXPECT_EQ(b[3], 1);
  EXPECT_EQ(b[24], 13);
  EXPECT_EQ(b[25], 0);
  EXPECT_EQ(b[26], 0x12);
  EXPECT_EQ(b[27], 0x34);
}

TEST(Message, MalformedBodiesAreErrors) {
  const std::vector<Bytes> bad = {
      {},                           // no type
      {12},                         // no tag
      {99, 0},                      // unknown type
      {8, 0},                       // Tauth0: reserved
      {12, 0, 1, 2, 3},             // Tread: short score
      {14, 0},                      // Twrite: no type/pad
      {14, 0, 0, 0, 0, 0},          // Twrite: wire type 0
      {14, 0, 10, 0, 0, 0, 5},      // Twrite: wire type 10
      {1, 0, 0, 5, 'a'},            // Rerror: string runs past the end
      {2, 0, 0},                    // Tping with a trailing byte
      {4, 0, 0, 2, '0', '2', 0, 0, 0, 3},  // Thello: crypto length past the end
      {15, 0, 1, 2},                // Rwrite: short score
      {1, 0, 0x04, 0x01},           // Rerror: string of 1025 bytes claimed
  };
  for (const auto& b : bad) {
    try {
      Message::unpack(b);
      ADD_FAILURE() << "accepted " << testing::PrintToString(b);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Protocol);
    }
  }
}

// Every message a peer could send, damaged at random (test::mutate): it
// unpacks to a message that packs again, or it is a protocol error;
// nothing else (no crash, no other exception).
TEST(Message, MutatedMessagesUnpackOrAreProtocolErrors) {
  std::vector<Message> seeds(9);
  seeds[0].type = MsgType::Thello, seeds[0].version = "02", seeds[0].uid = "u", seeds[0].crypto = {1}, seeds[0].codec = {2};
  seeds[1].type = MsgType::Rhello, seeds[1].sid = "s";
  seeds[2].type = MsgType::Tread, seeds[2].score = Score::zero(), seeds[2].wire_type = kWireData, seeds[2].count = 8192;
  seeds[3].type = MsgType::Twrite, seeds[3].wire_type = kWireDir, seeds[3].data = Bytes(40, 3);
  seeds[4].type = MsgType::Rerror, seeds[4].error = "gone";
  seeds[5].type = MsgType::Rread, seeds[5].data = Bytes(100, 1);
  seeds[6].type = MsgType::Rwrite, seeds[6].score = Score::zero();
  seeds[7].type = MsgType::Tsync;
  seeds[8].type = MsgType::Tgoodbye;
  std::mt19937 rng(1);
  int accepted = 0, refused = 0;
  for (const Message& seed : seeds) {
    const Bytes packed = seed.pack();
    const Bytes body(packed.begin() + 2, packed.end());
    for (int i = 0; i < 5000; i++) {
      const Bytes b = test::mutate(body, rng);
      try {
        Message m = Message::unpack(b);
        Bytes again = m.pack();
        EXPECT_EQ(Message::unpack(std::span(again).subspan(2)).type, m.type);
        accepted++;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::Protocol) << e.what();
        refused++;
      }
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

TEST(Message, OversizedMessagesDoNotPack) {
  Message m;
  m.type = MsgType::Twrite;
  m.wire_type = kWireData;
  m.data = Bytes(65535, 1);
  EXPECT_THROW(m.pack(), Error);
  Message e;
  e.type = MsgType::Rerror;
  e.error = std::string(1025, 'x');
  EXPECT_THROW(e.pack(), Error);
}

TEST(Version, Negotiation) {
  EXPECT_EQ(version_line(), "venti-02-libvt\n");
  EXPECT_EQ(negotiate_version("venti-02-libventi"), "02");
  EXPECT_EQ(negotiate_version("venti-04:02-x"), "02");
  EXPECT_THROW(negotiate_version("venti-04-x"), Error);
  EXPECT_THROW(negotiate_version("venti-02"), Error);
  EXPECT_THROW(negotiate_version("hello-02-x"), Error);
}
