// Many tenants: store open time, opening a tenant handle, and resident memory
// per idle tenant, at 1, 100, 10,000 and 100,000 tenants (1, 100 and 1,000 in
// quick mode), for leyser, raw RocksDB (the application keeps an
// absl::flat_hash_map from tenant name to prefix: its "handle" is a lookup) and
// SQLCipher database-per-tenant (a handle is an open database: sqlite3_open_v2,
// the raw key, a first query). Each tenant holds one 100-byte value.
//
// SQLCipher runs up to 10,000 tenants: an open database holds 3 file
// descriptors and about 140 KiB, so 100,000 cannot be open at once (and
// creating them takes minutes). Its idle tenant is a closed file (no memory);
// the memory figure is per open database instead.
//
// Reported values (lower is better): StoreOpen (s), OpenTenant (median µs over
// random tenants), TenantBytes (resident bytes the store open added, divided by
// the tenant count: an upper bound per idle tenant that includes the store's
// fixed cost; per open database for SQLCipher).

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "bench/sqlcipher_tenant.h"
#include "rocksdb/db.h"

#include "leyser/leyser.h"

#include "lib/db/column_families.h"
#include "lib/db/db_files.h"
#include "lib/db/key_layout.h"
#include "lib/rocks/options.h"
#include "lib/util/coding.h"

namespace leyser::bench {
namespace {

std::string TenantId(std::int64_t i) { return absl::StrCat("tenant-", i); }

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// Median of `samples` microsecond timings of `op`, on random tenants.
template <typename Op>
double MedianMicros(std::int64_t tenants, int samples, Op op) {
  std::mt19937_64 rng(5);
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(samples));
  for (int i = 0; i < samples; ++i) {
    const std::int64_t t =
        static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(tenants));
    const auto start = std::chrono::steady_clock::now();
    op(t);
    micros.push_back(Seconds(start) * 1e6);
  }
  std::nth_element(micros.begin(), micros.begin() + samples / 2, micros.end());
  return micros[static_cast<std::size_t>(samples / 2)];
}

void Report(benchmark::State& state, double value) {
  for (auto _ : state) {
  }
  state.counters["value"] = value;
}

// Resident bytes the open added, per tenant: an upper bound, since it includes
// the store's fixed cost (caches, threads, a few MB), which dominates at small
// counts.
double PerTenant(std::int64_t n, double resident_delta) {
  return std::max(0.0, resident_delta) / static_cast<double>(n);
}

struct LeyserFigures {
  double open_s, open_tenant_us, open_tenant_warm_us, tenant_bytes;
};

LeyserFigures MeasureLeyser(std::int64_t n) {
  static std::map<std::int64_t, LeyserFigures> cache;
  if (auto it = cache.find(n); it != cache.end()) return it->second;
  const std::string dir = BenchDir(absl::StrCat("tenants-leyser-", n));
  if (!CreateKeyFile(dir + "/master.key").ok()) std::abort();
  Options options;
  options.data_dir = dir + "/store";
  options.key_provider = NewFileKeyProvider(dir + "/master.key").value();
  options.create_if_missing = true;
  options.sync_writes = false;
  {
    auto store = Store::Open(options).value();
    for (std::int64_t first = 0; first < n; first += 10000) {
      std::vector<std::string> ids;
      for (std::int64_t i = first; i < std::min(n, first + 10000); ++i)
        ids.push_back(TenantId(i));
      if (!store
               ->CreateTenants(
                   std::vector<std::string_view>(ids.begin(), ids.end()))
               .ok())
        std::abort();
    }
    const std::string value(100, 'v');
    for (std::int64_t i = 0; i < n; ++i) {
      if (!store->OpenTenant(TenantId(i)).value()->Put("k", value).ok())
        std::abort();
    }
  }
  LeyserFigures f;
  const double before = static_cast<double>(ResidentBytes());
  const auto start = std::chrono::steady_clock::now();
  auto store = Store::Open(options).value();
  f.open_s = Seconds(start);
  f.tenant_bytes = PerTenant(n, static_cast<double>(ResidentBytes()) - before);
  // Cold: the first opens after the store opened (a key-store read and an
  // unwrap each, mostly).
  auto open = [&](std::int64_t t) {
    auto handle = store->OpenTenant(TenantId(t));
    if (!handle.ok()) std::abort();
    benchmark::DoNotOptimize(handle);
  };
  f.open_tenant_us = MedianMicros(n, 20000, open);
  // Warm: every tenant opened once before (all within
  // Options::tenant_cache_size).
  for (std::int64_t t = 0; t < n; ++t) open(t);
  f.open_tenant_warm_us = MedianMicros(n, 20000, open);
  cache[n] = f;
  return f;
}

struct RawFigures {
  double open_s, open_tenant_us, tenant_bytes;
};

RawFigures MeasureRaw(std::int64_t n) {
  static std::map<std::int64_t, RawFigures> cache;
  if (auto it = cache.find(n); it != cache.end()) return it->second;
  const std::string dir = BenchDir(absl::StrCat("tenants-raw-", n));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"tenant_data", internal::TenantDataCfOptions(64 << 20)}};
  rocksdb::DBOptions db_options = internal::DataDbOptions();
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  {
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    if (!rocksdb::DB::Open(db_options, dir, cfs, &handles, &db).ok())
      std::abort();
    const std::string value(100, 'v');
    for (std::int64_t i = 0; i < n; ++i) {
      // The tenant map lives in the default column family: name -> number.
      if (!db->Put(rocksdb::WriteOptions(), handles[0], TenantId(i),
                   internal::TenantPrefix(i + 1))
               .ok() ||
          !db->Put(rocksdb::WriteOptions(), handles[1],
                   internal::DataKey(i + 1, "k"), value)
               .ok()) {
        std::abort();
      }
    }
    for (auto* h : handles)
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db;
  }
  RawFigures f;
  const double before = static_cast<double>(ResidentBytes());
  const auto start = std::chrono::steady_clock::now();
  // As leyser opens its data database.
  db_options.max_file_opening_threads = internal::TableOpeningThreads(dir);
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  if (!rocksdb::DB::Open(db_options, dir, cfs, &handles, &db).ok())
    std::abort();
  absl::flat_hash_map<std::string, std::uint64_t> tenants;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions(), handles[0]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    tenants.emplace(
        it->key().ToString(),
        internal::DecodeBigEndian64(std::string_view(it->value().data(), 8)));
  }
  it.reset();
  f.open_s = Seconds(start);
  f.tenant_bytes = PerTenant(n, static_cast<double>(ResidentBytes()) - before);
  f.open_tenant_us = MedianMicros(n, 20000, [&](std::int64_t t) {
    auto found = tenants.find(TenantId(t));
    if (found == tenants.end()) std::abort();
    benchmark::DoNotOptimize(internal::TenantPrefix(found->second));
  });
  for (auto* h : handles)
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  delete db;
  cache[n] = f;
  return f;
}

struct SqlFigures {
  double open_tenant_us, open_db_bytes;
};

SqlFigures MeasureSqlCipher(std::int64_t n) {
  static std::map<std::int64_t, SqlFigures> cache;
  if (auto it = cache.find(n); it != cache.end()) return it->second;
  const std::string dir = BenchDir(absl::StrCat("tenants-sqlcipher-", n));
  const std::string value(100, 'v');
  for (std::int64_t i = 0; i < n; ++i) {
    SqlCipherTenant t(absl::StrCat(dir, "/", TenantId(i), ".db"), false);
    if (!t.Put("k", value)) std::abort();
  }
  SqlFigures f;
  std::string out;
  f.open_tenant_us = MedianMicros(
      n, std::min<int>(2000, static_cast<int>(n) * 20), [&](std::int64_t t) {
        SqlCipherTenant tenant(absl::StrCat(dir, "/", TenantId(t), ".db"),
                               false);
        if (!tenant.Get("k", &out)) std::abort();
      });
  // Memory of open databases: open up to 100 at once.
  const std::int64_t open = std::min<std::int64_t>(n, 100);
  const double before = static_cast<double>(ResidentBytes());
  std::vector<std::unique_ptr<SqlCipherTenant>> held;
  for (std::int64_t i = 0; i < open; ++i) {
    held.push_back(std::make_unique<SqlCipherTenant>(
        absl::StrCat(dir, "/", TenantId(i), ".db"), false));
    if (!held.back()->Get("k", &out)) std::abort();
  }
  f.open_db_bytes = (static_cast<double>(ResidentBytes()) - before) /
                    static_cast<double>(open);
  cache[n] = f;
  return f;
}

void BM_StoreOpen_Leyser(benchmark::State& s) {
  Report(s, MeasureLeyser(s.range(0)).open_s);
}
void BM_StoreOpen_Raw(benchmark::State& s) {
  Report(s, MeasureRaw(s.range(0)).open_s);
}
void BM_OpenTenant_Leyser(benchmark::State& s) {
  Report(s, MeasureLeyser(s.range(0)).open_tenant_us);
}
void BM_OpenTenant_Raw(benchmark::State& s) {
  Report(s, MeasureRaw(s.range(0)).open_tenant_us);
}
void BM_OpenTenant_Sql(benchmark::State& s) {
  Report(s, MeasureSqlCipher(s.range(0)).open_tenant_us);
}
void BM_OpenTenantWarm_Leyser(benchmark::State& s) {
  Report(s, MeasureLeyser(s.range(0)).open_tenant_warm_us);
}
void BM_TenantBytes_Leyser(benchmark::State& s) {
  Report(s, MeasureLeyser(s.range(0)).tenant_bytes);
}
void BM_TenantBytes_Raw(benchmark::State& s) {
  Report(s, MeasureRaw(s.range(0)).tenant_bytes);
}
void BM_TenantBytes_Sql(benchmark::State& s) {
  Report(s, MeasureSqlCipher(s.range(0)).open_db_bytes);
}

void Counts(benchmark::internal::Benchmark* b, bool sqlcipher) {
  const std::vector<std::int64_t> counts =
      Quick() ? std::vector<std::int64_t>{1, 100, 1000}
              : (sqlcipher ? std::vector<std::int64_t>{1, 100, 10000}
                           : std::vector<std::int64_t>{1, 100, 10000, 100000});
  for (std::int64_t n : counts) b->Arg(n);
  b->Iterations(1);
}

BENCHMARK(BM_StoreOpen_Leyser)->Name("StoreOpen_s/leyser")->Apply([](auto* b) {
  Counts(b, false);
});
BENCHMARK(BM_StoreOpen_Raw)->Name("StoreOpen_s/raw")->Apply([](auto* b) {
  Counts(b, false);
});
BENCHMARK(BM_OpenTenant_Leyser)
    ->Name("OpenTenant_us/leyser")
    ->Apply([](auto* b) { Counts(b, false); });
BENCHMARK(BM_OpenTenant_Raw)->Name("OpenTenant_us/raw")->Apply([](auto* b) {
  Counts(b, false);
});
BENCHMARK(BM_OpenTenant_Sql)
    ->Name("OpenTenant_us/sqlcipher")
    ->Apply([](auto* b) { Counts(b, true); });
BENCHMARK(BM_OpenTenantWarm_Leyser)
    ->Name("OpenTenantWarm_us/leyser")
    ->Apply([](auto* b) { Counts(b, false); });
BENCHMARK(BM_TenantBytes_Leyser)
    ->Name("TenantBytes/leyser")
    ->Apply([](auto* b) { Counts(b, false); });
BENCHMARK(BM_TenantBytes_Raw)->Name("TenantBytes/raw")->Apply([](auto* b) {
  Counts(b, false);
});
BENCHMARK(BM_TenantBytes_Sql)
    ->Name("TenantBytes/sqlcipher")
    ->Apply([](auto* b) { Counts(b, true); });

}  // namespace
}  // namespace leyser::bench

int main(int argc, char** argv) {
  return leyser::bench::RunWithRatios(
      argc, argv,
      leyser::bench::RatioReporter("value", /*lower_is_better=*/true));
}
