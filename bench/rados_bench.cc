// rados_bench: vtd on the RADOS store with one and two front ends, beside
// vtd on the local store, in one run: new-block writes and reads, MB/s and
// blocks/s, 8 KiB random blocks, pipelined.
//
//   rados_bench [-n MiB] path/to/vtd CEPH_CONF [POOL]
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "bench_util.h"

using namespace vt;
using namespace vt::bench;

namespace {

struct Rates {
  double write, read;
};

// Drives `addresses` at once, each with its own share of new blocks.
Rates drive(const std::vector<std::string>& addresses, std::size_t n, std::uint64_t seed) {
  std::size_t per = n / addresses.size();
  std::vector<std::vector<Bytes>> blocks(addresses.size());
  std::vector<std::vector<Score>> scores(addresses.size());
  for (std::size_t f = 0; f < addresses.size(); f++)
    for (std::size_t i = 0; i < per; i++) {
      blocks[f].emplace_back(kBlock);
      fill_random(blocks[f].back(), seed + f * per + i);
      scores[f].push_back(Score::of(blocks[f].back()));
    }
  std::vector<std::unique_ptr<Client>> clients;
  for (auto& a : addresses) clients.push_back(Client::connect(a));
  auto run = [&](auto work) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (std::size_t f = 0; f < addresses.size(); f++) ts.emplace_back([&, f] { work(f); });
    for (auto& t : ts) t.join();
    return per * addresses.size() * kBlock / seconds_since(t0) / 1e6;
  };
  Rates r;
  r.write = run([&](std::size_t f) { write_blocks(*clients[f], blocks[f], scores[f]); });
  r.read = run([&](std::size_t f) { read_blocks(*clients[f], scores[f]); });
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  vt::use_block_heap(argv);  // as vt and vtd do
  std::size_t mib = 128;
  for (int c; (c = getopt(argc, argv, "n:")) != -1;) {
    if (c == 'n') mib = std::stoul(optarg);
    else return 2;
  }
  if (optind + 2 > argc) {
    fmt::print(stderr, "usage: rados_bench [-n MiB] path/to/vtd CEPH_CONF [POOL]\n");
    return 2;
  }
  std::string vtd = argv[optind], conf = argv[optind + 1], pool = optind + 2 < argc ? argv[optind + 2] : "vt";
  std::string spec = "rados:" + pool + ",conf=" + conf;
  std::size_t n = mib * (1 << 20) / kBlock;
  namespace fs = std::filesystem;
  std::string local = (fs::temp_directory_path() / ("rados-bench-local-" + std::to_string(::getpid()))).string();

  Rates loc, one, two;
  {
    VtdProcess v(vtd, local);
    loc = drive({v.address()}, n, 1);
  }
  fs::remove_all(local);
  {
    VtdProcess v(vtd, spec);
    one = drive({v.address()}, n, 10'000'000);
  }
  {
    VtdProcess a(vtd, spec), b(vtd, spec);
    two = drive({a.address(), b.address()}, n, 20'000'000);
  }
  double sha1 = sha1_rate();
  auto row = [&](const char* name, const Rates& r) {
    fmt::print("{:<26}{:>11.0f}{:>11.0f}{:>11.0f}{:>11.0f}{:>10.2f}\n", name, r.write, r.write * 1e6 / kBlock, r.read, r.read * 1e6 / kBlock, r.write / loc.write);
  };
  fmt::print("{} x 8 KiB random blocks per configuration, pipelined; SHA-1 one core {:.0f} MB/s\n", n, sha1);
  fmt::print("{:<26}{:>11}{:>11}{:>11}{:>11}{:>10}\n", "", "write MB/s", "blocks/s", "read MB/s", "blocks/s", "w/local");
  row("vtd, local store", loc);
  row("vtd, RADOS, 1 front end", one);
  row("vtd, RADOS, 2 front ends", two);
  return 0;
}
