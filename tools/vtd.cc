// vtd: a venti server on a durable log-structured store.
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <thread>

#include "cli.h"
#include "vt/error.h"
#include "vt/heap.h"
#include "vt/logstore.h"
#include "vt/radosstore.h"
#include "vt/server.h"
#include "vt/status.h"

namespace vt {
namespace {

const std::string kUsage =
    "usage: vtd [-a address] [-r] [-b maxblock] [-s status-address] storedir\n"
    "       vtd [-a address] [-r] [-b maxblock] [-s status-address] rados:POOL[,conf=PATH][,id=NAME][,timeout=SEC]\n"
    "       vtd check storedir\n"
    "       vtd reindex storedir\n";

void log_line(const std::string& line) { fmt::print(stderr, "vtd: {}\n", line); }

#ifdef VT_HAVE_RADOS
std::string rados_page(const RadosStore& store) {
  auto s = store.stats();
  return fmt::format("writes {}\ndedup_hits {}\nreads {}\nerrors {}\n", s.writes, s.dedup_hits, s.reads, s.errors);
}
#endif

std::string status_page(const LogStore& store) {
  auto s = store.stats();
  return fmt::format(
      "blocks {}\nlog_bytes {}\nbytes_written {}\nwrites {}\ndedup_hits {}\nreads {}\nread_bytes {}\nerrors {}\nsyncs {}\n"
      "log_syncs {}\ncheckpoints {}\n",
      s.blocks, s.log_bytes, s.bytes_written, s.writes, s.dedup_hits, s.reads, s.read_bytes, s.errors, s.syncs, s.log_syncs, s.checkpoints);
}

int check(const std::string& dir) {
  auto r = LogStore::check(dir);
  fmt::print("{} records, {} bytes of blocks, {} index entries\n", r.records, r.bytes, r.index_entries);
  for (const auto& p : r.problems) fmt::print("problem: {}\n", p);
  return r.problems.empty() ? 0 : 1;
}

int reindex(const std::string& dir) {
  LogStoreOptions options;
  options.log = log_line;
  auto n = LogStore::reindex(dir, options);
  fmt::print("indexed {} records\n", n);
  return 0;
}

std::size_t parse_size(const std::string& text) {
  std::size_t pos = 0;
  unsigned long v = std::stoul(text, &pos);
  if (pos != text.size()) throw cli::UsageError("bad size '" + text + "'");
  return v;
}

int serve(int argc, char** argv) {
  std::string address = "127.0.0.1:17034", status_address;
  ServerOptions options;
  LogStoreOptions store_options;
  for (int c; (c = getopt(argc, argv, "a:rb:s:")) != -1;) {
    switch (c) {
      case 'a': address = optarg; break;
      case 'r': options.read_only = true; break;
      case 'b': options.max_block = store_options.max_block = parse_size(optarg); break;
      case 's': status_address = optarg; break;
      default: throw cli::UsageError("");
    }
  }
  if (optind + 1 != argc) throw cli::UsageError("want one store directory");
  if (options.max_block < 256 || options.max_block > kMaxMessageSize - 8)
    throw cli::UsageError(fmt::format("block size must be 256..{} for protocol version 02", kMaxMessageSize - 8));
  options.log = store_options.log = log_line;

  // Signals are taken by sigwait on this thread, not by a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The store: a directory (the durable log), or a RADOS pool.
  std::string where = argv[optind];
  std::unique_ptr<BlockStore> store;
  std::function<std::string()> page;
  if (where.starts_with("rados:")) {
#ifdef VT_HAVE_RADOS
    RadosOptions ro = parse_rados_spec(where);
    ro.max_block = options.max_block;
    auto rados = RadosStore::open(ro);
    page = [r = rados.get()] { return rados_page(*r); };
    store = std::move(rados);
#else
    throw Error(Errc::Invalid, "this vtd was built without librados");
#endif
  } else {
    auto log = LogStore::open(where, store_options);
    page = [l = log.get()] { return status_page(*l); };
    store = std::move(log);
  }
  Server server(*store, address, options);
  std::optional<StatusServer> status;
  if (!status_address.empty()) {
    status.emplace(status_address, page);
    log_line("status on http://" + status->address() + "/");
  }
  fmt::print("{}\n", server.address());
  std::fflush(stdout);
  server.start();
  int sig = 0;
  sigwait(&signals, &sig);
  log_line(fmt::format("signal {}: syncing and exiting", sig));
  server.stop();
  store->sync();
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "check") return check(argv[2]);
  if (argc == 3 && std::string(argv[1]) == "reindex") return reindex(argv[2]);
  return serve(argc, argv);
}

}  // namespace
}  // namespace vt

int main(int argc, char** argv) {
  vt::use_block_heap(argv);
  return vt::cli::run("vtd", vt::kUsage, [&] { return vt::main(argc, argv); });
}
