// Test helper: the classic vac sample archives in ../shared/fixtures.
#pragma once

#include <string>

#include "vt/score.h"
#include "vt/store.h"

namespace vt::test {

std::string fixture_dir(const std::string& name);
// Puts every block of fixture `name` into `store`; returns the ROOT score.
// Fails the calling test (and returns the zero score) when it is missing.
Score load_fixture(const std::string& name, BlockStore& store);

}  // namespace vt::test
