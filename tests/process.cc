#include "process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include <gtest/gtest.h>

namespace vt::test {

Process::Process(std::vector<std::string> argv) {
  static int counter = 0;
  err_path_ = testing::TempDir() + "/proc-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".err";
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') first_line_.push_back(c);
  ::close(out[0]);
}

Process::~Process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ::unlink(err_path_.c_str());
}

void Process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Process::wait() {
  int status = 0;
  if (pid_ <= 0 || ::waitpid(pid_, &status, 0) < 0) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Process::stderr_text() const {
  std::ifstream in(err_path_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ShellResult shell(const std::string& cmd) {
  ShellResult r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace vt::test
