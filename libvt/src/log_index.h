// Private: the LMDB index of a LogStore.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "vt/score.h"
#include "vt/store.h"
#include "vt/types.h"

namespace vt::detail {

struct LogPos {
  std::uint32_t segment = 0;
  std::uint64_t offset = 0;
  auto operator<=>(const LogPos&) const = default;
};

struct Location {
  LogPos pos;            // where the record starts
  std::uint32_t length;  // block bytes after the header
};

using IndexKey = BlockKey;
using IndexKeyHash = BlockKeyHash;

class LogIndex {
 public:
  explicit LogIndex(const std::filesystem::path& dir);
  ~LogIndex();
  LogIndex(const LogIndex&) = delete;
  LogIndex& operator=(const LogIndex&) = delete;

  std::optional<Location> find(const IndexKey& key) const;
  // Several lookups in one read transaction; `out[i]` for `keys[i]`.
  void find_many(std::span<const IndexKey> keys, std::span<std::optional<Location>> out) const;
  // Adds `entries` and records that the log is indexed through `tail`, in
  // one durable transaction. With `replace_all`, drops every entry first.
  void commit(std::span<const std::pair<IndexKey, Location>> entries, LogPos tail, bool replace_all = false);
  LogPos tail() const;
  std::uint64_t count() const;
  void for_each(const std::function<void(const IndexKey&, const Location&)>& fn) const;

 private:
  std::optional<Location> lookup(MDB_txn* txn, const IndexKey& key) const;
  MDB_env* env_ = nullptr;
  MDB_dbi blocks_ = 0, meta_ = 0;
};

}  // namespace vt::detail
