#include "fixtures.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

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

}  // namespace vt::test
