// Test helper: a child process whose first line of standard output is read
// back (vtd prints the address it listens on), and its standard error kept.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace vt::test {

class Process {
 public:
  // Starts `argv`; waits for its first stdout line (empty if it exits first).
  explicit Process(std::vector<std::string> argv);
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& first_line() const { return first_line_; }
  void signal(int sig);
  // Waits for exit; returns the exit status, or 128+signal.
  int wait();
  // Everything the process wrote to stderr so far (after wait(): all of it).
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  std::string first_line_;
  std::string err_path_;
};

struct ShellResult {
  int status;
  std::string out;  // stdout and stderr
};
// Runs a shell command and collects what it prints.
ShellResult shell(const std::string& cmd);

}  // namespace vt::test
