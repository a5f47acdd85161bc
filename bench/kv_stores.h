// The three systems leyser's key-value benchmarks compare, behind one shape
// (Put, PutBatch, Get, Scan by tenant number 1..N): raw RocksDB with leyser's
// options and key layout (the ceiling), leyser (optionally without its file
// layer), and SQLCipher with one database per tenant. Shared by
// kv_benchmark.cc and ycsb_benchmark.cc.

#ifndef LEYSER_BENCH_KV_STORES_H_
#define LEYSER_BENCH_KV_STORES_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "bench/sqlcipher_tenant.h"
#include "rocksdb/db.h"

#include "leyser/leyser.h"

#include "lib/db/column_families.h"
#include "lib/db/key_layout.h"
#include "lib/rocks/options.h"
#include "lib/store/store_impl.h"

namespace leyser::bench {

// Raw RocksDB with leyser's options and layout, values stored as given.
class RawStore {
 public:
  RawStore(const std::string& dir, bool synced, int /*tenants*/) {
    rocksdb::DBOptions db_options = internal::DataDbOptions();
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"tenant_data", internal::TenantDataCfOptions(64 << 20)}};
    if (!rocksdb::DB::Open(db_options, dir, cfs, &handles_, &db_).ok())
      std::abort();
    write_.sync = synced;
  }
  ~RawStore() {
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db_;
  }
  bool Put(int tenant, const std::string& key, const std::string& value) {
    return db_->Put(write_, handles_[1], internal::DataKey(tenant, key), value)
        .ok();
  }
  bool PutBatch(int tenant,
                const std::vector<std::pair<std::string, std::string>>& kvs) {
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : kvs) {
      if (!batch.Put(handles_[1], internal::DataKey(tenant, k), v).ok())
        return false;
    }
    return db_->Write(write_, &batch).ok();
  }
  bool Get(int tenant, const std::string& key, std::string* value) {
    return db_
        ->Get(rocksdb::ReadOptions(), handles_[1],
              internal::DataKey(tenant, key), value)
        .ok();
  }
  // The first `n` keys of `tenant`, with their values unless `values` is
  // false (ScanKeys).
  std::size_t Scan(int tenant, int n, bool values = true) {
    const std::string lo = internal::TenantPrefix(tenant);
    const std::string hi = internal::TenantPrefix(tenant + 1);
    rocksdb::Slice upper(hi);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[1]));
    std::size_t bytes = 0;
    int i = 0;
    for (it->Seek(lo); it->Valid() && i < n; it->Next(), ++i)
      bytes += it->key().size() + (values ? it->value().size() : 0);
    return bytes;
  }
  std::size_t ScanKeys(int tenant, int n) { return Scan(tenant, n, false); }
  std::size_t ScanFrom(int tenant, const std::string& start, int n) {
    const std::string hi = internal::TenantPrefix(tenant + 1);
    rocksdb::Slice upper(hi);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[1]));
    std::size_t bytes = 0;
    int i = 0;
    for (it->Seek(internal::DataKey(tenant, start)); it->Valid() && i < n;
         it->Next(), ++i)
      bytes += it->key().size() + it->value().size();
    return bytes;
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_;
};

// leyser with every layer (values sealed per tenant, every file encrypted), or
// with the file layer off.
class LeyserStore {
 public:
  LeyserStore(const std::string& dir, bool synced, int tenants,
              bool file_layer = true) {
    const std::string key = dir + "/master.key";
    if (!CreateKeyFile(key).ok()) std::abort();
    Options options;
    options.data_dir = dir + "/store";
    options.key_provider = NewFileKeyProvider(key).value();
    options.create_if_missing = true;
    options.sync_writes = synced;
    store_ =
        (file_layer ? Store::Open(options)
                    : internal::OpenWithoutFileEncryptionForTesting(options))
            .value();
    std::vector<std::string> ids;
    for (int t = 0; t < tenants; ++t) ids.push_back(absl::StrCat("tenant-", t));
    if (!store_
             ->CreateTenants(
                 std::vector<std::string_view>(ids.begin(), ids.end()))
             .ok())
      std::abort();
    for (const std::string& id : ids)
      tenants_.push_back(store_->OpenTenant(id).value());
  }
  bool Put(int tenant, const std::string& key, const std::string& value) {
    return tenants_[tenant - 1]->Put(key, value).ok();
  }
  bool PutBatch(int tenant,
                const std::vector<std::pair<std::string, std::string>>& kvs) {
    WriteBatch batch;
    for (const auto& [k, v] : kvs) batch.Put(k, v);
    return tenants_[tenant - 1]->Write(batch).ok();
  }
  bool Get(int tenant, const std::string& key, std::string* value) {
    auto v = tenants_[tenant - 1]->Get(key);
    if (!v.ok()) return false;
    *value = std::move(v).value();
    return true;
  }
  // As RawStore::Scan (values open only when read).
  std::size_t Scan(int tenant, int n, bool values = true) {
    auto it = tenants_[tenant - 1]->NewIterator();
    std::size_t bytes = 0;
    int i = 0;
    for (it->SeekToFirst(); it->Valid() && i < n; it->Next(), ++i)
      bytes += it->key().size() + (values ? it->value().size() : 0);
    return bytes;
  }
  std::size_t ScanKeys(int tenant, int n) { return Scan(tenant, n, false); }
  std::size_t ScanFrom(int tenant, const std::string& start, int n) {
    auto it = tenants_[tenant - 1]->NewIterator();
    std::size_t bytes = 0;
    int i = 0;
    for (it->Seek(start); it->Valid() && i < n; it->Next(), ++i)
      bytes += it->key().size() + it->value().size();
    return bytes;
  }

 private:
  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<Tenant>> tenants_;
};

class NoFileLayerStore : public LeyserStore {
 public:
  NoFileLayerStore(const std::string& dir, bool synced, int tenants)
      : LeyserStore(dir, synced, tenants, false) {}
};

// SQLCipher, one database per tenant.
class SqlCipherStore {
 public:
  SqlCipherStore(const std::string& dir, bool synced, int tenants) {
    for (int t = 0; t < tenants; ++t) {
      tenants_.push_back(std::make_unique<SqlCipherTenant>(
          absl::StrCat(dir, "/tenant-", t, ".db"), synced));
    }
  }
  bool Put(int tenant, const std::string& key, const std::string& value) {
    return tenants_[tenant - 1]->Put(key, value);
  }
  bool PutBatch(int tenant,
                const std::vector<std::pair<std::string, std::string>>& kvs) {
    SqlCipherTenant& t = *tenants_[tenant - 1];
    t.Exec("BEGIN");
    for (const auto& [k, v] : kvs) {
      if (!t.Put(k, v)) return false;
    }
    t.Exec("COMMIT");
    return true;
  }
  bool Get(int tenant, const std::string& key, std::string* value) {
    return tenants_[tenant - 1]->Get(key, value);
  }
  std::size_t Scan(int tenant, int n) { return tenants_[tenant - 1]->Scan(n); }
  std::size_t ScanKeys(int tenant, int n) {
    return tenants_[tenant - 1]->ScanKeys(n);
  }
  std::size_t ScanFrom(int tenant, const std::string& start, int n) {
    return tenants_[tenant - 1]->ScanFrom(start, n);
  }

 private:
  std::vector<std::unique_ptr<SqlCipherTenant>> tenants_;
};

}  // namespace leyser::bench

#endif  // LEYSER_BENCH_KV_STORES_H_
