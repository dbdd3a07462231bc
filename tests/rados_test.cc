// The RADOS store against a throwaway single-host Ceph cluster (the recipe
// in ../shared/tools/ceph-test-cluster): the store conformance tests, two
// vtd front ends on one pool, and an unreachable cluster. Skipped, with the
// reason, where no cluster can start.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "process.h"
#include "store_conformance.h"
#include "vt/client.h"
#include "vt/error.h"
#include "vt/logstore.h"
#include "vt/memstore.h"
#include "vt/server.h"
#ifdef VT_HAVE_RADOS
#include "vt/radosstore.h"
#endif

using namespace vt;
namespace fs = std::filesystem;

TEST(Conformance, MemStore) {
  MemStore s;
  test::check_store_conformance(s);
}

TEST(Conformance, LogStore) {
  fs::path dir = fs::path(testing::TempDir()) / ("conf-log-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    auto s = LogStore::open(dir);
    test::check_store_conformance(*s);
  }
  fs::remove_all(dir);
}

TEST(Conformance, Client) {
  MemStore backing;
  Server server(backing, "127.0.0.1:0");
  server.start();
  auto c = Client::connect(server.address());
  test::check_store_conformance(*c);
}

namespace {

// One cluster for the whole suite.
class Cluster : public testing::Environment {
 public:
  static inline std::string conf, why_not;
  void SetUp() override {
#ifndef VT_HAVE_RADOS
    why_not = "built without librados";
    return;
#else
    std::string tools = VT_CEPH_TOOLS;
    if (!fs::exists(tools + "/start-cluster.sh")) {
      why_not = "no cluster recipe at " + tools;
      return;
    }
    dir_ = fs::path(testing::TempDir()) / ("ceph-" + std::to_string(::getpid()));
    std::string port = std::to_string(13400 + ::getpid() % 500);
    auto r = test::shell("SKIP_BENCH=1 CEPH_DIR=" + dir_.string() + " MON_PORT=" + port + " bash " + tools + "/start-cluster.sh");
    if (r.status != 0) {
      why_not = "the test cluster did not start (are ceph-mon and ceph-osd installed?): " + r.out.substr(r.out.size() > 300 ? r.out.size() - 300 : 0);
      return;
    }
    conf = (dir_ / "ceph.conf").string();
#endif
  }
  void TearDown() override {
    if (!conf.empty()) test::shell("CEPH_DIR=" + dir_.string() + " bash " + std::string(VT_CEPH_TOOLS) + "/stop-cluster.sh");
  }

 private:
  fs::path dir_;
};

const auto* const kCluster = testing::AddGlobalTestEnvironment(new Cluster);

#define NEED_CLUSTER() \
  if (Cluster::conf.empty()) GTEST_SKIP() << Cluster::why_not

}  // namespace

#ifdef VT_HAVE_RADOS

TEST(Rados, Conformance) {
  NEED_CLUSTER();
  auto s = RadosStore::open(parse_rados_spec("rados:vt,conf=" + Cluster::conf));
  test::check_store_conformance(*s);
  auto st = s->stats();
  EXPECT_GT(st.dedup_hits, 0u);  // the repeated writes were not stored again
  EXPECT_EQ(st.errors, 0u);
}

TEST(Rados, SpecParsing) {
  auto o = parse_rados_spec("rados:pool,conf=/etc/c.conf,id=vtd,timeout=5");
  EXPECT_EQ(o.pool, "pool");
  EXPECT_EQ(o.conf, "/etc/c.conf");
  EXPECT_EQ(o.id, "vtd");
  EXPECT_EQ(o.timeout_seconds, 5);
  EXPECT_THROW(parse_rados_spec("rados:"), Error);
  EXPECT_THROW(parse_rados_spec("rados:p,color=red"), Error);
  EXPECT_THROW(parse_rados_spec("/var/store"), Error);
}

TEST(Rados, TwoFrontEndsServeOnePool) {
  NEED_CLUSTER();
  std::string vtd = std::string(VT_BIN_DIR) + "/vtd", vt = std::string(VT_BIN_DIR) + "/vt";
  std::string spec = "rados:vt,conf=" + Cluster::conf;
  test::Process a({vtd, "-a", "127.0.0.1:0", spec});
  test::Process b({vtd, "-a", "127.0.0.1:0", spec});
  ASSERT_FALSE(a.first_line().empty()) << a.stderr_text();
  ASSERT_FALSE(b.first_line().empty()) << b.stderr_text();
  // A block written through one is read through the other.
  auto ca = Client::connect(a.first_line()), cb = Client::connect(b.first_line());
  Bytes data(5000, 42);
  Score s = ca->put(kWireData, data);
  ca->sync();
  EXPECT_EQ(cb->get(s, kWireData), data);
  // A vac/unvac round trip across the two.
  fs::path tmp = fs::path(testing::TempDir()) / ("rados-rt-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp / "src" / "d");
  test::shell("head -c 300000 /dev/urandom > " + (tmp / "src" / "d" / "f").string() + " && echo hi > " + (tmp / "src" / "g").string());
  auto v = test::shell(vt + " -h " + a.first_line() + " vac -q " + (tmp / "src").string());
  ASSERT_EQ(v.status, 0) << v.out;
  auto u = test::shell(vt + " -h " + b.first_line() + " unvac " + v.out.substr(0, 44) + " " + (tmp / "out").string());
  ASSERT_EQ(u.status, 0) << u.out;
  EXPECT_EQ(test::shell("diff -r " + (tmp / "src").string() + " " + (tmp / "out" / "src").string()).status, 0);
  fs::remove_all(tmp);
}

TEST(Rados, UnreachableClusterIsAClearError) {
  NEED_CLUSTER();
  fs::path dead = fs::path(testing::TempDir()) / ("dead-" + std::to_string(::getpid()) + ".conf");
  test::shell("sed 's/mon_host = .*/mon_host = v2:127.0.0.1:1/' " + Cluster::conf + " > " + dead.string());
  test::Process p({std::string(VT_BIN_DIR) + "/vtd", "-a", "127.0.0.1:0", "rados:vt,conf=" + dead.string() + ",timeout=2"});
  EXPECT_EQ(p.wait(), 1);
  std::string err = p.stderr_text();
  EXPECT_NE(err.find("cannot reach the ceph cluster"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  fs::remove(dead);
}

#endif
