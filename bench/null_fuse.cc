// null_fuse: a FUSE filesystem that keeps names and attributes and throws
// every byte away, answering each request at once. What copying into it
// costs is what the kernel's FUSE round trips alone cost on this machine:
// the floor under any FUSE filesystem's copy-in (fuse_bench reports it).
//
//   null_fuse [-f] [-s] MOUNTPOINT
#include <fuse3/fuse_lowlevel.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

struct Tree {
  std::mutex mu;
  std::map<std::pair<fuse_ino_t, std::string>, fuse_ino_t> names;
  std::unordered_map<fuse_ino_t, struct stat> attrs{{FUSE_ROOT_ID, {.st_ino = FUSE_ROOT_ID, .st_nlink = 2, .st_mode = S_IFDIR | 0755}}};
  fuse_ino_t next = FUSE_ROOT_ID + 1;
};

Tree& tree(fuse_req_t req) { return *static_cast<Tree*>(fuse_req_userdata(req)); }

fuse_entry_param entry(const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = e.entry_timeout = 3600;
  return e;
}

// A new name; the kernel asks only for names it has not seen.
fuse_entry_param add(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Tree& t = tree(req);
  std::lock_guard lock(t.mu);
  struct stat st {};
  st.st_ino = t.next++;
  st.st_mode = mode;
  st.st_nlink = S_ISDIR(mode) ? 2 : 1;
  t.attrs[st.st_ino] = st;
  t.names[{parent, name}] = st.st_ino;
  return entry(st);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Tree& t = tree(req);
  std::lock_guard lock(t.mu);
  auto it = t.names.find({parent, name});
  fuse_entry_param e{};
  e.entry_timeout = 3600;  // a negative entry, cached
  if (it != t.names.end()) e = entry(t.attrs[it->second]);
  fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Tree& t = tree(req);
  std::lock_guard lock(t.mu);
  fuse_reply_attr(req, &t.attrs[ino], 3600);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* in, int to_set, fuse_file_info*) {
  Tree& t = tree(req);
  std::lock_guard lock(t.mu);
  struct stat& st = t.attrs[ino];
  if (to_set & FUSE_SET_ATTR_MODE) st.st_mode = (st.st_mode & S_IFMT) | (in->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_SIZE) st.st_size = in->st_size;
  fuse_reply_attr(req, &st, 3600);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  fuse_entry_param e = add(req, parent, name, S_IFDIR | mode);
  fuse_reply_entry(req, &e);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  fuse_entry_param e = add(req, parent, name, S_IFREG | mode);
  fi->direct_io = 1;  // as vtfs opens files written only
  fuse_reply_create(req, &e, fi);
}

void op_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t, fuse_file_info*) { fuse_reply_write(req, fuse_buf_size(in)); }
void op_setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, std::size_t, int) { fuse_reply_err(req, 0); }
void op_getxattr(fuse_req_t req, fuse_ino_t, const char*, std::size_t) { fuse_reply_err(req, ENODATA); }
void op_removexattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, ENODATA); }
void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
void op_forget(fuse_req_t req, fuse_ino_t, std::uint64_t) { fuse_reply_none(req); }

}  // namespace

int main(int argc, char** argv) {
  fuse_lowlevel_ops ops{};
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.mkdir = op_mkdir;
  ops.create = op_create;
  ops.write_buf = op_write_buf;
  ops.setxattr = op_setxattr;
  ops.getxattr = op_getxattr;
  ops.removexattr = op_removexattr;
  ops.release = op_release;
  ops.forget = op_forget;  // no flush, no fsync: ENOSYS, which the kernel then stops sending
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  fuse_cmdline_opts opts{};
  if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) return 2;
  Tree t;
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &t);
  if (!se || fuse_session_mount(se, opts.mountpoint) != 0) return 1;
  fuse_set_signal_handlers(se);
  fuse_daemonize(opts.foreground);
  int rc;
  if (opts.singlethread) {
    rc = fuse_session_loop(se);
  } else {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 16);  // as vtfs
    fuse_loop_cfg_set_idle_threads(cfg, 8);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  fuse_remove_signal_handlers(se);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  free(opts.mountpoint);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}
