// lib/util/files: the process lock, atomic writes, whole-line appends,
// listing and removal, on a real file system.

#include "lib/util/files.h"

#include <algorithm>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(FilesTest, LockIsExclusiveUntilReleased) {
  test::TempDir tmp;
  const std::string path = tmp.Sub("LOCK");
  auto first = FileLock::Acquire(path);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(Mode(path), 0600u);
  // A second handle, as a second open of the store in this process would take.
  EXPECT_THAT(FileLock::Acquire(path),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  first->reset();
  EXPECT_THAT(FileLock::Acquire(path), IsOk());
}

TEST(FilesTest, AtomicWriteReplacesWholeAndLeavesNoTemporary) {
  test::TempDir tmp;
  const std::string path = tmp.Sub("file");
  ASSERT_THAT(WriteFileAtomically(path, "first"), IsOk());
  ASSERT_THAT(WriteFileAtomically(path, std::string(100000, 'x')), IsOk());
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string(100000, 'x')));
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_THAT(ListDir(tmp.path()),
              IsOkAndHolds(std::vector<std::string>{"file"}));
  // Into a directory that does not exist: an error, nothing written.
  EXPECT_THAT(WriteFileAtomically(tmp.Sub("missing/file"), "x"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(FilesTest, AppendLineDurablyAppendsWholeLinesWithMode0600) {
  test::TempDir tmp;
  const std::string path = tmp.Sub("log");
  ASSERT_THAT(AppendLineDurably(path, "a\n"), IsOk());
  ASSERT_THAT(AppendLineDurably(path, "b\n"), IsOk());
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("a\nb\n")));
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_THAT(AppendLineDurably(tmp.Sub("missing/log"), "x\n"),
              StatusIs(absl::StatusCode::kUnavailable));
  // Not one line: refused, nothing written.
  EXPECT_THAT(AppendLineDurably(path, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AppendLineDurably(path, "x\ny\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("a\nb\n")));
}

// A crash or a full disk leaves a line torn: the next append ends it, so the
// torn piece is a line of its own and the new line is whole.
TEST(FilesTest, AppendLineDurablyEndsATornLine) {
  test::TempDir tmp;
  const std::string path = tmp.Sub("log");
  ASSERT_THAT(AppendLineDurably(path, "a\n"), IsOk());
  test::WriteFile(path, "a\ntor", 0600);  // Torn after "tor".
  ASSERT_THAT(AppendLineDurably(path, "b\n"), IsOk());
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("a\ntor\nb\n")));
}

// A write that fails part-way (here the file-size limit) leaves nothing of the
// line behind; appends work again once there is room.
TEST(FilesTest, AppendLineDurablyCutsOffAFailedWrite) {
  test::TempDir tmp;
  const std::string path = tmp.Sub("log");
  ASSERT_THAT(AppendLineDurably(path, "first\n"), IsOk());
  struct rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  // Without this, exceeding the limit kills the process (SIGXFSZ).
  void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 10;  // "first\n" and 4 more bytes.
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const absl::Status cut = AppendLineDurably(path, "second line\n");
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_THAT(cut, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("first\n")));
  ASSERT_THAT(AppendLineDurably(path, "third\n"), IsOk());
  EXPECT_THAT(ReadFileToString(path),
              IsOkAndHolds(std::string("first\nthird\n")));
}

// Appenders wait for the file's lock; one that held an old file renamed away
// meanwhile (a rotation) appends to the new one.
TEST(FilesTest, LockedFileFollowsARename) {
  test::TempDir tmp;
  const std::string path = tmp.Sub("log");
  ASSERT_THAT(AppendLineDurably(path, "old\n"), IsOk());
  EXPECT_THAT(LockedFile::Open(tmp.Sub("none"), /*create=*/false),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(LockedFile::Open(tmp.path(), /*create=*/false),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  if (!ReadFileToString("/proc/locks").ok()) {
    GTEST_SKIP() << "no /proc/locks to see the appender wait";
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const std::string inode = absl::StrCat(":", st.st_ino, " ");
  auto held = LockedFile::Open(path, /*create=*/false);
  ASSERT_THAT(held, IsOk());
  // No ASSERT until the thread is joined.
  std::thread appender(
      [&] { EXPECT_THAT(AppendLineDurably(path, "new\n"), IsOk()); });
  // Once the appender waits for this file's lock (a blocked request on its
  // inode shows in /proc/locks as "-> FLOCK ... <dev>:<inode> ..."), the
  // file is replaced.
  bool waiting = false;
  for (int i = 0; i < 100000 && !waiting; ++i) {
    const std::string locks = ReadFileToString("/proc/locks").value_or("");
    for (absl::string_view line : absl::StrSplit(locks, '\n')) {
      waiting = waiting || (absl::StrContains(line, "-> FLOCK") &&
                            absl::StrContains(line, inode));
    }
    if (!waiting) std::this_thread::yield();
  }
  EXPECT_TRUE(waiting) << "the appender never waited for the lock";
  EXPECT_EQ(::rename(path.c_str(), tmp.Sub("log.1").c_str()), 0);
  test::WriteFile(path, "", 0600);
  held->reset();
  appender.join();
  EXPECT_THAT(ReadFileToString(tmp.Sub("log.1")),
              IsOkAndHolds(std::string("old\n")));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string("new\n")));
}

TEST(FilesTest, DirectoriesListAndRemove) {
  test::TempDir tmp;
  const std::string dir = tmp.Sub("d");
  ASSERT_THAT(EnsureDir(dir), IsOk());
  ASSERT_THAT(EnsureDir(dir), IsOk());  // Idempotent.
  EXPECT_EQ(Mode(dir), 0700u);
  ASSERT_THAT(WriteFileAtomically(dir + "/b", "2"), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir + "/a", "1"), IsOk());
  auto names = ListDir(dir);
  ASSERT_THAT(names, IsOk());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
  EXPECT_THAT(ReadFileToString(dir + "/none"),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(RemoveAll(dir), IsOk());
  EXPECT_FALSE(PathExists(dir));
  EXPECT_THAT(RemoveAll(dir), IsOk());  // Absent is fine.
}

// A umask that even removes owner bits: what leyser creates still gets exactly
// 0700 and 0600, and stays usable (an append-only log opened again).
TEST(FilesTest, ModesDoNotDependOnTheUmask) {
  test::TempDir tmp;
  const mode_t old = ::umask(0277);
  const std::string dir = tmp.Sub("d");
  EXPECT_THAT(EnsureDir(dir), IsOk());
  EXPECT_THAT(WriteFileAtomically(dir + "/file", "x"), IsOk());
  EXPECT_THAT(AppendLineDurably(dir + "/log", "a\n"), IsOk());
  EXPECT_THAT(AppendLineDurably(dir + "/log", "b\n"), IsOk());
  EXPECT_THAT(FileLock::Acquire(dir + "/LOCK"), IsOk());
  ::umask(old);
  EXPECT_EQ(Mode(dir), 0700u);
  EXPECT_EQ(Mode(dir + "/file"), 0600u);
  EXPECT_EQ(Mode(dir + "/log"), 0600u);
  EXPECT_EQ(Mode(dir + "/LOCK"), 0600u);
  // An existing file keeps its mode (an audit sink file the operator made).
  test::WriteFile(tmp.Sub("sink"), "", 0644);
  EXPECT_THAT(AppendLineDurably(tmp.Sub("sink"), "c\n"), IsOk());
  EXPECT_EQ(Mode(tmp.Sub("sink")), 0644u);
}

TEST(FilesTest, TightenPermissionsOnlyRemovesGroupAndOtherBits) {
  test::TempDir tmp;
  const std::string root = tmp.Sub("root");
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/sub").c_str(), 0775), 0);
  ASSERT_EQ(::chmod((root + "/sub").c_str(), 02775), 0);
  test::WriteFile(root + "/sub/a", "", 0644);
  test::WriteFile(root + "/b", "", 0666);
  test::WriteFile(root + "/read-only", "", 0400);
  test::WriteFile(tmp.Sub("outside"), "", 0644);
  ASSERT_EQ(::symlink(tmp.Sub("outside").c_str(), (root + "/link").c_str()), 0);
  TightenPermissions(root);
  EXPECT_EQ(Mode(root), 0700u);
  EXPECT_EQ(Mode(root + "/sub"), 0700u);
  EXPECT_EQ(Mode(root + "/sub/a"), 0600u);
  EXPECT_EQ(Mode(root + "/b"), 0600u);
  EXPECT_EQ(Mode(root + "/read-only"), 0400u);  // Never loosened.
  EXPECT_EQ(Mode(tmp.Sub("outside")), 0644u);   // Links are not followed.
  TightenPermissions(tmp.Sub("missing"));       // Nothing to do, no error.
  TightenPermissions("");
}

}  // namespace
}  // namespace leyser::internal
