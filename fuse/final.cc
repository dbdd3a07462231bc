#include "final.h"

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "vt/error.h"
#include "vt/logstore.h"

namespace vtfs {

namespace {

// Set by a signal while the edits wait in memory: a handler can only
// reach a static.
std::atomic<bool> give_up{false};

void on_signal(int) { give_up = true; }

void catch_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

constexpr auto kRetry = std::chrono::seconds(2);
constexpr auto kTick = std::chrono::milliseconds(50);  // how soon a signal is seen

enum class Outcome { stored, saved, failed };

// One attempt; `say` reports failures (the first attempt only).
Outcome attempt(Snapshots& snaps, Diverter& diverter, const FinalOptions& o, bool say) {
  try {
    snaps.take();
    return Outcome::stored;
  } catch (const std::exception& e) {
    if (say) fmt::print(stderr, "vtfs: final snapshot failed: {}\n", e.what());
  }
  try {
    auto local = vt::LogStore::open(o.recovery_dir);
    diverter.divert(local.get());
    try {
      vt::Score s = snaps.take();
      diverter.divert(nullptr);
      std::ofstream(o.recovery_dir + "/ROOT") << "vac:" << s.hex() << "\n";
      fmt::print(stderr, "vtfs: unsynced changes saved in {} as vac:{}\n", o.recovery_dir, s.hex());
      fmt::print(stderr, "vtfs: when the server is back: vt{} push {}\n", o.address.empty() ? "" : " -h " + o.address, o.recovery_dir);
      return Outcome::saved;
    } catch (...) {
      diverter.divert(nullptr);  // `local` goes now
      throw;
    }
  } catch (const std::exception& e) {
    if (say) fmt::print(stderr, "vtfs: could not save the changes locally either: {}\n", e.what());
  }
  return Outcome::failed;
}

}  // namespace

int final_snapshot(Snapshots& snaps, Diverter& diverter, const FinalOptions& o) {
  catch_signals();
  Outcome out = attempt(snaps, diverter, o, true);
  if (out == Outcome::failed) {
    fmt::print(stderr, "vtfs: the unsynced changes are only in memory; trying again every {} s (make room or bring the server back; SIGTERM gives up)\n",
               kRetry.count());
    while (out == Outcome::failed) {
      for (std::chrono::milliseconds waited{0}; waited < kRetry && !give_up; waited += kTick) std::this_thread::sleep_for(kTick);
      if (give_up) {
        fmt::print(stderr, "vtfs: given up: the unsynced changes are lost\n");
        return 1;
      }
      out = attempt(snaps, diverter, o, false);
    }
  }
  if (out == Outcome::stored) {
    std::error_code ec;  // what a failed recovery attempt left is not needed now
    std::filesystem::remove_all(o.recovery_dir, ec);
    return 0;
  }
  return 1;
}

}  // namespace vtfs
