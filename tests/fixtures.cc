#include "fixtures.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace vt::test {

std::string fixture_dir(const std::string& name) { return std::string(VT_FIXTURES) + "/" + name; }

std::vector<FixtureBlock> fixture_blocks(const std::string& name) {
  std::vector<FixtureBlock> out;
  for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(fixture_dir(name)) / "blocks")) {
    std::ifstream in(f.path(), std::ios::binary);
    Bytes data((std::istreambuf_iterator<char>(in)), {});
    auto ext = f.path().extension().string();
    out.push_back({WireType{static_cast<std::uint8_t>(std::stoi(ext.substr(1)))}, std::move(data)});
  }
  return out;
}

Score fixture_root(const std::string& name) {
  std::ifstream root(fixture_dir(name) + "/ROOT");
  std::string text;
  if (!(root >> text)) {
    ADD_FAILURE() << "fixture " << fixture_dir(name) << " is missing";
    return Score::zero();
  }
  return Score::parse(text);
}

Score load_fixture(const std::string& name, BlockStore& store) {
  const Score root = fixture_root(name);
  if (root.is_zero()) return root;
  for (const auto& b : fixture_blocks(name)) store.put(b.type, b.data);
  return root;
}

std::vector<ManifestLine> read_manifest(const std::string& name) {
  std::ifstream in(fixture_dir(name) + "/MANIFEST.tsv");
  std::vector<ManifestLine> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string type, perm, size;
    ManifestLine m;
    std::getline(f, m.path, '\t');
    std::getline(f, type, '\t');
    std::getline(f, perm, '\t');
    std::getline(f, size, '\t');
    std::getline(f, m.mtime, '\t');
    std::getline(f, m.digest, '\t');
    m.type = type.empty() ? '?' : type[0];
    m.perm = static_cast<unsigned>(std::stoul(perm, nullptr, 8));
    m.size = std::stoull(size);
    out.push_back(m);
  }
  if (out.empty()) ADD_FAILURE() << "empty or missing manifest for " << name;
  return out;
}

}  // namespace vt::test
