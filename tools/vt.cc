// vt: command-line access to a venti server.
#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli.h"
#include "vt_cmds.h"
#include "vt/client.h"
#include "vt/error.h"
#include "vt/heap.h"
#include "vt/logstore.h"
#include "vt/status.h"
#include "vt/zero.h"

namespace vt {
namespace {

const std::string kUsage =
    "usage: vt [-h address] command [args]\n"
    "  write [-z] [-t type]    store stdin as one block, print its score\n"
    "  read [-t type] score    print a block's bytes on stdout\n"
    "  ping                    check that the server answers\n"
    "  sync                    wait until the server's writes are durable\n"
    "  stats address           print a vtd status page (vtd -s address)\n"
    "  push storedir           send every block of a local store to the server\n"
    "  vac [-b blocksize] [-d vac:old] [-x pattern] [-n name] [-q] path...\n"
    "                          archive files, print the vac: score\n"
    "  unvac [-t] vac:score [dir]   extract (or list with -t) an archive\n"
    "  ls [-l] vac:score[/path]     list a directory of an archive\n"
    "  cat vac:score/path      print a file of an archive\n"
    "  log vac:score           the chain of earlier roots\n"
    "  check vac:score         verify every block an archive reaches\n";

using cli::Args;

// getopt over the command's words; -h is accepted everywhere.
Args parse(int argc, char** argv, const char* optstring, std::string address) {
  Args a;
  a.address = std::move(address);
  optind = 1;
  std::string opts = std::string("+h:") + optstring;
  for (int c; (c = getopt(argc, argv, opts.c_str())) != -1;) {
    if (c == '?') throw cli::UsageError("");
    if (c == 'h')
      a.address = optarg;
    else
      a.flags[static_cast<char>(c)].push_back(optarg ? optarg : "");
  }
  for (int i = optind; i < argc; i++) a.words.emplace_back(argv[i]);
  return a;
}

Bytes read_all(int fd, std::size_t limit) {
  Bytes data;
  std::uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read standard input");
    }
    if (n == 0) return data;
    data.insert(data.end(), buf, buf + n);
    if (data.size() > limit) throw Error(Errc::TooBig, "input is larger than the " + std::to_string(limit) + "-byte block limit");
  }
}

int cmd_write(const Args& a) {
  if (!a.words.empty()) throw cli::UsageError("write takes no arguments");
  BlockType type = a.has('t') ? parse_type(a.flag('t')) : kDataType;
  auto client = Client::connect(a.address);
  Bytes data = read_all(0, kDefaultMaxBlockSize);
  if (a.has('z')) data.resize(zero_truncated_size(to_wire(type), data));
  Score s = client->put(to_wire(type), data);
  fmt::print("{}\n", s.hex());
  return 0;
}

int cmd_read(const Args& a) {
  if (a.words.size() != 1) throw cli::UsageError("read wants one score");
  Score score = Score::parse(a.words[0]);
  auto client = Client::connect(a.address);
  std::vector<BlockType> types;
  if (a.has('t')) {
    types.push_back(parse_type(a.flag('t')));
  } else {  // the wire cannot tell data from dir pointers: try each wire type once
    for (BlockType t : {kRootType, kDirType, kDataType}) types.push_back(t);
    for (int d = 1; d <= kMaxDepth; d++) types.push_back(static_cast<BlockType>(kDataType + d));
  }
  for (BlockType t : types) {
    try {
      Bytes data = client->get(score, to_wire(t));
      cli::write_all(1, data);
      return 0;
    } catch (const Error& e) {
      if (e.code() != Errc::NotFound || types.size() == 1) throw;
    }
  }
  throw Error(Errc::NotFound, "no block with score " + score.hex() + " of any type");
}

int cmd_ping(const Args& a) {
  if (!a.words.empty()) throw cli::UsageError("ping takes no arguments");
  Client::connect(a.address)->ping();
  return 0;
}

int cmd_sync(const Args& a) {
  if (!a.words.empty()) throw cli::UsageError("sync takes no arguments");
  Client::connect(a.address)->sync();
  return 0;
}

int cmd_stats(const Args& a) {
  if (a.words.size() != 1) throw cli::UsageError("stats wants the status address vtd -s was given");
  fmt::print("{}", fetch_status(a.words[0]));
  return 0;
}

// Sends every block of a local store (e.g. what vtfs saved when the server
// was unreachable at unmount) to the server, then syncs it.
int cmd_push(const Args& a) {
  if (a.words.size() != 1) throw cli::UsageError("push wants a store directory");
  auto client = Client::connect(a.address);
  auto local = LogStore::open(a.words[0]);
  std::uint64_t n = 0;
  local->for_each([&](WireType type, std::span<const std::uint8_t> data) {
    client->put_async(type, data, Score::of(data));
    n++;
  });
  client->sync();
  std::ifstream root(a.words[0] + "/ROOT");
  std::string score;
  root >> score;
  fmt::print("pushed {} blocks{}\n", n, score.empty() ? "" : "; " + score + " is on the server");
  return 0;
}

struct Command {
  const char* options;
  std::function<int(const Args&)> run;
};

int main(int argc, char** argv) {
  std::string address;
  int c;
  while ((c = getopt(argc, argv, "+h:")) != -1) {
    if (c != 'h') throw cli::UsageError("");
    address = optarg;
  }
  if (optind >= argc) throw cli::UsageError("no command");
  const std::map<std::string, Command> commands = {
      {"write", {"zt:", cmd_write}},
      {"read", {"t:", cmd_read}},
      {"ping", {"", cmd_ping}},
      {"sync", {"", cmd_sync}},
      {"stats", {"", cmd_stats}},
      {"push", {"", cmd_push}},
      {"vac", {"b:d:x:qn:", cli::cmd_vac}},
      {"unvac", {"t", cli::cmd_unvac}},
      {"ls", {"l", cli::cmd_ls}},
      {"cat", {"", cli::cmd_cat}},
      {"log", {"", cli::cmd_log}},
      {"check", {"", cli::cmd_check}},
  };
  std::string name = argv[optind];
  auto it = commands.find(name);
  if (it == commands.end()) throw cli::UsageError("unknown command '" + name + "'");
  return it->second.run(parse(argc - optind, argv + optind, it->second.options, address));
}

}  // namespace
}  // namespace vt

int main(int argc, char** argv) {
  vt::use_block_heap(argv);
  return vt::cli::run("vt", vt::kUsage, [&] { return vt::main(argc, argv); });
}
