// The inode table: FUSE inode numbers <-> VacFs nodes, counted by the
// kernel's lookups (mergerfs/passthrough_hp style). O(1) both ways.
#pragma once

#include <fuse3/fuse_lowlevel.h>

#include <mutex>
#include <unordered_map>

#include "vt/vacfs.h"

namespace vtfs {

class InodeTable {
 public:
  explicit InodeTable(vt::VacFs::NodePtr root);

  // The node's inode, created if needed; counts one kernel lookup.
  fuse_ino_t add_lookup(const vt::VacFs::NodePtr& node);
  // Throws vt::Error(NotFound) for an inode the kernel forgot.
  vt::VacFs::NodePtr node(fuse_ino_t ino);
  void forget(fuse_ino_t ino, std::uint64_t n);
  // The inode a node has, or 0.
  fuse_ino_t find(const vt::VacFs::NodePtr& node);
  std::size_t size();

  // What the kernel may cache of a file's pages, for files also written
  // with direct I/O, which bypasses that cache (see op_create). A cached
  // open says whether the kernel may keep the pages it has; a direct write
  // says whether a cached opener needs the written range dropped now.
  bool open_cached(fuse_ino_t ino);
  void release_cached(fuse_ino_t ino);
  bool wrote_direct(fuse_ino_t ino);

 private:
  struct Inode {
    vt::VacFs::NodePtr node;
    std::uint64_t lookups = 0;
    std::uint32_t cached_opens = 0;
    bool pages_stale = false;  // written directly while no cached open was live
  };
  std::mutex mu_;
  std::unordered_map<fuse_ino_t, Inode> by_ino_;
  std::unordered_map<const vt::VacFs::Node*, fuse_ino_t> by_node_;
  fuse_ino_t next_ = FUSE_ROOT_ID + 1;
};

}  // namespace vtfs
