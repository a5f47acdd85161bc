// Incremental backups: after a full backup of a store of LEYSER_BENCH_BACKUP_MB
// (default 1100) MiB of 1 KiB values, 1% of the keys are overwritten and a
// second backup is taken. Reports the bytes the second backup added to the
// backup directory as a fraction of the store's backup size (target: at most
// 5%), and how long each backup took. By default the store is compacted after
// the bulk load, so the first backup sees a store at rest.

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include <benchmark/benchmark.h>

#include "leyser/leyser.h"

#include "lib/store/store_impl.h"

namespace {

std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

void BM_IncrementalBackupAfterOnePercentChange(benchmark::State& state) {
  const std::uint64_t megabytes =
      leyser::bench::EnvOr("LEYSER_BENCH_BACKUP_MB", 1100);
  const std::uint64_t keys = megabytes * 1024;  // 1 KiB values.
  for (auto _ : state) {
    state.PauseTiming();
    const std::string base = leyser::bench::BenchDir("backup");
    const leyser::Options options =
        leyser::bench::FreshStoreOptions(base, /*backups=*/true);
    auto store = leyser::Store::Open(options).value();
    constexpr int kTenants = 10;
    std::vector<std::unique_ptr<leyser::Tenant>> tenants;
    for (int t = 0; t < kTenants; ++t) {
      (void)store->CreateTenant(absl::StrCat("t", t));
      tenants.push_back(store->OpenTenant(absl::StrCat("t", t)).value());
    }
    std::mt19937_64 rng(1);
    std::string value(1024, '\0');
    auto fill = [&] {
      for (char& c : value) c = static_cast<char>(rng());
    };
    leyser::WriteBatch batch;
    for (std::uint64_t i = 0; i < keys; ++i) {
      fill();
      batch.Put(absl::StrCat("key-", i), value);
      if (batch.Count() == 100) {
        if (!tenants[i % kTenants]->Write(batch).ok()) std::abort();
        batch.Clear();
      }
    }
    if (batch.Count() > 0 && !tenants[0]->Write(batch).ok()) std::abort();
    // A store at rest: the bulk load's compaction debt paid before the first
    // backup (set LEYSER_BENCH_BACKUP_UNSETTLED=1 to measure with the debt
    // still pending).
    if (std::getenv("LEYSER_BENCH_BACKUP_UNSETTLED") == nullptr &&
        !leyser::internal::CompactAllForTesting(*store).ok()) {
      std::abort();
    }
    state.ResumeTiming();

    absl::Time start = absl::Now();
    auto full = store->CreateBackup();
    if (!full.ok())
      state.SkipWithError(std::string(full.status().message()).c_str());
    const double full_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const std::uint64_t after_full = DirBytes(options.backup_dir);

    state.PauseTiming();
    for (std::uint64_t n = 0; n < keys / 100; ++n) {
      const std::uint64_t i = rng() % keys;
      fill();
      if (!tenants[i % kTenants]->Put(absl::StrCat("key-", i), value).ok())
        std::abort();
    }
    state.ResumeTiming();

    start = absl::Now();
    auto incremental = store->CreateBackup();
    if (!incremental.ok())
      state.SkipWithError(std::string(incremental.status().message()).c_str());
    const double incremental_seconds =
        absl::ToDoubleSeconds(absl::Now() - start);
    const std::uint64_t after_incremental = DirBytes(options.backup_dir);

    state.counters["store_MiB"] =
        static_cast<double>(full->data_bytes) / (1 << 20);
    state.counters["full_backup_s"] = full_seconds;
    state.counters["incremental_s"] = incremental_seconds;
    state.counters["added_MiB"] =
        static_cast<double>(after_incremental - after_full) / (1 << 20);
    state.counters["added_fraction"] =
        static_cast<double>(after_incremental - after_full) /
        static_cast<double>(after_full);
    state.PauseTiming();
    tenants.clear();
    store.reset();
    std::filesystem::remove_all(base);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_IncrementalBackupAfterOnePercentChange)
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
