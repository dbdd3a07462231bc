#include "vt/heap.h"

#include <malloc.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

namespace vt {

std::string block_heap_tunables(std::string_view current) {
  std::string out(current);
  bool added = false;
  for (std::string_view t : {"glibc.malloc.hugetlb=1", "glibc.malloc.arena_max=1"}) {
    std::string_view name = t.substr(0, t.find('=') + 1);
    if (current.find(name) != std::string_view::npos) continue;
    out += out.empty() ? "" : ":";
    out += t;
    added = true;
  }
  return added ? out : std::string();
}

void use_block_heap(char** argv) {
  const char* env = std::getenv("GLIBC_TUNABLES");
  std::string want = block_heap_tunables(env ? env : "");
  if (!want.empty() && ::setenv("GLIBC_TUNABLES", want.c_str(), 1) == 0) {
    // The binary's own path, not /proc/self/exe: the kernel names the
    // process after the file executed, and ps and pgrep should say "vtfs".
    char path[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
      path[n] = '\0';
      ::execv(path, argv);
    }
    ::execv("/proc/self/exe", argv);  // renamed or deleted meanwhile
    // No exec at all (no /proc?): carry on with the heap as it is.
  }
  // Large buffers (a FUSE request's) from the heap too, and freed memory kept.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace vt
