// RadosStore: blocks as objects in a Ceph RADOS pool, so the store outgrows
// one machine and several vtd front ends can serve one pool.
//
// One object per block, named "<score hex>.<wire type>": the same bytes
// under two types stay distinct, a name says what it holds, and immutable
// content-named objects need no coordination between front ends. A write
// is an exclusive create: an existing block costs one round trip and no
// data transfer to the disks. Reads verify the SHA-1. Many operations are
// in flight at once (aio); sync() returns once every earlier write is
// acknowledged by RADOS, i.e. durable on the pool's replicas.
//
// Built when librados is found (VT_HAVE_RADOS).
#pragma once

#include <memory>
#include <string>

#include "vt/message.h"
#include "vt/store.h"

namespace vt {

struct RadosOptions {
  std::string pool;
  std::string conf;  // ceph.conf path ("" = the default search)
  std::string id;    // client id ("" = admin)
  int timeout_seconds = 10;  // connecting, and each operation (0 = wait for ever)
  std::size_t max_block = kDefaultMaxBlockSize;
};

// Parses "rados:POOL[,conf=PATH][,id=NAME][,timeout=SECONDS]".
// Throws Error(Invalid) for anything else.
RadosOptions parse_rados_spec(const std::string& spec);

class RadosStore final : public BlockStore {
 public:
  // Connects; throws Error(Io) with Ceph's reason when the cluster or the
  // pool cannot be reached within the timeout.
  static std::unique_ptr<RadosStore> open(const RadosOptions& options);
  ~RadosStore() override;

  Bytes get(const Score& score, WireType type) override;
  std::future<Bytes> get_async(const Score& score, WireType type) override;
  Score put(WireType type, std::span<const std::uint8_t> data) override;
  void put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) override;
  void wait_puts() override;
  bool has(const Score& score, WireType type) override;
  void sync() override;  // waits for every earlier write's acknowledgement
  bool pipelined() const override { return true; }

  struct Stats {
    std::uint64_t writes = 0, dedup_hits = 0, reads = 0, errors = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit RadosStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vt
