// Test helper: the classic vac sample archives in ../shared/fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vt/score.h"
#include "vt/store.h"
#include "vt/types.h"

namespace vt::test {

std::string fixture_dir(const std::string& name);
// One block of a fixture as its blocks/ folder holds it.
struct FixtureBlock {
  WireType type;
  Bytes data;
};
std::vector<FixtureBlock> fixture_blocks(const std::string& name);
// The ROOT score; fails the calling test (and returns the zero score) when
// the fixture is missing.
Score fixture_root(const std::string& name);
// Puts every block of fixture `name` into `store`; returns fixture_root.
Score load_fixture(const std::string& name, BlockStore& store);

// One line of a fixture's MANIFEST.tsv (see ../shared/fixtures/README.md).
struct ManifestLine {
  std::string path;
  char type;           // f d l p
  unsigned perm;       // octal in the file
  std::uint64_t size;
  std::string mtime;   // seconds, or "-"
  std::string digest;  // SHA-256 of a file, the target of a link, or "-"
};
std::vector<ManifestLine> read_manifest(const std::string& name);

}  // namespace vt::test
