// The cost of the audit log: writes with and without access auditing on the
// tenant (two tenants of one store, same run), and verification throughput
// (in the store, and offline from an export with the public key alone).
//
// Durability: unsynced rows use Options::sync_writes = false (an acknowledged
// write survives a process crash), synced rows sync the WAL on every write.

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include <benchmark/benchmark.h>

#include "leyser/leyser.h"

namespace leyser::bench {
namespace {

struct Fixture {
  std::unique_ptr<Store> store;
  std::unique_ptr<Tenant> plain;
  std::unique_ptr<Tenant> audited;
};

std::map<bool, Fixture>& WriteFixtures() {
  static auto* fixtures = new std::map<bool, Fixture>();
  return *fixtures;
}

Fixture& Writes(bool synced) {
  Fixture& f = WriteFixtures()[synced];
  if (f.store != nullptr) return f;
  const std::string dir = BenchDir(absl::StrCat("audit-", synced));
  if (!CreateKeyFile(dir + "/master.key").ok()) std::abort();
  Options options;
  options.data_dir = dir + "/store";
  options.key_provider = NewFileKeyProvider(dir + "/master.key").value();
  options.create_if_missing = true;
  options.sync_writes = synced;
  options.audit_sink = NewFileAuditSink(dir + "/anchors.jsonl").value();
  f.store = Store::Open(options).value();
  if (!f.store->CreateTenants({"plain", "audited"}).ok()) std::abort();
  if (!f.store->SetAccessAudit("audited", AccessAudit::kWrites).ok()) {
    std::abort();
  }
  f.plain = f.store->OpenTenant("plain").value();
  f.audited = f.store->OpenTenantAs("audited", "bench-user").value();
  return f;
}

Tenant& Pick(Fixture& f, bool audited) {
  return audited ? *f.audited : *f.plain;
}

const std::string& Value() {
  static const std::string value(1024, 'v');
  return value;
}

template <bool kAudited>
void BM_Put(benchmark::State& state) {
  Tenant& t = Pick(Writes(false), kAudited);
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (!t.Put(absl::StrCat("key-", i++), Value()).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

template <bool kAudited>
void BM_Batch16(benchmark::State& state) {
  Tenant& t = Pick(Writes(false), kAudited);
  std::uint64_t i = 0;
  for (auto _ : state) {
    WriteBatch batch;
    for (int k = 0; k < 16; ++k)
      batch.Put(absl::StrCat("batch-", i++), Value());
    if (!t.Write(batch).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * 16);
}

template <bool kAudited>
void BM_SyncedPut(benchmark::State& state) {
  Tenant& t = Pick(Writes(true), kAudited);
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (!t.Put(absl::StrCat("key-", i++), Value()).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

// A store whose tenant "v" has a long audit log, and an export of all of it.
struct VerifyFixture {
  std::unique_ptr<Store> store;
  std::string exported;
  std::string public_key;
  std::uint64_t entries = 0;
};

VerifyFixture& VerificationFixture() {
  static auto* f = new VerifyFixture();
  return *f;
}

// Closes every store before static destructors run (RocksDB's own statics
// may be gone by then).
void ReleaseFixtures() {
  WriteFixtures().clear();
  VerificationFixture() = VerifyFixture();
}

VerifyFixture& Verification() {
  VerifyFixture& f = VerificationFixture();
  if (f.store != nullptr) return f;
  const std::string dir = BenchDir("audit-verify");
  if (!CreateKeyFile(dir + "/master.key").ok()) std::abort();
  Options options;
  options.data_dir = dir + "/store";
  options.key_provider = NewFileKeyProvider(dir + "/master.key").value();
  options.create_if_missing = true;
  options.sync_writes = false;
  f.store = Store::Open(options).value();
  if (!f.store->CreateTenant("v").ok()) std::abort();
  if (!f.store->SetAccessAudit("v", AccessAudit::kWrites).ok()) std::abort();
  auto t = f.store->OpenTenant("v").value();
  const int n = Quick() ? 20000 : 200000;
  for (int i = 0; i < n; ++i) {
    if (!t->Put(absl::StrCat("k", i), "v").ok()) std::abort();
  }
  f.entries = f.store->GetAuditLogInfo("v").value().size;
  f.exported = f.store->ExportAuditLog("v", 0, f.entries).value();
  f.public_key = f.store->GetSigningPublicKey().value();
  return f;
}

void BM_VerifyInStore(benchmark::State& state) {
  VerifyFixture& f = Verification();
  for (auto _ : state) {
    auto v = f.store->VerifyAuditLog("v", {});
    if (!v.ok() || !v->intact) std::abort();
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(f.entries));
}

void BM_VerifyExportOffline(benchmark::State& state) {
  VerifyFixture& f = Verification();
  AuditVerifyOptions options;
  options.public_keys = {f.public_key};
  for (auto _ : state) {
    auto v = VerifyAuditExport(f.exported, options);
    if (!v.ok() || !v->intact) std::abort();
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(f.entries));
}

// Rates from wall time: what a caller waits for (synced writes mostly wait
// for the disk, not the CPU).
BENCHMARK_TEMPLATE(BM_Put, false)->Name("Put_1KiB/leyser")->UseRealTime();
BENCHMARK_TEMPLATE(BM_Put, true)
    ->Name("Put_1KiB/leyser+access-audit")
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_Batch16, false)
    ->Name("Batch16_1KiB/leyser")
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_Batch16, true)
    ->Name("Batch16_1KiB/leyser+access-audit")
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_SyncedPut, false)
    ->Name("SyncedPut_1KiB/leyser")
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_SyncedPut, true)
    ->Name("SyncedPut_1KiB/leyser+access-audit")
    ->UseRealTime();
BENCHMARK(BM_VerifyInStore)
    ->Name("VerifyAuditLog/in-store")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyExportOffline)
    ->Name("VerifyAuditExport/offline")
    ->Unit(benchmark::kMillisecond);

// Prints, after the usual output, the with/without ratios and the
// verification rates.
class AuditReporter : public benchmark::ConsoleReporter {
 public:
  AuditReporter() : benchmark::ConsoleReporter(OO_None) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") {
        continue;
      }
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      rates_[run.run_name.function_name] = it->second.value;
    }
  }
  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    std::printf(
        "\n| workload | leyser (ops/s) | + access audit (ops/s) | ratio | "
        "target |\n|---|---|---|---|---|\n");
    const char* targets[][2] = {{"Put_1KiB", ">= 0.5"},
                                {"Batch16_1KiB", ">= 0.8"},
                                {"SyncedPut_1KiB", ">= 0.9"}};
    for (const auto& [workload, target] : targets) {
      const double plain = rates_[std::string(workload) + "/leyser"];
      const double audited =
          rates_[std::string(workload) + "/leyser+access-audit"];
      std::printf("| %s | %.4g | %.4g | %.2f | %s |\n", workload, plain,
                  audited, plain > 0 ? audited / plain : 0.0, target);
    }
    std::printf(
        "\n| verification | entries/s (one core) | target |\n|---|---|---|\n");
    for (const char* name :
         {"VerifyAuditLog/in-store", "VerifyAuditExport/offline"}) {
      std::printf("| %s | %.4g | >= 100000 |\n", name, rates_[name]);
    }
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace
}  // namespace leyser::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  leyser::bench::AuditReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  leyser::bench::ReleaseFixtures();
  benchmark::Shutdown();
  return 0;
}
