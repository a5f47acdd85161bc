// Key-value speed: leyser against raw RocksDB (same options and key layout:
// 8-byte tenant prefix + 16-byte user key, no encryption at all: the ceiling)
// and against SQLCipher with one database per tenant (the usual "database per
// tenant" design), all in the same process and run. 100 tenants. Also leyser
// with its file layer off, to show the file layer's own cost.
//
// Durability, stated: unsynced workloads use RocksDB WriteOptions::sync = false
// (leyser Options::sync_writes = false) and SQLCipher synchronous = NORMAL in
// WAL mode: each survives a process crash, neither fsyncs per write.
// "SyncedPut" uses sync = true and synchronous = FULL.
//
// Workloads: random put and random get of 100 B, 1 KiB and 16 KiB values;
// batches of 16 puts of 1 KiB (one WriteBatch, one SQLite transaction); synced
// puts of 1 KiB; a scan of 1,000 keys of 1 KiB inside one tenant (keys and
// values read). Rates are operations (keys for the scan) per second.
// LEYSER_BENCH_QUICK=1 shrinks the preloaded data for CI.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "rocksdb/db.h"

#include "leyser/leyser.h"

#include "lib/db/column_families.h"
#include "lib/db/key_layout.h"
#include "lib/rocks/options.h"
#include "lib/store/store_impl.h"

namespace leyser::bench {
namespace {

constexpr int kTenants = 100;
constexpr int kScanKeys = 1000;

// Preloaded keys per tenant: 2,000 (200,000 in all) for small values, about 200
// MB in all for large ones; 1,000 and 100 MB in quick mode. The scan (1 KiB
// values) always has 1,000.
int KeysPerTenant(std::size_t value_size) {
  static const bool quick = Quick();
  const std::size_t budget = quick ? (100u << 20) : (200u << 20);
  return static_cast<int>(std::min<std::size_t>(
      quick ? 1000 : 2000, budget / (kTenants * value_size)));
}

std::string UserKey(std::uint64_t i) {
  std::string k = absl::StrCat("user-", i);
  k.resize(16, '.');
  return k;
}

std::string Value(std::size_t size, std::mt19937_64& rng) {
  std::string v(size, '\0');
  for (char& c : v) c = static_cast<char>(rng());
  return v;
}

// Raw RocksDB with leyser's options and layout, values stored as given.
class RawStore {
 public:
  RawStore(const std::string& dir, bool synced) {
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
  std::size_t Scan(int tenant, int n) {
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
  LeyserStore(const std::string& dir, bool synced, bool file_layer = true) {
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
    for (int t = 0; t < kTenants; ++t)
      ids.push_back(absl::StrCat("tenant-", t));
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
  std::size_t Scan(int tenant, int n) {
    auto it = tenants_[tenant - 1]->NewIterator();
    std::size_t bytes = 0;
    int i = 0;
    for (it->SeekToFirst(); it->Valid() && i < n; it->Next(), ++i)
      bytes += it->key().size() + it->value().size();
    return bytes;
  }

 private:
  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<Tenant>> tenants_;
};

class NoFileLayerStore : public LeyserStore {
 public:
  NoFileLayerStore(const std::string& dir, bool synced)
      : LeyserStore(dir, synced, false) {}
};

// SQLCipher, one database per tenant.
class SqlCipherStore {
 public:
  SqlCipherStore(const std::string& dir, bool synced) {
    for (int t = 0; t < kTenants; ++t) {
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

 private:
  std::vector<std::unique_ptr<SqlCipherTenant>> tenants_;
};

// One preloaded store of each kind per value size, built on first use.
template <typename S>
S& Preloaded(std::size_t value_size) {
  static auto* stores = new std::map<std::size_t, std::unique_ptr<S>>();
  auto& slot = (*stores)[value_size];
  if (slot == nullptr) {
    slot = std::make_unique<S>(
        BenchDir(absl::StrCat(typeid(S).name(), "-", value_size)), false);
    std::mt19937_64 rng(1);
    std::vector<std::pair<std::string, std::string>> batch;
    for (int t = 1; t <= kTenants; ++t) {
      for (int k = 0; k < KeysPerTenant(value_size); ++k) {
        batch.emplace_back(UserKey(static_cast<std::uint64_t>(k)),
                           Value(value_size, rng));
        if (batch.size() == 100) {
          if (!slot->PutBatch(t, batch)) std::abort();
          batch.clear();
        }
      }
      if (!batch.empty() && !slot->PutBatch(t, batch)) std::abort();
      batch.clear();
    }
  }
  return *slot;
}

template <typename S>
void BM_RandomPut(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  S store(BenchDir(absl::StrCat("put-", typeid(S).name(), "-", size)), false);
  std::mt19937_64 rng(42);
  const std::string value = Value(size, rng);
  for (auto _ : state) {
    if (!store.Put(1 + static_cast<int>(rng() % kTenants),
                   UserKey(rng() % 1000000), value)) {
      state.SkipWithError("put failed");
    }
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename S>
void BM_SyncedPut(benchmark::State& state) {
  S store(BenchDir(absl::StrCat("sync-", typeid(S).name())), true);
  std::mt19937_64 rng(43);
  const std::string value = Value(1024, rng);
  for (auto _ : state) {
    if (!store.Put(1 + static_cast<int>(rng() % kTenants),
                   UserKey(rng() % 1000000), value)) {
      state.SkipWithError("put failed");
    }
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename S>
void BM_BatchPut16(benchmark::State& state) {
  S store(BenchDir(absl::StrCat("batch-", typeid(S).name())), false);
  std::mt19937_64 rng(44);
  const std::string value = Value(1024, rng);
  std::vector<std::pair<std::string, std::string>> batch(16);
  for (auto _ : state) {
    for (auto& [k, v] : batch) {
      k = UserKey(rng() % 1000000);
      v = value;
    }
    if (!store.PutBatch(1 + static_cast<int>(rng() % kTenants), batch))
      state.SkipWithError("batch failed");
  }
  state.SetItemsProcessed(state.iterations() * 16);
}

template <typename S>
void BM_RandomGet(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  S& store = Preloaded<S>(size);
  std::mt19937_64 rng(7);
  std::string value;
  for (auto _ : state) {
    if (!store.Get(1 + static_cast<int>(rng() % kTenants),
                   UserKey(rng() % KeysPerTenant(size)), &value)) {
      state.SkipWithError("get failed");
    }
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename S>
void BM_Scan1000(benchmark::State& state) {
  S& store = Preloaded<S>(1024);
  std::mt19937_64 rng(9);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        store.Scan(1 + static_cast<int>(rng() % kTenants), kScanKeys));
  }
  state.SetItemsProcessed(state.iterations() * kScanKeys);
}

#define LEYSER_SYSTEMS(BM, NAME, ...)                                          \
  BENCHMARK_TEMPLATE(BM, RawStore)->Name(NAME "/raw") __VA_ARGS__;             \
  BENCHMARK_TEMPLATE(BM, LeyserStore)->Name(NAME "/leyser") __VA_ARGS__;       \
  BENCHMARK_TEMPLATE(BM, SqlCipherStore)->Name(NAME "/sqlcipher") __VA_ARGS__; \
  BENCHMARK_TEMPLATE(BM, NoFileLayerStore)                                     \
      ->Name(NAME "/leyser-no-file-layer") __VA_ARGS__

LEYSER_SYSTEMS(BM_RandomPut, "RandomPut", ->Arg(100)->Arg(1024)->Arg(16384));
LEYSER_SYSTEMS(BM_RandomGet, "RandomGet", ->Arg(100)->Arg(1024)->Arg(16384));
LEYSER_SYSTEMS(BM_BatchPut16, "BatchPut16", ->Arg(1024));
LEYSER_SYSTEMS(BM_SyncedPut, "SyncedPut", ->Arg(1024));
LEYSER_SYSTEMS(BM_Scan1000, "Scan1000", ->Arg(1024));

}  // namespace
}  // namespace leyser::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  leyser::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
