// Tenants' own calls while a data-key rotation re-seals their values: one
// thread does random gets and puts (3:1, 1 KiB values) over 20 tenants of
// 5,000 keys; the counters give its rate before the rotation and during
// RotateDataKeys + ResealRetiredKeys, and their ratio (target >= 0.7), plus
// how long the rotation took and how many values it re-sealed. Public API
// only, unsynced writes, no backups.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"

#include "leyser/leyser.h"

namespace {

using Clock = std::chrono::steady_clock;

void BM_CallsDuringDataKeyRotation(benchmark::State& state) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / "leyser-rotation-bench")
          .string();
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    if (!leyser::CreateKeyFile(dir + "/key").ok()) {
      state.SkipWithError("cannot create a key file");
      return;
    }
    leyser::Options o;
    o.data_dir = dir + "/store";
    o.key_provider = leyser::NewFileKeyProvider(dir + "/key").value();
    o.create_if_missing = true;
    o.sync_writes = false;
    auto store = leyser::Store::Open(o).value();
    constexpr int kTenants = 20;
    constexpr int kKeys = 5000;
    const std::string value(1024, 'v');
    std::vector<std::unique_ptr<leyser::Tenant>> tenants;
    for (int t = 0; t < kTenants; ++t) {
      const std::string id = absl::StrCat("t", t);
      if (!store->CreateTenant(id).ok()) state.SkipWithError("create");
      tenants.push_back(store->OpenTenant(id).value());
      for (int k = 0; k < kKeys; ++k) {
        if (!tenants.back()->Put(absl::StrCat("k", k), value).ok()) {
          state.SkipWithError("put");
        }
      }
    }
    std::atomic<bool> stop{false};
    std::atomic<long> ops{0};
    std::atomic<long> failed{0};
    std::thread worker([&] {
      std::mt19937 rng(42);
      while (!stop.load(std::memory_order_relaxed)) {
        leyser::Tenant& t = *tenants[rng() % kTenants];
        const std::string key = absl::StrCat("k", rng() % kKeys);
        const bool ok =
            rng() % 4 == 0 ? t.Put(key, value).ok() : t.Get(key).ok();
        if (!ok) failed.fetch_add(1);
        ops.fetch_add(1, std::memory_order_relaxed);
      }
    });
    auto rate_over = [&](double seconds) {
      const long a = ops.load();
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      return static_cast<double>(ops.load() - a) / seconds;
    };
    const double before = rate_over(3.0);
    state.ResumeTiming();
    const Clock::time_point t0 = Clock::now();
    const long a = ops.load();
    const bool rotated = store->RotateDataKeys().ok();
    auto resealed = store->ResealRetiredKeys(nullptr);
    const double seconds =
        std::chrono::duration<double>(Clock::now() - t0).count();
    const double during = static_cast<double>(ops.load() - a) / seconds;
    state.PauseTiming();
    stop = true;
    worker.join();
    if (!rotated || !resealed.ok() || failed.load() != 0) {
      state.SkipWithError("the rotation or a tenant call failed");
    } else {
      state.counters["calls_per_s_before"] = before;
      state.counters["calls_per_s_during"] = during;
      state.counters["ratio_during_before"] = during / before;
      state.counters["rotation_s"] = seconds;
      state.counters["values_resealed"] =
          static_cast<double>(resealed->values_resealed);
    }
    tenants.clear();
    store.reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_CallsDuringDataKeyRotation)
    ->Iterations(1)
    ->Repetitions(3)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
