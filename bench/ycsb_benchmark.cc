// YCSB-style workloads (issue 15) over 1,000 tenants, leyser against raw
// RocksDB (leyser's options and key layout, no encryption) and SQLCipher
// with one database per tenant, in one process and run. Records of 1 KiB
// (YCSB's 10 fields of 100 bytes, as one value), 100 per tenant (100,000 in
// all, about 100 MB; 10 per tenant in quick mode). Which tenant and which key
// an operation touches both follow YCSB's scrambled Zipfian distribution
// (constant 0.99): a few tenants and a few keys of each are hot.
//
//   A  50% read, 50% update        (update heavy: a session store)
//   B  95% read,  5% update        (read mostly: photo tags)
//   C 100% read                    (read only: a user-profile cache)
//   E  95% scan of 1..100 records from a Zipfian key, 5% insert
//                                  (short ranges: threaded conversations)
//   F  50% read, 50% read-modify-write (read, then write back changed)
//
// Unsynced writes for all three (RocksDB sync=false, SQLCipher
// synchronous=NORMAL in WAL mode). Rates are operations per second.

#include <cmath>
#include <cstdint>
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

constexpr int kTenants = 1000;
constexpr std::size_t kValueBytes = 1024;
constexpr double kZipfianConstant = 0.99;

int RecordsPerTenant() { return Quick() ? 10 : 100; }

std::string Key(std::uint64_t i) {
  std::string k = absl::StrCat("user", 1000000000 + i);  // Sorted by i.
  return k;
}

// YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record
// synthetic databases", SIGMOD 1994): rank 0 is the most popular of `n`.
class Zipfian {
 public:
  explicit Zipfian(std::uint64_t n) : n_(n) {
    for (std::uint64_t i = 1; i <= n; ++i) {
      zetan_ += 1.0 / std::pow(static_cast<double>(i), kZipfianConstant);
    }
    const double zeta2 = 1.0 + 1.0 / std::pow(2.0, kZipfianConstant);
    alpha_ = 1.0 / (1.0 - kZipfianConstant);
    eta_ =
        (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - kZipfianConstant)) /
        (1.0 - zeta2 / zetan_);
  }
  std::uint64_t Next(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + std::pow(0.5, kZipfianConstant)) return 1;
    const auto r = static_cast<std::uint64_t>(
        static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return r < n_ ? r : n_ - 1;
  }

 private:
  std::uint64_t n_;
  double zetan_ = 0;
  double alpha_ = 0;
  double eta_ = 0;
};

// Scrambled: the popular ranks land anywhere in [0, n) (FNV-1a of the rank).
std::uint64_t Scramble(std::uint64_t rank, std::uint64_t n) {
  std::uint64_t h = 14695981039346656037ull;
  for (int i = 0; i < 8; ++i) {
    h ^= (rank >> (8 * i)) & 0xff;
    h *= 1099511628211ull;
  }
  return h % n;
}

// One preloaded store of each kind, built on first use and kept for every
// workload (the updates and inserts of one leave it as YCSB's would).
template <typename S>
S& Loaded() {
  static S* store = [] {
    auto* s = new S(BenchDir(absl::StrCat("ycsb-", typeid(S).name())), false,
                    kTenants);
    std::mt19937_64 rng(1);
    std::string value(kValueBytes, '\0');
    std::vector<std::pair<std::string, std::string>> batch;
    for (int t = 1; t <= kTenants; ++t) {
      for (int k = 0; k < RecordsPerTenant(); ++k) {
        for (char& c : value) c = static_cast<char>(rng());
        batch.emplace_back(Key(static_cast<std::uint64_t>(k)), value);
      }
      if (!s->PutBatch(t, batch)) std::abort();
      batch.clear();
    }
    return s;
  }();
  return *store;
}

enum Workload { kA, kB, kC, kE, kF };

template <typename S>
void BM_Ycsb(benchmark::State& state) {
  const auto workload = static_cast<Workload>(state.range(0));
  S& store = Loaded<S>();
  static const Zipfian tenants(kTenants);
  static const Zipfian keys(static_cast<std::uint64_t>(RecordsPerTenant()));
  std::mt19937_64 rng(100 + state.range(0));
  std::uniform_int_distribution<int> percent(0, 99);
  std::uniform_int_distribution<int> scan_length(1, 100);
  std::string value(kValueBytes, 'u');
  std::string read;
  // Inserted keys (workload E) go past the loaded ones, per tenant.
  static std::vector<std::uint64_t> next_key(kTenants + 1, 0);
  for (auto _ : state) {
    const int tenant =
        1 + static_cast<int>(Scramble(tenants.Next(rng), kTenants));
    const std::string key = Key(Scramble(
        keys.Next(rng), static_cast<std::uint64_t>(RecordsPerTenant())));
    const int p = percent(rng);
    bool ok = true;
    switch (workload) {
      case kA:
      case kB:
      case kC: {
        const int reads = workload == kA ? 50 : workload == kB ? 95 : 100;
        ok = p < reads ? store.Get(tenant, key, &read)
                       : store.Put(tenant, key, value);
        break;
      }
      case kE:
        if (p < 95) {
          benchmark::DoNotOptimize(
              store.ScanFrom(tenant, key, scan_length(rng)));
        } else {
          std::uint64_t& next = next_key[static_cast<std::size_t>(tenant)];
          if (next == 0) next = static_cast<std::uint64_t>(RecordsPerTenant());
          ok = store.Put(tenant, Key(next++), value);
        }
        break;
      case kF:
        ok = store.Get(tenant, key, &read);
        if (ok && p >= 50) {
          read[0] = static_cast<char>(read[0] + 1);
          ok = store.Put(tenant, key, read);
        }
        break;
    }
    if (!ok) state.SkipWithError("operation failed");
  }
  state.SetItemsProcessed(state.iterations());
}

#define LEYSER_YCSB(NAME, W)                                              \
  BENCHMARK_TEMPLATE(BM_Ycsb, RawStore)->Name(NAME "/raw")->Arg(W);       \
  BENCHMARK_TEMPLATE(BM_Ycsb, LeyserStore)->Name(NAME "/leyser")->Arg(W); \
  BENCHMARK_TEMPLATE(BM_Ycsb, SqlCipherStore)->Name(NAME "/sqlcipher")->Arg(W)

LEYSER_YCSB("YcsbA", kA);
LEYSER_YCSB("YcsbB", kB);
LEYSER_YCSB("YcsbC", kC);
LEYSER_YCSB("YcsbE", kE);
LEYSER_YCSB("YcsbF", kF);

}  // namespace
}  // namespace leyser::bench

int main(int argc, char** argv) {
  return leyser::bench::RunWithRatios(argc, argv,
                                      leyser::bench::RatioReporter());
}
