#include "lib/db/db_files.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

#include "lib/util/files.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOkAndHolds;

void WriteFile(const std::string& path, std::size_t bytes) {
  std::ofstream(path, std::ios::binary) << std::string(bytes, 'x');
}

TEST(DbFilesTest, RemovesOnlyWalsOfTheEmptySize) {
  test::TempDir dir;
  WriteFile(dir.Sub("000001.log"), 0);
  WriteFile(dir.Sub("000002.log"), 4096);
  WriteFile(dir.Sub("000003.log"), 4097);  // A record after the prefix.
  WriteFile(dir.Sub("000004.sst"), 4096);
  WriteFile(dir.Sub("MANIFEST-000005"), 0);
  EXPECT_THAT(RemoveEmptyWals(dir.path(), 4096), IsOkAndHolds(1));
  EXPECT_FALSE(PathExists(dir.Sub("000002.log")));
  for (const char* kept :
       {"000001.log", "000003.log", "000004.sst", "MANIFEST-000005"}) {
    EXPECT_TRUE(PathExists(dir.Sub(kept))) << kept;
  }
  EXPECT_THAT(RemoveEmptyWals(dir.path(), 0), IsOkAndHolds(1));
  EXPECT_FALSE(PathExists(dir.Sub("000001.log")));
  EXPECT_TRUE(PathExists(dir.Sub("000003.log")));
}

TEST(DbFilesTest, RemovingFromAMissingDirectoryIsUnavailable) {
  test::TempDir dir;
  EXPECT_THAT(RemoveEmptyWals(dir.Sub("absent"), 0),
              test::StatusIs(absl::StatusCode::kUnavailable));
}

TEST(DbFilesTest, OpensTablesWithAThreadPerEightFiles) {
  test::TempDir dir;
  EXPECT_EQ(TableOpeningThreads(dir.path()), 1);
  for (int i = 0; i < 20; ++i) {
    WriteFile(dir.Sub(std::to_string(100 + i) + ".sst"), 1);
  }
  EXPECT_EQ(TableOpeningThreads(dir.path()), 2);
  for (int i = 20; i < 300; ++i) {
    WriteFile(dir.Sub(std::to_string(100 + i) + ".sst"), 1);
  }
  EXPECT_EQ(TableOpeningThreads(dir.path()), 16);
}

}  // namespace
}  // namespace leyser::internal
