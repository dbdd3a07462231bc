// vtfs: mount a vac archive read-write through FUSE.
#include <fcntl.h>
#include <fmt/core.h>
#include <fuse3/fuse_lowlevel.h>
#include <getopt.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

#include "divert.h"
#include "final.h"
#include "ops.h"
#include "snapshot.h"
#include "vt/cache.h"
#include "vt/error.h"
#include "vt/heap.h"
#include "vt/logstore.h"
#include "vt/redial.h"
#include "vt/server.h"
#include "vt/vacfs.h"

namespace fs = std::filesystem;

namespace {

const char kUsage[] =
    "usage: vtfs [options] ROOT MOUNTPOINT\n"
    "  ROOT is vac:SCORE, a file holding one, or 'new'\n"
    "  -h ADDRESS           use the venti server at ADDRESS (also $venti)\n"
    "  --store DIR          the embedded store (default $XDG_DATA_HOME/vtfs/store)\n"
    "  --listen ADDRESS     serve the embedded store there (default 127.0.0.1:17034; 'none')\n"
    "  -r                   read-only\n"
    "  -M SIZE              cache budget, e.g. 256M (default 256M)\n"
    "  -f                   stay in the foreground\n"
    "  -d                   FUSE debug output (implies -f)\n"
    "  -o OPTIONS           FUSE mount options (allow_other, ...)\n"
    "  --sync-interval SEC  snapshot every SEC seconds when something changed\n"
    "  --score-file FILE    rewrite FILE with each new root score\n";

std::string default_data_home() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return x;
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share";
  return ".";
}

struct Options {
  std::string address, store, listen = "127.0.0.1:17034", root, mountpoint, score_file;
  std::string data_home = default_data_home();  // holds the default store and recovery stores
  std::vector<std::string> fuse_opts;
  bool read_only = false, foreground = false, debug = false;
  std::size_t cache = std::size_t{256} << 20;
  unsigned sync_interval = 0;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) fmt::print(stderr, "vtfs: {}\n", why);
  fmt::print(stderr, "{}", kUsage);
  std::exit(2);
}

std::size_t parse_size(const std::string& s) {
  std::size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (...) {
    usage("bad size '" + s + "'");
  }
  std::string unit = s.substr(pos);
  if (unit == "K" || unit == "k") v <<= 10;
  else if (unit == "M" || unit == "m") v <<= 20;
  else if (unit == "G" || unit == "g") v <<= 30;
  else if (!unit.empty()) usage("bad size '" + s + "'");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  enum { kStore = 256, kListen, kSyncInterval, kScoreFile, kHelp };
  static const option longs[] = {{"store", required_argument, nullptr, kStore},
                                 {"listen", required_argument, nullptr, kListen},
                                 {"sync-interval", required_argument, nullptr, kSyncInterval},
                                 {"score-file", required_argument, nullptr, kScoreFile},
                                 {"help", no_argument, nullptr, kHelp},
                                 {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "h:rM:fdo:", longs, nullptr)) != -1;) {
    switch (c) {
      case 'h': o.address = optarg; break;
      case 'r': o.read_only = true; break;
      case 'M': o.cache = parse_size(optarg); break;
      case 'f': o.foreground = true; break;
      case 'd': o.debug = o.foreground = true; break;
      case 'o': o.fuse_opts.push_back(optarg); break;
      case kStore: o.store = optarg; break;
      case kListen: o.listen = optarg; break;
      case kSyncInterval: o.sync_interval = static_cast<unsigned>(parse_size(optarg)); break;
      case kScoreFile: o.score_file = optarg; break;
      case kHelp: fmt::print("{}", kUsage); std::exit(0);
      default: usage("");
    }
  }
  if (optind + 2 != argc) usage("want ROOT and MOUNTPOINT");
  o.root = argv[optind];
  o.mountpoint = argv[optind + 1];
  if (o.address.empty() && o.store.empty()) {
    if (const char* v = std::getenv("venti"); v && *v) o.address = v;
  }
  if (o.cache < (std::size_t{4} << 20)) usage("the cache needs at least 4M");
  // fuse_daemonize moves to "/" even in the foreground: resolve paths now.
  for (std::string* p : {&o.store, &o.score_file, &o.mountpoint, &o.data_home})
    if (!p->empty()) *p = std::filesystem::absolute(*p).string();
  // As the kernel will name the mount (symbolic links resolved): found in
  // mountinfo by that name. Not once mounted: that would ask ourselves.
  std::error_code ec;
  if (auto real = std::filesystem::weakly_canonical(o.mountpoint, ec); !ec) o.mountpoint = real.string();
  return o;
}


// ROOT: "new", "vac:SCORE", or a file whose first word is one.
std::optional<vt::Score> parse_root(const std::string& root) {
  if (root == "new") return std::nullopt;
  try {
    return vt::Score::parse(root);
  } catch (const vt::Error&) {
  }
  std::ifstream in(root);
  std::string word;
  if (!(in >> word)) throw vt::Error(vt::Errc::Invalid, "ROOT '" + root + "' is not 'new', a vac: score or a file holding one");
  return vt::Score::parse(word);
}

// Whether the kernel should check permissions (default_permissions). A
// mount without allow_other serves only its owner's uid; for root, who may
// read and write anything, the checks decide nothing, yet they cost a
// request per new file: a create drops the directory's cached attributes
// and the next path walk through it must fetch them to check them.
bool wants_permission_checks(const Options& o) {
  if (::geteuid() != 0) return true;
  for (const auto& opts : o.fuse_opts)
    for (std::string_view rest = opts; !rest.empty();) {
      std::string_view one = rest.substr(0, rest.find(','));
      if (one == "allow_other" || one == "allow_root") return true;
      rest.remove_prefix(std::min(rest.size(), one.size() + 1));
    }
  return false;
}

// The embedded store, also served on loopback so vt can reach it.
struct Embedded {
  std::string dir;
  std::unique_ptr<vt::LogStore> store;
  std::unique_ptr<vt::Server> server;
};

Embedded open_embedded(const Options& o) {
  Embedded e;
  const std::string& dir = e.dir = o.store.empty() ? o.data_home + "/vtfs/store" : o.store;
  e.store = vt::LogStore::open(dir, vt::LogStoreOptions{.log = [](const std::string& l) { fmt::print(stderr, "vtfs: store: {}\n", l); }});
  if (o.listen != "none") {
    try {
      e.server = std::make_unique<vt::Server>(*e.store, o.listen);
    } catch (const vt::Error&) {  // the port is taken: any port will do
      e.server = std::make_unique<vt::Server>(*e.store, "127.0.0.1:0");
    }
    e.server->start();
    fmt::print(stderr, "vtfs: store {} served on {}\n", dir, e.server->address());
  }
  return e;
}

class Ticker {  // periodic snapshots
 public:
  Ticker(vtfs::Snapshots& s, unsigned seconds) {
    if (seconds == 0) return;
    thread_ = std::thread([this, &s, seconds] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::seconds(seconds), [&] { return stop_; })) {
        lock.unlock();
        try {
          s.take_if_changed();
        } catch (const std::exception& e) {
          fmt::print(stderr, "vtfs: periodic snapshot failed: {}\n", e.what());
        }
        lock.lock();
      }
    });
  }
  ~Ticker() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// A path as /proc/self/mountinfo writes it: space, tab, newline and
// backslash as three octal digits after a backslash.
std::string unescape_mountinfo(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); i++) {
    auto octal = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The kernel starts FUSE mounts with 128 KiB of readahead; 4 MiB made cold
// sequential reads ~15% faster here. Only root may change it (best effort).
// The mount's device number comes from mountinfo: a stat() of the mount
// would be a request to ourselves, and would keep the mount busy (a quick
// unmount failing) while it waits for its answer.
void raise_readahead(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string device;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);  // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... - TYPE ...
    std::string id, parent, majmin, root, at;
    fields >> id >> parent >> majmin >> root >> at;
    if (unescape_mountinfo(at) == mountpoint && line.find(" - fuse") != std::string::npos) device = majmin;  // the last is the newest
  }
  if (device.rfind("0:", 0) != 0) return;
  std::ofstream("/sys/class/bdi/" + device + "/read_ahead_kb") << 4096;
}

int run(const Options& o) {
  // Everything that can fail for a bad server or score fails before mounting.
  Embedded embedded;
  std::unique_ptr<vt::BlockStore> remote;
  vt::BlockStore* store;
  if (!o.address.empty()) {
    remote = std::make_unique<vt::Redial>(o.address);
    store = remote.get();
  } else {
    embedded = open_embedded(o);
    store = embedded.store.get();
  }
  vtfs::Diverter diverter(*store);
  vt::Cache cache(diverter, vt::CacheOptions{.budget = o.cache});
  auto root = parse_root(o.root);
  auto vfs = root ? vt::VacFs::open(cache, *root) : vt::VacFs::create(cache);
  // Directory indexes take about a KiB per entry: with this limit they stay
  // within a quarter of the cache budget, less what the kernel holds.
  vfs->set_node_limit(std::max<std::size_t>(o.cache / 4096, 1024));
  int out = ::dup(1);  // scores still reach the caller's stdout after daemonizing
  vtfs::Snapshots snaps(*vfs, out, o.score_file);
  vtfs::Context ctx(*vfs, snaps, o.read_only);
  ctx.store_dir = embedded.dir;

  std::vector<std::string> args = {"vtfs", "-o", "fsname=vac:" + (root ? root->hex() : std::string("new")) + ",subtype=vtfs"};
  if (wants_permission_checks(o)) args.insert(args.end(), {"-o", "default_permissions"});
  if (o.read_only) args.insert(args.end(), {"-o", "ro"});
  for (const auto& opt : o.fuse_opts) args.insert(args.end(), {"-o", opt});
  if (o.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  // libfuse may copy them to add its own.
  std::unique_ptr<fuse_args, void (*)(fuse_args*)> fargs_copy(&fargs, fuse_opt_free_args);
  fuse_session* se = fuse_session_new(&fargs, &vtfs::operations(), sizeof(fuse_lowlevel_ops), &ctx);
  if (!se) throw vt::Error(vt::Errc::Invalid, "bad FUSE options");
  std::unique_ptr<fuse_session, void (*)(fuse_session*)> session(se, fuse_session_destroy);
  ctx.session = se;
  if (fuse_set_signal_handlers(se) != 0) throw vt::Error(vt::Errc::Io, "cannot set signal handlers");
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    throw vt::Error(vt::Errc::Io, "cannot mount on " + o.mountpoint);
  }
  raise_readahead(o.mountpoint);
  fuse_daemonize(o.foreground ? 1 : 0);
  int rc = 0;
  {
    Ticker ticker(snaps, o.read_only ? 0 : o.sync_interval);
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    // Measured: many small requests (cp -a of a tree) go best with plenty
    // of threads; 1-4 threads were 30-50% slower.
    fuse_loop_cfg_set_max_threads(cfg, 16);
    fuse_loop_cfg_set_idle_threads(cfg, 8);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    // libfuse reports the signal that ended the loop (SIGINT, SIGTERM,
    // SIGHUP) as its result; that is an unmount like any other. Its own
    // failures are negative.
    if (rc > 0) rc = 0;
  }
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  if (!o.read_only) {
    vtfs::FinalOptions f{.recovery_dir = o.data_home + "/vtfs/recovery/" + std::to_string(std::time(nullptr)) + "-" + std::to_string(::getpid()),
                         .address = o.address};
    if (vtfs::final_snapshot(snaps, diverter, f) != 0) rc = 1;
  }
  ::close(out);
  return rc == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  vt::use_block_heap(argv);  // see the FUSE performance notes
  Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "vtfs: {}\n", e.what());
    return 1;
  }
}
