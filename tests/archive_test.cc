// vt vac / unvac / ls / cat / log / check end to end, the classic fixtures
// extracted, incremental archiving, and hostile archives.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data.h"
#include "fixtures.h"
#include "process.h"
#include "scratch.h"
#include "vt/memstore.h"
#include "vt/metablock.h"
#include "vt/server.h"
#include "vt/vacfs.h"
#include "vt/zero.h"

using namespace vt;
namespace fs = std::filesystem;

namespace {

using Result = test::ShellResult;
Result sh(const std::string& cmd) { return test::shell(cmd); }

void write_file(const fs::path& p, const Bytes& data) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

using test::random_bytes;

class Archive : public testing::Test {
 protected:
  MemStore store;
  Server server{store, "127.0.0.1:0"};
  std::string vt;
  fs::path tmp;
  void SetUp() override {
    server.start();
    vt = std::string(VT_BIN_DIR) + "/vt -h " + server.address();
    tmp = test::scratch_path("archive");
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  void TearDown() override { fs::remove_all(tmp); }

  std::string vac(const std::string& args) {
    Result r = sh(vt + " vac -q " + args);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.rfind("vac:", 0), 0u) << r.out;
    return r.out.substr(0, 44);
  }
};

Bytes read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), {});
}

// Every attribute of two trees, compared.
void compare_trees(const fs::path& a, const fs::path& b) {
  std::vector<std::string> names_a, names_b;
  for (auto& e : fs::directory_iterator(a)) names_a.push_back(e.path().filename());
  for (auto& e : fs::directory_iterator(b)) names_b.push_back(e.path().filename());
  std::sort(names_a.begin(), names_a.end());
  std::sort(names_b.begin(), names_b.end());
  ASSERT_EQ(names_a, names_b) << a;
  for (const auto& n : names_a) {
    struct stat sa, sb;
    ASSERT_EQ(::lstat((a / n).c_str(), &sa), 0);
    ASSERT_EQ(::lstat((b / n).c_str(), &sb), 0);
    EXPECT_EQ(sa.st_mode, sb.st_mode) << a / n;
    EXPECT_EQ(sa.st_uid, sb.st_uid) << a / n;
    if (!S_ISLNK(sa.st_mode)) {
      EXPECT_EQ(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec) << a / n;
      EXPECT_EQ(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec) << a / n;
    }
    if (S_ISDIR(sa.st_mode)) {
      compare_trees(a / n, b / n);
    } else if (S_ISREG(sa.st_mode)) {
      EXPECT_EQ(sa.st_size, sb.st_size) << a / n;
      EXPECT_TRUE(read_file(a / n) == read_file(b / n)) << a / n;
    } else if (S_ISLNK(sa.st_mode)) {
      EXPECT_EQ(fs::read_symlink(a / n), fs::read_symlink(b / n));
    } else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
      EXPECT_EQ(sa.st_rdev, sb.st_rdev) << a / n;
    }
  }
}

}  // namespace

TEST_F(Archive, RoundTripOfEveryKindOfFile) {
  fs::path src = tmp / "src" / "tree";
  fs::create_directories(src / "deep");
  write_file(src / "empty", {});
  write_file(src / "one", {42});
  write_file(src / "big", random_bytes(5 << 20, 1));
  {  // large (written around the page cache), a zero MiB inside, an odd tail
    Bytes odd = random_bytes((6 << 20) + 4097, 4);
    std::fill(odd.begin() + (2 << 20), odd.begin() + (3 << 20), 0);
    write_file(src / "odd", odd);
  }
  write_file(src / "name with spaces & ünïcödé 名前", random_bytes(100, 2));
  write_file(src / "-dash", random_bytes(10, 3));
  {
    int fd = ::open((src / "sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_EQ(::pwrite(fd, "x", 1, 50 << 20), 1);
    ::close(fd);
  }
  fs::create_symlink("big", src / "link");
  fs::create_symlink("../nowhere/at/all", src / "dangling");
  ASSERT_EQ(::mkfifo((src / "fifo").c_str(), 0640), 0);
  bool devices = ::mknod((src / "null").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0;
  fs::path d = src / "deep";
  for (int i = 0; i < 40; i++) {
    d /= "d" + std::to_string(i);
    fs::create_directories(d);
  }
  write_file(d / "bottom", {1, 2, 3});
  fs::create_directories(src / "many");
  for (int i = 0; i < 20000; i++) write_file(src / "many" / ("f" + std::to_string(i)), {static_cast<std::uint8_t>(i)});
  ::chmod((src / "one").c_str(), 04755);
  ::chmod((src / "many").c_str(), 01777);
  timespec ts[2] = {{1600000000, 123456789}, {1600000000, 987654321}};
  ::utimensat(AT_FDCWD, (src / "big").c_str(), ts, 0);

  std::string score = vac((src).string());
  Result r = sh(vt + " unvac " + score + " " + (tmp / "out").string());
  ASSERT_EQ(r.status, 0) << r.out;
  compare_trees(tmp / "src", tmp / "out");
  struct stat st;
  ASSERT_EQ(::stat((tmp / "out" / "tree" / "sparse").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);  // the hole stayed a hole
  if (!devices) GTEST_LOG_(INFO) << "device files not tested: mknod not permitted here";

  EXPECT_EQ(sh(vt + " cat " + score + "/tree/one").out, std::string(1, 42));
  Result ls = sh(vt + " ls -l " + score + "/tree");
  EXPECT_NE(ls.out.find("link -> big"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("prw-r-----"), std::string::npos) << ls.out;
  Result check = sh(vt + " check " + score);
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_EQ(check.out.find("problem"), std::string::npos) << check.out;
  Result list = sh(vt + " unvac -t " + score + " | wc -l");
  // tree, deep and 40 levels below it, bottom, 11 files, many and its 20000
  EXPECT_EQ(std::stoi(list.out), 1 + 41 + 1 + 11 + 1 + 20000 - (devices ? 0 : 1)) << list.out;
}

TEST_F(Archive, IncrementalReusesUnchangedFilesWithoutReading) {
  fs::path src = tmp / "t";
  fs::create_directories(src);
  write_file(src / "same", random_bytes(100000, 1));
  write_file(src / "changed", random_bytes(100000, 2));
  std::string full1 = vac(src.string());
  // Same size and mtime, different bytes: an incremental run must not read it.
  struct stat st;
  ::stat((src / "same").c_str(), &st);
  write_file(src / "same", random_bytes(100000, 3));
  timespec ts[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, (src / "same").c_str(), ts, 0);
  std::string inc = vac("-d " + full1 + " " + src.string());
  fs::create_directories(tmp / "out");
  ASSERT_EQ(sh(vt + " unvac " + inc + " " + (tmp / "out").string()).status, 0);
  std::ifstream f(tmp / "out" / "t" / "same", std::ios::binary);
  Bytes got((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(got, random_bytes(100000, 1));  // the old stream, not re-read

  // With nothing changed, an incremental run gives the full run's score.
  std::string full2 = vac(src.string());
  EXPECT_EQ(vac("-d " + full2 + " " + src.string()), full2);
}

TEST_F(Archive, ExcludePatterns) {
  fs::path src = tmp / "t";
  fs::create_directories(src / "skipdir");
  write_file(src / "keep.c", {1});
  write_file(src / "drop.o", {2});
  write_file(src / "skipdir" / "x", {3});
  std::string s = vac("-x '*.o' -x skipdir " + src.string());
  Result r = sh(vt + " unvac -t " + s);
  EXPECT_EQ(r.out, "t/\nt/keep.c\n");
}

TEST_F(Archive, LogFollowsThePrevChain) {
  auto cache = std::make_unique<Cache>(store);
  auto vfs = VacFs::create(*cache, 8192, "chain");
  Score s1 = vfs->sync();
  vfs->create(vfs->root(), DirEntry{.elem = "x", .mode = 0644});
  Score s2 = vfs->sync();
  Result r = sh(vt + " log vac:" + s2.hex());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("vac:" + s2.hex()), 0u) << r.out;
  EXPECT_NE(r.out.find("\nvac:" + s1.hex()), std::string::npos) << r.out;
}

class ClassicUnvac : public Archive, public testing::WithParamInterface<std::string> {};

TEST_P(ClassicUnvac, ExtractsAsTheManifestSays) {
  Score root = test::load_fixture(GetParam(), store);
  fs::path out = tmp / "out";
  Result r = sh(vt + " unvac vac:" + root.hex() + " " + out.string());
  ASSERT_EQ(r.status, 0) << r.out;
  int n = 0;
  for (const auto& m : test::read_manifest(GetParam())) {
    n++;
    const std::string& path = m.path;
    struct stat st;
    ASSERT_EQ(::lstat((out / path).c_str(), &st), 0) << path;
    if (m.type == 'f') {
      EXPECT_TRUE(S_ISREG(st.st_mode)) << path;
      EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), m.size) << path;
      EXPECT_EQ(sh("sha256sum < '" + (out / path).string() + "' | cut -c1-64").out, m.digest + "\n") << path;
      EXPECT_EQ(std::to_string(st.st_mtim.tv_sec), m.mtime) << path;
      EXPECT_EQ(st.st_mode & 07777, m.perm) << path;
    }
    char got = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : S_ISFIFO(st.st_mode) ? 'p' : 'f';
    EXPECT_EQ(got, m.type) << path;
  }
  EXPECT_GT(n, 1);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ClassicUnvac, testing::Values("classic-small", "classic-deep"));

namespace {

// An archive whose root directory lists `entries` (hand-made DirEntries)
// over the streams of a real archive with files "a" and "b".
Score hostile_archive(BlockStore& store, const std::function<void(std::vector<DirEntry>&)>& mangle, const Bytes* raw_meta = nullptr) {
  Cache cache(store);
  auto vfs = VacFs::create(cache);
  auto a = vfs->create(vfs->root(), DirEntry{.elem = "a", .mode = 0644});
  vfs->write(a, 0, Bytes(10, 'a'));
  vfs->create(vfs->root(), DirEntry{.elem = "b", .mode = 0644});
  Score good = vfs->sync();
  std::vector<DirEntry> entries = vfs->list(vfs->root());
  mangle(entries);
  // Rebuild the root directory's meta stream by hand.
  Root r = Root::unpack(store.get(good, kWireRoot));
  Entry te;
  te.psize = 8160, te.dsize = 8192, te.type = kDirType, te.flags = kEntryActive, te.size = 120, te.score = r.score;
  auto top = File::open_root(cache, te);
  auto meta = top->open(1);
  Bytes block = raw_meta ? *raw_meta : MetaBlock::build(entries, 8192).at(0);
  meta->write(0, block);
  meta->set_size(8192);
  r.score = top->flush().score;
  auto mark = cache.write_mark();
  Score s = cache.write(kRootType, r.pack());
  cache.wait_writes(mark);
  return s;
}

}  // namespace

TEST_F(Archive, HostileArchivesFailCleanlyAndWriteNothingOutside) {
  struct Case {
    const char* what;
    std::function<void(std::vector<DirEntry>&)> mangle;
  };
  std::vector<Case> cases = {
      {"dot-dot", [](auto& e) { e[0].elem = ".."; }},
      {"parent path", [](auto& e) { e[0].elem = "../escaped"; }},
      {"slash", [](auto& e) { e[0].elem = "x/y"; }},
      {"dot", [](auto& e) { e[0].elem = "."; }},
      {"gen mismatch", [](auto& e) { e[0].gen = 7; }},
      {"missing slot", [](auto& e) { e[0].entry = 999; }},
      {"duplicate", [](auto& e) { e[1].elem = e[0].elem; }},
      {"file claiming to be a dir", [](auto& e) { e[0].mode |= kModeDir; }},
  };
  for (const auto& c : cases) {
    Score s = hostile_archive(store, c.mangle);
    fs::path out = tmp / "out" / "target";
    fs::remove_all(tmp / "out");
    fs::create_directories(out);
    Result r = sh(vt + " unvac vac:" + s.hex() + " " + out.string());
    EXPECT_EQ(r.status, 1) << c.what << ": " << r.out;
    EXPECT_NE(r.out.find("vt: "), std::string::npos) << c.what;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << c.what << ": one line: " << r.out;
    EXPECT_FALSE(fs::exists(tmp / "out" / "escaped")) << c.what;
    std::size_t outside = 0;
    for (auto& e : fs::directory_iterator(tmp / "out")) outside += e.path().filename() != "target";
    EXPECT_EQ(outside, 0u) << c.what;
  }
  // Damaged meta blocks.
  Bytes bad_magic(8192, 0);
  bad_magic[0] = 0x12;
  Bytes truncated = MetaBlock::build({DirEntry{.elem = "a", .mode = 0644}}, 8192).at(0);
  truncated[4] = 0, truncated[5] = 40;  // size cuts the entry off
  for (const Bytes* raw : {&bad_magic, &truncated}) {
    Score s = hostile_archive(store, [](auto&) {}, raw);
    Result r = sh(vt + " ls vac:" + s.hex());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("meta block"), std::string::npos) << r.out;
  }
}

TEST_F(Archive, AbsurdSizesAreRejected) {
  // Hand-made blocks: file "a" claims 2^47 bytes in a depth-0 tree.
  Cache cache(store);
  auto vfs = VacFs::create(cache);
  vfs->create(vfs->root(), DirEntry{.elem = "a", .mode = 0644});
  Root r = Root::unpack(store.get(vfs->sync(), kWireRoot));
  Bytes top = store.get(r.score, kWireDir);  // the three-entry block
  zero_extend(kWireDir, top, 120);
  Entry rootdir = Entry::unpack(std::span(top).first<kEntrySize>());
  Bytes dir = store.get(rootdir.score, kWireDir);  // the root's dir stream: "a" first
  zero_extend(kWireDir, dir, kEntrySize);
  dir[14] = 0x80;
  rootdir.score = store.put(kWireDir, dir);
  rootdir.pack(std::span(top).first<kEntrySize>());
  r.score = store.put(kWireDir, top);
  Score s = store.put(kWireRoot, r.pack());
  Result res = sh(vt + " cat vac:" + s.hex() + "/a");
  EXPECT_EQ(res.status, 1) << res.out;
  EXPECT_NE(res.out.find("deeper tree"), std::string::npos) << res.out;
}
