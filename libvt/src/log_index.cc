#include "log_index.h"

#include <cstring>
#include <string>

#include "bytes.h"
#include "vt/error.h"

namespace vt::detail {

namespace {

constexpr std::size_t kKeySize = kScoreSize + 1;
constexpr std::size_t kValueSize = 16;
constexpr std::size_t kMapSize = std::size_t{1} << 36;  // address space, not disk

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw Error(rc == MDB_CORRUPTED || rc == MDB_INVALID ? Errc::Corrupt : Errc::Io, std::string("index ") + what + ": " + mdb_strerror(rc));
}

// A transaction that aborts unless committed.
class Txn {
 public:
  Txn(MDB_env* env, bool read_only) { check(mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_), "begin"); }
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  void commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    check(rc, "commit");
  }
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

std::array<std::uint8_t, kKeySize> encode_key(const IndexKey& k) {
  std::array<std::uint8_t, kKeySize> out;
  std::memcpy(out.data(), k.score.bytes.data(), kScoreSize);
  out[kScoreSize] = k.type.value;
  return out;
}

MDB_val val(void* p, std::size_t n) { return MDB_val{n, p}; }

Location decode_location(const MDB_val& v) {
  if (v.mv_size != kValueSize) throw Error(Errc::Corrupt, "index entry of " + std::to_string(v.mv_size) + " bytes");
  auto* p = static_cast<const std::uint8_t*>(v.mv_data);
  return Location{{static_cast<std::uint32_t>(get_be(p, 4)), get_be(p + 4, 8)}, static_cast<std::uint32_t>(get_be(p + 12, 4))};
}

const char kTailKey[] = "tail";

}  // namespace

LogIndex::LogIndex(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  check(mdb_env_create(&env_), "create");
  try {
    check(mdb_env_set_mapsize(env_, kMapSize), "set map size");
    check(mdb_env_set_maxdbs(env_, 2), "set max dbs");
    // NOTLS: read transactions move between the server's worker threads.
    check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS, 0644), "open");
    Txn txn(env_, false);
    check(mdb_dbi_open(txn.get(), "blocks", MDB_CREATE, &blocks_), "open blocks");
    check(mdb_dbi_open(txn.get(), "meta", MDB_CREATE, &meta_), "open meta");
    txn.commit();
  } catch (...) {
    mdb_env_close(env_);
    throw;
  }
}

LogIndex::~LogIndex() { mdb_env_close(env_); }

std::optional<Location> LogIndex::lookup(MDB_txn* txn, const IndexKey& key) const {
  auto k = encode_key(key);
  MDB_val mk = val(k.data(), k.size()), mv;
  int rc = mdb_get(txn, blocks_, &mk, &mv);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "get");
  return decode_location(mv);
}

std::optional<Location> LogIndex::find(const IndexKey& key) const {
  Txn txn(env_, true);
  return lookup(txn.get(), key);
}

void LogIndex::find_many(std::span<const IndexKey> keys, std::span<std::optional<Location>> out) const {
  Txn txn(env_, true);
  for (std::size_t i = 0; i < keys.size(); i++) out[i] = lookup(txn.get(), keys[i]);
}

void LogIndex::commit(std::span<const std::pair<IndexKey, Location>> entries, LogPos tail, bool replace_all) {
  Txn txn(env_, false);
  if (replace_all) check(mdb_drop(txn.get(), blocks_, 0), "drop");
  for (const auto& [key, loc] : entries) {
    auto k = encode_key(key);
    std::uint8_t v[kValueSize];
    put_be(v, loc.pos.segment, 4);
    put_be(v + 4, loc.pos.offset, 8);
    put_be(v + 12, loc.length, 4);
    MDB_val mk = val(k.data(), k.size()), mv = val(v, sizeof v);
    int rc = mdb_put(txn.get(), blocks_, &mk, &mv, MDB_NOOVERWRITE);
    if (rc != MDB_KEYEXIST) check(rc, "put");  // a duplicate record: keep the first
  }
  std::uint8_t t[12];
  put_be(t, tail.segment, 4);
  put_be(t + 4, tail.offset, 8);
  MDB_val mk = val(const_cast<char*>(kTailKey), sizeof kTailKey - 1), mv = val(t, sizeof t);
  check(mdb_put(txn.get(), meta_, &mk, &mv, 0), "put tail");
  txn.commit();
}

LogPos LogIndex::tail() const {
  Txn txn(env_, true);
  MDB_val mk = val(const_cast<char*>(kTailKey), sizeof kTailKey - 1), mv;
  int rc = mdb_get(txn.get(), meta_, &mk, &mv);
  if (rc == MDB_NOTFOUND) return {};
  check(rc, "get tail");
  if (mv.mv_size != 12) throw Error(Errc::Corrupt, "index tail record is damaged");
  auto* p = static_cast<const std::uint8_t*>(mv.mv_data);
  return LogPos{static_cast<std::uint32_t>(get_be(p, 4)), get_be(p + 4, 8)};
}

std::uint64_t LogIndex::count() const {
  Txn txn(env_, true);
  MDB_stat st;
  check(mdb_stat(txn.get(), blocks_, &st), "stat");
  return st.ms_entries;
}

void LogIndex::for_each(const std::function<void(const IndexKey&, const Location&)>& fn) const {
  Txn txn(env_, true);
  MDB_cursor* cur = nullptr;
  check(mdb_cursor_open(txn.get(), blocks_, &cur), "cursor");
  std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
  MDB_val mk, mv;
  for (int rc = mdb_cursor_get(cur, &mk, &mv, MDB_FIRST); rc != MDB_NOTFOUND; rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
    check(rc, "cursor get");
    if (mk.mv_size != kKeySize) throw Error(Errc::Corrupt, "index key of " + std::to_string(mk.mv_size) + " bytes");
    auto* p = static_cast<const std::uint8_t*>(mk.mv_data);
    IndexKey key{Score(std::span<const std::uint8_t, kScoreSize>(p, kScoreSize)), WireType{p[kScoreSize]}};
    fn(key, decode_location(mv));
  }
}

}  // namespace vt::detail
