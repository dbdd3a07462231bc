#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "vt/direntry.h"
#include "vt/error.h"
#include "vt/posix.h"

using namespace vt;

TEST(Posix, PermissionBitsRoundTrip) {
  for (mode_t m : {0644, 04755, 02750, 01777, 07000, 0}) EXPECT_EQ(unix_perms(vac_perms(m)), m) << std::oct << m;
  EXPECT_EQ(vac_perms(S_IFREG | 04000), kModeSetUid);
}

namespace {
// Linux's xattr form of an ACL: version 2, then {tag, perm, id} entries.
Bytes acl(std::initializer_list<std::array<std::uint32_t, 3>> entries) {
  Bytes b = {2, 0, 0, 0};
  for (auto [tag, perm, id] : entries)
    for (std::uint32_t v : {tag | perm << 16, id})
      for (int i = 0; i < 4; i++) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return b;
}
constexpr std::uint32_t kNone = 0xffffffff;
}  // namespace

TEST(Posix, AMinimalAclIsAMode) {
  EXPECT_EQ(acl_as_mode(acl({{1, 6, kNone}, {4, 4, kNone}, {0x20, 4, kNone}})), mode_t{0644});
  EXPECT_EQ(acl_as_mode(acl({{1, 7, kNone}, {4, 5, kNone}, {0x20, 0, kNone}})), mode_t{0750});
  EXPECT_EQ(acl_as_mode(acl({{0x20, 1, kNone}, {4, 2, kNone}, {1, 4, kNone}})), mode_t{0421});  // any order
}

TEST(Posix, NamedEntriesOrAMaskAreNoMode) {
  EXPECT_EQ(acl_as_mode(acl({{1, 6, kNone}, {2, 6, 1000}, {4, 4, kNone}, {0x10, 6, kNone}, {0x20, 4, kNone}})), std::nullopt);
  EXPECT_EQ(acl_as_mode(acl({{1, 6, kNone}, {4, 4, kNone}, {8, 4, 100}, {0x10, 4, kNone}, {0x20, 4, kNone}})), std::nullopt);
  EXPECT_EQ(acl_as_mode(acl({{1, 6, kNone}, {4, 4, kNone}, {0x10, 4, kNone}, {0x20, 4, kNone}})), std::nullopt);
}

TEST(Posix, MalformedAclsAreRefused) {
  Bytes good = acl({{1, 6, kNone}, {4, 4, kNone}, {0x20, 4, kNone}});
  std::vector<Bytes> bad = {
      {},
      {2, 0, 0},
      Bytes(good.begin(), good.end() - 1),                   // a torn entry
      acl({{1, 6, kNone}, {4, 4, kNone}}),                    // no other entry
      acl({{1, 6, kNone}, {1, 4, kNone}, {4, 4, kNone}, {0x20, 4, kNone}}),  // owner twice
      acl({{1, 8, kNone}, {4, 4, kNone}, {0x20, 4, kNone}}),  // perm beyond rwx
      acl({{1, 6, kNone}, {4, 4, kNone}, {0x40, 4, kNone}, {0x20, 4, kNone}}),  // unknown tag
  };
  Bytes v1 = good;
  v1[0] = 1;
  bad.push_back(v1);
  for (const Bytes& b : bad) EXPECT_THROW(acl_as_mode(b), Error) << b.size();
}

TEST(IdNames, AnswersAsTheSystemDoes) {
  IdNames names;
  for (int round = 0; round < 2; round++) {  // the second round is answered from memory
    EXPECT_EQ(names.user(0), user_name(0));
    EXPECT_EQ(names.group(0), group_name(0));
    EXPECT_EQ(names.uid(user_name(0), 77), 0u);
    EXPECT_EQ(names.gid(group_name(0), 77), 0u);
  }
}

TEST(IdNames, UnknownIdsAndNames) {
  uid_t nobody_uid = 0x7ffffff0;  // no account system has these
  ASSERT_EQ(::getpwuid(nobody_uid), nullptr);
  ASSERT_EQ(::getgrgid(nobody_uid), nullptr);
  IdNames names;
  for (int round = 0; round < 2; round++) {
    EXPECT_EQ(names.user(nobody_uid), std::to_string(nobody_uid));
    EXPECT_EQ(names.group(nobody_uid), std::to_string(nobody_uid));
    // An unknown name falls back to each caller's own default, cached or not.
    EXPECT_EQ(names.uid("vtfs-no-such-user", 11), 11u);
    EXPECT_EQ(names.uid("vtfs-no-such-user", 12), 12u);
    EXPECT_EQ(names.gid("vtfs-no-such-group", 13), 13u);
    EXPECT_EQ(names.gid("vtfs-no-such-group", 14), 14u);
  }
}

TEST(IdNames, SharedBetweenThreads) {
  IdNames names;
  const std::string root = user_name(0);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&, t] {
      for (uid_t i = 0; i < 200; i++) {
        if (names.user(i % 8 == 0 ? 0 : 0x7ffffff0 - (i % 5)) != (i % 8 == 0 ? root : std::to_string(0x7ffffff0 - (i % 5)))) wrong++;
        if (names.uid(root, 99 + t) != 0) wrong++;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}
