#include "vt/vacfs.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "vt/error.h"
#include "vt/message.h"
#include "vt/metablock.h"

namespace vt {

struct VacFs::Node {
  NodePtr parent;  // null for the root
  DirEntry de;
  std::shared_ptr<File> data;  // file contents, or a directory's dir stream; opened lazily
  std::shared_ptr<File> meta;  // a directory's meta stream
  bool loaded = false;         // children read from the meta stream
  std::map<std::string, NodePtr> children;
  bool removed = false;
  bool dirty = false;  // listed in VacFs::Impl::dirty

  // An unlinked node keeps its streams while open; they go with it.
  ~Node() {
    if (!removed) return;
    try {
      if (data) data->remove();
      if (meta) meta->remove();
    } catch (const Error&) {
    }
  }
};

namespace {

constexpr std::uint64_t kMaxLinkSize = 65536;

std::uint32_t pointer_size(std::uint32_t blocksize) { return blocksize / kScoreSize * kScoreSize; }

std::uint32_t now() { return static_cast<std::uint32_t>(std::time(nullptr)); }

// The contents changed: mtime and ctime become now, nanoseconds too (stale
// ones could put the time up to a second in the future).
void stamp_change(DirEntry& de) {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  de.mtime = de.ctime = static_cast<std::uint32_t>(t.tv_sec);
  if (de.posix) de.posix->mtime_ns = de.posix->ctime_ns = static_cast<std::uint32_t>(t.tv_nsec);
  de.mcount++;
}

}  // namespace

struct VacFs::Impl {
  explicit Impl(Cache& c) : cache(c) {}
  // A node holds its parent and a directory its children: the tree is
  // taken apart here, node by node, or each node would keep the others
  // alive (and freeing a deep chain at once would recurse as deep).
  ~Impl() {
    std::vector<NodePtr> todo{root};
    while (!todo.empty()) {
      NodePtr n = std::move(todo.back());
      todo.pop_back();
      if (!n) continue;
      for (auto& [name, kid] : n->children) todo.push_back(std::move(kid));
      n->children.clear();
      n->parent.reset();
    }
  }
  Cache& cache;
  std::mutex mu;
  std::shared_ptr<File> top;       // the three-entry stream a VtRoot points at
  std::shared_ptr<File> root_meta;  // entry 2: the root's own DirEntry
  NodePtr root;
  Root vtroot;
  Score score = Score::zero();
  std::uint64_t max_qid = 0;
  bool changed = false;
  // Nodes listed in loaded directories, and the count past which the next
  // sweep runs.
  std::size_t held = 0;
  std::size_t node_limit = kDefaultNodeLimit;
  std::size_t next_sweep = kDefaultNodeLimit;
  // Directories whose meta stream must be rewritten, each once (its
  // `dirty` flag). A flag and a list, not a set: every setattr and setxattr
  // marks a directory, and a set's insert took a quarter to a third of
  // their CPU.
  std::vector<NodePtr> dirty;

  std::uint32_t bs() const { return vtroot.blocksize; }

  void touch(const NodePtr& dir) {
    if (!dir->dirty) {
      dir->dirty = true;
      dirty.push_back(dir);
    }
    changed = true;
  }

  // A file's data stream. mu held.
  std::shared_ptr<File> data_of(const NodePtr& n) {
    if (n->de.is_dir()) throw Error(Errc::IsDir, "'" + n->de.elem + "' is a directory");
    ensure_streams(*n);
    return n->data;
  }

  // A file's data stream, for use outside mu (a File has its own lock).
  std::shared_ptr<File> data_outside(const NodePtr& n) {
    std::lock_guard lock(mu);
    return data_of(n);
  }

  // A file's contents changed: its times, and its directory's listing. mu held.
  void contents_changed(const NodePtr& n) {
    stamp_change(n->de);
    if (n->parent && !n->removed) touch(n->parent);
  }

  // Runs `op` on a file's data stream (outside mu: it takes the tree's own
  // lock) and stamps the change, unless `op` returns false: nothing changed.
  template <typename Op>
  void change_data(const NodePtr& n, Op op) {
    std::shared_ptr<File> f = data_outside(n);
    if constexpr (std::is_same_v<decltype(op(*f)), bool>) {
      if (!op(*f)) return;
    } else {
      op(*f);
    }
    std::lock_guard lock(mu);
    contents_changed(n);
  }

  // Opens a node's streams from its parent's dir stream, checking gens.
  void ensure_streams(Node& n) {
    if (n.data) return;
    Node& p = *n.parent;
    ensure_streams(p);
    auto open = [&](std::uint32_t slot, std::uint32_t gen, bool dir, const char* what) {
      std::shared_ptr<File> f;
      try {
        f = p.data->open(slot);
      } catch (const Error& e) {
        throw Error(Errc::Corrupt, "'" + n.de.elem + "': " + what + " stream " + std::to_string(slot) + ": " + e.what());
      }
      Entry e = f->entry();
      if (e.gen != gen) throw Error(Errc::Corrupt, "'" + n.de.elem + "': " + what + " stream gen " + std::to_string(e.gen) + ", want " + std::to_string(gen));
      if (e.is_dir() != dir) throw Error(Errc::Corrupt, "'" + n.de.elem + "': " + what + " stream has the wrong type");
      return f;
    };
    bool dir = n.de.is_dir();
    auto d = open(n.de.entry, n.de.gen, dir, dir ? "directory" : "data");
    if (dir) n.meta = open(n.de.mentry, n.de.mgen, false, "meta");
    n.data = d;
  }

  void load(const NodePtr& n) {
    if (!n->de.is_dir()) throw Error(Errc::NotDir, "'" + n->de.elem + "' is not a directory");
    // Before the listing is used, never after: the caller is about to use
    // it (a sweep may drop it, to be read again here).
    if (held > next_sweep) {
      held = sweep();
      next_sweep = std::max(node_limit, 2 * held);  // what stays is in use: no sweep per load
    }
    if (n->loaded) return;
    ensure_streams(*n);
    Entry me = n->meta->entry();
    Bytes block(me.dsize);
    std::map<std::string, NodePtr> kids;
    for (std::uint64_t off = 0; off < me.size; off += me.dsize) {
      std::fill(block.begin(), block.end(), 0);
      n->meta->read(off, block);
      MetaBlock mb = MetaBlock::parse(block);
      for (std::size_t i = 0; i < mb.size(); i++) {
        DirEntry de = mb.entry(i);
        try {
          check_elem(de.elem);  // hostile archives: no '/', '.', '..'
        } catch (const Error& e) {
          throw Error(Errc::Corrupt, "directory '" + n->de.elem + "': " + e.what());
        }
        if (kids.contains(de.elem)) throw Error(Errc::Corrupt, "directory '" + n->de.elem + "' lists '" + de.elem + "' twice");
        max_qid = std::max(max_qid, de.qid);
        auto kid = std::make_shared<Node>();
        kid->parent = n;
        kid->de = std::move(de);
        kids.emplace(kid->de.elem, kid);
      }
    }
    held += kids.size();
    n->children = std::move(kids);
    n->loaded = true;
  }

  // A listing can go when its directory is unchanged since the last sync
  // and no entry of it is held outside it (a caller, an open file, a
  // listing below): then nothing can tell a reloaded node from the old one.
  static bool can_drop(const Node& dir) {
    if (!dir.loaded || dir.dirty || dir.removed) return false;
    for (const auto& [name, kid] : dir.children)
      if (kid.use_count() != 1) return false;
    return true;
  }

  // Drops the listings that can go, deepest first (a dropped listing frees
  // its parent's entry), and returns how many nodes stay listed. Each
  // operation on a directory holds the node it works on, so no listing an
  // operation uses goes from under it.
  std::size_t sweep() {
    std::size_t kept = 0;
    std::vector<std::pair<Node*, bool>> todo{{root.get(), false}};  // (dir, its subdirectories pushed)
    while (!todo.empty()) {
      const auto [d, expanded] = todo.back();
      if (!expanded) {
        todo.back().second = true;
        for (const auto& [name, kid] : d->children)
          if (kid->loaded) todo.emplace_back(kid.get(), false);
        continue;
      }
      todo.pop_back();
      if (can_drop(*d)) {
        d->children.clear();
        d->loaded = false;
      } else {
        kept += d->children.size();
      }
    }
    return kept;
  }

  NodePtr child(const NodePtr& dir, const std::string& name) {
    load(dir);
    auto it = dir->children.find(name);
    if (it == dir->children.end()) throw Error(Errc::NotFound, "no file '" + name + "'");
    return it->second;
  }

  // Moves a node's streams into another directory's dir stream. The handles
  // move with them: open files below, and readers, carry on undisturbed.
  void move_streams(const NodePtr& n, const NodePtr& to) {
    ensure_streams(*n);
    ensure_streams(*to);
    n->data->move_to(to->data);
    if (n->de.is_dir()) {
      try {
        n->meta->move_to(to->data);
      } catch (...) {
        n->data->move_to(n->parent->data);  // both streams stay where they were
        throw;
      }
      n->de.mentry = n->meta->index();
      n->de.mgen = n->meta->entry().gen;
    }
    n->de.entry = n->data->index();
    n->de.gen = n->data->entry().gen;
  }

  void unlink(const NodePtr& dir, const NodePtr& n) {
    if (n->de.is_dir()) {
      load(n);
      if (!n->children.empty()) throw Error(Errc::NotEmpty, "directory '" + n->de.elem + "' is not empty");
    }
    ensure_streams(*n);
    dir->children.erase(n->de.elem);
    held--;
    if (std::exchange(n->dirty, false)) std::erase(dirty, n);
    n->removed = true;
    touch(dir);
  }

  void rewrite_meta(const NodePtr& dir) {
    ensure_streams(*dir);
    std::vector<DirEntry> entries;
    for (auto& [name, kid] : dir->children) entries.push_back(kid->de);
    std::uint32_t dsize = dir->meta->entry().dsize;
    auto blocks = MetaBlock::build(std::move(entries), dsize);
    for (std::size_t i = 0; i < blocks.size(); i++) dir->meta->write(std::uint64_t(i) * dsize, blocks[i]);
    dir->meta->set_size(std::uint64_t(blocks.size()) * dsize);
  }

  void write_root_meta() {
    DirEntry de = root->de;
    de.qid_space = std::pair<std::uint64_t, std::uint64_t>{0, max_qid};
    auto blocks = MetaBlock::build({de}, bs());
    root_meta->write(0, blocks.at(0));
    root_meta->set_size(bs());
  }
};

VacFs::~VacFs() = default;

std::unique_ptr<VacFs> VacFs::open(Cache& cache, const Score& score) {
  std::unique_ptr<VacFs> fs(new VacFs);
  fs->impl_ = std::make_unique<Impl>(cache);
  Impl& m = *fs->impl_;
  Root r = Root::unpack(cache.global(score, kRootType, kRootSize)->data);
  if (r.type != "vac") throw Error(Errc::Corrupt, "root " + score.hex() + " is a '" + r.type + "' archive, not vac");
  m.vtroot = r;
  m.score = score;
  Entry te;
  te.psize = std::min<std::uint32_t>(r.blocksize / kEntrySize * kEntrySize, 60000);
  te.dsize = r.blocksize;
  te.type = kDirType;
  te.flags = kEntryActive;
  te.size = 3 * kEntrySize;
  te.score = r.score;
  m.top = File::open_root(cache, te);
  for (int level = 0;; level++) {  // fossil adds one level: entry 2 inactive
    if (m.top->entry_count() < 3) throw Error(Errc::Corrupt, "archive root block holds fewer than 3 entries");
    try {
      m.root_meta = m.top->open(2);
      break;
    } catch (const Error& e) {
      if (e.code() != Errc::NotFound || level > 0) throw;
      m.top = m.top->open(0);
    }
  }
  auto root = std::make_shared<Node>();
  root->data = m.top->open(0);
  root->meta = m.top->open(1);
  if (!root->data->entry().is_dir()) throw Error(Errc::Corrupt, "archive root directory stream is not a directory");
  Bytes block(m.root_meta->entry().dsize);
  m.root_meta->read(0, block);
  MetaBlock mb = MetaBlock::parse(block);
  if (mb.size() < 1) throw Error(Errc::Corrupt, "archive has no root directory entry");
  root->de = mb.entry(0);
  root->de.mode |= kModeDir;
  if (root->de.qid_space) m.max_qid = root->de.qid_space->second;
  m.max_qid = std::max(m.max_qid, root->de.qid);
  m.root = root;
  return fs;
}

std::unique_ptr<VacFs> VacFs::create(Cache& cache, std::uint32_t blocksize, const std::string& name) {
  if (blocksize < 512 || blocksize > kDefaultMaxBlockSize) throw Error(Errc::Invalid, "block size must be 512.." + std::to_string(kDefaultMaxBlockSize));
  std::unique_ptr<VacFs> fs(new VacFs);
  fs->impl_ = std::make_unique<Impl>(cache);
  Impl& m = *fs->impl_;
  m.vtroot.name = name;
  m.vtroot.type = "vac";
  m.vtroot.blocksize = blocksize;
  std::uint32_t ps = pointer_size(blocksize);
  m.top = File::create_root(cache, std::min<std::uint32_t>(blocksize / kEntrySize * kEntrySize, 60000), blocksize, true);
  auto root = std::make_shared<Node>();
  root->data = m.top->create(ps, blocksize, true);
  root->meta = m.top->create(ps, blocksize, false);
  m.root_meta = m.top->create(ps, blocksize, false);
  root->loaded = true;
  root->de.elem = "/";
  root->de.mentry = 1;
  root->de.uid = root->de.gid = root->de.mid = "vtfs";
  root->de.mtime = root->de.ctime = root->de.atime = now();
  root->de.mode = kModeDir | 0755;
  m.root = root;
  m.touch(root);
  return fs;
}

VacFs::NodePtr VacFs::root() { return impl_->root; }

void VacFs::set_node_limit(std::size_t limit) {
  std::lock_guard lock(impl_->mu);
  impl_->node_limit = impl_->next_sweep = limit;
}

std::size_t VacFs::nodes_held() const {
  std::lock_guard lock(impl_->mu);
  return impl_->held;
}

Score VacFs::score() const {
  std::lock_guard lock(impl_->mu);
  return impl_->score;
}

std::uint32_t VacFs::blocksize() const { return impl_->bs(); }

DirEntry VacFs::stat(const NodePtr& n) {
  std::lock_guard lock(impl_->mu);
  return n->de;
}

std::uint64_t VacFs::size(const NodePtr& n) {
  std::shared_ptr<File> f;
  {
    std::lock_guard lock(impl_->mu);
    if (n->de.is_dir()) return 0;
    impl_->ensure_streams(*n);
    f = n->data;
  }
  return f->size();
}

VacFs::NodePtr VacFs::lookup(const NodePtr& dir, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  impl_->load(dir);
  auto it = dir->children.find(name);
  return it == dir->children.end() ? nullptr : it->second;
}

std::vector<DirEntry> VacFs::list(const NodePtr& dir) {
  std::lock_guard lock(impl_->mu);
  impl_->load(dir);
  std::vector<DirEntry> out;
  out.reserve(dir->children.size());
  for (auto& [name, kid] : dir->children) out.push_back(kid->de);
  return out;
}

VacFs::NodePtr VacFs::parent(const NodePtr& n) {
  std::lock_guard lock(impl_->mu);
  return n->parent ? n->parent : n;
}

std::size_t VacFs::read(const NodePtr& n, std::uint64_t offset, std::span<std::uint8_t> out) {
  std::shared_ptr<File> f = impl_->data_outside(n);
  return f->read(offset, out, File::Reuse::once);
}

std::optional<std::uint64_t> VacFs::seek(const NodePtr& n, std::uint64_t offset, bool data) {
  std::shared_ptr<File> f = impl_->data_outside(n);
  return data ? f->seek_data(offset) : f->seek_hole(offset);
}

std::uint64_t VacFs::allocated(const NodePtr& n) {
  std::shared_ptr<File> f = impl_->data_outside(n);
  return f->allocated();
}

void VacFs::prefetch(const NodePtr& n) {
  try {
    std::shared_ptr<File> f;
    {
      std::lock_guard lock(impl_->mu);
      if (!n->de.is_file() || n->removed) return;
      impl_->ensure_streams(*n);
      f = n->data;
    }
    f->prefetch();
  } catch (const Error&) {
    // Only a hint: the read that follows reports what is wrong, in order.
  }
}

std::string VacFs::readlink(const NodePtr& n) {
  if (!(stat(n).mode & kModeLink)) throw Error(Errc::Invalid, "'" + n->de.elem + "' is not a symbolic link");
  std::uint64_t sz = size(n);
  if (sz > kMaxLinkSize) throw Error(Errc::Corrupt, "symbolic link target of " + std::to_string(sz) + " bytes");
  std::string target(sz, '\0');
  read(n, 0, {reinterpret_cast<std::uint8_t*>(target.data()), target.size()});
  return target;
}

VacFs::NodePtr VacFs::create(const NodePtr& dir, DirEntry meta, const std::string& target) {
  check_elem(meta.elem);
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  m.load(dir);
  if (dir->removed) throw Error(Errc::NotFound, "directory was removed");
  if (dir->children.contains(meta.elem)) throw Error(Errc::Exists, "'" + meta.elem + "' exists");
  m.ensure_streams(*dir);
  bool is_dir = meta.mode & kModeDir;
  std::uint32_t ps = pointer_size(m.bs());
  auto node = std::make_shared<Node>();
  node->parent = dir;
  node->data = dir->data->create(ps, m.bs(), is_dir);
  meta.entry = node->data->index();
  meta.gen = node->data->entry().gen;
  meta.mentry = meta.mgen = 0;
  if (is_dir) {
    node->meta = dir->data->create(ps, m.bs(), false);
    meta.mentry = node->meta->index();
    meta.mgen = node->meta->entry().gen;
    node->loaded = true;
  }
  meta.qid = ++m.max_qid;
  if (meta.mid.empty()) meta.mid = meta.uid;
  if (!target.empty()) node->data->write(0, {reinterpret_cast<const std::uint8_t*>(target.data()), target.size()});
  node->de = std::move(meta);
  dir->children.emplace(node->de.elem, node);
  m.held++;
  m.touch(dir);
  if (is_dir) m.touch(node);  // an empty meta stream is fine, but write one
  return node;
}

VacFs::NodePtr VacFs::create_from(const NodePtr& dir, DirEntry meta, const Entry& stream) {
  check_elem(meta.elem);
  if (meta.mode & kModeDir) throw Error(Errc::Invalid, "create_from makes files, not directories");
  if (stream.is_dir() || stream.score.is_local()) throw Error(Errc::Invalid, "not a stored data stream");
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  m.load(dir);
  if (dir->children.contains(meta.elem)) throw Error(Errc::Exists, "'" + meta.elem + "' exists");
  m.ensure_streams(*dir);
  auto node = std::make_shared<Node>();
  node->parent = dir;
  node->data = dir->data->adopt(stream);
  meta.entry = node->data->index();
  meta.gen = node->data->entry().gen;
  meta.mentry = meta.mgen = 0;
  meta.qid = ++m.max_qid;
  if (meta.mid.empty()) meta.mid = meta.uid;
  node->de = std::move(meta);
  dir->children.emplace(node->de.elem, node);
  m.held++;
  m.touch(dir);
  return node;
}

Sink VacFs::sink() { return Sink(impl_->cache, pointer_size(impl_->bs()), impl_->bs()); }

std::pair<Entry, std::optional<Entry>> VacFs::streams(const NodePtr& n) {
  std::shared_ptr<File> d, me;
  {
    std::lock_guard lock(impl_->mu);
    impl_->ensure_streams(*n);
    d = n->data;
    me = n->meta;
  }
  return {d->entry(), me ? std::optional<Entry>(me->entry()) : std::nullopt};
}

void VacFs::write(const NodePtr& n, std::uint64_t offset, std::span<const std::uint8_t> data) {
  impl_->change_data(n, [&](File& f) { f.write(offset, data); });
}

void VacFs::write_behind(const NodePtr& n) {
  std::shared_ptr<File> f;
  {
    std::lock_guard lock(impl_->mu);
    if (n->de.is_dir()) return;
    f = n->data;  // not opened: not written either
  }
  if (f) f->write_behind();
}

void VacFs::truncate(const NodePtr& n, std::uint64_t size) {
  impl_->change_data(n, [&](File& f) { f.set_size(size); });
}

void VacFs::extend(const NodePtr& n, std::uint64_t size) {
  impl_->change_data(n, [&](File& f) { return f.extend(size); });
}

void VacFs::zero_range(const NodePtr& n, std::uint64_t offset, std::uint64_t len) {
  impl_->change_data(n, [&](File& f) { f.zero_range(offset, len); });
}

bool VacFs::share(const NodePtr& from, std::uint64_t off_in, const NodePtr& to, std::uint64_t off_out, std::uint64_t len) {
  std::shared_ptr<File> src, dst;
  {
    std::lock_guard lock(impl_->mu);
    src = impl_->data_of(from);
    dst = impl_->data_of(to);
  }
  if (!dst->share_range(*src, off_in, off_out, len)) return false;
  std::lock_guard lock(impl_->mu);
  impl_->contents_changed(to);
  return true;
}

void VacFs::set_meta(const NodePtr& n, const DirEntry& meta) {
  std::lock_guard lock(impl_->mu);
  constexpr std::uint32_t kTypeBits = kModeDir | kModeLink | kModeDevice | kModeNamedPipe;
  DirEntry& de = n->de;
  de.mode = (de.mode & kTypeBits) | (meta.mode & ~kTypeBits);
  de.uid = meta.uid;
  de.gid = meta.gid;
  de.mid = meta.mid;
  de.mtime = meta.mtime;
  de.mcount = meta.mcount;
  de.atime = meta.atime;
  de.ctime = meta.ctime;
  de.posix = meta.posix;
  de.xattrs = meta.xattrs;
  if (n == impl_->root)
    impl_->changed = true;
  else if (n->parent && !n->removed)
    impl_->touch(n->parent);
}

void VacFs::remove(const NodePtr& dir, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  impl_->unlink(dir, impl_->child(dir, name));
}

void VacFs::rename(const NodePtr& from_dir, const std::string& from, const NodePtr& to_dir, const std::string& to, RenameMode mode) {
  check_elem(to);
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  NodePtr src = m.child(from_dir, from);
  m.load(to_dir);
  for (NodePtr p = to_dir; p; p = p->parent)
    if (p == src) throw Error(Errc::Invalid, "cannot move '" + from + "' inside itself");
  auto it = to_dir->children.find(to);
  NodePtr dst = it == to_dir->children.end() ? nullptr : it->second;
  if (dst == src) return;
  auto place = [&](const NodePtr& n, const NodePtr& old_dir, const NodePtr& new_dir, const std::string& name) {
    if (old_dir != new_dir) {
      m.move_streams(n, new_dir);
      n->parent = new_dir;
    }
    n->de.elem = name;
    new_dir->children[name] = n;
    m.touch(old_dir);
    m.touch(new_dir);
  };
  switch (mode) {
    case RenameMode::NoReplace:
      if (dst) throw Error(Errc::Exists, "'" + to + "' exists");
      break;
    case RenameMode::Exchange:
      if (!dst) throw Error(Errc::NotFound, "no file '" + to + "'");
      for (NodePtr p = from_dir; p; p = p->parent)
        if (p == dst) throw Error(Errc::Invalid, "cannot move '" + to + "' inside itself");
      from_dir->children.erase(from);
      to_dir->children.erase(to);
      place(src, from_dir, to_dir, to);
      place(dst, to_dir, from_dir, from);
      return;
    case RenameMode::Replace:
      if (dst) {
        if (src->de.is_dir() && !dst->de.is_dir()) throw Error(Errc::NotDir, "'" + to + "' is not a directory");
        if (!src->de.is_dir() && dst->de.is_dir()) throw Error(Errc::IsDir, "'" + to + "' is a directory");
        m.unlink(to_dir, dst);
      }
      break;
  }
  from_dir->children.erase(from);
  place(src, from_dir, to_dir, to);
}

Score VacFs::sync() {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  if (!m.changed) return m.score;
  for (const auto& dir : m.dirty)
    if (!dir->removed) m.rewrite_meta(dir);
  m.write_root_meta();
  Entry te = m.top->flush();
  Root r = m.vtroot;
  r.score = te.score;
  r.prev = m.score;
  const std::uint64_t mark = m.cache.write_mark();
  Score s = m.cache.write(kRootType, r.pack());
  m.cache.wait_writes(mark);
  m.cache.store().sync();
  m.score = s;
  m.vtroot = r;
  m.changed = false;
  for (const auto& dir : m.dirty) dir->dirty = false;
  m.dirty.clear();
  return s;
}

}  // namespace vt
