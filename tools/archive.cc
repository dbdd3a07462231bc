// vt vac, unvac, ls, cat, log, check: archives on a venti server.
#include <fcntl.h>
#include <fmt/core.h>
#include <fnmatch.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>

#include "chunk_writer.h"
#include "cli.h"
#include "vt/client.h"
#include "vt/error.h"
#include "vt/posix.h"
#include "vt/vacfs.h"
#include "vt_cmds.h"

namespace vt::cli {

namespace {

namespace fs = std::filesystem;
constexpr std::size_t kChunk = tools::ChunkWriter::kChunk;
// Files from this size on are written out by a ChunkWriter.
constexpr std::uint64_t kLargeFile = 4 << 20;
// How many files ahead vt unvac asks for.
constexpr std::size_t kPrefetchFiles = 64;

// A store and a cache for one command.
struct Session {
  explicit Session(const std::string& address) : client(Client::connect(address)), cache(*client) {}
  std::unique_ptr<Client> client;
  Cache cache;
};

// "vac:SCORE[/a/b]" -> the score and the path elements.
std::pair<Score, std::vector<std::string>> parse_target(const std::string& text) {
  auto colon = text.find(':');
  auto slash = text.find('/', colon == std::string::npos ? 0 : colon);
  Score s = Score::parse(text.substr(0, slash));
  std::vector<std::string> path;
  if (slash != std::string::npos) {
    std::string rest = text.substr(slash + 1);
    for (std::size_t at = 0; at <= rest.size();) {
      auto next = rest.find('/', at);
      std::string elem = rest.substr(at, next == std::string::npos ? std::string::npos : next - at);
      if (!elem.empty()) path.push_back(elem);
      if (next == std::string::npos) break;
      at = next + 1;
    }
  }
  return {s, path};
}

VacFs::NodePtr resolve(VacFs& vfs, const std::vector<std::string>& path) {
  auto n = vfs.root();
  std::string walked;
  for (const auto& elem : path) {
    walked += "/" + elem;
    auto next = vfs.lookup(n, elem);
    if (!next) throw Error(Errc::NotFound, "no file " + walked + " in the archive");
    n = next;
  }
  return n;
}

// An archive opened at "vac:SCORE[/path]": the session, the tree, the node.
struct Target {
  Target(const std::string& address, const std::string& text) : session(address) {
    auto [score, path] = parse_target(text);
    vfs = VacFs::open(session.cache, score);
    node = resolve(*vfs, path);
  }
  Session session;
  std::unique_ptr<VacFs> vfs;
  VacFs::NodePtr node;
};

DirEntry meta_from_stat(const struct stat& st, const std::string& name, vt::IdNames& names) {
  DirEntry d;
  d.elem = name;
  d.mode = vac_perms(st.st_mode);
  if (S_ISDIR(st.st_mode)) d.mode |= kModeDir;
  if (S_ISLNK(st.st_mode)) d.mode |= kModeLink;
  if (S_ISFIFO(st.st_mode)) d.mode |= kModeNamedPipe;
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) d.mode |= kModeDevice;
  d.uid = d.mid = names.user(st.st_uid);
  d.gid = names.group(st.st_gid);
  d.mtime = static_cast<std::uint32_t>(st.st_mtim.tv_sec);
  d.atime = static_cast<std::uint32_t>(st.st_atim.tv_sec);
  d.ctime = static_cast<std::uint32_t>(st.st_ctim.tv_sec);
  d.posix = PosixInfo{static_cast<std::uint32_t>(st.st_mtim.tv_nsec), static_cast<std::uint32_t>(st.st_atim.tv_nsec),
                      static_cast<std::uint32_t>(st.st_ctim.tv_nsec), st.st_uid, st.st_gid, st.st_rdev};
  return d;
}

struct Progress {
  bool on = false;
  std::uint64_t files = 0, bytes = 0, reused = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), last = start;

  void tick(bool final = false) {
    if (!on) return;
    auto now = std::chrono::steady_clock::now();
    if (!final && now - last < std::chrono::milliseconds(200)) return;
    last = now;
    double s = std::chrono::duration<double>(now - start).count();
    fmt::print(stderr, "\r{} files, {:.1f} MB, {:.0f} MB/s, {} unchanged{}", files, bytes / 1e6, s > 0 ? bytes / 1e6 / s : 0.0, reused,
               final ? "\n" : "");
  }
};

class Archiver {
 public:
  Archiver(VacFs& out, VacFs* old, std::vector<std::string> excludes, Progress& p) : out_(out), old_(old), excludes_(std::move(excludes)), progress_(p) {}

  // Adds `path` as `name` in `dir`; `prev` is the same name in the old archive.
  void add(const fs::path& path, const VacFs::NodePtr& dir, const std::string& name, const VacFs::NodePtr& prev) {
    struct stat st;
    if (::lstat(path.c_str(), &st) < 0) throw_errno("stat " + path.string());
    DirEntry meta = meta_from_stat(st, name, names_);
    progress_.files++;
    if (S_ISDIR(st.st_mode)) {
      auto node = out_.create(dir, meta);
      std::vector<std::string> names = list_dir(path);
      for (const auto& n : names) {
        fs::path child = path / n;
        if (excluded(child, n)) continue;
        VacFs::NodePtr old_child = prev && old_->stat(prev).is_dir() ? old_->lookup(prev, n) : nullptr;
        add(child, node, n, old_child);
      }
    } else if (S_ISREG(st.st_mode)) {
      if (prev && unchanged(prev, st)) {
        out_.create_from(dir, meta, old_->streams(prev).first);
        progress_.reused++;
      } else {
        out_.create_from(dir, meta, copy_file(path, static_cast<std::uint64_t>(st.st_size)));
      }
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0) throw_errno("readlink " + path.string());
      target.resize(static_cast<std::size_t>(n));
      out_.create(dir, meta, target);
    } else if (S_ISFIFO(st.st_mode)) {
      out_.create(dir, meta);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      out_.create(dir, meta, fmt::format("{} {} {}", S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev)));
    } else {
      fmt::print(stderr, "vt: skipping {}: sockets cannot be archived\n", path.string());
    }
    progress_.tick();
  }

  bool excluded(const fs::path& path, const std::string& name) const {
    for (const auto& pat : excludes_)
      if (fnmatch(pat.c_str(), name.c_str(), 0) == 0 || fnmatch(pat.c_str(), path.c_str(), 0) == 0) return true;
    return false;
  }

 private:
  bool unchanged(const VacFs::NodePtr& prev, const struct stat& st) {
    DirEntry d = old_->stat(prev);
    if (!d.is_file()) return false;
    if (d.mtime != static_cast<std::uint32_t>(st.st_mtim.tv_sec)) return false;
    if (d.posix && d.posix->mtime_ns != static_cast<std::uint32_t>(st.st_mtim.tv_nsec)) return false;
    return old_->size(prev) == static_cast<std::uint64_t>(st.st_size);
  }

  // Reading must not change what it records: O_NOATIME where permitted
  // (owner or root), so a second run sees the same atimes.
  static int open_quietly(const fs::path& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_NOATIME | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
    return fd;
  }

  static std::vector<std::string> list_dir(const fs::path& path) {
    int fd = open_quietly(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) throw_errno("open " + path.string());
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      throw_errno("open " + path.string());
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  // The file's contents as a new stream, sent to the store as they are read.
  Entry copy_file(const fs::path& path, std::uint64_t size) {
    detail_fd fd(open_quietly(path, O_RDONLY));
    if (fd.fd < 0) throw_errno("open " + path.string());
    buf_.resize(kChunk);
    Sink sink = out_.sink();
    std::uint64_t off = 0;
    for (;;) {
      ssize_t n = ::pread(fd.fd, buf_.data(), buf_.size(), static_cast<off_t>(off));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("read " + path.string());
      }
      if (n == 0) break;
      sink.write(std::span(buf_).first(static_cast<std::size_t>(n)));  // zero blocks become holes
      off += static_cast<std::uint64_t>(n);
      progress_.bytes += static_cast<std::uint64_t>(n);
      progress_.tick();
    }
    if (off != size) fmt::print(stderr, "vt: {} changed size while being read\n", path.string());
    return sink.finish();
  }

  struct detail_fd {
    int fd;
    explicit detail_fd(int f) : fd(f) {}
    ~detail_fd() {
      if (fd >= 0) ::close(fd);
    }
  };

  VacFs& out_;
  VacFs* old_;
  std::vector<std::string> excludes_;
  Progress& progress_;
  vt::IdNames names_;
  Bytes buf_;
};

}  // namespace

int cmd_vac(const Args& a) {
  if (a.words.empty()) throw UsageError("vac wants at least one path");
  std::uint32_t bs = a.has('b') ? static_cast<std::uint32_t>(std::stoul(a.flag('b'))) : 8192;
  Session s(a.address);
  std::unique_ptr<VacFs> old;
  if (a.has('d')) old = VacFs::open(s.cache, parse_target(a.flag('d')).first);
  std::string name = a.has('n') ? a.flag('n') : a.words.front();
  if (name.size() >= kRootStringSize) name.resize(kRootStringSize - 1);
  auto out = VacFs::create(s.cache, bs, name);
  Progress progress;
  progress.on = !a.has('q') && ::isatty(2);
  Archiver ar(*out, old.get(), a.has('x') ? a.flags.at('x') : std::vector<std::string>{}, progress);
  std::uint32_t newest = 0;
  for (const auto& p : a.words) {
    fs::path path(p);
    std::string base = path.lexically_normal().filename().string();
    if (base.empty() || base == "." || base == "..") base = fs::absolute(path).lexically_normal().filename().string();
    if (base.empty()) base = "root";
    VacFs::NodePtr prev = old ? old->lookup(old->root(), base) : nullptr;
    ar.add(path, out->root(), base, prev);
    newest = std::max(newest, out->stat(out->lookup(out->root(), base)).mtime);
  }
  // The root's times come from what it holds, so equal trees give equal scores.
  DirEntry rm = out->stat(out->root());
  rm.mtime = rm.ctime = rm.atime = newest;
  out->set_meta(out->root(), rm);
  Score score = out->sync();
  progress.tick(true);
  fmt::print("vac:{}\n", score.hex());
  return 0;
}

namespace {

std::string mode_string(const DirEntry& d) {
  std::string m = d.is_dir() ? "d" : (d.mode & kModeLink) ? "l" : (d.mode & kModeNamedPipe) ? "p" : (d.mode & kModeDevice) ? "c" : "-";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; i++) m += (d.mode & (0400u >> i)) ? rwx[i] : '-';
  return m;
}

std::string time_string(std::uint32_t t) {
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

class Extractor {
 public:
  Extractor(VacFs& vfs, bool root_user) : vfs_(vfs), root_user_(root_user) {}

  // Extracts `node` as `name` inside the open directory `dirfd`. Every
  // step is relative to a directory descriptor and never follows a link,
  // so nothing is written outside the target directory.
  void extract(int dirfd, const VacFs::NodePtr& node, const std::string& name, const std::string& shown) {
    DirEntry d = vfs_.stat(node);
    check_elem(name);
    if (d.is_dir()) {
      // Owner-writable while filling it; finish() sets the real mode.
      if (::mkdirat(dirfd, name.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir " + shown);
      int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) throw_errno("open directory " + shown);
      Fd guard(fd);
      const auto kids = vfs_.list(node);
      std::vector<VacFs::NodePtr> nodes;
      nodes.reserve(kids.size());
      for (const auto& kid : kids) nodes.push_back(vfs_.lookup(node, kid.elem));
      // The files ahead are asked for early: small files then arrive in
      // batches rather than one round trip each.
      std::size_t asked = 0;
      for (std::size_t i = 0; i < kids.size(); i++) {
        for (; asked < kids.size() && asked < i + kPrefetchFiles; asked++)
          if (nodes[asked]) vfs_.prefetch(nodes[asked]);
        extract(fd, nodes[i], kids[i].elem, shown + "/" + kids[i].elem);
      }
      finish(fd, d, shown, 0);
      return;
    }
    if (d.mode & kModeLink) {
      std::string target = vfs_.readlink(node);
      if (::symlinkat(target.c_str(), dirfd, name.c_str()) < 0 &&
          !(errno == EEXIST && ::unlinkat(dirfd, name.c_str(), 0) == 0 && ::symlinkat(target.c_str(), dirfd, name.c_str()) == 0))
        throw_errno("symlink " + shown);
      times_owner_link(dirfd, name, d);
      return;
    }
    if (d.mode & kModeNamedPipe) {
      if (::mkfifoat(dirfd, name.c_str(), unix_mode(d)) < 0 &&
          !(errno == EEXIST && ::unlinkat(dirfd, name.c_str(), 0) == 0 && ::mkfifoat(dirfd, name.c_str(), unix_mode(d)) == 0))
        throw_errno("mkfifo " + shown);
    } else if (d.mode & kModeDevice) {
      dev_t rdev = d.posix ? static_cast<dev_t>(d.posix->rdev) : 0;
      std::string spec(static_cast<std::size_t>(std::min<std::uint64_t>(vfs_.size(node), 64)), '\0');
      vfs_.read(node, 0, {reinterpret_cast<std::uint8_t*>(spec.data()), spec.size()});
      char kind = spec.empty() ? 'c' : spec[0];
      ::unlinkat(dirfd, name.c_str(), 0);
      if (::mknodat(dirfd, name.c_str(), (kind == 'b' ? S_IFBLK : S_IFCHR) | unix_mode(d), rdev) < 0) {
        fmt::print(stderr, "vt: cannot make device {}: {}\n", shown, std::strerror(errno));
        return;
      }
    } else {
      // Created with its final mode (umask is 0 here): no chmod needed.
      int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, unix_mode(d));
      if (fd < 0 && errno == EEXIST && ::unlinkat(dirfd, name.c_str(), 0) == 0)  // replace what is in the way
        fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, unix_mode(d));
      if (fd < 0) throw_errno("create " + shown);
      Fd guard(fd);
      copy_out(fd, node, shown);
      finish(fd, d, shown, unix_mode(d));
      return;
    }
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      Fd guard(fd);
      finish(fd, d, shown, unix_mode(d));
    }
  }

 private:
  struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() { ::close(fd); }
  };

  static mode_t unix_mode(const DirEntry& d) { return unix_perms(d.mode); }

  void copy_out(int fd, const VacFs::NodePtr& node, const std::string& shown) {
    std::uint64_t size = vfs_.size(node), end = 0;  // end: where written data stops
    const bool large = size >= kLargeFile;
    if (large) writer_.start(fd, shown);
    // However this ends, no write may outlive the caller's fd.
    struct Drain {
      tools::ChunkWriter* w;
      ~Drain() {
        if (!w) return;
        try {
          w->finish();
        } catch (...) {
        }
      }
    } drain{large ? &writer_ : nullptr};
    buf_.resize(kChunk);
    for (std::uint64_t off = 0; off < size;) {
      std::span<std::uint8_t> buf = large ? writer_.buffer() : std::span(buf_);
      std::size_t n = vfs_.read(node, off, buf.first(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - off))));
      if (n == 0) break;
      std::span<const std::uint8_t> chunk(buf.data(), n);
      if (!std::all_of(chunk.begin(), chunk.end(), [](auto b) { return b == 0; })) {  // zero runs stay holes
        if (large) {
          writer_.write(off, n);
        } else {
          for (std::size_t done = 0; done < n;) {
            ssize_t w = ::pwrite(fd, chunk.data() + done, n - done, static_cast<off_t>(off + done));
            if (w < 0) {
              if (errno == EINTR) continue;
              throw_errno("write " + shown);
            }
            done += static_cast<std::size_t>(w);
          }
        }
        end = off + n;
      }
      off += n;
    }
    if (large) {
      drain.w = nullptr;
      writer_.finish();
    }
    // A hole at the end has to be made by size.
    if (end < size && ::ftruncate(fd, static_cast<off_t>(size)) < 0) throw_errno("truncate " + shown);
  }

  // Owner, mode (unless created with it already) and times; only the calls
  // that change something, since each costs a metadata update.
  void finish(int fd, const DirEntry& d, const std::string& shown, mode_t created) {
    if (root_user_ && d.posix && (d.posix->uid != ::geteuid() || d.posix->gid != ::getegid()))
      (void)::fchown(fd, d.posix->uid, d.posix->gid);
    mode_t mode = unix_mode(d);
    if (mode != created && ::fchmod(fd, mode) < 0 && errno != EPERM) throw_errno("chmod " + shown);
    timespec ts[2] = {{d.atime, d.posix ? long(d.posix->atime_ns) : 0}, {d.mtime, d.posix ? long(d.posix->mtime_ns) : 0}};
    (void)::futimens(fd, ts);
  }

  void times_owner_link(int dirfd, const std::string& name, const DirEntry& d) {
    if (root_user_ && d.posix) (void)::fchownat(dirfd, name.c_str(), d.posix->uid, d.posix->gid, AT_SYMLINK_NOFOLLOW);
    timespec ts[2] = {{d.atime, 0}, {d.mtime, d.posix ? long(d.posix->mtime_ns) : 0}};
    (void)::utimensat(dirfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  }

  VacFs& vfs_;
  bool root_user_;
  Bytes buf_;
  tools::ChunkWriter writer_;  // for large files
};

void list_tree(VacFs& vfs, const VacFs::NodePtr& dir, const std::string& prefix) {
  for (const auto& d : vfs.list(dir)) {
    std::string path = prefix + d.elem;
    fmt::print("{}{}\n", path, d.is_dir() ? "/" : "");
    if (d.is_dir()) list_tree(vfs, vfs.lookup(dir, d.elem), path + "/");
  }
}

}  // namespace

int cmd_unvac(const Args& a) {
  if (a.words.empty() || a.words.size() > 2) throw UsageError("unvac wants vac:score [dir]");
  Target t(a.address, a.words[0]);
  auto& vfs = t.vfs;
  auto& node = t.node;
  if (a.has('t')) {
    if (vfs->stat(node).is_dir()) list_tree(*vfs, node, "");
    else fmt::print("{}\n", vfs->stat(node).elem);
    return 0;
  }
  std::string dir = a.words.size() == 2 ? a.words[1] : ".";
  fs::create_directories(dir);
  int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) throw_errno("open " + dir);
  ::umask(0);  // files are created with their archived modes
  Extractor ex(*vfs, ::geteuid() == 0);
  try {
    if (vfs->stat(node).is_dir()) {
      for (const auto& kid : vfs->list(node)) ex.extract(dirfd, vfs->lookup(node, kid.elem), kid.elem, kid.elem);
    } else {
      ex.extract(dirfd, node, vfs->stat(node).elem, vfs->stat(node).elem);
    }
  } catch (...) {
    ::close(dirfd);
    throw;
  }
  ::close(dirfd);
  return 0;
}

int cmd_ls(const Args& a) {
  if (a.words.size() != 1) throw UsageError("ls wants vac:score[/path]");
  Target t(a.address, a.words[0]);
  auto& vfs = t.vfs;
  auto& node = t.node;
  std::vector<std::pair<DirEntry, VacFs::NodePtr>> rows;
  if (vfs->stat(node).is_dir())
    for (const auto& d : vfs->list(node)) rows.emplace_back(d, vfs->lookup(node, d.elem));
  else
    rows.emplace_back(vfs->stat(node), node);
  for (const auto& [d, n] : rows) {
    if (!a.has('l')) {
      fmt::print("{}{}\n", d.elem, d.is_dir() ? "/" : "");
      continue;
    }
    std::string name = d.elem;
    if (d.mode & kModeLink) name += " -> " + vfs->readlink(n);
    fmt::print("{} {:<8} {:<8} {:>12} {} {}\n", mode_string(d), d.uid, d.gid, vfs->size(n), time_string(d.mtime), name);
  }
  return 0;
}

int cmd_cat(const Args& a) {
  if (a.words.size() != 1) throw UsageError("cat wants vac:score/path");
  Target t(a.address, a.words[0]);
  auto& vfs = t.vfs;
  auto& node = t.node;
  Bytes buf(kChunk);
  for (std::uint64_t off = 0;;) {
    std::size_t n = vfs->read(node, off, buf);
    if (n == 0) break;
    write_all(1, std::span(buf).first(n));
    off += n;
  }
  return 0;
}

int cmd_log(const Args& a) {
  if (a.words.size() != 1) throw UsageError("log wants vac:score");
  Session s(a.address);
  Score score = parse_target(a.words[0]).first;
  for (int n = 0; n < 100000; n++) {
    Root r = Root::unpack(s.client->get(score, kWireRoot));
    std::string when = "-";
    try {
      auto vfs = VacFs::open(s.cache, score);
      when = time_string(vfs->stat(vfs->root()).mtime);
    } catch (const Error&) {
    }
    fmt::print("vac:{} {} {}\n", score.hex(), when, r.name);
    if (!r.has_prev()) return 0;
    score = r.prev;
  }
  throw Error(Errc::Corrupt, "the prev chain is longer than 100000 roots");
}

namespace {

struct CheckState {
  Cache& cache;
  std::uint64_t blocks = 0, bytes = 0, files = 0;
  std::vector<std::string> problems;
};

// Visits every stored block of a stream's tree (hashes are verified by the
// client as blocks arrive).
void check_stream(CheckState& st, const Entry& e, const std::string& where) {
  std::function<void(const Score&, int)> walk = [&](const Score& s, int level) {
    if (s.is_zero()) return;
    BlockType type = static_cast<BlockType>((e.is_dir() ? kDirType : kDataType) + level);
    BlockPtr b = st.cache.global(s, type, level ? e.psize : e.dsize);
    st.blocks++;
    st.bytes += b->data.size();
    if (level > 0)
      for (std::size_t i = 0; i < e.psize / kScoreSize; i++) walk(b->pointer(i), level - 1);
  };
  try {
    walk(e.score, e.depth());
  } catch (const Error& err) {
    if (st.problems.size() < 20) st.problems.push_back(where + ": " + err.what());
  }
}

void check_tree(CheckState& st, VacFs& vfs, const VacFs::NodePtr& node, const std::string& path) {
  try {
    auto [data, meta] = vfs.streams(node);
    check_stream(st, data, path);
    if (meta) check_stream(st, *meta, path + " (metadata)");
    st.files++;
    if (!vfs.stat(node).is_dir()) return;
    for (const auto& d : vfs.list(node)) check_tree(st, vfs, vfs.lookup(node, d.elem), path == "/" ? "/" + d.elem : path + "/" + d.elem);
  } catch (const Error& err) {
    if (st.problems.size() < 20) st.problems.push_back(path + ": " + err.what());
  }
}

}  // namespace

int cmd_check(const Args& a) {
  if (a.words.size() != 1) throw UsageError("check wants vac:score");
  Session s(a.address);
  auto vfs = VacFs::open(s.cache, parse_target(a.words[0]).first);
  CheckState st{s.cache};
  check_tree(st, *vfs, vfs->root(), "/");
  fmt::print("{} files, {} blocks, {} bytes checked\n", st.files, st.blocks, st.bytes);
  for (const auto& p : st.problems) fmt::print("problem: {}\n", p);
  return st.problems.empty() ? 0 : 1;
}

}  // namespace vt::cli
