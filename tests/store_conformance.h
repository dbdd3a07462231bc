// What every BlockStore must do, run against each implementation.
#pragma once

#include "vt/store.h"

namespace vt::test {

// Puts, gets, types, absence, the zero score, dedup, async writes, sync,
// concurrent writers, limits. Reports through gtest.
void check_store_conformance(BlockStore& store);

}  // namespace vt::test
