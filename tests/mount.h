// Test helper: a vtfs process mounted on a fresh directory.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "process.h"

namespace vt::test {

bool fuse_available();  // /dev/fuse and fusermount3 usable


class Mount {
 public:
  // Starts `vtfs -f ARGS ROOT DIR` (in `cwd` if given); waits until DIR is
  // mounted or vtfs exits.
  Mount(const std::filesystem::path& dir, const std::string& root, const std::vector<std::string>& args,
        const std::filesystem::path& cwd = {});
  ~Mount();  // unmounts and reaps if still running
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  bool mounted() const;
  // Unmounts with fusermount3 -u; returns vtfs's exit status.
  int unmount();
  // Waits for vtfs to exit on its own (e.g. a failed start); its status.
  int wait();
  void kill9();
  pid_t pid() const { return pid_; }
  std::vector<std::string> scores() const;  // lines printed on stdout
  std::string last_score() const;
  std::string stderr_text() const;

 private:
  std::filesystem::path dir_, out_, err_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// A tmpfs of `mib` MiB mounted on `dir` (root only), unmounted at the end:
// a disk that fills up.
class SmallDisk {
 public:
  SmallDisk(std::filesystem::path dir, int mib);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  bool mounted() const { return mounted_; }
  bool grow(int mib);

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

}  // namespace vt::test
