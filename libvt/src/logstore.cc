#include "vt/logstore.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "appender.h"
#include "bloom.h"
#include "conn.h"
#include "file_io.h"
#include "log_index.h"
#include "log_record.h"
#include "vt/error.h"

namespace vt {

namespace fs = std::filesystem;
using detail::Fd;
using detail::pread_all;
using detail::pwrite_all;
using detail::IndexKey;
using detail::Location;
using detail::LogPos;

namespace {

// Index entries the in-memory pending map gathers before a checkpoint
// commits them, on a thread of its own; a writer that gets this many
// further ahead of the checkpoints commits them itself, which bounds memory.
constexpr std::size_t kCheckpointEntries = 1 << 16;
// The Bloom filter's keys at most: 512 MiB of bits. A larger store still
// works, with more false positives (each costs an index lookup).
constexpr std::uint64_t kMaxBloomKeys = (std::uint64_t{1} << 32) / 10;
// Appends gather and reach the file in writes of this size, one write
// while the next buffer fills. Large enough that a write held up by a
// background sync (tens of ms here) does not stop the appends: with 1 MiB
// buffers, vt vac of a GiB spent a quarter of its time waiting for them;
// with 8 MiB, vtfs copying in a GiB still waited 0.2-0.4 s (in 30 waits)
// and took 1.6 s, against 1.35 s and almost no waits with 16 MiB.
constexpr std::size_t kWriteBuffer = 16 << 20;
// The log is made durable in the background whenever this much has been
// written since: a sync then waits only for the last few MiB. (An
// fdatasync costs about as much as the disk takes to store what it covers,
// 0.6 ms a MiB here, so one at the end of a large write was a long stall.)
constexpr std::uint64_t kSyncEvery = 32 << 20;
// A write-out the disk refused is tried again by the next append that finds
// the buffer full, but no sooner than this after the last refusal unless
// the disk shows room for it.
constexpr auto kRetryRefused = std::chrono::milliseconds(100);
// get_many reads records that lie side by side with one preadv of up to
// this many records (two iovecs each) and bytes.
constexpr std::size_t kRunRecords = IOV_MAX / 2;
constexpr std::uint64_t kRunBytes = 8 << 20;
// Runs at least this long are read around the page cache (O_DIRECT) into a
// reused buffer: a cold sequential reader then neither fills page-cache
// pages it will not read again nor has them copied out one by one.
constexpr std::uint64_t kDirectRun = 1 << 20;
constexpr std::size_t kAlign = 4096;
constexpr std::size_t kDirectBuffer = kRunBytes + 32 * kAlign;  // a run, its last record (at most 64 KiB and a header) and alignment
// Direct-read buffers kept for reuse: as many as readers at once (vtfs's
// readahead has up to a dozen reads under way). Each holds only the pages
// its runs have touched; one freed and made again faults in every page.
constexpr std::size_t kReadBuffersKept = 16;

struct Segment {
  std::uint32_t id;
  Fd fd;
  std::uint64_t size;    // bytes of whole records (the write offset for the last one)
  std::uint64_t synced;  // bytes an fdatasync has covered
  Fd direct;             // for long reads: O_DIRECT, opened on first use
  bool direct_tried = false;
};

struct FreeAligned {
  void operator()(std::uint8_t* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::uint8_t, FreeAligned>;

std::string segment_name(std::uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08u.log", id);
  return buf;
}

void fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) < 0) throw_errno("sync directory " + dir.string());
}

// Takes DIR/LOCK for the life of the returned descriptor.
Fd lock_store(const fs::path& dir) {
  fs::path path = dir / "LOCK";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) throw_errno("open " + path.string());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) throw_errno("lock " + path.string());
    std::ifstream in(path);
    std::string pid;
    in >> pid;
    throw Error(Errc::Io, "store " + dir.string() + " is in use by another process" + (pid.empty() ? "" : " (pid " + pid + ")"));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) pwrite_all(fd.get(), {reinterpret_cast<const std::uint8_t*>(pid.data()), pid.size()}, 0, path.string());
  return fd;
}

struct ScanOptions {
  std::size_t max_block;
  bool verify_hash;  // SHA-1 as well as the checksum
};

// Walks the records of `seg` from `start`, calling `fn` for each sound one.
// Returns the offset and reason of the first unsound record, if any.
using RecordFn = std::function<void(const detail::RecordHeader&, std::uint64_t, std::span<const std::uint8_t>)>;

std::optional<std::pair<std::uint64_t, std::string>> scan_segment(const Segment& seg, std::uint64_t start, const ScanOptions& opt, const RecordFn& fn) {
  const std::string name = segment_name(seg.id);
  struct stat st;
  if (::fstat(seg.fd.get(), &st) < 0) throw_errno("stat " + name);
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  Bytes buf(detail::kRecordHeader + opt.max_block);
  std::uint64_t off = start;
  while (off < file_size) {
    if (file_size - off < detail::kRecordHeader) return std::pair{off, std::string("truncated record header")};
    pread_all(seg.fd.get(), {buf.data(), detail::kRecordHeader}, off, name);
    std::string why;
    auto h = detail::decode_record_header(buf.data(), opt.max_block, why);
    if (!h) return std::pair{off, why};
    if (file_size - off - detail::kRecordHeader < h->length) return std::pair{off, std::string("truncated record data")};
    std::span<std::uint8_t> data(buf.data() + detail::kRecordHeader, h->length);
    pread_all(seg.fd.get(), data, off + detail::kRecordHeader, name);
    if (detail::record_crc({buf.data(), 32}, data) != h->crc) return std::pair{off, std::string("checksum mismatch")};
    if (opt.verify_hash && Score::of(data) != h->score) return std::pair{off, std::string("data does not hash to the record's score")};
    fn(*h, off, data);
    off += detail::kRecordHeader + h->length;
  }
  return std::nullopt;
}

}  // namespace

struct LogStore::Impl {
  fs::path dir;
  LogStoreOptions options;
  Fd lock_file;
  std::unique_ptr<detail::LogIndex> index;

  std::mutex mu;  // guards segments (and their sizes), pending, checkpoints, appender
  std::vector<std::shared_ptr<Segment>> segments;  // segments[i]->id == i
  std::unordered_map<IndexKey, Location, detail::IndexKeyHash> pending;  // in the log, not yet indexed
  std::uint64_t checkpoints = 0;  // index commits that emptied `pending`
  std::optional<detail::Appender> appender;  // the last segment's appends
  std::condition_variable landed;  // an appender's flight came down

  std::mutex checkpoint_mu;  // one checkpoint at a time

  // Buffers for direct reads, kept: fresh pages cost a fault each.
  std::mutex buffers_mu;
  std::vector<AlignedBuffer> read_buffers;

  // Every key in the log (index and pending); rebuilt larger by the
  // checkpointer when the store outgrows it, and replaced under mu. Readers
  // outside the lock may still hold an older one: each is kept until the
  // store closes (together at most the size of the current one).
  std::atomic<detail::Bloom*> bloom{nullptr};
  std::vector<std::unique_ptr<detail::Bloom>> blooms;  // guarded by mu
  std::atomic<std::uint64_t> bloom_room{0};  // keys the current filter was sized for
  std::atomic<std::uint64_t> bloom_keys{0};  // keys added to it

  struct {
    std::atomic<std::uint64_t> bytes_written{0}, writes{0}, dedup_hits{0}, reads{0}, read_bytes{0}, errors{0}, syncs{0}, log_syncs{0}, checkpoints{0};
  } counters;

  // The appender's flights go out on a thread of their own, so no put
  // waits for the disk: a server stores blocks on its session thread, which
  // a millisecond per MiB written would stall. Errors stay with the
  // appender, which tries again; a sync reports them.
  std::optional<detail::Appender::Flight> outgoing;  // guarded by mu
  bool write_out_failing = false;                    // guarded by mu
  std::chrono::steady_clock::time_point retry_refused;  // guarded by mu
  bool stopping = false;
  std::condition_variable flights;  // outgoing or stopping
  std::thread flusher;

  // The background fdatasyncs (kSyncEvery), on a thread of their own: the
  // flusher goes on writing meanwhile.
  bool log_sync_wanted = false;      // guarded by mu
  std::string sync_failure;          // the first fdatasync that failed (guarded by mu)
  std::condition_variable log_sync_cv;  // log_sync_wanted or stopping
  std::thread log_syncer;

  // Checkpoints (an fdatasync and an index commit: a long pause) run on a
  // thread of their own too, so the puts that fill `pending` do not stop.
  bool checkpoint_wanted = false;   // guarded by mu
  std::condition_variable checkpoint_cv;  // checkpoint_wanted or stopping
  std::thread checkpointer;         // the last member: stops first

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    checkpoint_cv.notify_one();
    if (checkpointer.joinable()) checkpointer.join();
    log_sync_cv.notify_one();
    if (log_syncer.joinable()) log_syncer.join();
    flights.notify_one();
    if (flusher.joinable()) flusher.join();
  }

  void run_checkpointer() {
    std::unique_lock lock(mu);
    for (;;) {
      checkpoint_cv.wait(lock, [&] { return stopping || checkpoint_wanted; });
      if (stopping) return;
      lock.unlock();
      try {
        checkpoint();
        if (bloom_keys > bloom_room && bloom_room < kMaxBloomKeys) build_bloom(2 * bloom_room);
      } catch (const std::exception& e) {  // the entries stay pending; a sync reports it
        counters.errors++;
        log(std::string("index checkpoint failed; it will be tried again: ") + e.what());
      }
      lock.lock();
      checkpoint_wanted = false;
    }
  }

  void run_flusher() {
    std::unique_lock lock(mu);
    for (;;) {
      flights.wait(lock, [&] { return stopping || outgoing; });
      if (!outgoing) return;  // stopping, with nothing left to write
      const auto flight = *std::exchange(outgoing, std::nullopt);
      lock.unlock();
      const bool sent = appender->send(flight);
      lock.lock();
      try {
        appender->landed(sent);
        if (std::exchange(write_out_failing, false)) log("log write-outs work again");
      } catch (const std::exception& e) {
        counters.errors++;
        // While the disk refuses, each append that finds the buffer full
        // tries again: one line for the whole run of failures.
        if (!std::exchange(write_out_failing, true)) log(std::string("log write-out failed; it will be tried again: ") + e.what());
      }
      landed.notify_all();
      const Segment& last = *segments.back();
      const std::uint64_t written = in_file_end(last);
      if (!log_sync_wanted && written > last.synced && written - last.synced >= kSyncEvery) {
        log_sync_wanted = true;
        log_sync_cv.notify_one();
      }
    }
  }

  void run_log_syncer() {
    std::unique_lock lock(mu);
    for (;;) {
      log_sync_cv.wait(lock, [&] { return stopping || log_sync_wanted; });
      if (stopping) return;
      auto todo = unsynced(false);
      lock.unlock();
      try {
        fdatasync_all(todo);
      } catch (const std::exception& e) {  // every later sync reports it
        counters.errors++;
        log(std::string("background log sync failed: ") + e.what());
      }
      lock.lock();
      log_sync_wanted = false;
    }
  }

  static std::unique_ptr<Impl> open(const fs::path& dir, LogStoreOptions options) {
    fs::create_directories(dir);
    auto impl = std::make_unique<Impl>();
    impl->dir = fs::absolute(dir);  // a later chdir (a daemon's) must not move new segments
    impl->options = std::move(options);
    impl->appender.emplace(kWriteBuffer, detail::kRecordHeader + impl->options.max_block);
    impl->lock_file = lock_store(impl->dir);
    impl->index = std::make_unique<detail::LogIndex>(impl->dir / "index");
    impl->open_segments();
    impl->flusher = std::thread([p = impl.get()] { p->run_flusher(); });
    impl->log_syncer = std::thread([p = impl.get()] { p->run_log_syncer(); });
    impl->checkpointer = std::thread([p = impl.get()] { p->run_checkpointer(); });
    return impl;
  }

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  fs::path log_dir() const { return dir / "log"; }

  void open_segments() {
    fs::create_directories(log_dir());
    std::vector<std::uint32_t> ids;
    for (const auto& f : fs::directory_iterator(log_dir())) {
      auto name = f.path().filename().string();
      if (name.size() == 12 && name.ends_with(".log") && std::all_of(name.begin(), name.begin() + 8, ::isdigit))
        ids.push_back(static_cast<std::uint32_t>(std::stoul(name.substr(0, 8))));
    }
    std::sort(ids.begin(), ids.end());
    for (std::size_t i = 0; i < ids.size(); i++)
      if (ids[i] != i) throw Error(Errc::Corrupt, "log segment " + segment_name(static_cast<std::uint32_t>(i)) + " is missing in " + log_dir().string());
    for (auto id : ids) {
      fs::path p = log_dir() / segment_name(id);
      Fd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC));
      if (!fd) throw_errno("open " + p.string());
      const auto size = fs::file_size(p);
      segments.push_back(std::make_shared<Segment>(Segment{id, std::move(fd), size, size}));  // index_log syncs what it finds
    }
    if (segments.empty()) add_segment();
  }

  Segment& add_segment() {
    auto id = static_cast<std::uint32_t>(segments.size());
    fs::path p = log_dir() / segment_name(id);
    Fd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) throw_errno("create " + p.string());
    fsync_dir(log_dir());
    segments.push_back(std::make_shared<Segment>(Segment{id, std::move(fd), 0, 0}));
    return *segments.back();
  }

  // Indexes every sound record from `from` on; cuts a torn tail off the
  // last segment. With `replace_all` the index is rebuilt from scratch.
  std::uint64_t index_log(LogPos from, bool replace_all) {
    if (from.segment >= segments.size())
      throw Error(Errc::Corrupt, "index points past the log (segment " + std::to_string(from.segment) + "); run 'vtd reindex'");
    std::vector<std::pair<IndexKey, Location>> found;
    ScanOptions opt{options.max_block, false};
    for (auto& seg : segments) {
      if (seg->id < from.segment) continue;
      std::uint64_t start = seg->id == from.segment ? from.offset : 0;
      if (start > seg->size)
        throw Error(Errc::Corrupt, segment_name(seg->id) + " is shorter than the index records (" + std::to_string(seg->size) + " < " +
                                       std::to_string(start) + " bytes): synced blocks are lost; run 'vtd reindex'");
      auto bad = scan_segment(*seg, start, opt, [&](const detail::RecordHeader& h, std::uint64_t off, auto) {
        found.push_back({IndexKey{h.score, h.type}, Location{{seg->id, off}, h.length}});
      });
      struct stat st;
      if (::fstat(seg->fd.get(), &st) < 0) throw_errno("stat " + segment_name(seg->id));
      std::uint64_t end = bad ? bad->first : static_cast<std::uint64_t>(st.st_size);
      if (bad) {
        bool last = seg->id + 1 == segments.size();
        log(segment_name(seg->id) + " offset " + std::to_string(bad->first) + ": " + bad->second + "; " +
            (last ? "cutting off " + std::to_string(st.st_size - bad->first) + " bytes of torn tail" : "ignoring the rest of the segment"));
        if (last) {
          if (::ftruncate(seg->fd.get(), static_cast<off_t>(bad->first)) < 0 || ::fdatasync(seg->fd.get()) < 0)
            throw_errno("truncate " + segment_name(seg->id));
        }
      }
      seg->size = seg->synced = end;
    }
    const auto& last = *segments.back();
    LogPos tail{last.id, last.size};
    if (!found.empty() || replace_all || tail != from) {
      for (auto& seg : segments) ::fdatasync(seg->fd.get());
      index->commit(found, tail, replace_all);
      if (!found.empty()) log("indexed " + std::to_string(found.size()) + " records from the log");
    }
    return found.size();
  }

  // A filter of every key in the log, sized for twice as many. No
  // checkpoint moves keys meanwhile; keys appended meanwhile are pending,
  // and added when it takes over.
  void build_bloom(std::uint64_t at_least) {
    std::lock_guard checkpoint(checkpoint_mu);
    const std::uint64_t count = index->count();
    const std::uint64_t room = std::min<std::uint64_t>(std::max<std::uint64_t>(2 * count, at_least), kMaxBloomKeys);
    auto fresh = std::make_unique<detail::Bloom>(room);
    index->for_each([&](const IndexKey& k, const Location&) { fresh->add(k); });
    std::lock_guard lock(mu);
    for (const auto& [k, loc] : pending) fresh->add(k);
    bloom_room = room;
    bloom_keys = count + pending.size();
    bloom.store(fresh.get(), std::memory_order_release);
    blooms.push_back(std::move(fresh));
  }

  // False when the key is certainly not in the index (the filter's word;
  // the offline tools have none).
  bool maybe_indexed(const IndexKey& key) const {
    const detail::Bloom* b = bloom.load(std::memory_order_acquire);
    return !b || b->may_contain(key);
  }

  std::optional<Location> find(const IndexKey& key) {
    {
      std::lock_guard lock(mu);
      if (auto it = pending.find(key); it != pending.end()) return it->second;
    }
    if (!maybe_indexed(key)) return std::nullopt;
    return index->find(key);
  }

  // With `nowait`, nullopt when the record is not in the page cache.
  std::optional<Bytes> read_record(const IndexKey& key, const Location& loc, bool nowait) {
    std::shared_ptr<Segment> seg;
    std::uint8_t head[detail::kRecordHeader];
    Bytes data(loc.length);
    bool buffered = false;
    {
      std::lock_guard lock(mu);
      if (loc.pos.segment >= segments.size()) throw Error(Errc::Corrupt, "index points to missing segment " + std::to_string(loc.pos.segment));
      seg = segments[loc.pos.segment];
      if (seg == segments.back()) {  // maybe not written out yet
        auto r = appender->read(loc.pos.offset, head, data, nowait);
        if (r == detail::Appender::Read::would_block) return std::nullopt;
        buffered = r == detail::Appender::Read::copied;
      }
    }
    if (!buffered) {
      auto where = [&] { return segment_name(seg->id) + " offset " + std::to_string(loc.pos.offset); };
      // Header and data land in their own buffers: no copy to strip the header.
      iovec iov[2] = {{head, sizeof head}, {data.data(), data.size()}};
      const auto want = static_cast<ssize_t>(sizeof head + data.size());
      ssize_t n;
      do n = ::preadv2(seg->fd.get(), iov, 2, static_cast<off_t>(loc.pos.offset), nowait ? RWF_NOWAIT : 0);
      while (n < 0 && errno == EINTR);
      if (n != want && nowait) return std::nullopt;  // not all cached; get() will wait (or report the error)
      if (n < 0) throw_errno("read " + where());
      if (n != want) throw Error(Errc::Corrupt, where() + ": record runs past the end of the log");
    }
    check_record(key, loc, head, data, seg->id);
    return data;
  }

  // A record read back is the one the index promised, undamaged.
  void check_record(const IndexKey& key, const Location& loc, const std::uint8_t* head, std::span<const std::uint8_t> data, std::uint32_t seg) const {
    auto where = [&] { return segment_name(seg) + " offset " + std::to_string(loc.pos.offset); };
    std::string why;
    auto h = detail::decode_record_header(head, options.max_block, why);
    if (!h) throw Error(Errc::Corrupt, where() + ": " + why);
    if (h->score != key.score || h->type != key.type || h->length != loc.length) throw Error(Errc::Corrupt, where() + ": record does not match the index");
    if (detail::record_crc({head, 32}, data) != h->crc) throw Error(Errc::Corrupt, where() + ": checksum mismatch");
  }

  // A block get_many reads from the log.
  struct Wanted {
    IndexKey key;
    Location loc;
    Bytes* out;
  };

  // Where each block is: the pending map under one lock, the index in one
  // transaction. Throws Error(NotFound) for a block the store lacks.
  void locate(std::vector<Wanted>& wanted) {
    std::vector<IndexKey> keys;
    std::vector<std::size_t> unindexed;
    {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < wanted.size(); i++) {
        if (auto it = pending.find(wanted[i].key); it != pending.end()) {
          wanted[i].loc = it->second;
        } else {
          keys.push_back(wanted[i].key);
          unindexed.push_back(i);
        }
      }
    }
    std::vector<std::optional<Location>> found(keys.size());
    index->find_many(keys, found);
    for (std::size_t j = 0; j < keys.size(); j++) {
      if (!found[j]) throw Error(Errc::NotFound, "no block " + keys[j].score.hex() + " of type " + std::to_string(keys[j].type.value));
      wanted[unindexed[j]].loc = *found[j];
    }
  }

  // Records side by side in one segment, read with one preadv straight into
  // their blocks and each checked. A run not yet wholly in the file (the
  // appender holds its end) is read record by record.
  void read_run(std::span<const Wanted> run) {
    const Location& first = run.front().loc;
    const Location& last = run.back().loc;
    const std::uint64_t end = last.pos.offset + detail::kRecordHeader + last.length;
    std::shared_ptr<Segment> seg;
    bool in_file;
    int direct = -1;
    {
      std::lock_guard lock(mu);
      if (first.pos.segment >= segments.size()) throw Error(Errc::Corrupt, "index points to missing segment " + std::to_string(first.pos.segment));
      seg = segments[first.pos.segment];
      in_file = seg != segments.back() || end <= appender->in_file_end();
      if (in_file && end - first.pos.offset >= kDirectRun) direct = direct_fd(*seg);
    }
    if (!in_file) {
      for (const auto& w : run) *w.out = *read_record(w.key, w.loc, false);
      return;
    }
    if (direct >= 0 && read_run_direct(*seg, direct, run, end)) return;
    std::vector<std::array<std::uint8_t, detail::kRecordHeader>> heads(run.size());
    std::vector<iovec> iov;
    iov.reserve(2 * run.size());
    for (std::size_t i = 0; i < run.size(); i++) {
      run[i].out->resize(run[i].loc.length);
      iov.push_back({heads[i].data(), detail::kRecordHeader});
      iov.push_back({run[i].out->data(), run[i].out->size()});
    }
    const auto want = static_cast<ssize_t>(end - first.pos.offset);
    ssize_t n;
    do n = ::preadv(seg->fd.get(), iov.data(), static_cast<int>(iov.size()), static_cast<off_t>(first.pos.offset));
    while (n < 0 && errno == EINTR);
    const std::string where = segment_name(seg->id) + " offset " + std::to_string(first.pos.offset);
    if (n < 0) throw_errno("read " + where);
    if (n != want) throw Error(Errc::Corrupt, where + ": records run past the end of the log");
    for (std::size_t i = 0; i < run.size(); i++) check_record(run[i].key, run[i].loc, heads[i].data(), *run[i].out, seg->id);
  }

  // With mu held: the segment's O_DIRECT descriptor, or -1 where the file
  // system has none.
  int direct_fd(Segment& seg) {
    if (!seg.direct_tried) {
      seg.direct_tried = true;
      seg.direct = Fd(::open((log_dir() / segment_name(seg.id)).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
    }
    return seg.direct.get();
  }

  // read_run around the page cache: the aligned span holding the run, read
  // into one buffer and copied out record by record. False if the file
  // system refused (the caller reads through the page cache instead).
  bool read_run_direct(const Segment& seg, int fd, std::span<const Wanted> run, std::uint64_t end) {
    const std::uint64_t from = run.front().loc.pos.offset / kAlign * kAlign;
    const std::uint64_t to = (end + kAlign - 1) / kAlign * kAlign;
    if (to - from > kDirectBuffer) return false;
    ReadBuffer buf(*this);
    std::uint64_t got = 0;
    while (from + got < end) {
      ssize_t n = ::pread(fd, buf.data() + got, to - from - got, static_cast<off_t>(from + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL) return false;
      if (n < 0) throw_errno("read " + segment_name(seg.id));
      got += static_cast<std::uint64_t>(n);
      if (n == 0 || got % kAlign != 0) break;  // the end of the file
    }
    if (from + got < end) throw Error(Errc::Corrupt, segment_name(seg.id) + " offset " + std::to_string(run.front().loc.pos.offset) + ": records run past the end of the log");
    for (const auto& w : run) {
      const std::uint8_t* head = buf.data() + (w.loc.pos.offset - from);
      const std::uint8_t* data = head + detail::kRecordHeader;
      w.out->assign(data, data + w.loc.length);
      check_record(w.key, w.loc, head, *w.out, seg.id);
    }
    return true;
  }

  // A direct-read buffer, taken from those kept (or made) and given back.
  class ReadBuffer {
   public:
    explicit ReadBuffer(Impl& impl) : impl_(impl) {
      std::lock_guard lock(impl_.buffers_mu);
      if (!impl_.read_buffers.empty()) {
        buf_ = std::move(impl_.read_buffers.back());
        impl_.read_buffers.pop_back();
        return;
      }
      buf_.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kAlign, kDirectBuffer)));
      if (!buf_) throw std::bad_alloc();
    }
    ~ReadBuffer() {
      std::lock_guard lock(impl_.buffers_mu);
      if (impl_.read_buffers.size() < kReadBuffersKept) impl_.read_buffers.push_back(std::move(buf_));
    }
    ReadBuffer(const ReadBuffer&) = delete;
    ReadBuffer& operator=(const ReadBuffer&) = delete;
    std::uint8_t* data() { return buf_.get(); }

   private:
    Impl& impl_;
    AlignedBuffer buf_;
  };

  // Appends a record unless the block is already stored; true if appended.
  bool append(const IndexKey& key, std::span<const std::uint8_t> data) {
    std::uint64_t seen;
    {
      std::lock_guard lock(mu);
      seen = checkpoints;
    }
    // The index lookup runs unlocked; the checkpoint count tells whether a
    // block could have moved from `pending` into the index meanwhile.
    if (maybe_indexed(key) && index->find(key)) return false;
    std::uint8_t head[detail::kRecordHeader];
    detail::encode_record_header(head, key.type, key.score, data);  // the checksum, outside the lock
    const std::size_t rec_size = detail::kRecordHeader + data.size();
    bool checkpoint;
    {
      std::unique_lock lock(mu);
      // A full buffer or a new segment waits for the write-out under way.
      landed.wait(lock, [&] { return !appender->in_flight() || !(appender->full() || needs_new_segment(rec_size)); });
      if (pending.contains(key)) return false;
      if (checkpoints != seen && maybe_indexed(key) && index->find(key)) return false;
      // Full with nothing out: a write-out the disk refused (it was full)
      // holds the bytes. It is tried again now, so that appends resume once
      // the disk takes bytes again rather than failing until a sync.
      if (appender->full() && !appender->in_flight()) {
        // Once the disk has room for it, or else every kRetryRefused: a disk
        // that stays full refuses each try, and the puts meanwhile fail at
        // once.
        const auto now = std::chrono::steady_clock::now();
        if (appender->refused() && (now >= retry_refused || disk_has_room(*segments.back()))) {
          start_flight();
          wait_landed(lock);
          if (appender->refused()) retry_refused = now + kRetryRefused;
        }
        if (!appender->refused()) start_flight();
      }
      Segment* seg = segments.back().get();
      if (needs_new_segment(rec_size)) {
        appender->stop();
        seg = &add_segment();
      }
      if (!appender->started()) appender->start(log_dir() / segment_name(seg->id), seg->fd.get(), seg->size);
      appender->append(head, data);
      pending.emplace(key, Location{{seg->id, seg->size}, static_cast<std::uint32_t>(data.size())});
      if (auto* b = bloom.load(std::memory_order_relaxed)) b->add(key);  // mu held: the current one
      bloom_keys++;
      seg->size += rec_size;
      if (appender->full()) start_flight();
      if (pending.size() >= kCheckpointEntries && !checkpoint_wanted) {
        checkpoint_wanted = true;
        checkpoint_cv.notify_one();
      }
      checkpoint = pending.size() >= 2 * kCheckpointEntries;  // the checkpointer fell behind
    }
    if (checkpoint) this->checkpoint();
    return true;
  }

  // Room on the disk of `seg` for a whole write-out.
  static bool disk_has_room(const Segment& seg) {
    struct statvfs st {};
    return ::fstatvfs(seg.fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize >= 2 * kWriteBuffer;
  }

  // With `mu` held: hands the flusher what the appender has to write (a
  // refused write-out first); none while one is out.
  void start_flight() {
    if (auto flight = appender->take()) {
      outgoing = flight;
      flights.notify_one();
    }
  }

  // With `mu` held: a record of `rec_size` bytes starts the next segment.
  bool needs_new_segment(std::size_t rec_size) const {
    const Segment& last = *segments.back();
    return last.size > 0 && last.size + rec_size > options.segment_size;
  }

  // With `lock` held: no write-out is under way.
  void wait_landed(std::unique_lock<std::mutex>& lock) {
    landed.wait(lock, [&] { return !appender->in_flight(); });
  }

  // With mu held: how far `seg` is in its file (the rest is the appender's).
  std::uint64_t in_file_end(const Segment& seg) const {
    return seg.id + 1 == segments.size() ? std::min(seg.size, appender->in_file_end()) : seg.size;
  }

  // With mu held: the segments with bytes in the file that no fdatasync has
  // covered yet, and how far each is to be covered. `everything`: the
  // appender has just written out all it held.
  using Unsynced = std::vector<std::pair<std::shared_ptr<Segment>, std::uint64_t>>;
  Unsynced unsynced(bool everything) const {
    Unsynced todo;
    for (const auto& seg : segments) {
      const std::uint64_t end = everything ? seg->size : in_file_end(*seg);
      if (seg->synced < end) todo.emplace_back(seg, end);
    }
    return todo;
  }

  // Without mu: fdatasyncs them, then records how far each is durable.
  // A failure is final: the kernel reports a lost write-back to one
  // fdatasync only, so once any sync (a background one included) has seen
  // one, no later sync can be believed.
  void fdatasync_all(const Unsynced& todo) {
    if (todo.empty()) return;
    for (const auto& [seg, end] : todo) {
      if (::fdatasync(seg->fd.get()) == 0) continue;
      const std::string why = segment_name(seg->id) + ": " + std::strerror(errno);
      std::lock_guard lock(mu);
      if (sync_failure.empty()) sync_failure = why;
      throw_sync_failure();
    }
    counters.log_syncs++;
    std::lock_guard lock(mu);
    for (const auto& [seg, end] : todo) seg->synced = std::max(seg->synced, end);
  }

  // With mu held.
  [[noreturn]] void throw_sync_failure() const {
    throw Error(Errc::Io, "the log could not be made durable (fdatasync " + sync_failure +
                              "); blocks written since the last good sync may be lost: check the disk, then reopen the store");
  }

  // With `lock` (on mu) held: writes out everything the appender holds and
  // returns what an fdatasync must then cover. Refuses once a sync failed.
  Unsynced write_out_all(std::unique_lock<std::mutex>& lock) {
    if (!sync_failure.empty()) throw_sync_failure();
    wait_landed(lock);
    appender->write_out(true);
    return unsynced(true);
  }

  // Every record appended so far reaches stable storage. The index is left
  // to the checkpoints: after a crash, open() indexes the log past them.
  void sync_log() {
    Unsynced todo;
    {
      std::unique_lock lock(mu);
      todo = write_out_all(lock);
    }
    fdatasync_all(todo);
  }

  // Commits the pending index entries, once the records they point at are
  // durable.
  void checkpoint() {
    std::lock_guard one(checkpoint_mu);
    std::vector<std::pair<IndexKey, Location>> batch;
    Unsynced todo;
    LogPos tail;
    {
      std::unique_lock lock(mu);
      todo = write_out_all(lock);  // after a failed sync the index must not point at what may be lost
      batch.assign(pending.begin(), pending.end());
      tail = LogPos{segments.back()->id, segments.back()->size};
    }
    counters.checkpoints++;
    fdatasync_all(todo);  // the data is durable before the index points at it
    if (batch.empty()) return;  // no record appended since the last one
    index->commit(batch, tail);
    std::lock_guard lock(mu);
    checkpoints++;
    for (const auto& [key, loc] : batch) {
      auto it = pending.find(key);
      if (it != pending.end() && it->second.pos == loc.pos) pending.erase(it);
    }
  }
};

LogStore::LogStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<LogStore> LogStore::open(const fs::path& dir, LogStoreOptions options) {
  auto impl = Impl::open(dir, std::move(options));
  impl->index_log(impl->index->tail(), false);
  impl->build_bloom(impl->options.bloom_keys ? impl->options.bloom_keys : 1 << 20);
  return std::unique_ptr<LogStore>(new LogStore(std::move(impl)));
}

LogStore::~LogStore() {
  try {
    impl_->checkpoint();
  } catch (const std::exception& e) {
    impl_->log(std::string("final sync failed: ") + e.what());
  }
}

Bytes LogStore::get(const Score& score, WireType type) { return *read(score, type, false); }

std::optional<Bytes> LogStore::get_now(const Score& score, WireType type) { return read(score, type, true); }

std::optional<Bytes> LogStore::read(const Score& score, WireType type, bool nowait) {
  if (score.is_zero()) return Bytes{};
  IndexKey key{score, type};
  try {
    auto loc = impl_->find(key);
    if (!loc) throw Error(Errc::NotFound, "no block " + score.hex() + " of type " + std::to_string(type.value));
    auto data = impl_->read_record(key, *loc, nowait);
    if (data) {
      impl_->counters.reads++;
      impl_->counters.read_bytes += data->size();
    }
    return data;
  } catch (const Error& e) {
    if (e.code() != Errc::NotFound) impl_->counters.errors++;
    throw;
  }
}

std::vector<Bytes> LogStore::get_many(std::span<const BlockKey> keys) {
  std::vector<Bytes> out(keys.size());
  std::vector<Impl::Wanted> wanted;
  for (std::size_t i = 0; i < keys.size(); i++) {
    if (keys[i].score.is_zero()) continue;
    wanted.push_back({keys[i], {}, &out[i]});
  }
  try {
    impl_->locate(wanted);
    std::sort(wanted.begin(), wanted.end(), [](const auto& a, const auto& b) { return a.loc.pos < b.loc.pos; });
    auto next_to = [](const Impl::Wanted& a, const Impl::Wanted& b) {
      return a.loc.pos.segment == b.loc.pos.segment && a.loc.pos.offset + detail::kRecordHeader + a.loc.length == b.loc.pos.offset;
    };
    for (std::size_t start = 0, end; start < wanted.size(); start = end) {
      std::uint64_t bytes = detail::kRecordHeader + wanted[start].loc.length;
      for (end = start + 1; end < wanted.size() && end - start < kRunRecords && bytes < kRunBytes && next_to(wanted[end - 1], wanted[end]); end++)
        bytes += detail::kRecordHeader + wanted[end].loc.length;
      impl_->read_run(std::span(wanted).subspan(start, end - start));
    }
  } catch (const Error& e) {
    if (e.code() != Errc::NotFound) impl_->counters.errors++;
    throw;
  }
  impl_->counters.reads += wanted.size();
  for (const auto& w : wanted) impl_->counters.read_bytes += w.loc.length;
  return out;
}

Score LogStore::put(WireType type, std::span<const std::uint8_t> data) {
  check_put(type, data.size());
  Score s = Score::of(data);
  add(type, data, s);
  return s;
}

void LogStore::put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) {
  check_put(type, data.size());
  add(type, data, score);
}

void LogStore::check_put(WireType type, std::size_t size) {
  try {
    check_block(type, size, impl_->options.max_block);
  } catch (const Error&) {
    impl_->counters.errors++;
    throw;
  }
}

void LogStore::add(WireType type, std::span<const std::uint8_t> data, const Score& score) {
  IndexKey key{score, type};
  try {
    impl_->counters.writes++;
    if (key.score.is_zero() || !impl_->append(key, data)) {
      impl_->counters.dedup_hits++;
    } else {
      impl_->counters.bytes_written += data.size();
    }
  } catch (const Error&) {
    impl_->counters.errors++;
    throw;
  }
}

bool LogStore::has(const Score& score, WireType type) {
  return score.is_zero() || impl_->find({score, type}).has_value();
}

void LogStore::sync() {
  impl_->sync_log();
  impl_->counters.syncs++;
}

LogStoreStats LogStore::stats() const {
  LogStoreStats s;
  {
    std::lock_guard lock(impl_->mu);
    s.blocks = impl_->pending.size();
    for (auto& seg : impl_->segments) s.log_bytes += seg->size;
  }
  s.blocks += impl_->index->count();
  auto& c = impl_->counters;
  s.bytes_written = c.bytes_written;
  s.writes = c.writes;
  s.dedup_hits = c.dedup_hits;
  s.reads = c.reads;
  s.read_bytes = c.read_bytes;
  s.errors = c.errors;
  s.syncs = c.syncs;
  s.log_syncs = c.log_syncs;
  s.checkpoints = c.checkpoints;
  return s;
}

CheckReport LogStore::check(const fs::path& dir) {
  if (!fs::exists(dir / "index")) throw Error(Errc::NotFound, "no store at " + dir.string());
  LogStoreOptions options;
  options.max_block = kMaxMessageSize;
  auto impl = Impl::open(dir, options);
  CheckReport report;
  std::unordered_map<IndexKey, Location, detail::IndexKeyHash> first;  // each block's first sound record
  for (auto& seg : impl->segments) {
    auto bad = scan_segment(*seg, 0, {options.max_block, true}, [&](const detail::RecordHeader& h, std::uint64_t off, auto) {
      report.records++;
      report.bytes += h.length;
      first.try_emplace(IndexKey{h.score, h.type}, Location{{seg->id, off}, h.length});
    });
    if (bad) report.problems.push_back(segment_name(seg->id) + " offset " + std::to_string(bad->first) + ": " + bad->second);
  }
  impl->index->for_each([&](const IndexKey& key, const Location& loc) {
    report.index_entries++;
    try {
      impl->read_record(key, loc, false);
    } catch (const Error& e) {
      report.problems.push_back("index entry " + key.score.hex() + "/" + std::to_string(key.type.value) + ": " + e.what());
    }
    first.erase(key);
  });
  auto tail = impl->index->tail();
  for (const auto& [key, loc] : first)
    if (loc.pos < tail) report.problems.push_back("block " + key.score.hex() + " in " + segment_name(loc.pos.segment) + " is missing from the index");
  return report;
}

void LogStore::for_each(const std::function<void(WireType, std::span<const std::uint8_t>)>& fn) {
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::unique_lock lock(impl_->mu);
    impl_->wait_landed(lock);
    impl_->appender->write_out(true);
    segs = impl_->segments;
  }
  for (auto& seg : segs) {
    auto bad = scan_segment(*seg, 0, {impl_->options.max_block, true},
                            [&](const detail::RecordHeader& h, std::uint64_t, std::span<const std::uint8_t> data) { fn(h.type, data); });
    if (bad) throw Error(Errc::Corrupt, segment_name(seg->id) + " offset " + std::to_string(bad->first) + ": " + bad->second);
  }
}

std::uint64_t LogStore::reindex(const fs::path& dir, LogStoreOptions options) {
  if (!fs::exists(dir / "log")) throw Error(Errc::NotFound, "no store at " + dir.string());
  auto impl = Impl::open(dir, std::move(options));
  return impl->index_log(LogPos{}, true);
}

}  // namespace vt
