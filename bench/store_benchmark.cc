// Core store speed: leyser against raw RocksDB with the same options and key layout (8-byte
// tenant prefix + 16-byte user key) but no encryption at all, and against leyser with the file
// layer off (values still sealed), all in the same process and run.
//
// Workloads: random put (unsynced), random get of preloaded keys (block cache warm), scan of 1,000
// keys inside one tenant. Value sizes 100 B, 1 KiB, 16 KiB. Compare items_per_second of the
// /raw and /leyser rows of the same workload.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <typeinfo>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "leyser/leyser.h"
#include "lib/rocks/options.h"
#include "lib/store/db_core.h"
#include "lib/store/key_encoding.h"
#include "lib/store/store_impl.h"
#include "rocksdb/db.h"

namespace {

constexpr int kTenants = 100;
// Preloaded keys per tenant: 2,000 (200,000 in all), fewer for large values (about 200 MB).
int KeysPerTenant(std::size_t value_size) {
  return static_cast<int>(std::min<std::size_t>(2000, (200u << 20) / (kTenants * value_size)));
}
constexpr int kScanKeys = 1000;

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("LEYSER_BENCH_DIR");
  std::string dir = std::string(base != nullptr ? base : "/tmp") + "/leyser-bench-" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
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
  explicit RawStore(const std::string& dir) {
    rocksdb::DBOptions db_options = leyser::internal::DataDbOptions();
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"tenant_data", leyser::internal::TenantDataCfOptions(64 << 20)}};
    rocksdb::Status s = rocksdb::DB::Open(db_options, dir, cfs, &handles_, &db_);
    if (!s.ok()) std::abort();
  }
  ~RawStore() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db_;
  }
  bool Put(std::uint64_t tenant, const std::string& key, const std::string& value) {
    return db_->Put(rocksdb::WriteOptions(), handles_[1], leyser::internal::DataKey(tenant, key), value)
        .ok();
  }
  bool Get(std::uint64_t tenant, const std::string& key, std::string* value) {
    return db_->Get(rocksdb::ReadOptions(), handles_[1], leyser::internal::DataKey(tenant, key), value)
        .ok();
  }
  std::size_t Scan(std::uint64_t tenant, int n) {
    const std::string lo = leyser::internal::TenantPrefix(tenant);
    const std::string hi = leyser::internal::TenantPrefix(tenant + 1);
    rocksdb::Slice upper(hi);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[1]));
    std::size_t bytes = 0;
    int i = 0;
    for (it->Seek(lo); it->Valid() && i < n; it->Next(), ++i) bytes += it->value().size();
    return bytes;
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// leyser with every layer (values sealed per tenant, every file encrypted).
class LeyserStore {
 public:
  explicit LeyserStore(const std::string& dir, bool file_layer = true) {
    const std::string key = dir + "/master.key";
    if (!leyser::CreateKeyFile(key).ok()) std::abort();
    leyser::Options options;
    options.data_dir = dir + "/store";
    options.key_provider = leyser::NewFileKeyProvider(key).value();
    options.create_if_missing = true;
    options.sync_writes = false;  // Same durability as the raw store's default WriteOptions.
    store_ = (file_layer ? leyser::Store::Open(options)
                         : leyser::internal::OpenWithoutFileEncryptionForTesting(options))
                 .value();
    for (int t = 0; t < kTenants; ++t) {
      const std::string id = absl::StrCat("tenant-", t);
      if (!store_->CreateTenant(id).ok()) std::abort();
      tenants_.push_back(store_->OpenTenant(id).value());
    }
  }
  bool Put(std::uint64_t tenant, const std::string& key, const std::string& value) {
    return tenants_[tenant - 1]->Put(key, value).ok();
  }
  bool Get(std::uint64_t tenant, const std::string& key, std::string* value) {
    auto v = tenants_[tenant - 1]->Get(key);
    if (!v.ok()) return false;
    *value = std::move(v).value();
    return true;
  }
  std::size_t Scan(std::uint64_t tenant, int n) {
    auto it = tenants_[tenant - 1]->NewIterator();
    std::size_t bytes = 0;
    int i = 0;
    for (it->SeekToFirst(); it->Valid() && i < n; it->Next(), ++i) bytes += it->value().size();
    return bytes;
  }

 private:
  std::unique_ptr<leyser::Store> store_;
  std::vector<std::unique_ptr<leyser::Tenant>> tenants_;
};

// leyser with the file layer off (values still sealed): the baseline of the file layer's cost.
class LeyserNoFileLayerStore : public LeyserStore {
 public:
  explicit LeyserNoFileLayerStore(const std::string& dir) : LeyserStore(dir, false) {}
};

// One preloaded store of each kind per value size, built on first use.
template <typename S>
S& Preloaded(std::size_t value_size) {
  static std::map<std::size_t, std::unique_ptr<S>>* stores = new std::map<std::size_t, std::unique_ptr<S>>();
  auto& slot = (*stores)[value_size];
  if (slot == nullptr) {
    slot = std::make_unique<S>(BenchDir(absl::StrCat(typeid(S).name(), "-", value_size)));
    std::mt19937_64 rng(1);
    for (int t = 1; t <= kTenants; ++t) {
      for (int k = 0; k < KeysPerTenant(value_size); ++k) {
        if (!slot->Put(t, UserKey(k), Value(value_size, rng))) std::abort();
      }
    }
  }
  return *slot;
}

template <typename S>
void BM_RandomPut(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  S store(BenchDir(absl::StrCat("put-", typeid(S).name(), "-", size)));
  std::mt19937_64 rng(42);
  const std::string value = Value(size, rng);
  for (auto _ : state) {
    const std::uint64_t t = 1 + rng() % kTenants;
    if (!store.Put(t, UserKey(rng() % 1000000), value)) state.SkipWithError("put failed");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

template <typename S>
void BM_RandomGet(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  S& store = Preloaded<S>(size);
  std::mt19937_64 rng(7);
  std::string value;
  for (auto _ : state) {
    const std::uint64_t t = 1 + rng() % kTenants;
    if (!store.Get(t, UserKey(rng() % KeysPerTenant(size)), &value)) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename S>
void BM_Scan1000(benchmark::State& state) {
  S& store = Preloaded<S>(1024);
  std::mt19937_64 rng(9);
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.Scan(1 + rng() % kTenants, kScanKeys));
  }
  state.SetItemsProcessed(state.iterations() * kScanKeys);
}

BENCHMARK_TEMPLATE(BM_RandomPut, RawStore)->Name("RandomPut/raw")->Arg(100)->Arg(1024)->Arg(16384);
BENCHMARK_TEMPLATE(BM_RandomPut, LeyserStore)->Name("RandomPut/leyser")->Arg(100)->Arg(1024)->Arg(16384);
BENCHMARK_TEMPLATE(BM_RandomGet, RawStore)->Name("RandomGet/raw")->Arg(100)->Arg(1024)->Arg(16384);
BENCHMARK_TEMPLATE(BM_RandomGet, LeyserStore)->Name("RandomGet/leyser")->Arg(100)->Arg(1024)->Arg(16384);
BENCHMARK_TEMPLATE(BM_RandomPut, LeyserNoFileLayerStore)->Name("RandomPut/leyser-no-file-layer")->Arg(1024);
BENCHMARK_TEMPLATE(BM_RandomGet, LeyserNoFileLayerStore)->Name("RandomGet/leyser-no-file-layer")->Arg(1024);
BENCHMARK_TEMPLATE(BM_Scan1000, RawStore)->Name("Scan1000/raw");
BENCHMARK_TEMPLATE(BM_Scan1000, LeyserStore)->Name("Scan1000/leyser");

}  // namespace

BENCHMARK_MAIN();
