#include "lib/keys/key_store.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"

#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "lib/keys/key_records.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/keystore.pb.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

SecretBytes Copy(const SecretBytes& s) {
  SecretBytes out = SecretBytes::Allocate(s.size()).value();
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

class KeyStoreTest : public testing::Test {
 protected:
  KeyStoreTest() : master_(RandomKey().value()), dir_(tmp_.Sub("keys")) {}

  absl::StatusOr<std::unique_ptr<KeyStore>> OpenStore(const SecretBytes& master,
                                                      bool create) {
    return KeyStore::Open(dir_, Copy(master), create, test::SomeInstant());
  }

  test::TempDir tmp_;
  SecretBytes master_;
  std::string dir_;
};

TEST_F(KeyStoreTest, CreatesStoresAndReopens) {
  EXPECT_FALSE(KeyStore::Exists(dir_));
  EXPECT_THAT(OpenStore(master_, false), StatusIs(absl::StatusCode::kNotFound));
  SecretBytes first;
  {
    auto store = OpenStore(master_, true);
    ASSERT_THAT(store, IsOk());
    EXPECT_TRUE(KeyStore::Exists(dir_));
    ASSERT_THAT((*store)->CreateTenantKeys(5, 1), IsOk());
    auto created = (*store)->GetTenantKey(5);
    ASSERT_THAT(created, IsOk());
    EXPECT_EQ(created->key.size(), 32u);
    EXPECT_EQ(created->version, 1u);
    first = std::move(created->key);
    EXPECT_THAT((*store)->GetTenantKey(6),
                StatusIs(absl::StatusCode::kNotFound));
  }
  auto store = OpenStore(master_, false);
  ASSERT_THAT(store, IsOk());
  auto read = (*store)->GetTenantKey(5);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->key.Equals(first));
}

TEST_F(KeyStoreTest, WrongMasterKeyIsDeniedAndChangesNoFile) {
  {
    auto store = OpenStore(master_, true);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->CreateTenantKeys(1, 1), IsOk());
  }
  const auto before = test::SnapshotFiles(dir_);
  SecretBytes wrong = RandomKey().value();
  EXPECT_THAT(OpenStore(wrong, false),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(OpenStore(wrong, true),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(test::SnapshotFiles(dir_), before);
}

TEST_F(KeyStoreTest, TamperedWrappedKeyIsDataLoss) {
  {
    auto store = OpenStore(master_, true);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->CreateTenantKeys(1, 2), IsOk());
  }
  {
    // Swap tenant 2's wrapped key into tenant 1's slot, and flip a byte of
    // tenant 2's.
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> owner(raw);
    std::string k1 = "d/" + TenantPrefix(1), k2 = "d/" + TenantPrefix(2), v2;
    ASSERT_TRUE(raw->Get(rocksdb::ReadOptions(), k2, &v2).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), k1, v2).ok());
    proto::WrappedKey wrapped;
    ASSERT_TRUE(wrapped.ParseFromString(v2));
    std::string sealed = wrapped.sealed();
    sealed[30] ^= 1;
    wrapped.set_sealed(sealed);
    ASSERT_TRUE(
        raw->Put(rocksdb::WriteOptions(), k2, wrapped.SerializeAsString())
            .ok());
    ASSERT_TRUE(
        raw->Put(rocksdb::WriteOptions(), "d/" + TenantPrefix(3), "garbage")
            .ok());
  }
  auto store = OpenStore(master_, false);
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->GetTenantKey(1), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT((*store)->GetTenantKey(2), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT((*store)->GetTenantKey(3), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(KeyStoreTest, DropKeysFromRemovesOnlyHigherNumbers) {
  auto store = OpenStore(master_, true);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->CreateTenantKeys(1, 5), IsOk());
  // Every key is distinct.
  for (std::uint64_t a = 1; a <= 5; ++a) {
    for (std::uint64_t b = a + 1; b <= 5; ++b) {
      EXPECT_FALSE((*store)->GetTenantKey(a)->key.Equals(
          (*store)->GetTenantKey(b)->key));
    }
  }
  ASSERT_THAT((*store)->DropKeysFrom(4), IsOk());
  for (std::uint64_t n = 1; n <= 3; ++n)
    EXPECT_THAT((*store)->GetTenantKey(n), IsOk());
  EXPECT_THAT((*store)->GetTenantKey(4), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*store)->GetTenantKey(5), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT((*store)->DropKeysFrom(10), IsOk());  // Nothing to drop.
}

// Issue 12: a key store that lost its metadata record is never initialised
// again (that would let any master key in and replace the file key), and a
// key store is only created in an empty directory.
TEST_F(KeyStoreTest, MissingMetadataIsDataLossEvenWithCreate) {
  { ASSERT_THAT(OpenStore(master_, true), IsOk()); }
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> owner(raw);
    ASSERT_TRUE(raw->Delete(rocksdb::WriteOptions(), "m/meta").ok());
  }
  const auto before = test::SnapshotFiles(dir_);
  SecretBytes other = RandomKey().value();
  for (bool create : {false, true}) {
    for (const SecretBytes* key : {&master_, &other}) {
      auto store = OpenStore(*key, create);
      EXPECT_THAT(store, StatusIs(absl::StatusCode::kDataLoss));
      EXPECT_NE(store.status().message().find(dir_), absl::string_view::npos)
          << store.status();
    }
  }
  EXPECT_THAT(KeyStore::Inspect(dir_, master_),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(test::SnapshotFiles(dir_), before);
  EXPECT_THAT(KeyStore::Create(dir_, master_, test::SomeInstant(), false),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(test::SnapshotFiles(dir_), before);
}

TEST_F(KeyStoreTest, RejectsShortMasterKey) {
  SecretBytes short_key = SecretBytes::Allocate(31).value();
  EXPECT_THAT(
      KeyStore::Open(dir_, std::move(short_key), true, test::SomeInstant()),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

// A sealed copy always opens with the key that sealed it, also after the key
// store rotated away and back to that key (generation 1 and 3 share a key);
// Reseal keeps the generation the file names; CheckCopy refuses a copy whose
// keys belong to another generation than its seal.
TEST_F(KeyStoreTest, SealedCopiesOpenWithTheKeyThatSealedThem) {
  auto store = OpenStore(master_, true);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->CreateTenantKeys(1, 3), IsOk());
  const std::string context = "leyser.test/1";
  proto::GenerationFile first;
  ASSERT_THAT((*store)->SealWithCopy(
                  [](proto::KeyStoreCopy copy) -> absl::StatusOr<std::string> {
                    return copy.SerializeAsString();
                  },
                  context, &first),
              IsOk());
  EXPECT_EQ(first.master_generation(), 1u);
  auto copy_of = [&](const proto::GenerationFile& file) {
    proto::KeyStoreCopy copy;
    auto payload = (*store)->OpenWithCurrentMasterKey(file, context);
    EXPECT_THAT(payload, IsOk());
    if (payload.ok()) {
      EXPECT_TRUE(copy.ParseFromString(*payload));
    }
    return copy;
  };
  EXPECT_THAT((*store)->CheckCopy(copy_of(first), 1), IsOk());
  // Generation 2 under another key, generation 3 back under the first.
  ASSERT_THAT((*store)->RotateMasterKey(RandomKey().value()), IsOk());
  EXPECT_THAT((*store)->OpenWithCurrentMasterKey(first, context),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  {
    // A file claiming the current generation whose check fails was altered.
    proto::GenerationFile forged = first;
    forged.set_master_generation(2);
    EXPECT_THAT((*store)->OpenWithCurrentMasterKey(forged, context),
                StatusIs(absl::StatusCode::kDataLoss));
  }
  ASSERT_THAT((*store)->RotateMasterKey(Copy(master_)), IsOk());
  ASSERT_EQ((*store)->master_generation(), 3u);
  proto::KeyStoreCopy old_copy = copy_of(first);
  EXPECT_THAT((*store)->CheckCopy(old_copy, 1), IsOk());
  EXPECT_THAT((*store)->CheckCopy(old_copy, 3),
              StatusIs(absl::StatusCode::kDataLoss));
  // Removing a tenant's key reseals as generation 1: still consistent.
  auto changed = (*store)->Reseal(
      &first, context, [](std::string* payload) -> absl::StatusOr<bool> {
        proto::KeyStoreCopy copy;
        if (!copy.ParseFromString(*payload)) return absl::DataLossError("x");
        if (KeyStore::RemoveTenantKeysFromCopy(&copy, {2}).empty()) {
          return false;
        }
        *payload = copy.SerializeAsString();
        return true;
      });
  ASSERT_THAT(changed, IsOk());
  EXPECT_TRUE(*changed);
  EXPECT_EQ(first.master_generation(), 1u);
  proto::KeyStoreCopy resealed = copy_of(first);
  EXPECT_THAT((*store)->CheckCopy(resealed, 1), IsOk());
  EXPECT_EQ(resealed.entries_size(), old_copy.entries_size() - 1);
  EXPECT_TRUE(KeyStore::RemoveTenantKeysFromCopy(&resealed, {2}).empty());
  // A wrapped key damaged in the copy is caught.
  for (auto& entry : *resealed.mutable_entries()) {
    if (entry.key().rfind("d/", 0) == 0) {
      (*entry.mutable_value())[entry.value().size() - 1] ^= 1;
      break;
    }
  }
  EXPECT_THAT((*store)->CheckCopy(resealed, 1),
              StatusIs(absl::StatusCode::kDataLoss));
}

// A batch shred removes many tenants' keys from a copy in one pass: exactly
// theirs (every version), the rest kept in order.
TEST(KeyStoreCopyTest, RemovingSeveralTenantsKeysKeepsEveryOtherEntryInOrder) {
  proto::KeyStoreCopy copy;
  auto add = [&](const std::string& key) {
    auto* entry = copy.add_entries();
    entry->set_key(key);
    entry->set_value("v:" + key);
  };
  add("f/file-key");
  for (std::uint64_t n = 1; n <= 6; ++n) {
    add(TenantKeyEntry(n));
    if (n % 2 == 0) add(RetiredTenantKeyEntry(n, 1));
  }
  add("z/other");
  const auto removed = KeyStore::RemoveTenantKeysFromCopy(&copy, {2, 3, 6, 99});
  EXPECT_EQ(removed, (absl::flat_hash_set<std::uint64_t>{2, 3, 6}));
  std::vector<std::string> left;
  for (const auto& entry : copy.entries()) {
    EXPECT_EQ(entry.value(), "v:" + entry.key());
    left.push_back(entry.key());
  }
  EXPECT_EQ(left,
            (std::vector<std::string>{
                "f/file-key", TenantKeyEntry(1), TenantKeyEntry(4),
                RetiredTenantKeyEntry(4, 1), TenantKeyEntry(5), "z/other"}));
  EXPECT_TRUE(KeyStore::RemoveTenantKeysFromCopy(&copy, {2, 3}).empty());
}

}  // namespace
}  // namespace leyser::internal
