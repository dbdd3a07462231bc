#include "store_conformance.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "vt/error.h"

namespace vt::test {

namespace {

Bytes block(int i, std::size_t n = 3000) {
  Bytes b(n);
  std::minstd_rand rng(static_cast<unsigned>(i) + 17);
  for (auto& c : b) c = static_cast<std::uint8_t>(rng());
  return b;
}

}  // namespace

void check_store_conformance(BlockStore& store) {
  // Round trip; the type is part of the name.
  Score s = store.put(kWireData, block(1));
  EXPECT_EQ(s, Score::of(block(1)));
  EXPECT_EQ(store.get(s, kWireData), block(1));
  EXPECT_TRUE(store.has(s, kWireData));
  EXPECT_FALSE(store.has(s, kWireDir));
  try {
    store.get(s, kWireDir);
    ADD_FAILURE() << "read a block under the wrong type";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NotFound) << e.what();
  }
  // Absent blocks.
  EXPECT_FALSE(store.has(Score::of(block(999)), kWireData));
  EXPECT_THROW(store.get(Score::of(block(999)), kWireData), Error);
  // The zero score is the empty block of any type.
  EXPECT_EQ(store.get(Score::zero(), kWireRoot), Bytes{});
  EXPECT_TRUE(store.has(Score::zero(), WireType{5}));
  // Writing twice is harmless.
  EXPECT_EQ(store.put(kWireData, block(1)), s);
  EXPECT_EQ(store.get(s, kWireData), block(1));
  // Every wire type, and sizes up to the limit.
  for (std::uint8_t w : {1, 2, 3, 9, 13}) {
    Bytes b = block(100 + w, w == 1 ? 300 : 57344);
    Score sw = store.put(WireType{w}, b);
    EXPECT_EQ(store.get(sw, WireType{w}), b) << int(w);
  }
  EXPECT_THROW(store.put(kWireData, Bytes(57345, 1)), Error);
  // Pipelined writes, then sync; then pipelined reads.
  std::vector<Score> scores;
  for (int i = 0; i < 300; i++) {
    Bytes b = block(1000 + i);
    scores.push_back(Score::of(b));
    store.put_async(kWireData, std::move(b), scores.back());
  }
  store.wait_puts();
  store.sync();
  std::vector<std::future<Bytes>> reads;
  for (auto& sc : scores) reads.push_back(store.get_async(sc, kWireData));
  for (int i = 0; i < 300; i++) EXPECT_EQ(reads[i].get(), block(1000 + i)) << i;
  // Many at once, in the order asked (not the order written), the zero
  // score and repeats included; one absent block fails the request.
  std::vector<BlockKey> keys;
  for (int i = 299; i >= 0; i -= 3) keys.push_back({scores[static_cast<std::size_t>(i)], kWireData});
  keys.push_back({Score::zero(), kWireData});
  keys.push_back(keys.front());
  auto many = store.get_many(keys);
  ASSERT_EQ(many.size(), keys.size());
  for (std::size_t k = 0; k + 2 < keys.size(); k++) EXPECT_EQ(many[k], block(1000 + 299 - 3 * static_cast<int>(k))) << k;
  EXPECT_EQ(many[keys.size() - 2], Bytes{});
  EXPECT_EQ(many.back(), many.front());
  keys.push_back({Score::of(block(999)), kWireData});
  try {
    store.get_many(keys);
    ADD_FAILURE() << "get_many of an absent block succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NotFound) << e.what();
  }
  // Concurrent writers and readers over overlapping blocks.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; i++) {
        int n = 2000 + (t * 20 + i) % 200;
        Score sc = store.put(kWireData, block(n));
        EXPECT_EQ(store.get(sc, kWireData), block(n));
      }
    });
  }
  for (auto& th : threads) th.join();
  store.sync();
}

}  // namespace vt::test
