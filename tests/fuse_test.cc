// vtfs through real FUSE mounts: copy in, edit, snapshot, remount, every file
// type and attribute, concurrency, a 2 GiB file in a small cache, kill -9,
// classic fixtures, failures at start and while mounted.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <fmt/core.h>

#include "data.h"
#include "fixtures.h"
#include "full_disk.h"
#include "fuse_fixture.h"
#include "vt/cache.h"
#include "vt/error.h"
#include "vt/memstore.h"
#include "vt/server.h"
#include "vt/vacfs.h"

using namespace vt;
using vt::test::Fuse;
using vt::test::Mount;
using vt::test::shell;
namespace fs = std::filesystem;

namespace {

// A source tree with some of everything.
void make_tree(const fs::path& t) {
  fs::create_directories(t / "sub" / "deeper");
  std::ofstream(t / "hello.txt") << "hello, venti\n";
  std::ofstream(t / "sub" / "deeper" / "note") << "deep\n";
  shell("head -c 3000000 /dev/urandom > '" + (t / "random.bin").string() + "'");
  shell("truncate -s 20M '" + (t / "sparse").string() + "'");
  fs::create_symlink("hello.txt", t / "link");
  fs::create_symlink("../missing", t / "dangling");
  for (int i = 0; i < 300; i++) std::ofstream(t / "sub" / ("f" + std::to_string(i))) << i;
  ::chmod((t / "hello.txt").c_str(), 0600);
}

std::string xattr(const std::string& path, const std::string& name) {
  char buf[256];
  ssize_t n = ::getxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<std::size_t>(n));
}

// Linux's xattr form of an ACL with only owner, group and other entries.
Bytes minimal_acl(mode_t mode) {
  Bytes b = {2, 0, 0, 0};
  for (auto [tag, perm] : {std::pair{1u, mode >> 6 & 7}, {4u, mode >> 3 & 7}, {0x20u, mode & 7}})
    b.insert(b.end(), {std::uint8_t(tag), 0, std::uint8_t(perm), 0, 0xff, 0xff, 0xff, 0xff});
  return b;
}

// Runs `f` in a child process with the given ids and no supplementary
// groups; returns what it returns (an errno, say), or -1 if it could not.
template <typename F>
int as_user(uid_t uid, gid_t gid, F f) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(255);
    ::_exit(f());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 255) return -1;
  return WEXITSTATUS(status);
}

int read_errno(const std::string& path) {
  char c;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0 || ::read(fd, &c, 1) < 0) return errno;
  ::close(fd);
  return 0;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

}  // namespace

TEST_F(Fuse, CopyInSnapshotAndRemountReadOnly) {
  make_tree(base / "src");
  std::string score;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cp -a '" + (base / "src").string() + "/.' " + mnt());
    same_trees((base / "src").string(), mnt());
    run("sync '" + mnt() + "/hello.txt'");  // fsync: a snapshot
    score = m.last_score();
    ASSERT_EQ(score.rfind("vac:", 0), 0u) << m.stderr_text();
    EXPECT_EQ(xattr(mnt(), "user.vtfs.score"), score);
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
    EXPECT_EQ(m.last_score(), score);  // nothing changed since: same score
  }
  Mount ro(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  same_trees((base / "src").string(), mnt());
  EXPECT_NE(shell("touch " + mnt() + "/new").status, 0);  // read-only
  EXPECT_EQ(ro.unmount(), 0);
}

// vtfs runs in "/" once mounted; paths given relative to where it started
// must still mean what they meant there.
TEST_F(Fuse, RelativePathsResolveWhereVtfsStarted) {
  std::string score;
  {
    Mount m(mnt(), "new", {"--store", "store", "--listen", "none", "--score-file", "score"}, base);
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("echo hi > " + mnt() + "/a && sync " + mnt() + "/a");
    score = m.last_score();
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
  }
  std::ifstream in(base / "score");
  std::string saved;
  in >> saved;
  EXPECT_EQ(saved, score);
  EXPECT_TRUE(fs::exists(base / "store" / "log"));
  Mount ro(mnt(), score, {"--store", "store", "--listen", "none", "-r"}, base);
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  EXPECT_EQ(shell("cat " + mnt() + "/a").out, "hi\n");
}

TEST_F(Fuse, EditsInPlaceMatchAReference) {
  fs::path ref = base / "ref";
  make_tree(ref);
  std::string score;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cp -a '" + ref.string() + "/.' " + mnt());
    for (const std::string& d : {ref.string(), mnt()}) {
      run("cd '" + d + "' && sed -i 's/venti/VENTI/' hello.txt && truncate -s 1000 random.bin && echo more >> sub/f1 && "
          "printf XYZ | dd of=sparse bs=1 seek=10000000 conv=notrunc status=none && echo over > sub/f2 && mv sub/f2 sub/f3 && "
          "rm -rf sub/deeper && mkdir -p a/b/c && echo x > a/b/c/y && mv a z && ln -sf random.bin link && "
          "echo hi > z/b/c/y && echo shorter > hello.txt && : > sub/f4 && cp sub/f7 sub/f250");  // open(O_TRUNC)
    }
    same_trees(ref.string(), mnt());
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
    score = m.last_score();
  }
  Mount again(mnt(), score, embedded());
  ASSERT_TRUE(again.mounted());
  same_trees(ref.string(), mnt());
}

TEST_F(Fuse, FileTypesAndAttributes) {
  std::string score;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cd " + mnt() + " && mkfifo pipe && mknod null c 1 3 && ln -s target sym && echo data > f && chown 1234:5678 f && chmod 4751 f && "
        "touch -d '2001-02-03 04:05:06.123456789' f && mkdir d && chmod 1777 d");
    ASSERT_EQ(::setxattr((mnt() + "/f").c_str(), "user.color", "blue", 4, 0), 0);
    ASSERT_EQ(::setxattr((mnt() + "/f").c_str(), "security.test", "lbl", 3, 0), 0);
    // No POSIX ACLs (but see MinimalAclIsAChmod), no SELinux labels.
    const Bytes acl = minimal_acl(0755);
    for (const char* name : {"system.posix_acl_access", "system.posix_acl_default", "security.selinux"}) {
      char buf[64];
      errno = 0;
      EXPECT_LT(::getxattr((mnt() + "/d").c_str(), name, buf, sizeof buf), 0) << name;
      EXPECT_EQ(errno, EOPNOTSUPP) << name;
      if (std::string(name) == "system.posix_acl_access") continue;
      errno = 0;
      EXPECT_NE(::setxattr((mnt() + "/d").c_str(), name, acl.data(), acl.size(), 0), 0) << name;
      EXPECT_EQ(errno, EOPNOTSUPP) << name;
    }
    EXPECT_NE(shell("ln " + mnt() + "/f " + mnt() + "/hard").status, 0);  // no hard links
    EXPECT_EQ(m.unmount(), 0);
    score = m.last_score();
  }
  Mount m(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(m.mounted());
  struct stat st;
  ASSERT_EQ(::lstat((mnt() + "/pipe").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(::lstat((mnt() + "/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(fs::read_symlink(mnt() + "/sym"), "target");
  ASSERT_EQ(::lstat((mnt() + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04751u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_size, 5);
  ASSERT_EQ(::lstat((mnt() + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_EQ(xattr(mnt() + "/f", "user.color"), "blue");
  EXPECT_EQ(xattr(mnt() + "/f", "security.test"), "lbl");  // other security.* names are kept
}

// A change to a file's metadata moves its ctime, and not its mtime, as on
// Linux's own filesystems: renames (both sides of an exchange) and
// extended attributes too. The times are kept in the archive.
TEST_F(Fuse, MetadataChangesMoveTheCtime) {
  auto times = [&](const std::string& name) {
    struct stat st {};
    EXPECT_EQ(::lstat((mnt() + "/" + name).c_str(), &st), 0) << name;
    return std::pair{st.st_mtim, st.st_ctim};
  };
  auto later = [](const timespec& a, const timespec& b) { return std::tie(a.tv_sec, a.tv_nsec) < std::tie(b.tv_sec, b.tv_nsec); };
  auto same = [](const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; };
  // Runs `change`, then checks `name`'s ctime moved and its mtime did not.
  auto expect_ctime_moves = [&](const std::string& what, const std::string& before, const std::string& after, auto change) {
    auto [m0, c0] = times(before);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    change();
    auto [m1, c1] = times(after);
    EXPECT_TRUE(later(c0, c1)) << what;
    EXPECT_TRUE(same(m0, m1)) << what;
  };
  std::string score;
  std::map<std::string, timespec> ctimes;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cd " + mnt() + " && mkdir d e && echo a > d/a && echo b > d/b && echo c > e/c");
    const std::string at = mnt() + "/";
    expect_ctime_moves("setxattr", "d/a", "d/a", [&] { ASSERT_EQ(::setxattr((at + "d/a").c_str(), "user.k", "v", 1, 0), 0); });
    expect_ctime_moves("removexattr", "d/a", "d/a", [&] { ASSERT_EQ(::removexattr((at + "d/a").c_str(), "user.k"), 0); });
    expect_ctime_moves("rename", "d/a", "e/a", [&] { ASSERT_EQ(::rename((at + "d/a").c_str(), (at + "e/a").c_str()), 0); });
    expect_ctime_moves("rename a directory", "d", "moved", [&] { ASSERT_EQ(::rename((at + "d").c_str(), (at + "moved").c_str()), 0); });
    auto exchange = [&] { ASSERT_EQ(::renameat2(AT_FDCWD, (at + "moved/b").c_str(), AT_FDCWD, (at + "e/c").c_str(), RENAME_EXCHANGE), 0); };
    auto c_before = times("e/c").second;
    expect_ctime_moves("exchange, one side", "moved/b", "e/c", exchange);
    EXPECT_TRUE(later(c_before, times("moved/b").second)) << "exchange, the other side";
    for (const char* name : {"e/a", "moved", "e/c", "moved/b"}) ctimes[name] = times(name).second;
    EXPECT_EQ(m.unmount(), 0);
    score = m.last_score();
  }
  Mount m(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  for (auto& [name, ctime] : ctimes) EXPECT_TRUE(same(times(name).second, ctime)) << name;
}

// Shared directories work as on other Linux filesystems: what is made in a
// setgid directory takes its group, and subdirectories its setgid bit.
TEST_F(Fuse, ASetgidDirectoryGivesItsGroup) {
  std::string score;
  const std::vector<std::string> made = {"g/f", "g/p", "g/l", "g/sub", "g/sub/f", "g/sub/deeper"};
  auto check = [&] {
    struct stat st;
    for (const auto& name : made) {
      ASSERT_EQ(::lstat((mnt() + "/" + name).c_str(), &st), 0) << name;
      EXPECT_EQ(st.st_gid, 1234u) << name;
      if (S_ISDIR(st.st_mode)) {
        EXPECT_TRUE(st.st_mode & S_ISGID) << name;
      }
    }
    ASSERT_EQ(::lstat((mnt() + "/plain/f").c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, ::getgid());
    ASSERT_EQ(::lstat((mnt() + "/plain/sub").c_str(), &st), 0);
    EXPECT_FALSE(st.st_mode & S_ISGID);
  };
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cd " + mnt() + " && mkdir g plain && chgrp 1234 g && chmod 2775 g && touch g/f plain/f && mkfifo g/p && ln -s f g/l && "
        "mkdir g/sub plain/sub && echo x > g/sub/f && mkdir g/sub/deeper");
    check();
    EXPECT_EQ(m.unmount(), 0);
    score = m.last_score();
  }
  Mount m(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  check();
}

// Programs take the file type from the listing when they can (find -type,
// ls --color, fts): it must be the type stat gives, or unknown, in plain
// listings too. The kernel lists with readdirplus first and asks for a
// plain listing past its first buffer (one page on Linux 6.1, up to 1 MiB
// on later kernels) when nothing was looked up in between: hence a large
// directory, freshly mounted.
TEST_F(Fuse, ListingsGiveEachEntrysType) {
  constexpr int kEach = 2000;
  std::string score;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    const std::string d = mnt() + "/d/";
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
    for (int i = 0; i < kEach; i++) {  // the kinds take turns in name order
      const std::string n = d + fmt::format("{:05}", i);
      ASSERT_EQ(::symlink("target", (n + "l").c_str()), 0);
      ASSERT_EQ(::mkfifo((n + "p").c_str(), 0644), 0);
      ASSERT_EQ(::mkdir((n + "s").c_str(), 0755), 0);
      ASSERT_EQ(::mknod((n + "f").c_str(), S_IFREG | 0644, 0), 0);
    }
    run("mknod " + d + "c c 1 3 && mknod " + d + "b b 7 0");
    EXPECT_EQ(m.unmount(), 0);
    score = m.last_score();
  }
  Mount m(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  std::map<std::string, unsigned char> listed;
  DIR* d = ::opendir((mnt() + "/d").c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = ::readdir(d)) listed[e->d_name] = e->d_type;
  ::closedir(d);
  ASSERT_EQ(listed.size(), 4u * kEach + 2 + 2);
  int unknown = 0;
  for (auto& [name, type] : listed) {
    struct stat st;
    ASSERT_EQ(::lstat((mnt() + "/d/" + name).c_str(), &st), 0) << name;
    if (type == DT_UNKNOWN) {
      unknown++;
      continue;
    }
    ASSERT_EQ(DTTOIF(type), st.st_mode & S_IFMT) << name;
  }
  EXPECT_LE(unknown, 2);  // at most the devices, whose kind is in their data
}

// The kernel hands FUSE every attribute name. As Linux's own filesystems
// do, vtfs keeps only names in the user, trusted and security namespaces:
// a name outside them is not supported, and a namespace alone is no name.
TEST_F(Fuse, AttributeNamesOutsideTheNamespacesAreRefused) {
  Mount m(mnt(), "new", embedded());
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  const std::string f = mnt() + "/f";
  run("touch " + f);
  // Each call's errno, or 0.
  auto set = [&](const char* name) { return ::setxattr(f.c_str(), name, "v", 1, 0) == 0 ? 0 : errno; };
  auto get = [&](const char* name) {
    char v[8];
    return ::getxattr(f.c_str(), name, v, sizeof v) >= 0 ? 0 : errno;
  };
  auto remove = [&](const char* name) { return ::removexattr(f.c_str(), name) == 0 ? 0 : errno; };
  EXPECT_EQ(set("color"), EOPNOTSUPP);
  EXPECT_EQ(set("other.color"), EOPNOTSUPP);
  EXPECT_EQ(set("user."), EINVAL);
  EXPECT_EQ(set("trusted."), EINVAL);
  EXPECT_EQ(get("color"), EOPNOTSUPP);
  EXPECT_EQ(remove("color"), EOPNOTSUPP);
  EXPECT_EQ(set("user.color"), 0);
  EXPECT_EQ(set("trusted.color"), 0);
  char names[256];
  ssize_t n = ::listxattr(f.c_str(), names, sizeof names);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(names, static_cast<std::size_t>(n)), std::string("user.color\0trusted.color\0", 25));
}

// All of a file's metadata lives in one block: an attribute that could
// never fit is E2BIG, one that does not fit beside the others ENOSPC, and
// neither disturbs what is there.
TEST_F(Fuse, ExtendedAttributesThatDoNotFit) {
  Mount m(mnt(), "new", embedded());
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  const std::string f = mnt() + "/f";
  run("touch " + f);
  auto set = [&](const std::string& name, std::size_t size) {
    const std::string value(size, 'v');
    return ::setxattr(f.c_str(), name.c_str(), value.data(), value.size(), 0) == 0 ? 0 : errno;
  };
  struct statvfs sv {};
  ASSERT_EQ(::statvfs(mnt().c_str(), &sv), 0);
  EXPECT_EQ(set("user.huge", sv.f_bsize), E2BIG);
  EXPECT_EQ(set("user.max", 65536), E2BIG);
  int last = 0, stored = 0;
  for (int i = 0; i < 10 && last == 0; i++)
    if ((last = set("user.a" + std::to_string(i), 2000)) == 0) stored++;
  EXPECT_EQ(last, ENOSPC);
  EXPECT_GE(stored, 2);
  char buf[4096];
  for (int i = 0; i < stored; i++) EXPECT_EQ(::getxattr(f.c_str(), ("user.a" + std::to_string(i)).c_str(), buf, sizeof buf), 2000) << i;
  EXPECT_LT(::getxattr(f.c_str(), ("user.a" + std::to_string(stored)).c_str(), buf, sizeof buf), 0);
  EXPECT_LT(::getxattr(f.c_str(), "user.huge", buf, sizeof buf), 0);
}

// Setting an ACL that only restates owner, group and other bits is a chmod
// (cp -a and tar -p set one on every file); any other ACL is refused.
TEST_F(Fuse, MinimalAclIsAChmod) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  const uid_t nobody = 65534;
  std::string score;
  {
    Mount m(mnt(), "new", embedded({"-o", "allow_other"}));
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    const std::string f = mnt() + "/f", g = mnt() + "/g", d = mnt() + "/d";
    run("cd " + mnt() + " && echo data > f && chmod 600 f && echo x > g && chown 65534:5678 g && chmod 2700 g && mkdir d");
    EXPECT_EQ(as_user(nobody, nobody, [&] { return read_errno(f); }), EACCES);
    Bytes acl = minimal_acl(0644);
    ASSERT_EQ(::setxattr(f.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0), 0) << std::strerror(errno);
    // Before any stat: the kernel's permission check must see the new mode.
    EXPECT_EQ(as_user(nobody, nobody, [&] { return read_errno(f); }), 0);
    EXPECT_EQ(mode_of(f), 0644u);
    // Only the owner may; chmod's rule drops setgid for a non-member.
    EXPECT_EQ(as_user(nobody, nobody, [&] { return ::setxattr(f.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) ? errno : 0; }),
              EPERM);
    acl = minimal_acl(0750);
    EXPECT_EQ(as_user(nobody, nobody, [&] { return ::setxattr(g.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) ? errno : 0; }),
              0);
    EXPECT_EQ(mode_of(g), 0750u);
    // Named users need a real ACL: refused, mode untouched.
    const Bytes named = {2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 6, 0, 0xe8, 3, 0, 0, 4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
                         0x10, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff};
    errno = 0;
    EXPECT_NE(::setxattr(f.c_str(), "system.posix_acl_access", named.data(), named.size(), 0), 0);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT_EQ(mode_of(f), 0644u);
    // None is kept, so none can be read or removed.
    char buf[64];
    errno = 0;
    EXPECT_LT(::getxattr(f.c_str(), "system.posix_acl_access", buf, sizeof buf), 0);
    EXPECT_EQ(errno, EOPNOTSUPP);
    errno = 0;
    EXPECT_NE(::removexattr(d.c_str(), "system.posix_acl_default"), 0);
    EXPECT_EQ(errno, ENODATA);
    // cp -a keeps every mode bit and has nothing to complain about.
    fs::create_directories(base / "src" / "sub");
    std::ofstream(base / "src" / "sub" / "x") << "x";
    std::ofstream(base / "src" / "y") << "y";
    ::chmod((base / "src" / "sub").c_str(), 02750);
    ::chmod((base / "src" / "sub" / "x").c_str(), 04711);
    ::chmod((base / "src" / "y").c_str(), 0640);
    auto r = shell("cp -a '" + (base / "src").string() + "' " + mnt() + "/copy 2>&1");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(mode_of(mnt() + "/copy/sub"), 02750u);
    EXPECT_EQ(mode_of(mnt() + "/copy/sub/x"), 04711u);
    EXPECT_EQ(mode_of(mnt() + "/copy/y"), 0640u);
    EXPECT_EQ(m.unmount(), 0);
    score = m.last_score();
  }
  Mount m(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(m.mounted());
  EXPECT_EQ(mode_of(mnt() + "/f"), 0644u);
  EXPECT_EQ(mode_of(mnt() + "/g"), 0750u);
  EXPECT_EQ(mode_of(mnt() + "/copy/sub/x"), 04711u);
}

// Files opened write-only bypass the page cache; readers that cached pages
// must still see every write, as on any local filesystem.
TEST_F(Fuse, WriteOnlyOpensKeepCachedReadersCurrent) {
  Mount m(mnt(), "new", embedded({"-o", "allow_other"}));
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  const std::string f = mnt() + "/log", g = mnt() + "/g";
  auto pread_all = [](int fd, off_t off, std::size_t n) {
    std::string s(n, '\0');
    ssize_t got = ::pread(fd, s.data(), n, off);
    s.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return s;
  };
  auto write_to = [](const std::string& path, int flags, off_t off, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | flags, 0644);
    if (fd < 0) return false;
    bool ok = ::pwrite(fd, data.data(), data.size(), off) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
  };
  ASSERT_TRUE(write_to(f, O_CREAT, 0, "first\n"));
  // A reader holding pages while another process appends and overwrites (tail -f).
  int r = ::open(f.c_str(), O_RDONLY);
  ASSERT_GE(r, 0);
  EXPECT_EQ(pread_all(r, 0, 100), "first\n");
  int w = ::open(f.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(w, 0);
  ASSERT_EQ(::write(w, "second\n", 7), 7);
  EXPECT_EQ(pread_all(r, 0, 100), "first\nsecond\n");
  ASSERT_EQ(::pwrite(w, "FIRST", 5, 0), 5);  // O_APPEND: appended after all
  ::close(w);
  EXPECT_EQ(pread_all(r, 0, 100), "first\nsecond\nFIRST");
  ASSERT_TRUE(write_to(f, 0, 0, "F"));
  EXPECT_EQ(pread_all(r, 0, 100), "First\nsecond\nFIRST");
  // A mapping sees it too.
  void* map = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, r, 0);
  ASSERT_NE(map, MAP_FAILED);
  EXPECT_EQ(std::string(static_cast<const char*>(map), 5), "First");
  ASSERT_TRUE(write_to(f, 0, 1, "IRST"));
  EXPECT_EQ(std::string(static_cast<const char*>(map), 5), "FIRST");
  ::munmap(map, 4096);
  ::close(r);
  // Pages cached by a reader that has closed are not reused after a write.
  ASSERT_TRUE(write_to(g, O_CREAT, 0, std::string(10000, 'a')));
  EXPECT_EQ(shell("cat " + g + " | tr -d a").out, "");
  ASSERT_TRUE(write_to(g, 0, 5000, "bbb"));
  EXPECT_EQ(shell("cat " + g + " | tr -d a").out, "bbb");
  // Writing clears setuid and setgid for all but root, as the kernel would.
  if (::geteuid() == 0) {
    run("chown 65534:65534 " + g + " && chmod 6755 " + g);
    ASSERT_TRUE(write_to(g, 0, 0, "c"));
    EXPECT_EQ(mode_of(g), 06755u);
    EXPECT_EQ(as_user(65534, 65534, [&] { return write_to(g, 0, 0, "d") ? 0 : errno; }), 0);
    EXPECT_EQ(mode_of(g), 0755u);
  }
  EXPECT_EQ(m.unmount(), 0);
}

// The kernel checks permissions (default_permissions) wherever they can
// decide something: always but on root's private mounts, or when asked.
TEST_F(Fuse, PermissionChecksWhereTheyDecideSomething) {
  auto options = [&] {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
      if (line.find(" " + mnt() + " ") != std::string::npos) return line.substr(line.rfind(' ') + 1);
    return std::string("not mounted");
  };
  auto checks = [&](std::vector<std::string> more) {
    Mount m(mnt(), "new", embedded(more));
    EXPECT_TRUE(m.mounted()) << m.stderr_text();
    std::string o = options();
    EXPECT_EQ(m.unmount(), 0);
    return ("," + o + ",").find(",default_permissions,") != std::string::npos;
  };
  EXPECT_EQ(checks({}), ::geteuid() != 0);
  EXPECT_TRUE(checks({"-o", "default_permissions"}));
  if (::geteuid() == 0) {
    EXPECT_TRUE(checks({"-o", "ro,allow_other"}));
    // Root without checks still may not execute what has no x bit.
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted());
    run("printf '#!/bin/sh\\nexit 0\\n' > " + mnt() + "/s && chmod 644 " + mnt() + "/s");
    EXPECT_NE(shell(mnt() + "/s").status, 0);
    run("chmod 700 " + mnt() + "/s && " + mnt() + "/s");
  }
}

// A listing shows the directory as it is when it starts: at rewinddir, as
// POSIX asks, and at the first read after opendir (POSIX leaves that open,
// but the kernel caches the listing as of then). A listing taken earlier
// left the kernel's cached copy without the new file, for good.
TEST_F(Fuse, ListingsShowTheDirectoryAsItIsWhenTheyStart) {
  Mount m(mnt(), "new", embedded());
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  const fs::path dir = fs::path(mnt()) / "d";
  fs::create_directory(dir);
  auto names = [](DIR* d) {
    std::set<std::string> n;
    while (dirent* e = ::readdir(d)) n.insert(e->d_name);
    return n;
  };
  auto listed = [&] {
    std::set<std::string> n;
    for (auto& e : fs::directory_iterator(dir)) n.insert(e.path().filename());
    return n;
  };
  DIR* d = ::opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  std::ofstream(dir / "made-after-opendir") << "x";
  EXPECT_TRUE(names(d).contains("made-after-opendir"));
  std::ofstream(dir / "made-before-rewind") << "y";
  ::rewinddir(d);
  EXPECT_TRUE(names(d).contains("made-before-rewind"));
  ::closedir(d);
  EXPECT_EQ(listed(), (std::set<std::string>{"made-after-opendir", "made-before-rewind"}));
  fs::remove(dir / "made-after-opendir");
  EXPECT_EQ(listed(), std::set<std::string>{"made-before-rewind"});
}

TEST_F(Fuse, RenameFlags) {
  Mount m(mnt(), "new", embedded());
  ASSERT_TRUE(m.mounted());
  run("cd " + mnt() + " && echo a > a && echo b > b");
  // renameat2 through python: coreutils here has no --exchange.
  auto py = [&](const std::string& flags) {
    return shell("python3 -c \"import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); r=l.renameat2(-100,b'" + mnt() + "/a',-100,b'" + mnt() +
                 "/b'," + flags + "); sys.exit(0 if r==0 else ctypes.get_errno())\"")
        .status;
  };
  EXPECT_EQ(py("1"), EEXIST);  // RENAME_NOREPLACE
  EXPECT_EQ(py("2"), 0);       // RENAME_EXCHANGE
  EXPECT_EQ(shell("cat " + mnt() + "/a").out, "b\n");
  EXPECT_EQ(shell("cat " + mnt() + "/b").out, "a\n");
}

// cp(1) within the mount copies with copy_file_range(2): stored blocks are
// shared, so the copy neither reads the data nor stores it again. Offsets
// off block boundaries are copied by the kernel instead. Either way the
// bytes are right, also once the snapshot is remounted.
TEST_F(Fuse, CopiesWithinTheMountShareBlocks) {
  struct CountingStore : MemStore {
    std::atomic<int> gets{0};
    Bytes get(const Score& s, WireType t) override {
      gets++;
      return MemStore::get(s, t);
    }
  } store;
  Server server(store, "127.0.0.1:0");
  server.start();
  const std::string ref = (base / "ref").string();
  // The same copies on the mount and on a local reference file.
  auto copies = [](const std::string& dir) {
    return "python3 -c \"import os; a=os.open('" + dir + "/a',os.O_RDONLY); c=os.open('" + dir +
           "/c',os.O_RDWR); [os.copy_file_range(a,c,n,i,o) for n,i,o in ((3*8192,8192,4*8192),(5000,1000,100),(8192,0,3000000))]\"";
  };
  std::string score;
  {
    Mount m(mnt(), "new", {"-h", server.address()});
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("head -c 20000000 /dev/urandom > " + mnt() + "/a && head -c 100000 /dev/urandom > " + mnt() + "/c && sync " + mnt() + "/a");
    const int before = store.gets;
    run("cp " + mnt() + "/a " + mnt() + "/b && sync " + mnt() + "/b");
    EXPECT_LT(store.gets - before, 10) << "the copy read the data";  // 2,442 data blocks
    run("cmp " + mnt() + "/a " + mnt() + "/b");
    run("mkdir " + ref + " && cp " + mnt() + "/a " + mnt() + "/c " + ref + " && " + copies(ref) + " && " + copies(mnt()));
    run("cmp " + ref + "/c " + mnt() + "/c");
    // Past what a reply can count (32 bits): a sparse 5 GiB file with data at both ends.
    run("cd " + mnt() + " && printf head > s && truncate -s 5G s && printf tail | dd of=s bs=1 seek=5368709116 conv=notrunc status=none"
        " && cp s t && cmp -n 4 s t && cmp -i 5368709112 s t && test $(stat -c %s t) = 5368709120");
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
    score = m.last_score();
  }
  Mount ro(mnt(), score, {"-h", server.address(), "-r"});
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  run("cmp " + ref + "/a " + mnt() + "/b && cmp " + ref + "/c " + mnt() + "/c");
}

// statfs says names have at most NAME_MAX bytes, as on every Linux file
// system, and nothing longer is made (vac itself allows up to 1024).
TEST_F(Fuse, NamesLongerThanNameMaxAreRefused) {
  Mount m(mnt(), "new", embedded());
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  struct statvfs sv {};
  ASSERT_EQ(::statvfs(mnt().c_str(), &sv), 0);
  EXPECT_EQ(sv.f_namemax, static_cast<unsigned long>(NAME_MAX));
  const std::string longest = mnt() + "/" + std::string(NAME_MAX, 'a'), too_long = mnt() + "/" + std::string(NAME_MAX + 1, 'b');
  int fd = ::open(longest.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
  auto refused = [](int rc) { return rc < 0 ? errno : 0; };
  EXPECT_EQ(refused(::open(too_long.c_str(), O_CREAT | O_WRONLY, 0644)), ENAMETOOLONG);
  EXPECT_EQ(refused(::mkdir(too_long.c_str(), 0755)), ENAMETOOLONG);
  EXPECT_EQ(refused(::symlink("target", too_long.c_str())), ENAMETOOLONG);
  EXPECT_EQ(refused(::mkfifo(too_long.c_str(), 0644)), ENAMETOOLONG);
  EXPECT_EQ(refused(::rename(longest.c_str(), too_long.c_str())), ENAMETOOLONG);
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(mnt())) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{std::string(NAME_MAX, 'a')});
}

// fallocate grows a file as a hole, or with KEEP_SIZE changes nothing;
// punching a hole or zeroing a range makes holes of whole blocks. Programs
// that preallocate (posix_fallocate, fallocate(1)) or discard then work.
TEST_F(Fuse, Fallocate) {
  std::string score;
  std::string want = "abc";
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    const std::string f = mnt() + "/f";
    int fd = ::open(f.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::write(fd, "abc", 3), 3);
    EXPECT_EQ(::fallocate(fd, 0, 1000, 5 << 20), 0) << std::strerror(errno);
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, 1000 + (5 << 20));
    EXPECT_EQ(::fallocate(fd, 0, 0, 10), 0);  // within: no change
    EXPECT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 50 << 20), 0);
    EXPECT_EQ(::posix_fallocate(fd, 0, 6 << 20), 0);
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, 6 << 20);
    // Data, read once so the kernel caches it, then holes punched in it.
    want.resize(6 << 20, '\0');
    Bytes data = test::random_bytes(6 << 20, 30);
    std::memcpy(want.data(), data.data(), data.size());
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    std::string seen(want.size(), '\0');
    ASSERT_EQ(::pread(fd, seen.data(), seen.size(), 0), static_cast<ssize_t>(seen.size()));
    EXPECT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 3 << 20), 0) << std::strerror(errno);
    std::fill(want.begin() + 100, want.begin() + 100 + (3 << 20), '\0');
    EXPECT_EQ(::fallocate(fd, FALLOC_FL_ZERO_RANGE, (6 << 20) - 5000, 10000), 0) << std::strerror(errno);
    want.resize((6 << 20) + 5000, '\0');
    std::fill(want.end() - 10000, want.end(), '\0');
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, static_cast<off_t>(want.size()));
    ASSERT_EQ(::pread(fd, seen.data(), seen.size(), 0), static_cast<ssize_t>(seen.size()));
    EXPECT_TRUE(seen == want.substr(0, seen.size())) << "the kernel's cached pages were not dropped";
    EXPECT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), -1);  // Linux wants KEEP_SIZE with it
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
    score = m.last_score();
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
  }
  Mount ro(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  std::string got;
  {
    std::ifstream in(mnt() + "/f", std::ios::binary);  // closed before the unmount
    got.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_TRUE(got == want) << "size " << got.size();
  EXPECT_EQ(ro.unmount(), 0);
}

// A large sparse file shows its holes: st_blocks falls short of its size,
// SEEK_DATA and SEEK_HOLE find them, and so cp copies it out sparse. Read
// back from the store as well as from unwritten blocks.
TEST_F(Fuse, SparseFilesShowTheirHoles) {
  const off_t mib = 1 << 20;
  auto expect_holes = [&](const std::string& f, const char* when) {
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 200 * mib) << when;
    EXPECT_GE(st.st_blocks * 512, mib) << when;
    EXPECT_LE(st.st_blocks * 512, 8 * mib) << when;  // counted by 3.2 MiB subtrees
    int fd = ::open(f.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), 100 * mib) << when;
    EXPECT_EQ(::lseek(fd, 100 * mib + 7, SEEK_HOLE), 101 * mib) << when;
    EXPECT_EQ(::lseek(fd, 5, SEEK_HOLE), 5) << when;
    errno = 0;
    EXPECT_EQ(::lseek(fd, 101 * mib, SEEK_DATA), -1) << when;
    EXPECT_EQ(errno, ENXIO) << when;
    ::close(fd);
    const fs::path out = base / "out";
    fs::remove_all(out);
    fs::create_directories(out);
    run("cp '" + f + "' '" + out.string() + "/'");
    run("cmp '" + f + "' '" + (out / "sparse").string() + "'");
    ASSERT_EQ(::stat((out / "sparse").c_str(), &st), 0);
    EXPECT_LT(st.st_blocks * 512, 4 * mib) << when << ": cp wrote the holes out";
  };
  std::string score;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    const std::string f = mnt() + "/sparse";
    int fd = ::open(f.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::ftruncate(fd, 200 * mib), 0);
    Bytes data = test::random_bytes(mib, 31);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 100 * mib), mib);
    ::close(fd);
    expect_holes(f, "unwritten");
    // A dense file as large counts whole.
    run("head -c 70M /dev/urandom > '" + mnt() + "/dense'");
    struct stat st {};
    ASSERT_EQ(::stat((mnt() + "/dense").c_str(), &st), 0);
    EXPECT_EQ(st.st_blocks, 70 * 2048);
    run("sync '" + f + "'");
    score = m.last_score();
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
  }
  Mount ro(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  expect_holes(mnt() + "/sparse", "stored");
  EXPECT_EQ(ro.unmount(), 0);
}

// A longer name that an archive made elsewhere holds (vac allows 1024
// bytes) is listed and read as usual.
TEST_F(Fuse, LongNamesFromElsewhereStayReadable) {
  MemStore store;
  const std::string name(1024, 'n');
  Score score;
  {
    Cache cache(store);
    auto vfs = VacFs::create(cache);
    auto f = vfs->create(vfs->root(), DirEntry{.elem = name, .mode = 0644});
    vfs->write(f, 0, Bytes{'h', 'i', '\n'});
    score = vfs->sync();
  }
  Server server(store, "127.0.0.1:0");
  server.start();
  Mount m(mnt(), "vac:" + score.hex(), {"-h", server.address(), "-r"});
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(mnt())) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{name});
  std::ifstream in(mnt() + "/" + name);
  std::string line;
  EXPECT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "hi");
}

TEST_F(Fuse, ConcurrentProcesses) {
  Mount m(mnt(), "new", embedded());
  ASSERT_TRUE(m.mounted());
  std::string cmd = "cd " + mnt() + " && for i in 1 2 3 4 5 6; do (mkdir w$i && for j in $(seq 50); do head -c $((j*997)) /dev/urandom > w$i/f$j; "
                    "cat w$i/f$j > /dev/null; done; sha256sum w$i/* > ../sum$i) & done; wait";
  run(cmd);
  run("sync " + mnt() + "/w1");
  EXPECT_EQ(m.unmount(), 0);
  std::string score = m.last_score();
  Mount again(mnt(), score, embedded({"-r"}));
  for (int i = 1; i <= 6; i++) run("cd " + mnt() + " && sha256sum -c --quiet ../sum" + std::to_string(i));
}

// With a 4 MiB cache vtfs keeps about 1,024 directory entries in memory
// beyond those the kernel holds; each copy of this tree has 2,440. Once
// the kernel forgets a copy's inodes (drop_caches, as root), copying in
// another drops that copy's directory indexes, and walking, listing and
// editing it reads them again: what it shows and stores stay right.
TEST_F(Fuse, ManyDirectoriesThroughASmallCacheAsTheKernelForgets) {
  const fs::path src = base / "src";
  for (int d = 0; d < 40; d++) {
    fs::create_directories(src / ("d" + std::to_string(d)));
    for (int f = 0; f < 60; f++) std::ofstream(src / ("d" + std::to_string(d)) / ("f" + std::to_string(f))) << d << "/" << f;
  }
  auto forget = [] { shell("echo 2 > /proc/sys/vm/drop_caches 2>/dev/null"); };
  Mount m(mnt(), "new", embedded({"-M", "4M"}));
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  for (const char* copy : {"a", "b", "c"}) {
    run("cp -a '" + src.string() + "' " + mnt() + "/" + copy + " && sync " + mnt());
    forget();
  }
  const fs::path edited = base / "edited";
  run("cp -a '" + src.string() + "' '" + edited.string() + "'");
  const std::string edits = "echo more >> d5/f1 && mv d7/f2 d8/moved && rm d9/f3 && mkdir d10/sub && echo x > d10/sub/y";
  run("cd '" + edited.string() + "' && " + edits);
  run("cd " + mnt() + "/a && " + edits);
  forget();
  // The kernel holds a's inodes while d is copied in (indexes go): changes
  // through them must reach what is stored.
  run("ls -lR " + mnt() + " > /dev/null");
  run("cp -a '" + src.string() + "' " + mnt() + "/d && chmod 600 " + mnt() + "/a/d11/f4 && touch -d @1000000000 " + mnt() + "/a/d12/f5");
  run("chmod 600 '" + edited.string() + "/d11/f4' && touch -d @1000000000 '" + edited.string() + "/d12/f5'");
  same_trees(edited.string(), mnt() + "/a");
  for (const char* copy : {"b", "c"}) same_trees(src.string(), mnt() + "/" + copy);
  EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
  Mount ro(mnt(), m.last_score(), embedded({"-r", "-M", "4M"}));
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  same_trees(edited.string(), mnt() + "/a");
  same_trees(src.string(), mnt() + "/c");
  EXPECT_EQ(mode_of(mnt() + "/a/d11/f4"), 0600u);
  EXPECT_EQ(fs::last_write_time(mnt() + "/a/d12/f5").time_since_epoch(), fs::last_write_time(edited / "d12" / "f5").time_since_epoch());
}

TEST_F(Fuse, BigFileThroughASmallCache) {
  Mount m(mnt(), "new", embedded({"-M", "64M"}));
  ASSERT_TRUE(m.mounted());
  // 2 GiB of varied data (a counter pattern) and its checksum.
  std::string gen = "python3 -c \"import sys,struct; b=b''.join(struct.pack('<Q',i)*1 for i in range(131072)); w=sys.stdout.buffer\n"
                    "for k in range(2048): w.write(bytes([k%251])+b[1:])\"";
  auto want = shell(gen + " | sha256sum");
  run(gen + " > " + mnt() + "/big");
  auto hwm = shell("grep VmHWM /proc/" + std::to_string(m.pid()) + "/status | awk '{print $2}'");
  EXPECT_LT(std::stol(hwm.out), (64 + 160) * 1024L) << "peak RSS KiB";
  EXPECT_EQ(shell("sha256sum < " + mnt() + "/big").out, want.out);
  EXPECT_EQ(fs::file_size(mnt() + "/big"), 2ull << 30);
}

// While mounted, vtfs serves its embedded store, so vt reaches the archive
// (the default address is 127.0.0.1:17034; here a free port); and a
// mount of a score names it as its source.
TEST_F(Fuse, EmbeddedStoreIsServedAndTheScoreNamesTheMount) {
  int port = 0;
  {  // a port the kernel just handed out, free again
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    ::close(fd);
  }
  const std::string address = "127.0.0.1:" + std::to_string(port), vt = std::string(VT_BIN_DIR) + "/vt -h " + address;
  std::string score;
  {
    Mount m(mnt(), "new", {"--store", (base / "store").string(), "--listen", address});
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("echo served > " + mnt() + "/a && sync " + mnt() + "/a");
    score = m.last_score();
    EXPECT_EQ(shell(vt + " cat " + score + "/a").out, "served\n");
    EXPECT_EQ(m.unmount(), 0);
  }
  Mount m(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  EXPECT_NE(shell("grep -F ' " + mnt() + " ' /proc/self/mountinfo").out.find(" " + score + " "), std::string::npos);
}

// --sync-interval snapshots a change without an fsync, and announces
// nothing while nothing changes.
TEST_F(Fuse, PeriodicSnapshotsOnlyForChanges) {
  std::string score;
  {
    Mount m(mnt(), "new", embedded({"--sync-interval", "1", "--score-file", (base / "score").string()}));
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    auto announced = [&](std::size_t n) {  // waits up to 10 s for n lines
      for (int i = 0; i < 100 && m.scores().size() < n; i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return m.scores().size();
    };
    const std::size_t before = announced(1);  // the new archive's first snapshot
    run("echo periodic > " + mnt() + "/a");
    ASSERT_EQ(announced(before + 1), before + 1) << m.stderr_text();
    score = m.last_score();
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // three more ticks, nothing changed
    EXPECT_EQ(m.scores().size(), before + 1);
    EXPECT_EQ(shell("cat " + (base / "score").string()).out, score + "\n");
    m.kill9();  // what the ticks stored stays
  }
  Mount again(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(again.mounted()) << again.stderr_text();
  EXPECT_EQ(shell("cat " + mnt() + "/a").out, "periodic\n");
}

// SIGINT and SIGTERM unmount as fusermount3 -u does: a final snapshot,
// its score printed, exit status 0.
TEST_F(Fuse, SignalsUnmountWithAFinalSnapshot) {
  for (int sig : {SIGINT, SIGTERM}) {
    std::string score;
    {
      Mount m(mnt(), "new", embedded());
      ASSERT_TRUE(m.mounted()) << m.stderr_text();
      run("echo " + std::to_string(sig) + " > " + mnt() + "/a");
      ASSERT_EQ(::kill(m.pid(), sig), 0);
      EXPECT_EQ(m.wait(), 0) << strsignal(sig) << ": " << m.stderr_text();
      EXPECT_FALSE(m.mounted()) << strsignal(sig);
      score = m.last_score();
      ASSERT_EQ(score.rfind("vac:", 0), 0u) << strsignal(sig) << ": " << m.stderr_text();
    }
    Mount again(mnt(), score, embedded({"-r"}));
    ASSERT_TRUE(again.mounted()) << again.stderr_text();
    EXPECT_EQ(shell("cat " + mnt() + "/a").out, std::to_string(sig) + "\n");
    EXPECT_EQ(again.unmount(), 0);
  }
}

TEST_F(Fuse, KillNineAfterFsyncKeepsTheSnapshot) {
  std::string score;
  {
    Mount m(mnt(), "new", embedded());
    ASSERT_TRUE(m.mounted());
    run("echo synced > " + mnt() + "/a && sync " + mnt() + "/a");
    score = m.last_score();
    run("echo unsynced > " + mnt() + "/b");
    m.kill9();
  }
  Mount again(mnt(), score, embedded({"-r"}));
  ASSERT_TRUE(again.mounted()) << again.stderr_text();
  EXPECT_EQ(shell("cat " + mnt() + "/a").out, "synced\n");
  EXPECT_FALSE(fs::exists(mnt() + "/b"));
}

TEST_F(Fuse, ClassicFixturesMount) {
  for (std::string name : {"classic-small", "classic-deep"}) {
    MemStore store;
    Score root = test::load_fixture(name, store);
    Server server(store, "127.0.0.1:0");
    server.start();
    Mount m(mnt(), "vac:" + root.hex(), {"-h", server.address(), "-r"});
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    for (const auto& e : test::read_manifest(name)) {
      std::string path = mnt() + "/" + e.path;
      struct stat st;
      ASSERT_EQ(::lstat(path.c_str(), &st), 0) << e.path;
      if (e.type == 'f') {
        EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), e.size) << e.path;
        EXPECT_EQ(std::to_string(st.st_mtim.tv_sec), e.mtime) << e.path;
        EXPECT_EQ(st.st_mode & 0777, e.perm) << e.path;
        EXPECT_EQ(shell("sha256sum < '" + path + "' | cut -c1-64").out, e.digest + "\n") << e.path;
      }
      char got = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : S_ISFIFO(st.st_mode) ? 'p' : 'f';
      EXPECT_EQ(got, e.type) << e.path;
    }
    EXPECT_EQ(m.unmount(), 0);
  }
}

// An archive of 512-byte blocks: a 1 MiB read gathers 2,048 blocks.
// (Direct reads too: a failed readahead would go unseen, its pages read
// again singly.)
TEST_F(Fuse, AnArchiveOfTinyBlocksReadsBack) {
  MemStore store;
  Cache cache(store);
  auto vfs = VacFs::create(cache, 512);
  DirEntry d;
  d.elem = "f";
  d.mode = 0644;
  auto f = vfs->create(vfs->root(), d);
  const Bytes data = test::random_bytes(3 << 20, 5);
  vfs->write(f, 0, data);
  Score root = vfs->sync();
  std::ofstream(base / "want", std::ios::binary).write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  Server server(store, "127.0.0.1:0");
  server.start();
  Mount m(mnt(), "vac:" + root.hex(), {"-h", server.address(), "-r"});
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  run("dd if='" + mnt() + "/f' iflag=direct bs=1M status=none | cmp - '" + (base / "want").string() + "'");
  run("cmp '" + mnt() + "/f' '" + (base / "want").string() + "'");  // through the page cache
  const std::string piece = " bs=777 skip=1001 count=3 status=none > '";
  run("dd if='" + mnt() + "/f'" + piece + (base / "got.part").string() + "' && dd if='" + (base / "want").string() + "'" + piece +
      (base / "want.part").string() + "' && cmp '" + (base / "got.part").string() + "' '" + (base / "want.part").string() + "'");
  EXPECT_EQ(m.unmount(), 0);
}

// An archive the classic vac wrote can be edited too (cp within it shares
// its blocks): the new snapshot reads as a local copy edited alike, and vt
// check finds every block.
TEST_F(Fuse, ClassicFixtureEditedAndRemounted) {
  MemStore store;
  Score root = test::load_fixture("classic-small", store);
  Server server(store, "127.0.0.1:0");
  server.start();
  const std::string copy = (base / "copy").string();
  std::string score;
  {
    Mount m(mnt(), "vac:" + root.hex(), {"-h", server.address()});
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cp -a " + mnt() + "/tree " + copy);  // the reference, edited alike
    for (const std::string& d : {copy, mnt() + "/tree"})
      run("cd '" + d + "' && echo added > added && cp random100k random.copy && echo more >> random100k && rm -rf order fifo && "
          "mkdir -p new/dir && mv added new/dir/");
    EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
    score = m.last_score();
  }
  Mount m(mnt(), score, {"-h", server.address(), "-r"});
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  same_trees(copy, mnt() + "/tree");
  auto check = shell(std::string(VT_BIN_DIR) + "/vt -h " + server.address() + " check " + score);
  EXPECT_EQ(check.status, 0) << check.out;
}

TEST_F(Fuse, StartupFailuresAreOneLineBeforeMounting) {
  {
    Mount m(mnt(), "new", {"-h", "127.0.0.1:1"});
    EXPECT_FALSE(m.mounted());
    EXPECT_EQ(m.wait(), 1);
    std::string err = m.stderr_text();
    EXPECT_NE(err.find("refused"), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
  {
    Mount m(mnt(), "vac:0123456789012345678901234567890123456789", embedded());
    EXPECT_FALSE(m.mounted());
    EXPECT_EQ(m.wait(), 1);
    EXPECT_NE(m.stderr_text().find("no block"), std::string::npos) << m.stderr_text();
  }
  {
    Mount m(mnt(), "not-a-root", embedded());
    EXPECT_EQ(m.wait(), 1);
  }
}

TEST_F(Fuse, ServerLostWhileMountedThenBack) {
  MemStore store;
  auto server = std::make_unique<Server>(store, "127.0.0.1:0");
  server->start();
  std::string addr = server->address();
  Mount m(mnt(), "new", {"-h", addr});
  ASSERT_TRUE(m.mounted());
  run("echo one > " + mnt() + "/a && sync " + mnt() + "/a");
  server.reset();  // the server goes away
  run("echo two > " + mnt() + "/b");  // local edits still work
  EXPECT_NE(shell("sync " + mnt() + "/b").status, 0);  // a snapshot cannot: EIO
  server = std::make_unique<Server>(store, addr);  // back, same address
  server->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // past the redial pause
  run("sync " + mnt() + "/b");  // the dirty blocks were kept
  std::string score = m.last_score();
  EXPECT_EQ(m.unmount(), 0);
  Mount ro(mnt(), score, {"-h", addr, "-r"});
  EXPECT_EQ(shell("cat " + mnt() + "/a " + mnt() + "/b").out, "one\ntwo\n");
}

// A server that refuses writes (its disk is full) is not a lost server:
// fsync fails with its reason, and succeeds as soon as it takes writes
// again, with no redial pause and nothing saved aside at unmount.
TEST_F(Fuse, AServerRefusingWritesThenTakingThem) {
  test::FullStore store(false);
  Server server(store, "127.0.0.1:0");
  server.start();
  Mount m(mnt(), "new", {"-h", server.address()});
  ASSERT_TRUE(m.mounted());
  store.full = true;
  run("echo kept > " + mnt() + "/a");
  EXPECT_NE(shell("sync " + mnt() + "/a").status, 0);
  EXPECT_NE(m.stderr_text().find("No space left on device"), std::string::npos) << m.stderr_text();
  store.full = false;
  run("sync " + mnt() + "/a");
  EXPECT_EQ(m.unmount(), 0) << m.stderr_text();
  Mount ro(mnt(), m.last_score(), {"-h", server.address(), "-r"});
  EXPECT_EQ(shell("cat " + mnt() + "/a").out, "kept\n");
}

TEST_F(Fuse, ServerGoneAtUnmountSavesEditsForLater) {
  MemStore store;
  auto server = std::make_unique<Server>(store, "127.0.0.1:0");
  server->start();
  std::string addr = server->address();
  ::setenv("XDG_DATA_HOME", (base / "data").c_str(), 1);
  Mount m(mnt(), "new", {"-h", addr});
  ::unsetenv("XDG_DATA_HOME");
  ASSERT_TRUE(m.mounted());
  run("echo precious > " + mnt() + "/keep");
  server.reset();
  EXPECT_EQ(m.unmount(), 1);
  std::string err = m.stderr_text();
  auto at = err.find("saved in ");
  ASSERT_NE(at, std::string::npos) << err;
  std::string dir = err.substr(at + 9, err.find(' ', at + 9) - at - 9);
  auto sc = err.find("vac:", at);
  std::string score = err.substr(sc, 44);
  EXPECT_NE(err.find("vt -h " + addr + " push " + dir), std::string::npos) << err;
  // The server comes back; the documented command pushes the changes.
  server = std::make_unique<Server>(store, addr);
  server->start();
  auto push = shell(std::string(VT_BIN_DIR) + "/vt -h " + addr + " push " + dir);
  ASSERT_EQ(push.status, 0) << push.out;
  Mount ro(mnt(), score, {"-h", addr, "-r"});
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  EXPECT_EQ(shell("cat " + mnt() + "/keep").out, "precious\n");
}

// The embedded store's disk fills up: the fsync fails and the log says
// why, nothing written is lost, writes fail once the cache budget is full
// of what the disk refused (memory stays bounded), and once there is room
// again the next fsync succeeds without a remount.
TEST_F(Fuse, AFullDiskFailsTheSnapshotUntilThereIsRoomAndLosesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root may mount the small disk this needs";
  const std::string disk = (base / "disk").string(), data = (base / "data").string();
  test::SmallDisk small(disk, 16);
  ASSERT_TRUE(small.mounted());
  run("head -c 40M /dev/urandom > '" + data + "'");
  const std::vector<std::string> args = {"--store", disk + "/store", "--listen", "none", "-M", "64M"};
  std::string score;
  {
    Mount m(mnt(), "new", args);
    ASSERT_TRUE(m.mounted());
    run("cp '" + data + "' " + mnt() + "/data");  // kept in the cache: the budget is larger
    EXPECT_NE(shell("sync " + mnt() + "/data").status, 0);
    EXPECT_NE(m.stderr_text().find("snapshot failed"), std::string::npos) << m.stderr_text();
    EXPECT_NE(m.stderr_text().find("No space left on device"), std::string::npos) << m.stderr_text();
    auto more = shell("dd if=/dev/urandom of=" + mnt() + "/more bs=1M count=256 2>&1");
    EXPECT_NE(more.status, 0) << "a write past the budget fails";
    EXPECT_NE(more.out.find("Input/output error"), std::string::npos) << more.out;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // Under a sanitizer, freed blocks wait in its quarantine: RSS says
    // nothing there (the plain build checks it).
    auto hwm = shell("grep VmHWM /proc/" + std::to_string(m.pid()) + "/status | awk '{print $2}'");
    EXPECT_LT(std::stol(hwm.out), (64 + 160) * 1024L) << "peak RSS KiB";
#endif
    run("rm " + mnt() + "/more");
    ASSERT_TRUE(small.grow(128));
    run("sync " + mnt() + "/data");
    run("cmp '" + data + "' " + mnt() + "/data");
    EXPECT_EQ(m.unmount(), 0);
    score = m.last_score();
  }
  auto ro_args = args;
  ro_args.push_back("-r");
  Mount ro(mnt(), score, ro_args);
  ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
  run("cmp '" + data + "' " + mnt() + "/data");
}

// df on a mount with an embedded store tells about the store's disk, where
// new blocks go (a server's space is unknown: as good as unlimited).
TEST_F(Fuse, StatfsReportsTheEmbeddedStoresDisk) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root may mount the small disk this needs";
  const std::string disk = (base / "disk").string();
  test::SmallDisk small(disk, 32);
  ASSERT_TRUE(small.mounted());
  Mount m(mnt(), "new", {"--store", disk + "/store", "--listen", "none"});
  ASSERT_TRUE(m.mounted()) << m.stderr_text();
  auto bytes = [&](fsblkcnt_t statvfs::*field) {
    struct statvfs sv {};
    EXPECT_EQ(::statvfs(mnt().c_str(), &sv), 0);
    return static_cast<std::uint64_t>(sv.*field) * sv.f_frsize;
  };
  EXPECT_EQ(bytes(&statvfs::f_blocks), 32u << 20);
  const std::uint64_t before = bytes(&statvfs::f_bavail);
  EXPECT_LE(before, 32u << 20);
  run("head -c 8M /dev/urandom > " + mnt() + "/f && sync " + mnt() + "/f");
  EXPECT_LE(bytes(&statvfs::f_bavail) + (8u << 20), before) << "the stored blocks take the disk's space";
  ASSERT_TRUE(small.grow(64));
  EXPECT_EQ(bytes(&statvfs::f_blocks), 64u << 20);
}

// The default layout (store and recovery under $XDG_DATA_HOME) on a disk
// that fills up: at unmount neither the store nor a recovery store can take
// the edits, so vtfs holds them in memory and tries again until there is
// room, or until a signal says to give up.
TEST_F(Fuse, AFullDiskAtUnmountKeepsTheEditsUntilThereIsRoom) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root may mount the small disk this needs";
  const std::string disk = (base / "disk").string(), data = (base / "data").string();
  test::SmallDisk small(disk, 16);
  ASSERT_TRUE(small.mounted());
  run("head -c 40M /dev/urandom > '" + data + "'");
  auto says = [](Mount& m, const std::string& what) {
    for (int i = 0; i < 200 && m.stderr_text().find(what) == std::string::npos; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return m.stderr_text().find(what) != std::string::npos;
  };
  // First told to give up, then given room.
  for (bool room : {false, true}) {
    const std::string home = disk + (room ? "/second" : "/first");
    ::setenv("XDG_DATA_HOME", home.c_str(), 1);
    Mount m(mnt(), "new", {"--listen", "none"});
    ::unsetenv("XDG_DATA_HOME");
    ASSERT_TRUE(m.mounted()) << m.stderr_text();
    run("cp '" + data + "' " + mnt() + "/data");
    run("fusermount3 -u " + mnt());
    ASSERT_TRUE(says(m, "only in memory; trying again")) << m.stderr_text();
    if (!room) {
      ::kill(m.pid(), SIGTERM);
      EXPECT_EQ(m.wait(), 1);
      EXPECT_NE(m.stderr_text().find("given up"), std::string::npos) << m.stderr_text();
      fs::remove_all(home);
      continue;
    }
    ASSERT_TRUE(small.grow(128));
    EXPECT_EQ(m.wait(), 0) << m.stderr_text();  // the store took it: nothing left to push
    const std::string score = m.last_score();
    ASSERT_EQ(score.size(), 44u) << m.stderr_text();
    ::setenv("XDG_DATA_HOME", home.c_str(), 1);
    Mount ro(mnt(), score, {"--listen", "none", "-r"});
    ::unsetenv("XDG_DATA_HOME");
    ASSERT_TRUE(ro.mounted()) << ro.stderr_text();
    run("cmp '" + data + "' " + mnt() + "/data");
  }
}

TEST_F(Fuse, ReadaheadIsRaisedWhenPermitted) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root may change a mount's readahead";
  // A space: mountinfo, where vtfs finds the mount, writes it as \040.
  std::string dir = (base / "mount point").string();
  fs::create_directories(dir);
  Mount m(dir, "new", embedded());
  ASSERT_TRUE(m.mounted());
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);  // answered once vtfs serves: the readahead is set by then
  std::string path = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
  std::string kb;
  std::ifstream(path) >> kb;
  EXPECT_EQ(kb, "4096") << path;
  EXPECT_EQ(m.unmount(), 0);
}
