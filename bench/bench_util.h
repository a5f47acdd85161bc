// Shared pieces of leyser's benchmarks: scratch directories, quick mode,
// resident memory, a SQLCipher database-per-tenant store, and a reporter that
// ends every run with a Markdown table of ratios between the compared systems.

#ifndef LEYSER_BENCH_BENCH_UTIL_H_
#define LEYSER_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

namespace leyser::bench {

// LEYSER_BENCH_QUICK=1: the CI-sized run (under 2 minutes for the whole suite).
inline bool Quick() {
  const char* q = std::getenv("LEYSER_BENCH_QUICK");
  return q != nullptr && std::string(q) == "1";
}

// A fresh scratch directory under $LEYSER_BENCH_DIR (default /tmp).
inline std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("LEYSER_BENCH_DIR");
  std::string dir =
      std::string(base != nullptr ? base : "/tmp") + "/leyser-bench-" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Resident set size of this process, in bytes.
inline std::uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// One SQLCipher database per tenant: table kv(k BLOB PRIMARY KEY, v BLOB)
// WITHOUT ROWID, a raw 256-bit key (no passphrase derivation), WAL journal.
// Durability: synchronous=NORMAL (a commit survives a process crash, not always
// a power loss: like RocksDB with sync=false), FULL for synced writes (like
// RocksDB with sync=true).
class SqlCipherTenant {
 public:
  SqlCipherTenant(const std::string& path, bool synced) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
      std::abort();
    }
    Exec(
        "PRAGMA key = "
        "\"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'"
        "\"");
    Exec("PRAGMA journal_mode = WAL");
    Exec(synced ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    Exec(
        "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT "
        "ROWID");
    Prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", &put_);
    Prepare("SELECT v FROM kv WHERE k = ?", &get_);
    Prepare("SELECT k, v FROM kv ORDER BY k LIMIT ?", &scan_);
    Prepare("SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?", &scan_from_);
  }
  ~SqlCipherTenant() {
    sqlite3_finalize(put_);
    sqlite3_finalize(get_);
    sqlite3_finalize(scan_);
    sqlite3_finalize(scan_from_);
    sqlite3_close(db_);
  }
  SqlCipherTenant(const SqlCipherTenant&) = delete;
  SqlCipherTenant& operator=(const SqlCipherTenant&) = delete;

  void Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "sqlcipher: %s: %s\n", sql, sqlite3_errmsg(db_));
      std::abort();
    }
  }
  bool Put(const std::string& key, const std::string& value) {
    sqlite3_bind_blob(put_, 1, key.data(), static_cast<int>(key.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(put_, 2, value.data(), static_cast<int>(value.size()),
                      SQLITE_STATIC);
    const bool ok = sqlite3_step(put_) == SQLITE_DONE;
    sqlite3_reset(put_);
    return ok;
  }
  bool Get(const std::string& key, std::string* value) {
    sqlite3_bind_blob(get_, 1, key.data(), static_cast<int>(key.size()),
                      SQLITE_STATIC);
    const bool ok = sqlite3_step(get_) == SQLITE_ROW;
    if (ok) {
      value->assign(static_cast<const char*>(sqlite3_column_blob(get_, 0)),
                    static_cast<std::size_t>(sqlite3_column_bytes(get_, 0)));
    }
    sqlite3_reset(get_);
    return ok;
  }
  // Up to `n` records from `start` on (keys and values read).
  std::size_t ScanFrom(const std::string& start, int n) {
    sqlite3_bind_blob(scan_from_, 1, start.data(),
                      static_cast<int>(start.size()), SQLITE_STATIC);
    sqlite3_bind_int(scan_from_, 2, n);
    std::size_t bytes = 0;
    while (sqlite3_step(scan_from_) == SQLITE_ROW) {
      bytes += static_cast<std::size_t>(sqlite3_column_bytes(scan_from_, 0)) +
               static_cast<std::size_t>(sqlite3_column_bytes(scan_from_, 1));
    }
    sqlite3_reset(scan_from_);
    return bytes;
  }
  std::size_t Scan(int n) {
    sqlite3_bind_int(scan_, 1, n);
    std::size_t bytes = 0;
    while (sqlite3_step(scan_) == SQLITE_ROW)
      bytes += static_cast<std::size_t>(sqlite3_column_bytes(scan_, 1));
    sqlite3_reset(scan_);
    return bytes;
  }

 private:
  void Prepare(const char* sql, sqlite3_stmt** stmt) {
    if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK)
      std::abort();
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
  sqlite3_stmt* scan_from_ = nullptr;
};

// Prints the usual console output, then a Markdown table: one row per workload
// (the benchmark name without its system part), one column per system (rates,
// or the counter `value_counter` when set), and the ratios leyser/raw and
// leyser/sqlcipher. Names look like "Workload/system/arg"; medians are used
// when repetitions ran.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(std::string value_counter = "",
                         bool lower_is_better = false)
      : benchmark::ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Defaults
                                                         : OO_None),
        value_counter_(std::move(value_counter)),
        lower_is_better_(lower_is_better) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median")
        continue;
      // function_name is "Workload/system"; args (if any) the size or tenant
      // count.
      const std::string& name = run.run_name.function_name;
      const std::size_t slash = name.find('/');
      if (slash == std::string::npos) continue;
      const std::string system = name.substr(slash + 1);
      std::string workload = name.substr(0, slash);
      if (!run.run_name.args.empty()) workload += " " + run.run_name.args;
      const std::string counter =
          value_counter_.empty() ? "items_per_second" : value_counter_;
      auto it = run.counters.find(counter);
      if (it == run.counters.end()) continue;
      if (order_.empty() ||
          std::find(order_.begin(), order_.end(), workload) == order_.end()) {
        order_.push_back(workload);
      }
      values_[workload][system] = it->second.value;
    }
  }

  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    std::printf(
        "\n| workload | raw RocksDB | leyser | SQLCipher | leyser / raw | "
        "leyser / SQLCipher |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (const std::string& workload : order_) {
      auto& v = values_[workload];
      auto cell = [&](const char* system) -> std::string {
        auto it = v.find(system);
        if (it == v.end()) return "–";
        char buffer[64];
        std::snprintf(buffer, sizeof(buffer), "%.4g", it->second);
        return buffer;
      };
      auto ratio = [&](const char* other) -> std::string {
        if (!v.count("leyser") || !v.count(other) || v[other] == 0) return "–";
        const double r =
            lower_is_better_ ? v[other] / v["leyser"] : v["leyser"] / v[other];
        char buffer[32];
        std::snprintf(buffer, sizeof(buffer), "%.2f", r);
        return buffer;
      };
      std::printf("| %s | %s | %s | %s | %s | %s |\n", workload.c_str(),
                  cell("raw").c_str(), cell("leyser").c_str(),
                  cell("sqlcipher").c_str(), ratio("raw").c_str(),
                  ratio("sqlcipher").c_str());
    }
    std::printf(
        "\nRatios above 1 favour leyser (%s).\n",
        lower_is_better_ ? "times: other / leyser" : "rates: leyser / other");
  }

 private:
  std::string value_counter_;
  bool lower_is_better_;
  std::vector<std::string> order_;
  std::map<std::string, std::map<std::string, double>> values_;
};

}  // namespace leyser::bench

#endif  // LEYSER_BENCH_BENCH_UTIL_H_
