// Test helper: the classic vac sample archives in ../shared/fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vt/score.h"
#include "vt/store.h"

namespace vt::test {

std::string fixture_dir(const std::string& name);
// Puts every block of fixture `name` into `store`; returns the ROOT score.
// Fails the calling test (and returns the zero score) when it is missing.
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
