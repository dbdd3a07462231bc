// vtd_bench: drives vtd over loopback with pipelined 8 KiB random blocks and
// reports, from one run, new-block writes, duplicate writes and warm reads
// beside the SHA-1 ceiling measured on the same machine.
//
//   vtd_bench [-n MiB] [-d storedir] path/to/vtd
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <future>

#include "bench_util.h"
#include "vt/client.h"

using namespace vt;
using namespace vt::bench;

int main(int argc, char** argv) {
  vt::use_block_heap(argv);  // as vt and vtd do
  std::size_t mib = 256;
  std::string store = "";
  for (int c; (c = getopt(argc, argv, "n:d:")) != -1;) {
    if (c == 'n') mib = std::stoul(optarg);
    else if (c == 'd') store = optarg;
    else return 2;
  }
  if (optind + 1 != argc) {
    fmt::print(stderr, "usage: vtd_bench [-n MiB] [-d storedir] path/to/vtd\n");
    return 2;
  }
  namespace fs = std::filesystem;
  if (store.empty()) store = (fs::temp_directory_path() / ("vtd-bench-" + std::to_string(::getpid()))).string();
  fs::remove_all(store);

  std::size_t n = mib * (1 << 20) / kBlock;
  std::vector<Bytes> blocks(n, Bytes(kBlock));
  std::vector<Score> scores(n);
  for (std::size_t i = 0; i < n; i++) {
    fill_random(blocks[i], i + 1);
    scores[i] = Score::of(blocks[i]);
  }

  double sha1 = sha1_rate();
  double w_new, w_dup, r_warm;
  {
    VtdProcess vtd(argv[optind], store);
    auto c = Client::connect(vtd.address());
    w_new = write_blocks(*c, blocks, scores);
    w_dup = write_blocks(*c, blocks, scores);
    read_blocks(*c, scores);  // the log is written around the page cache: warm it
    r_warm = read_blocks(*c, scores);
  }
  double sha1_after = sha1_rate();
  fs::remove_all(store);

  double ceiling = (sha1 + sha1_after) / 2;
  fmt::print("vtd over loopback, {} x 8 KiB random blocks ({} MiB), pipelined, one client connection\n", n, mib);
  fmt::print("{:<28}{:>10}{:>14}\n", "", "MB/s", "of SHA-1 core");
  fmt::print("{:<28}{:>10.0f}{:>14}\n", "SHA-1, one core (ceiling)", ceiling, "1.00");
  fmt::print("{:<28}{:>10.0f}{:>14.2f}\n", "write, new blocks", w_new, w_new / ceiling);
  fmt::print("{:<28}{:>10.0f}{:>14.2f}\n", "write, duplicate blocks", w_dup, w_dup / ceiling);
  fmt::print("{:<28}{:>10.0f}{:>14.2f}\n", "read, page-cache warm", r_warm, r_warm / ceiling);
  fmt::print("(SHA-1 measured before and after: {:.0f} and {:.0f} MB/s)\n", sha1, sha1_after);
  return 0;
}
