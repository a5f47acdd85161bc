// Raw access to a closed store's data database, for tests that tamper with or inspect it.

#ifndef LEYSER_TESTS_TEST_RAW_DB_H_
#define LEYSER_TESTS_TEST_RAW_DB_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/rocks/options.h"
#include "lib/store/db_core.h"
#include "rocksdb/db.h"

namespace leyser::test {

class RawDataDb {
 public:
  // Opens `store_dir`/db. The store must be closed.
  explicit RawDataDb(const std::string& store_dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {internal::kTenantDataCf, internal::TenantDataCfOptions(1 << 20)},
        {internal::kRegistryCf, internal::RegistryCfOptions()},
    };
    rocksdb::Status s =
        rocksdb::DB::Open(internal::DataDbOptions(), store_dir + "/db", cfs, &handles_, &db_);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  ~RawDataDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db_;
  }
  rocksdb::DB* db() { return db_; }
  rocksdb::ColumnFamilyHandle* data() { return handles_[1]; }

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

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace leyser::test

#endif  // LEYSER_TESTS_TEST_RAW_DB_H_
