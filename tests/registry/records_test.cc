// The registry's record layout and its reader, on a real RocksDB column family.

#include "lib/registry/records.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"

#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

TEST(RegistryRecordsTest, KeysAndOrderedVisitStoppingAtDamage) {
  EXPECT_EQ(RegistryTenantKey("abc"), "t/abc");
  test::TempDir tmp;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, tmp.Sub("db"), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* cf = db->DefaultColumnFamily();
  for (const char* id : {"b", "a", "c"}) {
    proto::TenantRecord record;
    record.set_id(id);
    record.set_number(id[0]);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, RegistryTenantKey(id),
                        record.SerializeAsString())
                    .ok());
  }
  // The metadata record and other prefixes are not tenant records.
  ASSERT_TRUE(
      db->Put(rocksdb::WriteOptions(), cf, kRegistryMetaKey, "meta").ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, "u/other", "x").ok());
  std::vector<std::string> seen;
  ASSERT_THAT(ForEachTenantRecord(db.get(), cf,
                                  [&](proto::TenantRecord r) -> absl::Status {
                                    seen.push_back(r.id());
                                    return absl::OkStatus();
                                  }),
              IsOk());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
  // The visitor's error stops the walk and is returned.
  seen.clear();
  EXPECT_THAT(ForEachTenantRecord(db.get(), cf,
                                  [&](proto::TenantRecord r) -> absl::Status {
                                    seen.push_back(r.id());
                                    return absl::AbortedError("stop");
                                  }),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(seen.size(), 1u);
  // A record that does not parse is DataLoss.
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, RegistryTenantKey("bad"),
                      std::string("\xff\xff\xff", 3))
                  .ok());
  EXPECT_THAT(
      ForEachTenantRecord(db.get(), cf,
                          [](proto::TenantRecord) { return absl::OkStatus(); }),
      StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace leyser::internal
