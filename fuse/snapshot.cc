#include "snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "vt/error.h"

namespace vtfs {

Snapshots::Snapshots(vt::VacFs& vfs, int out_fd, std::string score_file) : vfs_(vfs), out_fd_(out_fd), score_file_(std::move(score_file)) {}

vt::Score Snapshots::take() {
  std::lock_guard lock(mu_);
  vt::Score s = vfs_.sync();
  announce(s);
  return s;
}

void Snapshots::take_if_changed() {
  std::lock_guard lock(mu_);
  const vt::Score before = vfs_.score();
  vt::Score s = vfs_.sync();
  if (s != before) announce(s);
}

void Snapshots::announce(const vt::Score& s) {
  std::string line = "vac:" + s.hex() + "\n";
  if (out_fd_ >= 0) (void)!::write(out_fd_, line.data(), line.size());
  if (!score_file_.empty()) write_score_file(line);
}

vt::Score Snapshots::current() const { return vfs_.score(); }

// Written to a temporary file, synced, then renamed over the old one, so a
// reader never sees half a score.
void Snapshots::write_score_file(const std::string& line) {
  std::string tmp = score_file_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) vt::throw_errno("write " + tmp);
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), score_file_.c_str()) < 0) vt::throw_errno("write " + score_file_);
}

}  // namespace vtfs
