// The registry's record layout, its authentication and its reader, on a real
// RocksDB column family.

#include "lib/registry/records.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"

#include "lib/crypto/sodium.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

class RegistryRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(EnsureSodium(), IsOk());
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, tmp_.Sub("db"), &raw).ok());
    db_.reset(raw);
    cf_ = db_->DefaultColumnFamily();
    mac_ = std::make_unique<RecordMac>(RandomKey().value());
  }

  void PutRaw(const std::string& key, const std::string& value) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), cf_, key, value).ok());
  }
  std::string GetRaw(const std::string& key) {
    std::string value;
    EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), cf_, key, &value).ok());
    return value;
  }
  void PutTenant(const std::string& id, std::uint64_t number) {
    proto::TenantRecord record;
    record.set_id(id);
    record.set_number(number);
    PutRaw(RegistryTenantKey(id),
           SealRegistryRecord(*mac_, RegistryTenantKey(id), record));
  }
  absl::StatusOr<std::vector<std::string>> Ids(const RecordMac& mac) {
    std::vector<std::string> seen;
    absl::Status s = ForEachTenantRecord(
        db_.get(), cf_, mac, [&](proto::TenantRecord r) -> absl::Status {
          seen.push_back(r.id());
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return seen;
  }

  test::TempDir tmp_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  std::unique_ptr<RecordMac> mac_;
};

TEST_F(RegistryRecordsTest, KeysAndOrderedVisitStoppingAtTheVisitorsError) {
  EXPECT_EQ(RegistryTenantKey("abc"), "t/abc");
  for (const char* id : {"b", "a", "c"}) PutTenant(id, id[0]);
  // The metadata record and other prefixes are not tenant records.
  proto::RegistryMeta meta;
  meta.set_next_tenant_number(7);
  PutRaw(std::string(kRegistryMetaKey),
         SealRegistryRecord(*mac_, kRegistryMetaKey, meta));
  PutRaw("u/other", "x");
  EXPECT_THAT(Ids(*mac_),
              test::IsOkAndHolds(std::vector<std::string>{"a", "b", "c"}));
  std::vector<std::string> seen;
  EXPECT_THAT(ForEachTenantRecord(db_.get(), cf_, *mac_,
                                  [&](proto::TenantRecord r) -> absl::Status {
                                    seen.push_back(r.id());
                                    return absl::AbortedError("stop");
                                  }),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(seen.size(), 1u);
  proto::RegistryMeta read;
  ASSERT_THAT(OpenRegistryRecord(*mac_, kRegistryMetaKey,
                                 GetRaw(std::string(kRegistryMetaKey)), &read),
              IsOk());
  EXPECT_EQ(read.next_tenant_number(), 7u);
}

// Every byte of a sealed record counts: a flipped bit anywhere (header,
// payload, tag) is DataLoss naming the tenant, never a changed record.
TEST_F(RegistryRecordsTest, AnyFlippedBitIsDataLossNamingTheRecord) {
  PutTenant("acme", 5);
  const std::string key = RegistryTenantKey("acme");
  const std::string sealed = GetRaw(key);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    for (int bit : {0, 7}) {
      std::string flipped = sealed;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      PutRaw(key, flipped);
      absl::StatusOr<std::vector<std::string>> ids = Ids(*mac_);
      ASSERT_THAT(ids, StatusIs(absl::StatusCode::kDataLoss))
          << "byte " << i << " bit " << bit;
      EXPECT_NE(ids.status().message().find("tenant 'acme'"), std::string::npos)
          << ids.status();
    }
  }
  PutRaw(key, sealed);
  EXPECT_THAT(Ids(*mac_), IsOk());
}

TEST_F(RegistryRecordsTest, MovedUnsealedOrForeignRecordsAreRefused) {
  PutTenant("a", 1);
  PutTenant("b", 2);
  // a's record (sealed for "t/a") put under "t/b".
  const std::string b = GetRaw(RegistryTenantKey("b"));
  PutRaw(RegistryTenantKey("b"), GetRaw(RegistryTenantKey("a")));
  EXPECT_THAT(Ids(*mac_), StatusIs(absl::StatusCode::kDataLoss));
  PutRaw(RegistryTenantKey("b"), b);
  // Sealed under another store's record key.
  RecordMac other(RandomKey().value());
  EXPECT_THAT(Ids(other), StatusIs(absl::StatusCode::kDataLoss));
  // A plain protobuf record, as an attacker (or leyser 0.2) writes it.
  proto::TenantRecord plain;
  plain.set_id("c");
  plain.set_number(3);
  PutRaw(RegistryTenantKey("c"), plain.SerializeAsString());
  absl::StatusOr<std::vector<std::string>> ids = Ids(*mac_);
  EXPECT_THAT(ids, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_NE(ids.status().message().find("no authentication tag"),
            std::string::npos)
      << ids.status();
}

// The one-time upgrade seals records from before authentication and leaves
// sealed ones alone, but never accepts a sealed record that fails.
TEST_F(RegistryRecordsTest, SealLegacyRecordsSealsPlainOnesOnly) {
  PutTenant("sealed", 1);
  proto::TenantRecord plain;
  plain.set_id("plain");
  plain.set_number(2);
  PutRaw(RegistryTenantKey("plain"), plain.SerializeAsString());
  proto::RegistryMeta meta;
  meta.set_next_tenant_number(3);
  PutRaw(std::string(kRegistryMetaKey), meta.SerializeAsString());
  const std::string before = GetRaw(RegistryTenantKey("sealed"));
  ASSERT_THAT(SealLegacyRegistryRecords(db_.get(), cf_, *mac_), IsOk());
  EXPECT_EQ(GetRaw(RegistryTenantKey("sealed")), before);
  EXPECT_THAT(Ids(*mac_),
              test::IsOkAndHolds(std::vector<std::string>{"plain", "sealed"}));
  proto::RegistryMeta read;
  EXPECT_THAT(OpenRegistryRecord(*mac_, kRegistryMetaKey,
                                 GetRaw(std::string(kRegistryMetaKey)), &read),
              IsOk());
  // Again: nothing to do.
  ASSERT_THAT(SealLegacyRegistryRecords(db_.get(), cf_, *mac_), IsOk());
  // A sealed record altered: the upgrade refuses rather than re-seal it.
  std::string altered = before;
  altered[3] = static_cast<char>(altered[3] ^ 1);
  PutRaw(RegistryTenantKey("sealed"), altered);
  EXPECT_THAT(SealLegacyRegistryRecords(db_.get(), cf_, *mac_),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(GetRaw(RegistryTenantKey("sealed")), altered);
}

}  // namespace
}  // namespace leyser::internal
