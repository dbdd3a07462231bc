// Snapshots: sync the archive, then announce the new root score on the
// daemon's standard output (one line each) and in the score file.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "vt/vacfs.h"

namespace vtfs {

class Snapshots {
 public:
  Snapshots(vt::VacFs& vfs, int out_fd, std::string score_file);
  // Syncs and announces; throws vt::Error when the store fails.
  vt::Score take();
  // The same, for periodic snapshots: announces only a score that changed.
  void take_if_changed();
  vt::Score current() const;

 private:
  void announce(const vt::Score& s);
  void write_score_file(const std::string& line);
  vt::VacFs& vfs_;
  int out_fd_;
  std::string score_file_;
  mutable std::mutex mu_;  // one snapshot at a time; announcements in order
};

}  // namespace vtfs
