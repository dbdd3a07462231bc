// file_bench: a stream written and flushed, then read cold, through the
// block cache against vtd over loopback, beside vtd's raw pipelined rates
// and the SHA-1 ceiling, all from one run.
//
//   file_bench [-n MiB] [-M cache-MiB] path/to/vtd
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>

#include "bench_util.h"
#include "vt/cache.h"
#include "vt/file.h"

using namespace vt;
using namespace vt::bench;

int main(int argc, char** argv) {
  vt::use_block_heap(argv);  // as vt and vtd do
  std::size_t mib = 1024, cache_mib = 64;
  for (int c; (c = getopt(argc, argv, "n:M:")) != -1;) {
    if (c == 'n') mib = std::stoul(optarg);
    else if (c == 'M') cache_mib = std::stoul(optarg);
    else return 2;
  }
  if (optind + 1 != argc) {
    fmt::print(stderr, "usage: file_bench [-n MiB] [-M cache-MiB] path/to/vtd\n");
    return 2;
  }
  namespace fs = std::filesystem;
  std::string store = (fs::temp_directory_path() / ("file-bench-" + std::to_string(::getpid()))).string();
  fs::remove_all(store);

  // Raw rates on a quarter of the data, new random blocks.
  std::size_t raw_n = mib * (1 << 20) / kBlock / 4;
  std::vector<Bytes> blocks(raw_n, Bytes(kBlock));
  std::vector<Score> scores(raw_n);
  for (std::size_t i = 0; i < raw_n; i++) {
    fill_random(blocks[i], 1000000 + i);
    scores[i] = Score::of(blocks[i]);
  }
  Bytes chunk(1 << 20);
  double sha1 = sha1_rate(), raw_w, raw_r, f_w, f_r;
  {
    VtdProcess vtd(argv[optind], store);
    auto c = Client::connect(vtd.address());
    raw_w = write_blocks(*c, blocks, scores);
    raw_r = read_blocks(*c, scores);
    blocks.clear();

    Entry e;
    {
      Cache cache(*c, CacheOptions{.budget = cache_mib << 20});
      auto f = File::create_root(cache, 8160, 8192, false);
      auto t0 = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < mib; i++) {
        fill_random(chunk, i + 1);  // outside the timed work would need 1 GiB of RAM; it costs ~5%
        f->write(std::uint64_t(i) << 20, chunk);
      }
      e = f->flush();
      c->sync();
      f_w = mib * (1 << 20) / seconds_since(t0) / 1e6;
    }
    {
      Cache cache(*c, CacheOptions{.budget = cache_mib << 20});  // cold: nothing cached
      auto f = File::open_root(cache, e);
      auto t0 = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < mib; i++) f->read(std::uint64_t(i) << 20, chunk);
      f_r = mib * (1 << 20) / seconds_since(t0) / 1e6;
    }
  }
  fs::remove_all(store);
  fmt::print("{} MiB stream, 8 KiB blocks, {} MiB cache, vtd over loopback\n", mib, cache_mib);
  fmt::print("{:<34}{:>8}{:>10}{:>10}\n", "", "MB/s", "of raw", "of SHA-1");
  fmt::print("{:<34}{:>8.0f}{:>10}{:>10}\n", "SHA-1, one core", sha1, "", "1.00");
  fmt::print("{:<34}{:>8.0f}{:>10}{:>10.2f}\n", "vtd raw pipelined write (new)", raw_w, "1.00", raw_w / sha1);
  fmt::print("{:<34}{:>8.0f}{:>10.2f}{:>10.2f}\n", "File write + flush + sync", f_w, f_w / raw_w, f_w / sha1);
  fmt::print("{:<34}{:>8.0f}{:>10}{:>10.2f}\n", "vtd raw pipelined read", raw_r, "1.00", raw_r / sha1);
  fmt::print("{:<34}{:>8.0f}{:>10.2f}{:>10.2f}\n", "File cold sequential read", f_r, f_r / raw_r, f_r / sha1);
  return 0;
}
