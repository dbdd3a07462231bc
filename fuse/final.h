// The final snapshot, at unmount, which must lose no edit: to the store;
// failing that, to a local recovery store that `vt push` sends on later;
// failing both (a full disk, most likely), the edits are only in memory,
// so vtfs keeps them and tries both again every few seconds until one
// works or SIGINT, SIGTERM or SIGHUP says to give up.
#pragma once

#include <string>

#include "divert.h"
#include "snapshot.h"

namespace vtfs {

struct FinalOptions {
  std::string recovery_dir;  // where a local recovery store goes
  std::string address;       // the server's, for the push command shown
};

// vtfs's exit status: 0 once the store has the snapshot, 1 otherwise.
int final_snapshot(Snapshots& snaps, Diverter& diverter, const FinalOptions& o);

}  // namespace vtfs
