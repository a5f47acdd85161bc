// Maintenance at scale (issue 15): a store of LEYSER_BENCH_TENANTS tenants
// (default 100,000; 2,000 in quick mode), one 100-byte value each, unsynced,
// backups on, on a simulated clock. Reports, in seconds:
// - nothing_due_s: the median RunMaintenance with nothing due (20 runs a
//   minute apart, after the day's backup);
// - purge_s: the run that purges LEYSER_BENCH_ENDED tenants (default 1,000;
//   100 in quick mode) whose contracts ended together, spread evenly over the
//   tenant numbers (tenants that signed up over the years, ending on one
//   date);
// - shred_s: the run that shreds them (Options::backup_purge_after later);
// - neighbour_ratio: the read rate of a thread reading other tenants during
//   the purge run, over its rate just before.
// The store anchors its audit logs in a file sink, as a deployment would.
// Targets at 100,000 tenants: nothing_due_s < 0.010, purge_s < 10,
// shred_s < 5, neighbour_ratio >= 0.7.

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include <benchmark/benchmark.h>

#include "leyser/leyser.h"

namespace {

using leyser::bench::EnvOr;
using leyser::bench::Quick;

// One RunMaintenance, timed; aborts on error.
double TimedRun(leyser::Store& store, leyser::MaintenanceReport* report) {
  const absl::Time start = absl::Now();
  auto r = store.RunMaintenance();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!r.ok()) {
    std::fprintf(stderr, "RunMaintenance: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  if (report != nullptr) *report = *r;
  return seconds;
}

void BM_MaintenanceAtScale(benchmark::State& state) {
  const std::uint64_t tenants =
      EnvOr("LEYSER_BENCH_TENANTS", Quick() ? 2000 : 100000);
  const std::uint64_t ended =
      std::min(tenants, EnvOr("LEYSER_BENCH_ENDED", Quick() ? 100 : 1000));
  for (auto _ : state) {
    state.PauseTiming();
    const std::string base = leyser::bench::BenchDir("maintenance");
    // 2027-01-04 12:00 UTC; the daily backup at 02:00.
    auto clock = std::make_shared<leyser::ManualClock>(
        absl::FromUnixSeconds(1798977600));
    leyser::Options options =
        leyser::bench::FreshStoreOptions(base, /*backups=*/true);
    options.clock = clock;
    options.backup_time_of_day = absl::Hours(2);
    options.audit_sink =
        leyser::NewFileAuditSink(base + "/anchors.jsonl").value();
    auto store = leyser::Store::Open(options).value();
    const std::string value(100, 'v');
    for (std::uint64_t first = 0; first < tenants; first += 1000) {
      std::vector<std::string> ids;
      for (std::uint64_t i = first; i < std::min(tenants, first + 1000); ++i)
        ids.push_back(absl::StrCat("tenant-", i));
      const std::vector<std::string_view> views(ids.begin(), ids.end());
      if (!store->CreateTenants(views).ok()) std::abort();
      for (const std::string& id : ids) {
        if (!(*store->OpenTenant(id))->Put("k", value).ok()) std::abort();
      }
    }
    TimedRun(*store, nullptr);  // The day's backup.
    std::vector<double> runs;
    for (int i = 0; i < 20; ++i) {
      clock->Advance(absl::Minutes(1));
      runs.push_back(TimedRun(*store, nullptr));
    }
    std::sort(runs.begin(), runs.end());
    const double nothing_due = runs[runs.size() / 2];

    // Contracts of `ended` tenants end together now; their purge falls due
    // Options::purge_after later, at 12:21, after that day's backup.
    const std::uint64_t stride = tenants / ended;
    for (std::uint64_t i = 0; i < ended; ++i) {
      if (!store->EndContract(absl::StrCat("tenant-", i * stride), clock->Now())
               .ok())
        std::abort();
    }
    clock->Advance(options.purge_after - absl::Minutes(1));
    TimedRun(*store, nullptr);  // Contracts ended, the day's backup.
    clock->Advance(absl::Minutes(2));
    // A neighbour reads other tenants throughout: for a second alone, then
    // during the purge run.
    std::atomic<int> phase{0};  // 0: before, 1: during, 2: stop.
    std::atomic<std::uint64_t> reads[2] = {0, 0};
    std::thread neighbour([&] {
      std::uint64_t i = 0;
      while (phase.load() < 2) {
        const std::uint64_t n = (i++ * 7919) % tenants;
        if (stride > 0 && n % stride == 0) continue;  // Ended.
        auto t = store->OpenTenant(absl::StrCat("tenant-", n));
        if (!t.ok() || !(*t)->Get("k").ok()) std::abort();
        ++reads[std::min(phase.load(), 1)];
      }
    });
    const absl::Time alone = absl::Now();
    absl::SleepFor(absl::Seconds(1));
    const double alone_s = absl::ToDoubleSeconds(absl::Now() - alone);
    const std::uint64_t before_reads = reads[0].load();
    phase = 1;
    leyser::MaintenanceReport report;
    const double purge = TimedRun(*store, &report);
    phase = 2;
    neighbour.join();
    if (report.purged.size() != ended) std::abort();
    const double neighbour_ratio =
        (static_cast<double>(reads[1].load()) / purge) /
        (static_cast<double>(before_reads) / alone_s);
    clock->Advance(options.backup_purge_after - absl::Minutes(2));
    TimedRun(*store, nullptr);  // The day's backup.
    clock->Advance(absl::Minutes(3));
    const double shred = TimedRun(*store, &report);
    if (report.shredded.size() != ended) std::abort();
    state.counters["tenants"] = static_cast<double>(tenants);
    state.counters["ended"] = static_cast<double>(ended);
    state.counters["nothing_due_s"] = nothing_due;
    state.counters["purge_s"] = purge;
    state.counters["shred_s"] = shred;
    state.counters["neighbour_ratio"] = neighbour_ratio;
    store.reset();
    std::filesystem::remove_all(base);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_MaintenanceAtScale)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
