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
// values read), and of its keys alone; cold random gets of 1 KiB (the files
// evicted from the page cache before each get). Rates are operations (keys
// for the scans) per second.
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
#include "bench/kv_stores.h"

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

template <typename S>
std::string PreloadedName(std::size_t value_size) {
  return absl::StrCat(typeid(S).name(), "-", value_size);
}

// One preloaded store of each kind per value size, built on first use.
template <typename S>
S& Preloaded(std::size_t value_size) {
  static auto* stores = new std::map<std::size_t, std::unique_ptr<S>>();
  auto& slot = (*stores)[value_size];
  if (slot == nullptr) {
    slot = std::make_unique<S>(BenchDir(PreloadedName<S>(value_size)), false,
                               kTenants);
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
  S store(BenchDir(absl::StrCat("put-", typeid(S).name(), "-", size)), false,
          kTenants);
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
  S store(BenchDir(absl::StrCat("sync-", typeid(S).name())), true, kTenants);
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
  S store(BenchDir(absl::StrCat("batch-", typeid(S).name())), false, kTenants);
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

// Random gets; `cold`: with the stores' files evicted from the page cache
// before each one (outside the timing): the ~200 MB preloaded set of 1 KiB
// values is 3x the 64 MiB block cache, so most gets read the disk.
template <typename S>
void RandomGets(benchmark::State& state, bool cold) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  S& store = Preloaded<S>(size);
  const char* base = std::getenv("LEYSER_BENCH_DIR");
  PageCacheDropper dropper(absl::StrCat(base != nullptr ? base : "/tmp",
                                        "/leyser-bench-",
                                        PreloadedName<S>(size)));
  std::mt19937_64 rng(cold ? 8 : 7);
  std::string value;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      dropper.Drop();
      state.ResumeTiming();
    }
    if (!store.Get(1 + static_cast<int>(rng() % kTenants),
                   UserKey(rng() % KeysPerTenant(size)), &value)) {
      state.SkipWithError("get failed");
    }
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename S>
void BM_RandomGet(benchmark::State& state) {
  RandomGets<S>(state, /*cold=*/false);
}
template <typename S>
void BM_ColdGet(benchmark::State& state) {
  RandomGets<S>(state, /*cold=*/true);
}

// The first 1,000 keys of a tenant, with their values unless `keys_only`.
template <typename S>
void Scans(benchmark::State& state, bool keys_only) {
  S& store = Preloaded<S>(1024);
  std::mt19937_64 rng(keys_only ? 10 : 9);
  for (auto _ : state) {
    const int tenant = 1 + static_cast<int>(rng() % kTenants);
    benchmark::DoNotOptimize(keys_only ? store.ScanKeys(tenant, kScanKeys)
                                       : store.Scan(tenant, kScanKeys));
  }
  state.SetItemsProcessed(state.iterations() * kScanKeys);
}

template <typename S>
void BM_Scan1000(benchmark::State& state) {
  Scans<S>(state, /*keys_only=*/false);
}
template <typename S>
void BM_KeyScan1000(benchmark::State& state) {
  Scans<S>(state, /*keys_only=*/true);
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
// Synced puts wait for fsync, which is not CPU time: rated by wall time.
LEYSER_SYSTEMS(BM_SyncedPut, "SyncedPut", ->Arg(1024)->UseRealTime());
LEYSER_SYSTEMS(BM_Scan1000, "Scan1000", ->Arg(1024));
LEYSER_SYSTEMS(BM_KeyScan1000, "KeyScan1000", ->Arg(1024));
// Waits for the disk, which is not CPU time: rated by wall time.
LEYSER_SYSTEMS(BM_ColdGet, "ColdGet", ->Arg(1024)->UseRealTime());

}  // namespace
}  // namespace leyser::bench

int main(int argc, char** argv) {
  return leyser::bench::RunWithRatios(argc, argv,
                                      leyser::bench::RatioReporter());
}
