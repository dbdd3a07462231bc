// LogStore: vtd's durable block store. Blocks are appended to checksummed
// log segments; an LMDB index maps (score, type) to a log location.
//
//   DIR/LOCK               held (flock) by the one process using the store
//   DIR/log/NNNNNNNN.log   segments of records:
//                            magic u32, type u8, 0 u8, 0 u16, length u32,
//                            score[20], crc32 u32 (of the 32 bytes before it
//                            and the data), data[length]
//   DIR/index/             LMDB: (score, type) -> (segment, offset, length),
//                          and how far the log has been indexed
//
// Appends reach the log in large O_DIRECT writes where the file system
// allows (see appender.h). Durability: sync() writes out buffered appends
// and fdatasyncs the log; the log is also synced in the background every
// 32 MiB, so that a sync after a large write has little left to do. The
// index is committed separately, by checkpoints (every 65,536 new blocks,
// and on close), each after the log records it points at are durable. On
// open, records past the indexed point are checked and indexed; a torn
// record at the end of the log is cut off.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vt/message.h"
#include "vt/store.h"

namespace vt {

struct LogStoreOptions {
  std::size_t max_block = kDefaultMaxBlockSize;
  std::uint64_t segment_size = std::uint64_t{1} << 30;
  // Keys the Bloom filter (which spares new blocks an index lookup) is
  // first sized for; 0: twice the blocks stored, at least 2^20. It is
  // rebuilt twice as large whenever the store outgrows it.
  std::uint64_t bloom_keys = 0;
  // Told about recovery and other events worth a line in a log.
  std::function<void(const std::string&)> log;
};

struct LogStoreStats {
  std::uint64_t blocks = 0;         // distinct blocks stored
  std::uint64_t log_bytes = 0;      // bytes in the log, headers included
  std::uint64_t bytes_written = 0;  // block bytes appended since open
  std::uint64_t writes = 0;         // puts since open
  std::uint64_t dedup_hits = 0;     // puts of blocks already stored
  std::uint64_t reads = 0;
  std::uint64_t read_bytes = 0;
  std::uint64_t errors = 0;         // failed gets and puts (absent blocks excluded)
  std::uint64_t syncs = 0;        // sync() calls
  std::uint64_t log_syncs = 0;    // rounds of fdatasyncs, asked for or in the background
  std::uint64_t checkpoints = 0;  // index commits begun (see above)
};

struct CheckReport {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t index_entries = 0;
  std::vector<std::string> problems;  // empty when the store is sound
};

class LogStore final : public BlockStore {
 public:
  // Creates the directory on first use. Throws Error(Io) when another
  // process holds the store, Error(Corrupt) when the index is unreadable.
  static std::unique_ptr<LogStore> open(const std::filesystem::path& dir, LogStoreOptions options = {});
  ~LogStore() override;  // syncs

  Bytes get(const Score& score, WireType type) override;
  // Answers from memory or the page cache only.
  std::optional<Bytes> get_now(const Score& score, WireType type) override;
  // Looks the blocks up in one index transaction and reads records that lie
  // side by side in the log (a file written in order) with one system call.
  std::vector<Bytes> get_many(std::span<const BlockKey> keys) override;
  // Hashes `data` (the server's path: what arrives is verified).
  Score put(WireType type, std::span<const std::uint8_t> data) override;
  std::optional<Score> put_now(WireType type, std::span<const std::uint8_t> data) override { return put(type, data); }
  // Trusts `score`: for in-process callers that just computed it (the
  // cache), so the embedded store does not hash every block twice. Stores
  // at once (an append is a copy into the buffer); throws as put() does.
  void put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) override;
  bool has(const Score& score, WireType type) override;
  void sync() override;

  LogStoreStats stats() const;
  // Every record in the log, in order, checksums and hashes verified
  // (duplicates included). Throws Error(Corrupt) at a damaged record.
  void for_each(const std::function<void(WireType, std::span<const std::uint8_t>)>& fn);

  // Offline tools; they take the store's lock like open() does.
  // Verifies every record's checksum and hash and every index entry.
  static CheckReport check(const std::filesystem::path& dir);
  // Rebuilds the whole index from the log; returns the blocks indexed.
  static std::uint64_t reindex(const std::filesystem::path& dir, LogStoreOptions options = {});

 private:
  struct Impl;
  explicit LogStore(std::unique_ptr<Impl> impl);
  void check_put(WireType type, std::size_t size);
  std::optional<Bytes> read(const Score& score, WireType type, bool nowait);
  void add(WireType type, std::span<const std::uint8_t> data, const Score& score);  // checked already
  std::unique_ptr<Impl> impl_;
};

}  // namespace vt
