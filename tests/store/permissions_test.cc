// File modes on disk: every directory leyser or RocksDB creates under the data
// and backup directories is 0700 and every file 0600, whatever the process
// umask (RocksDB alone would create 0755 and 0644 less the umask); Open
// tightens an older store's looser modes.

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <sys/stat.h>

#include "leyser/audit.h"
#include "leyser/store.h"

#include "lib/store/store_impl.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// "`path` 0<mode in octal>".
std::string WithMode(const std::string& path, unsigned mode) {
  char octal[16];
  std::snprintf(octal, sizeof(octal), " 0%o", mode);
  return path + octal;
}

// Every directory under `root` (and `root` itself) that is not 0700, and every
// regular file that is not 0600, as "path mode" lines; also counts what it saw.
std::vector<std::string> LooseEntries(const std::string& root,
                                      int* files = nullptr) {
  std::vector<std::string> loose;
  if (Mode(root) != 0700) {
    loose.push_back(WithMode(root, Mode(root)));
  }
  int seen = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root)) {
    const std::string path = entry.path().string();
    const unsigned mode = Mode(path);
    if (entry.is_symlink()) {
      loose.push_back(path + " is a symlink");
    } else if (entry.is_directory()) {
      if (mode != 0700) loose.push_back(WithMode(path, mode));
    } else if (entry.is_regular_file()) {
      ++seen;
      if (mode != 0600) loose.push_back(WithMode(path, mode));
    }
  }
  if (files != nullptr) *files = seen;
  return loose;
}

// Sets every directory under `root` (and `root`) to 0755 and every file to
// 0644: a store written by an older leyser under umask 022.
void Loosen(const std::string& root) {
  ::chmod(root.c_str(), 0755);
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root)) {
    ::chmod(entry.path().c_str(), entry.is_directory() ? 0755 : 0644);
  }
}

class PermissionsTest : public test::StoreFixture,
                        public testing::WithParamInterface<mode_t> {
 protected:
  PermissionsTest() : old_umask_(::umask(GetParam())) {
    options_.audit_sink = NewFileAuditSink(tmp_.Sub("anchors.jsonl")).value();
  }
  ~PermissionsTest() override { ::umask(old_umask_); }

  // Creates tenant "a", writes to it, takes a backup and restores the tenant
  // from it (which writes data_dir/tmp), then closes the store.
  void Populate(Store& store) {
    ASSERT_THAT(store.CreateTenant("a"), IsOk());
    auto tenant = store.OpenTenant("a");
    ASSERT_THAT(tenant, IsOk());
    for (int i = 0; i < 100; ++i) {
      ASSERT_THAT((*tenant)->Put(absl::StrCat("k", i), "value"), IsOk());
    }
    auto backup = store.CreateBackup();
    ASSERT_THAT(backup, IsOk());
    backup_id_ = backup->id;
    ASSERT_THAT(store.RestoreTenant("a", backup->id), IsOk());
    auto report = store.RunMaintenance();
    ASSERT_THAT(report, IsOk());
    ASSERT_THAT(store.Close(), IsOk());
  }

  const mode_t old_umask_;
  BackupId backup_id_ = 0;
};

TEST_P(PermissionsTest, EverythingCreatedIsOwnerOnly) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->Close(), IsOk());
  }
  // A wrong master key leaves data_dir/audit-pending behind.
  Options wrong = options_;
  wrong.key_provider = test::NewTestKeyProvider(tmp_, "wrong.key");
  ASSERT_THAT(Store::Open(wrong),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(Mode(options_.data_dir + "/audit-pending"), 0600u);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    Populate(*store);
  }
  int files = 0;
  EXPECT_THAT(LooseEntries(options_.data_dir, &files), testing::IsEmpty());
  EXPECT_GT(files, 10);  // Both databases' files, not an empty walk.
  EXPECT_THAT(LooseEntries(options_.backup_dir, &files), testing::IsEmpty());
  EXPECT_GT(files, 5);
  EXPECT_EQ(Mode(tmp_.Sub("anchors.jsonl")), 0600u);

  // A whole-store restore into a new directory.
  Options restored = options_;
  restored.data_dir = tmp_.Sub("restored");
  ASSERT_THAT(Store::RestoreStore(restored, backup_id_), IsOk());
  EXPECT_THAT(LooseEntries(restored.data_dir, &files), testing::IsEmpty());
  EXPECT_GT(files, 10);
}

TEST_P(PermissionsTest, PlainFilesStoreIsOwnerOnlyToo) {
  auto store = internal::OpenWithoutFileEncryptionForTesting(options_);
  ASSERT_THAT(store, IsOk());
  Populate(**store);
  EXPECT_THAT(LooseEntries(options_.data_dir), testing::IsEmpty());
  EXPECT_THAT(LooseEntries(options_.backup_dir), testing::IsEmpty());
}

TEST_P(PermissionsTest, OpenTightensAnOlderStore) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    Populate(*store);
  }
  Loosen(options_.data_dir);
  Loosen(options_.backup_dir);
  ASSERT_THAT(LooseEntries(options_.data_dir),
              testing::Not(testing::IsEmpty()));
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->Close(), IsOk());
  }
  EXPECT_THAT(LooseEntries(options_.data_dir), testing::IsEmpty());
  EXPECT_THAT(LooseEntries(options_.backup_dir), testing::IsEmpty());
}

std::string UmaskName(const testing::TestParamInfo<mode_t>& param) {
  return param.param == 0 ? "umask000" : "umask022";
}

INSTANTIATE_TEST_SUITE_P(Umasks, PermissionsTest,
                         testing::Values(mode_t{022}, mode_t{0}), UmaskName);

}  // namespace
}  // namespace leyser
