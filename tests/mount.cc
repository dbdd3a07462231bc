#include "mount.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

namespace vt::test {

namespace fs = std::filesystem;

bool fuse_available() { return ::access("/dev/fuse", R_OK | W_OK) == 0 && shell("command -v fusermount3").status == 0; }

static bool is_mountpoint(const fs::path& dir) {
  std::ifstream m("/proc/self/mounts");
  std::string want = " ";
  for (char c : fs::absolute(dir).lexically_normal().string()) {  // as the kernel escapes it
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\')
      want += fmt::format("\\{:03o}", c);
    else
      want += c;
  }
  want += " ";
  for (std::string line; std::getline(m, line);)
    if (line.find(want) != std::string::npos && line.find("fuse") != std::string::npos) return true;
  return false;
}

Mount::Mount(const fs::path& dir, const std::string& root, const std::vector<std::string>& args, const fs::path& cwd) : dir_(dir) {
  fs::create_directories(dir_);
  out_ = dir_.string() + ".out";
  err_ = dir_.string() + ".err";
  std::vector<std::string> argv = {std::string(VT_BIN_DIR) + "/../fuse/vtfs", "-f"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(root);
  argv.push_back(dir_.string());
  pid_ = ::fork();
  if (pid_ == 0) {
    int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> av;
    for (auto& a : argv) av.push_back(a.data());
    av.push_back(nullptr);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  for (int i = 0; i < 400 && !is_mountpoint(dir_); i++) {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {  // it gave up
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

Mount::~Mount() {
  if (is_mountpoint(dir_)) shell("fusermount3 -uz '" + dir_.string() + "'");
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool Mount::mounted() const { return is_mountpoint(dir_); }

int Mount::wait() {
  if (pid_ > 0) {
    int st;
    ::waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
  }
  return status_;
}

int Mount::unmount() {
  // A busy mount (a path lookup under way elsewhere) refuses for a moment;
  // a test must not then wait forever for a daemon that was never told.
  for (int i = 0; i < 40; i++) {
    if (shell("fusermount3 -u '" + dir_.string() + "' 2>&1").status == 0 || !is_mountpoint(dir_)) return wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "cannot unmount " << dir_;
  shell("fusermount3 -uz '" + dir_.string() + "'");
  return wait();
}

void Mount::kill9() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
  wait();
  shell("fusermount3 -uz '" + dir_.string() + "'");
}

std::vector<std::string> Mount::scores() const {
  std::ifstream in(out_);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string Mount::last_score() const {
  auto s = scores();
  return s.empty() ? "" : s.back();
}

std::string Mount::stderr_text() const {
  std::ifstream in(err_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SmallDisk::SmallDisk(std::filesystem::path dir, int mib) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  mounted_ = shell("mount -t tmpfs -o size=" + std::to_string(mib) + "M tmpfs '" + dir_.string() + "'").status == 0;
}

SmallDisk::~SmallDisk() {
  if (mounted_) shell("umount -l '" + dir_.string() + "'");
}

bool SmallDisk::grow(int mib) { return shell("mount -o remount,size=" + std::to_string(mib) + "M '" + dir_.string() + "'").status == 0; }

}  // namespace vt::test
