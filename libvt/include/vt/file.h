// File: one hash-tree stream (the seed's VtFile). A root file's entry is
// held in memory; a child's entry lives in its parent directory stream, so
// every change to a child rewrites the path up to the root, copy-on-write.
//
// All files opened from one root share a tree lock: reads take it shared,
// changes exclusively. Any number of threads may use the files of a tree.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "vt/cache.h"
#include "vt/entry.h"

namespace vt {

class File : public std::enable_shared_from_this<File> {
 public:
  // A root stream described by `entry` (e.g. from a VtRoot's dir block).
  static std::shared_ptr<File> open_root(Cache& cache, const Entry& entry);
  // A new, empty root stream.
  static std::shared_ptr<File> create_root(Cache& cache, std::uint32_t psize, std::uint32_t dsize, bool dir);

  // Children of a directory stream, by slot. open() throws Error(NotFound)
  // for an inactive slot; create() takes the first free slot.
  std::shared_ptr<File> open(std::uint32_t index);
  std::shared_ptr<File> create(std::uint32_t psize, std::uint32_t dsize, bool dir);
  // A new child slot holding an existing stream (moving it between
  // directories of one tree); the slot's own gen is kept.
  std::shared_ptr<File> adopt(const Entry& entry);
  // Frees this file's slot (bumping its gen) and its unwritten blocks.
  void remove();
  // Moves this stream into directory stream `dir` of the same tree: a new
  // slot there, the old one freed, in one step. This handle (and handles
  // opened below it) stay valid, so readers and writers are not disturbed.
  void move_to(const std::shared_ptr<File>& dir);
  // Slots in a directory stream (active or not).
  std::uint32_t entry_count();

  std::uint32_t index();  // the slot in the parent; changes with move_to
  bool is_root() const { return parent_ == nullptr; }
  Entry entry();  // current; its score may be local
  std::uint64_t size();

  // How a reader will use what it reads. `once`: it will not ask for these
  // bytes again soon (a FUSE read, whose pages the kernel keeps; an
  // extraction), so the data blocks it reads to their end leave the cache
  // at once. A long read then neither grows the cache (fresh memory costs a
  // fault per page) nor evicts blocks others use.
  enum class Reuse { likely, once };
  // Reads up to out.size() bytes at `offset`; fewer at the end of the stream.
  std::size_t read(std::uint64_t offset, std::span<std::uint8_t> out, Reuse reuse = Reuse::likely);
  // Writes, growing the stream (and its tree) as needed. Throws
  // Error(TooBig) past 2^48-1 bytes. A writer appending has the data blocks
  // it completes written behind it and dropped from the cache once stored.
  // Past the dirty high-water mark the tree is written back; once unwritten
  // blocks fill the cache's whole budget because the store refuses them,
  // writes fail with the store's error, changing nothing, so that memory
  // stays bounded. What is held stays for a later flush.
  void write(std::uint64_t offset, std::span<const std::uint8_t> data);
  // Copies `len` bytes of `src` (a stream of this tree) at `off_in` to
  // `off_out` by sharing its stored blocks, so nothing new is stored; only
  // blocks not written yet are copied. Returns false, changing nothing,
  // where the ranges do not allow it: the offsets must lie on block
  // boundaries, the bytes within `src`, the ranges apart if `src` is this
  // stream, and a last partial block must end `src` and land at or past
  // this stream's end.
  bool share_range(File& src, std::uint64_t off_in, std::uint64_t off_out, std::uint64_t len);
  // Grows (holes read as zeros) or shrinks (the tail is zeroed and the
  // tree made as shallow as the size allows).
  void set_size(std::uint64_t size);
  // Grows to `size` if the stream is shorter, in one step (a writer
  // meanwhile cannot be cut short); true if it grew.
  bool extend(std::uint64_t size);
  // Zeroes `len` bytes at `offset` (within the stream; the size stays):
  // whole blocks and subtrees become holes, which store nothing.
  void zero_range(std::uint64_t offset, std::uint64_t len);

  // Starts writing every unwritten block of a data stream whose writer is
  // done, as write() does for the spans an appending writer completes: the
  // stream's entry gets its real score now, and a later wait (a flush, or a
  // write-behind once a few MiB are unconfirmed) confirms the blocks and
  // drops them from the cache.
  void write_behind();
  // Writes every unwritten block of this stream (and of streams below it,
  // for directories) to the store bottom-up and returns the new entry, with
  // a real score. On failure nothing changes and the error is thrown.
  Entry flush();
  // The score of data block `bn` (zero score for holes; maybe local).
  Score block_score(std::uint64_t bn);
  // lseek(2)'s SEEK_DATA and SEEK_HOLE: the first offset at or after
  // `offset` that holds data, or that lies in a hole (the end counts as
  // one). Holes are whole data blocks of the zero score. std::nullopt at
  // or past the end, and from seek_data when only holes follow.
  std::optional<std::uint64_t> seek_data(std::uint64_t offset);
  std::optional<std::uint64_t> seek_hole(std::uint64_t offset);
  // About how many bytes the stream's blocks take: its size, less the
  // holes that the pointer blocks above level 1 show (subtrees of the zero
  // score, each psize/20 data blocks or more). Reads those pointer blocks
  // only: one block for streams up to (psize/20)^2 data blocks.
  std::uint64_t allocated();
  // Starts fetching the stream's top block (all of a one-block stream), so
  // that a reader going through many small files gets them in batches.
  void prefetch();

 private:
  struct Tree;
  File(std::shared_ptr<Tree> tree, std::shared_ptr<File> parent, std::uint32_t index, std::uint32_t gen);

  // The *_locked functions expect the tree lock held.
  Entry entry_locked();
  void set_entry_locked(const Entry& e);
  Entry read_entry_locked(std::uint32_t index);
  void write_entry_locked(std::uint32_t index, const Entry& e);
  std::uint32_t entry_count_locked();
  std::optional<std::uint64_t> seek(std::uint64_t offset, bool hole);  // seek_data, seek_hole
  std::size_t read_locked(std::uint64_t offset, std::span<std::uint8_t> out, Reuse reuse = Reuse::likely);
  Entry write_locked(std::uint64_t offset, std::span<const std::uint8_t> data);  // the new entry
  void set_size_locked(std::uint64_t size);
  Entry flush_locked();
  void write_back_locked();  // when dirty bytes pass the high-water mark; throws
  void write_behind_locked(const Entry& e, std::uint64_t offset, std::size_t n);
  void write_span_behind(const Entry& e, std::uint64_t first_block);  // tree lock held
  void collect_spans_locked(std::size_t out);
  // Waits for the blocks written behind; throws if they may not be stored.
  void settle_behind_locked();
  void start_behind_locked();  // settles if enough is held; takes the mark
  void hold_behind_locked(BlockPtr b);
  std::shared_ptr<File> create_locked(const Entry& e);
  void free_slot_locked(bool free_blocks);
  void check_live() const;

  std::shared_ptr<Tree> tree_;
  std::shared_ptr<File> parent_;
  std::uint32_t index_ = 0;
  std::uint32_t gen_ = 0;  // of the slot when opened: a reused slot is another stream
  bool removed_ = false;
  // Directory streams: no free slot below this one (as far as this handle
  // knows), so creating many children is not quadratic. Tree lock held.
  std::uint32_t free_hint_ = 0;
};

}  // namespace vt
