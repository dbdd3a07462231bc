#include "fixtures.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace vt::test {

std::string fixture_dir(const std::string& name) { return std::string(VT_FIXTURES) + "/" + name; }

Score load_fixture(const std::string& name, BlockStore& store) {
  namespace fs = std::filesystem;
  fs::path dir = fixture_dir(name);
  if (!fs::exists(dir / "ROOT")) {
    ADD_FAILURE() << "fixture " << dir << " is missing";
    return Score::zero();
  }
  for (const auto& f : fs::directory_iterator(dir / "blocks")) {
    std::ifstream in(f.path(), std::ios::binary);
    Bytes data((std::istreambuf_iterator<char>(in)), {});
    auto ext = f.path().extension().string();
    WireType type{static_cast<std::uint8_t>(std::stoi(ext.substr(1)))};
    store.put(type, data);
  }
  std::ifstream root(dir / "ROOT");
  std::string text;
  root >> text;
  return Score::parse(text);
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
