// VacFs: a vac archive as a tree of files and directories (FORMATS.md §8),
// read and changed in place, copy-on-write. The API the FUSE daemon and the
// vt tools use. Thread-safe.
//
// Each directory's entries are loaded into an in-memory name index when
// first used; its meta stream is rewritten (sorted, magic 0x5656fc7a) only
// when it changed, at sync(). Indexes nobody uses are dropped again once
// many nodes are held (set_node_limit), so walking a huge archive does not
// keep all of it in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vt/cache.h"
#include "vt/direntry.h"
#include "vt/file.h"
#include "vt/sink.h"
#include "vt/root.h"

namespace vt {

class VacFs {
 public:
  struct Node;
  using NodePtr = std::shared_ptr<Node>;

  // Opens the archive a VtRoot names (including fossil's extra level).
  // Throws Error(NotFound) for an unknown score, Error(Corrupt) for a root
  // that is not a vac archive.
  static std::unique_ptr<VacFs> open(Cache& cache, const Score& root);
  // A new, empty archive (nothing is written until sync()).
  static std::unique_ptr<VacFs> create(Cache& cache, std::uint32_t blocksize = 8192, const std::string& name = "");
  ~VacFs();

  NodePtr root();

  static constexpr std::size_t kDefaultNodeLimit = std::size_t{1} << 15;
  // Past `limit` nodes held in directory indexes, the next directory loaded
  // first drops the indexes of directories unchanged since the last sync
  // none of whose entries is held elsewhere (by a caller, an open file, a
  // loaded subdirectory). A node a caller holds is never replaced: lookups
  // keep returning it. Indexes in use stay, whatever their number.
  void set_node_limit(std::size_t limit);
  std::size_t nodes_held() const;
  // The score of the archive as last opened or synced (zero for a new one).
  Score score() const;
  std::uint32_t blocksize() const;

  DirEntry stat(const NodePtr& node);
  std::uint64_t size(const NodePtr& node);
  // nullptr when absent. Throws Error(Invalid) when `dir` is not a directory.
  NodePtr lookup(const NodePtr& dir, const std::string& name);
  // The entries of a directory, sorted by name.
  std::vector<DirEntry> list(const NodePtr& dir);
  // Reads a file's bytes as a reader that will not come back for them
  // (File::Reuse::once): data blocks read to their end leave the cache.
  std::size_t read(const NodePtr& file, std::uint64_t offset, std::span<std::uint8_t> out);
  // lseek(2)'s SEEK_DATA (`data`) or SEEK_HOLE in a file: see File::seek_data.
  std::optional<std::uint64_t> seek(const NodePtr& file, std::uint64_t offset, bool data);
  // About how many bytes a file's blocks take: see File::allocated.
  std::uint64_t allocated(const NodePtr& file);
  // Starts fetching the first blocks of a file about to be read (see
  // File::prefetch); nothing for other kinds of node. Never throws: a
  // broken file is reported by the read that follows.
  void prefetch(const NodePtr& file);
  std::string readlink(const NodePtr& link);
  NodePtr parent(const NodePtr& node);

  // Creates a file, directory (kModeDir), symlink (kModeLink, `target`),
  // fifo (kModeNamedPipe) or device (kModeDevice, posix.rdev) named
  // meta.elem. Stream slots and qid are assigned here. Throws Error(Invalid)
  // if the name exists.
  NodePtr create(const NodePtr& dir, DirEntry meta, const std::string& target = "");
  // Creates a file whose contents are an existing stream of the same store
  // (incremental archiving: an unchanged file is not read again, or one
  // written by sink()).
  NodePtr create_from(const NodePtr& dir, DirEntry meta, const Entry& stream);
  // A sink for a new file's contents, shaped as this archive's files are:
  // writing a whole file front to back, it goes straight to the store.
  Sink sink();
  // The entries of a node's streams: data (or dir) and, for directories, meta.
  std::pair<Entry, std::optional<Entry>> streams(const NodePtr& node);
  void write(const NodePtr& file, std::uint64_t offset, std::span<const std::uint8_t> data);
  void truncate(const NodePtr& file, std::uint64_t size);
  // Grows a file to `size` if it is shorter (File::extend).
  void extend(const NodePtr& file, std::uint64_t size);
  // Zeroes a range of a file, making holes of whole blocks (File::zero_range).
  void zero_range(const NodePtr& file, std::uint64_t offset, std::uint64_t len);
  // Copies `len` bytes of file `from` at `off_in` into `to` at `off_out`
  // by sharing stored blocks (File::share_range): false, with nothing
  // done, where the ranges do not allow it.
  bool share(const NodePtr& from, std::uint64_t off_in, const NodePtr& to, std::uint64_t off_out, std::uint64_t len);
  // A writer is done with a file: its new blocks start on their way to the
  // store (File::write_behind), so they neither wait for the next sync nor
  // stay in the cache.
  void write_behind(const NodePtr& file);
  // Replaces the metadata a user can change: mode bits below the type,
  // owners, times, mcount, xattrs. The name, slots and qid stay.
  void set_meta(const NodePtr& node, const DirEntry& meta);
  // Removes a name; a directory must be empty (Error(Invalid) otherwise).
  // Open nodes stay readable until released.
  void remove(const NodePtr& dir, const std::string& name);
  enum class RenameMode { Replace, NoReplace, Exchange };
  void rename(const NodePtr& from_dir, const std::string& from, const NodePtr& to_dir, const std::string& to,
              RenameMode mode = RenameMode::Replace);

  // Writes everything changed, a new VtRoot whose prev is the last root, and
  // syncs the store; returns the new score. With no changes since the last
  // sync it returns the same score and writes nothing.
  Score sync();

 private:
  VacFs() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vt
