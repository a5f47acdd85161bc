// Shared pieces of leyser's benchmarks: scratch directories, quick mode,
// numbers from the environment, a fresh store's options, resident memory, and
// a reporter that ends every run with a Markdown table of ratios between the
// compared systems (RunWithRatios). SQLCipher is in bench/sqlcipher_tenant.h.

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
#include <fcntl.h>
#include <unistd.h>

#include "leyser/leyser.h"

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

// Evicts the files under a directory from the operating system's page cache
// (posix_fadvise DONTNEED: clean pages only, and the data files are clean
// once written; no fdatasync, whose cache flushes would slow the reads being
// timed), so the next reads of them go to the disk: the cold-read case. The
// file list is refreshed every 64 calls (compactions replace files); a file
// that went away is skipped.
class PageCacheDropper {
 public:
  explicit PageCacheDropper(std::string dir) : dir_(std::move(dir)) {}
  void Drop() {
    if (calls_++ % 64 == 0) {
      files_.clear();
      std::error_code ec;
      for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
           !ec && it != std::filesystem::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file(ec)) files_.push_back(it->path().string());
      }
    }
    for (const std::string& file : files_) {
      const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      close(fd);
    }
  }

 private:
  const std::string dir_;
  std::vector<std::string> files_;
  std::uint64_t calls_ = 0;
};

// The number in environment variable `name`, or `fallback` if it is unset.
inline std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* env = std::getenv(name);
  return env != nullptr ? std::strtoull(env, nullptr, 10) : fallback;
}

// Options for a new store in `dir` (which BenchDir made fresh): a new master
// key file in it, data in dir/store, backups (if `backups`) in dir/backups,
// unsynced writes.
inline Options FreshStoreOptions(const std::string& dir, bool backups) {
  if (!CreateKeyFile(dir + "/master.key").ok()) std::abort();
  Options options;
  options.data_dir = dir + "/store";
  if (backups) options.backup_dir = dir + "/backups";
  options.key_provider = NewFileKeyProvider(dir + "/master.key").value();
  options.create_if_missing = true;
  options.sync_writes = false;
  return options;
}

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

// main() of a benchmark that ends with RatioReporter's table.
inline int RunWithRatios(int argc, char** argv, RatioReporter reporter) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace leyser::bench

#endif  // LEYSER_BENCH_BENCH_UTIL_H_
