// vtd: a venti server.
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli.h"
#include "vt/memstore.h"
#include "vt/server.h"

namespace vt {
namespace {

const std::string kUsage = "usage: vtd [-a address] [-r] -m\n";

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:17034";
  ServerOptions options;
  bool memory = false;
  for (int c; (c = getopt(argc, argv, "a:rm")) != -1;) {
    switch (c) {
      case 'a': address = optarg; break;
      case 'r': options.read_only = true; break;
      case 'm': memory = true; break;
      default: throw cli::UsageError("");
    }
  }
  if (!memory || optind != argc) throw cli::UsageError("");
  options.log = [](const std::string& line) { fmt::print(stderr, "vtd: {}\n", line); };

  // Signals are taken synchronously by a waiting thread, not a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  MemStore store;
  Server server(store, address, options);
  fmt::print("{}\n", server.address());
  std::fflush(stdout);
  server.start();
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  store.sync();
  return 0;
}

}  // namespace
}  // namespace vt

int main(int argc, char** argv) {
  return vt::cli::run("vtd", vt::kUsage, [&] { return vt::main(argc, argv); });
}
