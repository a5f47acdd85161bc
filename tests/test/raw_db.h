// Raw access to a closed store's data database, for tests that tamper with or
// inspect it.

#ifndef LEYSER_TESTS_TEST_RAW_DB_H_
#define LEYSER_TESTS_TEST_RAW_DB_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"

#include "leyser/key_provider.h"

#include "lib/crypto/file_cipher.h"
#include "lib/db/column_families.h"
#include "lib/keys/key_store.h"
#include "lib/registry/records.h"
#include "lib/rocks/options.h"

namespace leyser::test {

// The signing-key seed in the key store of the closed store in `store_dir`,
// as someone holding its master key (from `provider`) has it.
inline SecretBytes StoreSigningSeed(const std::string& store_dir,
                                    const KeyProvider& provider) {
  auto keys = internal::KeyStore::Open(store_dir + "/keys",
                                       provider.GetMasterKey().value(), false,
                                       absl::UnixEpoch());
  EXPECT_TRUE(keys.ok()) << keys.status();
  auto seed = (*keys)->GetSigningSeed();
  EXPECT_TRUE(seed.ok() && seed->has_value()) << seed.status();
  return std::move((*seed)->key);
}

class RawDataDb {
 public:
  // Opens `store_dir`/db through the store's file layer (its file keys, the
  // retired ones too, unwrapped with the master key from `provider`). The
  // store must be closed. Unless `must_open`, a database that does not open
  // is no test failure: status() says why, and db() is null.
  RawDataDb(const std::string& store_dir, const KeyProvider& provider,
            bool must_open = true) {
    auto info = internal::KeyStore::Inspect(store_dir + "/keys",
                                            provider.GetMasterKey().value());
    EXPECT_TRUE(info.ok()) << info.status();
    if (info.ok() && !info->record_key.key.empty()) {
      mac_ = std::make_shared<internal::RecordMac>(
          std::move(info->record_key.key));
    }
    auto keys = internal::KeyStore::Open(store_dir + "/keys",
                                         provider.GetMasterKey().value(), false,
                                         absl::UnixEpoch());
    EXPECT_TRUE(keys.ok()) << keys.status();
    auto file_keys = (*keys)->GetFileKeys();
    EXPECT_TRUE(file_keys.ok()) << file_keys.status();
    env_ = internal::NewEncryptedEnv(
               internal::ToFileKey(std::move(file_keys->current)),
               internal::ToFileKeys(std::move(file_keys->retired)))
               .value();
    rocksdb::DBOptions options = internal::DataDbOptions();
    options.env = env_.env.get();
    options.info_log = internal::NullRocksLogger();
    status_ = rocksdb::DB::Open(options, store_dir + "/db",
                                internal::DataColumnFamilies(1 << 20),
                                &handles_, &db_);
    if (must_open) {
      EXPECT_TRUE(status_.ok()) << status_.ToString();
    }
  }
  ~RawDataDb() {
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db_;
  }
  const rocksdb::Status& status() const { return status_; }
  rocksdb::DB* db() { return db_; }
  rocksdb::Env* env() { return env_.env.get(); }
  rocksdb::ColumnFamilyHandle* data() { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* registry() { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* audit() { return handles_[3]; }

  std::string Get(const std::string& key) {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), data(), key, &v);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }
  void Put(const std::string& key, const std::string& value) {
    rocksdb::Status s = db_->Put(rocksdb::WriteOptions(), data(), key, value);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  // The store's record key (null for a store from before it had one), as
  // someone holding the master key has it.
  const std::shared_ptr<const internal::RecordMac>& mac() const { return mac_; }

  // Registry records, read and written as the store does (sealed under its
  // record key): the registry metadata, or "t/" + tenant id.
  template <class Message>
  Message ReadRegistry(std::string_view key) {
    std::string bytes;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), registry(), std::string(key), &bytes);
    EXPECT_TRUE(s.ok()) << s.ToString();
    Message m;
    absl::Status opened = internal::OpenRegistryRecord(*mac_, key, bytes, &m);
    EXPECT_TRUE(opened.ok()) << opened;
    return m;
  }
  void WriteRegistry(std::string_view key,
                     const google::protobuf::MessageLite& record) {
    rocksdb::Status s =
        db_->Put(rocksdb::WriteOptions(), registry(), std::string(key),
                 internal::SealRegistryRecord(*mac_, key, record));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

 private:
  std::shared_ptr<const internal::RecordMac> mac_;
  internal::EncryptedEnv env_;  // Outlives db_.
  rocksdb::DB* db_ = nullptr;
  rocksdb::Status status_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace leyser::test

#endif  // LEYSER_TESTS_TEST_RAW_DB_H_
