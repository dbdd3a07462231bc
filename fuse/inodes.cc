#include "inodes.h"

#include <utility>

#include "vt/error.h"

namespace vtfs {

InodeTable::InodeTable(vt::VacFs::NodePtr root) {
  by_node_[root.get()] = FUSE_ROOT_ID;
  by_ino_[FUSE_ROOT_ID] = Inode{std::move(root), 1};  // the root is never forgotten
}

fuse_ino_t InodeTable::add_lookup(const vt::VacFs::NodePtr& node) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = by_node_.try_emplace(node.get(), 0);
  if (fresh) {
    it->second = next_++;
    by_ino_[it->second] = Inode{node, 0};
  }
  by_ino_[it->second].lookups++;
  return it->second;
}

vt::VacFs::NodePtr InodeTable::node(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) throw vt::Error(vt::Errc::NotFound, "stale inode " + std::to_string(ino));
  return it->second.node;
}

void InodeTable::forget(fuse_ino_t ino, std::uint64_t n) {
  if (ino == FUSE_ROOT_ID) return;
  std::lock_guard lock(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  it->second.lookups -= std::min(n, it->second.lookups);
  if (it->second.lookups == 0) {
    by_node_.erase(it->second.node.get());
    by_ino_.erase(it);
  }
}

fuse_ino_t InodeTable::find(const vt::VacFs::NodePtr& node) {
  std::lock_guard lock(mu_);
  auto it = by_node_.find(node.get());
  return it == by_node_.end() ? 0 : it->second;
}

std::size_t InodeTable::size() {
  std::lock_guard lock(mu_);
  return by_ino_.size();
}

bool InodeTable::open_cached(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return false;
  it->second.cached_opens++;
  return !std::exchange(it->second.pages_stale, false);  // not kept: the kernel drops them at this open
}

void InodeTable::release_cached(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  auto it = by_ino_.find(ino);
  if (it != by_ino_.end() && it->second.cached_opens > 0) it->second.cached_opens--;
}

bool InodeTable::wrote_direct(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return false;
  if (it->second.cached_opens > 0) return true;
  it->second.pages_stale = true;
  return false;
}

}  // namespace vtfs
