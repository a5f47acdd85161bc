// Secret memory that cannot be locked into RAM: Store::Open refuses unless
// Options::allow_unlocked_secret_memory, an open that allows it is in the
// system audit log, and so is memory left unlocked while a store is open (at
// the next RunMaintenance). Each test runs a child process
// (tests/crash/crash_child.cc) that drops CAP_IPC_LOCK and lowers its
// locked-memory limit.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <sys/wait.h>

#include "tests/test/spawn.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using testing::HasSubstr;
using testing::StartsWith;

// The child's output lines, once it exited 0.
std::vector<std::string> RunChild(const std::vector<std::string>& args) {
  test::Child child(args);
  std::vector<std::string> lines;
  for (std::string line; child.ReadLine(&line);) lines.push_back(line);
  const int status = child.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child status " << status;
  return lines;
}

// The SECRET_MEMORY_UNLOCKED entries among `lines`.
std::vector<std::string> UnlockedEntries(
    const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "EVENT SECRET_MEMORY_UNLOCKED ")) {
      out.push_back(line);
    }
  }
  return out;
}

TEST(SecretMemoryTest, OpenRefusesUnlockableSecretsUnlessAllowed) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("master.key");
  ASSERT_TRUE(CreateKeyFile(key).ok());
  const std::vector<std::string> lines =
      RunChild({test::CrashChildPath(), "memlock", tmp.Sub("store"), key,
                std::to_string(16 * 1024)});
  ASSERT_FALSE(lines.empty());
  if (lines[0] == "LOCKABLE") {
    GTEST_SKIP() << "cannot make mlock fail here (CAP_IPC_LOCK kept?)";
  }
  ASSERT_EQ(lines[0], "UNLOCKABLE");
  ASSERT_GE(lines.size(), 3u) << testing::PrintToString(lines);

  // Without the option: refused, saying why and what to do.
  EXPECT_THAT(lines[1], StartsWith("REFUSED FAILED_PRECONDITION "));
  EXPECT_THAT(lines[1], HasSubstr("could not be locked"));
  EXPECT_THAT(lines[1], HasSubstr("RLIMIT_MEMLOCK"));
  EXPECT_THAT(lines[1], HasSubstr("ulimit -l"));
  EXPECT_THAT(lines[1], HasSubstr("Options::allow_unlocked_secret_memory"));

  // With it: opened, and the system log says so.
  EXPECT_EQ(lines[2], "OPENED");
  const std::vector<std::string> recorded = UnlockedEntries(lines);
  ASSERT_EQ(recorded.size(), 1u) << testing::PrintToString(lines);
  EXPECT_THAT(recorded[0], HasSubstr(" allowed=true"));
  EXPECT_THAT(recorded[0], HasSubstr(" noticed=open"));
  EXPECT_THAT(recorded[0], HasSubstr(" rlimit_memlock=16384"));
}

// The 64 KiB locked-memory limit many containers start with (without
// CAP_IPC_LOCK) holds a small store's secrets: it opens without the option.
TEST(SecretMemoryTest, ASmallStoreFitsA64KiBLimit) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("master.key");
  ASSERT_TRUE(CreateKeyFile(key).ok());
  const std::vector<std::string> lines =
      RunChild({test::CrashChildPath(), "memlock", tmp.Sub("store"), key,
                std::to_string(64 * 1024)});
  ASSERT_FALSE(lines.empty());
  if (lines[0] == "LOCKABLE") {
    GTEST_SKIP() << "cannot make mlock fail here (CAP_IPC_LOCK kept?)";
  }
  ASSERT_GE(lines.size(), 2u) << testing::PrintToString(lines);
  EXPECT_EQ(lines[1], "OPENED");
}

// Secrets past the limit while the store is open (a growing tenant cache): the
// store goes on, the next maintenance records it, the next open refuses.
TEST(SecretMemoryTest, UnlockedAfterOpenIsRecordedByMaintenance) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("master.key");
  ASSERT_TRUE(CreateKeyFile(key).ok());
  const std::vector<std::string> lines = RunChild(
      {test::CrashChildPath(), "memlock-later", tmp.Sub("store"), key});
  ASSERT_GE(lines.size(), 2u) << testing::PrintToString(lines);
  ASSERT_EQ(lines[0], "OPENED");
  if (lines[1] == "LOCKABLE") {
    GTEST_SKIP() << "cannot make mlock fail here (CAP_IPC_LOCK kept?)";
  }
  ASSERT_EQ(lines[1], "UNLOCKABLE");
  ASSERT_GE(lines.size(), 4u) << testing::PrintToString(lines);
  EXPECT_EQ(lines[2], "MAINTAINED");
  const std::vector<std::string> recorded = UnlockedEntries(lines);
  ASSERT_EQ(recorded.size(), 1u) << testing::PrintToString(lines);
  EXPECT_THAT(recorded[0], HasSubstr(" allowed=false"));
  EXPECT_THAT(recorded[0], HasSubstr(" noticed=maintenance"));
  EXPECT_THAT(recorded[0], HasSubstr(" rlimit_memlock=0"));
  EXPECT_THAT(lines.back(), StartsWith("REFUSED FAILED_PRECONDITION "));
}

}  // namespace
}  // namespace leyser
