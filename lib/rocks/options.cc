#include "lib/rocks/options.h"

#include <cstdarg>

#include "lib/rocks/owner_only_fs.h"

namespace leyser::internal {
namespace {

class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

}  // namespace

void ApplyCommonDbOptions(rocksdb::DBOptions* o) {
  // Files 0600, directories 0700 (an encrypted database replaces the Env with
  // one over the same owner-only file system).
  o->env = OwnerOnlyEnv();
  o->paranoid_checks = true;
  // A torn tail after a crash is accepted; a damaged record before it is
  // reported, never silently skipped (reliability-plan.md §5.4).
  o->wal_recovery_mode =
      rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o->track_and_verify_wals_in_manifest = true;
  o->allow_mmap_reads = false;
  o->allow_mmap_writes = false;
  // Old key bounds leave the MANIFEST sooner than with the 1 GiB default.
  o->max_manifest_file_size = 64 << 20;
  o->info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o->keep_log_file_num = 4;
  o->max_background_jobs = 2;
}

std::shared_ptr<rocksdb::Logger> NullRocksLogger() {
  return std::make_shared<NullLogger>();
}

rocksdb::Options KeyStoreRocksOptions() {
  rocksdb::Options o;
  ApplyCommonDbOptions(&o);
  o.write_buffer_size = 4 << 20;
  o.max_background_jobs = 1;
  // Wrapped keys are random bytes: compression gains nothing, and without it a
  // scan of the files for a retired wrapped key is exact.
  o.compression = rocksdb::kNoCompression;
  // A handful of small files: opening their tables needs no helper threads
  // (the default, 16, starts and joins 15 threads at every open).
  o.max_file_opening_threads = 1;
  return o;
}

const rocksdb::WriteOptions& SyncWrite() {
  static const rocksdb::WriteOptions* options = [] {
    auto* w = new rocksdb::WriteOptions();
    w->sync = true;
    return w;
  }();
  return *options;
}

}  // namespace leyser::internal
