// Purge cost: a tenant of LEYSER_BENCH_PURGE_KEYS (default 1,000,000) keys of
// 100 bytes is purged while 4 other tenants write. Reports the writers'
// throughput during the purge against their throughput just before it (target
// >= 0.7), and the purge time for the same tenant in a store with and without
// 2x as many keys of other tenants (purge time should follow the tenant's size,
// not the store's). The store is compacted after loading, so it is at rest when
// the purge runs.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include <benchmark/benchmark.h>

#include "leyser/leyser.h"

#include "lib/store/store_impl.h"

namespace {

std::uint64_t PurgeKeys() {
  return leyser::bench::EnvOr("LEYSER_BENCH_PURGE_KEYS", 1000000);
}

void Load(leyser::Tenant& tenant, std::uint64_t keys, std::mt19937_64& rng) {
  leyser::WriteBatch batch;
  std::string value(100, '\0');
  for (std::uint64_t i = 0; i < keys; ++i) {
    for (char& c : value) c = static_cast<char>(rng());
    batch.Put(absl::StrCat("key-", i), value);
    if (batch.Count() == 1000) {
      if (!tenant.Write(batch).ok()) std::abort();
      batch.Clear();
    }
  }
  if (batch.Count() > 0 && !tenant.Write(batch).ok()) std::abort();
}

// Purges a tenant of `tenant_keys` keys in a store that also holds `other_keys`
// keys of other tenants, while 4 writers run if `writers`.
void BM_PurgeWhileOthersWrite(benchmark::State& state) {
  const std::uint64_t tenant_keys =
      PurgeKeys() * static_cast<std::uint64_t>(state.range(0)) / 4;
  const std::uint64_t other_keys =
      PurgeKeys() * static_cast<std::uint64_t>(state.range(1));
  const bool writers = state.range(2) != 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string base = leyser::bench::BenchDir("purge");
    auto clock = std::make_shared<leyser::ManualClock>(absl::Now());
    leyser::Options options =
        leyser::bench::FreshStoreOptions(base, /*backups=*/false);
    options.clock = clock;
    options.purge_after = absl::ZeroDuration();
    auto store = leyser::Store::Open(options).value();
    std::mt19937_64 rng(3);
    (void)store->CreateTenant("big");
    Load(*store->OpenTenant("big").value(), tenant_keys, rng);
    (void)store->CreateTenant("others");
    Load(*store->OpenTenant("others").value(), other_keys, rng);
    // A store at rest: the bulk load's compaction debt is paid first (it would
    // otherwise be paid, in part, by whatever compaction runs next, the purge's
    // included).
    if (!leyser::internal::CompactAllForTesting(*store).ok()) std::abort();
    std::vector<std::unique_ptr<leyser::Tenant>> writer_tenants;
    for (int w = 0; w < 4; ++w) {
      (void)store->CreateTenant(absl::StrCat("w", w));
      writer_tenants.push_back(store->OpenTenant(absl::StrCat("w", w)).value());
    }
    std::atomic<std::uint64_t> written{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    if (writers) {
      for (int w = 0; w < 4; ++w) {
        threads.emplace_back([&, w] {
          std::string value(100, 'w');
          for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed);
               ++i) {
            if (!writer_tenants[w]
                     ->Put(absl::StrCat("k", i % 200000), value)
                     .ok())
              std::abort();
            written.fetch_add(1, std::memory_order_relaxed);
          }
        });
      }
      // Baseline: the writers alone.
      absl::SleepFor(absl::Seconds(1));
      const std::uint64_t before = written.load();
      absl::SleepFor(absl::Seconds(3));
      state.counters["writes_per_s_alone"] =
          static_cast<double>(written.load() - before) / 3.0;
    }
    (void)store->EndContract("big", clock->Now());
    state.ResumeTiming();

    const std::uint64_t at_start = written.load();
    const absl::Time start = absl::Now();
    auto report = store->RunMaintenance();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const std::uint64_t during = written.load() - at_start;

    state.PauseTiming();
    if (!report.ok() || report->purged.size() != 1) {
      std::fprintf(stderr, "purge failed: %s\n",
                   report.status().ToString().c_str());
      std::abort();
    }
    stop = true;
    for (auto& t : threads) t.join();
    state.counters["tenant_keys"] = static_cast<double>(tenant_keys);
    state.counters["other_keys"] = static_cast<double>(other_keys);
    state.counters["purge_s"] = seconds;
    if (writers) {
      state.counters["writes_per_s_during_purge"] =
          static_cast<double>(during) / seconds;
      state.counters["ratio"] = state.counters["writes_per_s_during_purge"] /
                                state.counters["writes_per_s_alone"];
    }
    writer_tenants.clear();
    store.reset();
    std::filesystem::remove_all(base);
    state.ResumeTiming();
  }
}

// Args: tenant size in quarters of LEYSER_BENCH_PURGE_KEYS, other keys in
// multiples of it, writers on (1) or off (0).
BENCHMARK(BM_PurgeWhileOthersWrite)
    ->Args({4, 0, 1})  // 1M-key tenant, 4 writers: the throughput ratio.
    ->Args({4, 0, 0})  // Purge time, small store.
    ->Args({4, 2, 0})  // Same tenant, store 3x as large.
    ->Args({1, 2, 0})  // A quarter of the tenant, large store.
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
