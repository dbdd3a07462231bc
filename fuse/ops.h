// The FUSE low-level operations over a VacFs.
#pragma once

#include <fuse3/fuse_lowlevel.h>

#include <string>

#include "inodes.h"
#include "snapshot.h"
#include "vt/posix.h"
#include "vt/vacfs.h"

namespace vtfs {

struct Context {
  Context(vt::VacFs& v, Snapshots& s, bool ro) : vfs(v), inodes(v.root()), snaps(s), read_only(ro) {}
  vt::VacFs& vfs;
  InodeTable inodes;
  Snapshots& snaps;
  bool read_only;
  vt::IdNames names;
  double timeout = 3600.0;  // we are the only writer: the kernel may cache long
  fuse_session* session = nullptr;  // for the invalidations we send the kernel
  std::string store_dir;  // the embedded store's, whose disk statfs reports; empty for a server
};

const fuse_lowlevel_ops& operations();

}  // namespace vtfs
