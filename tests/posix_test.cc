#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>
#include <vector>

#include "vt/direntry.h"
#include "vt/posix.h"

using namespace vt;

TEST(Posix, PermissionBitsRoundTrip) {
  for (mode_t m : {0644, 04755, 02750, 01777, 07000, 0}) EXPECT_EQ(unix_perms(vac_perms(m)), m) << std::oct << m;
  EXPECT_EQ(vac_perms(S_IFREG | 04000), kModeSetUid);
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
