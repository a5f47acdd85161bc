#include "lib/rocks/options.h"

#include <cstdarg>

#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"

#include "lib/store/key_encoding.h"

namespace leyser::internal {
namespace {

class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

void CommonDbOptions(rocksdb::DBOptions* o) {
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

}  // namespace

std::shared_ptr<rocksdb::Logger> NullRocksLogger() {
  return std::make_shared<NullLogger>();
}

rocksdb::Options KeyStoreRocksOptions() {
  rocksdb::Options o;
  CommonDbOptions(&o);
  o.write_buffer_size = 4 << 20;
  o.max_background_jobs = 1;
  // Wrapped keys are random bytes: compression gains nothing, and without it a
  // scan of the files for a retired wrapped key is exact.
  o.compression = rocksdb::kNoCompression;
  return o;
}

rocksdb::DBOptions DataDbOptions() {
  rocksdb::DBOptions o;
  CommonDbOptions(&o);
  // Every MANIFEST update starts a new MANIFEST holding a snapshot of the live
  // files only, so the key bounds of files a purge removed leave the MANIFEST
  // at the next flush. The snapshot is small (bounds of live files); flushes
  // and compactions pay one extra small sync.
  o.max_manifest_file_size = 1;
  return o;
}

rocksdb::ColumnFamilyOptions TenantDataCfOptions(
    std::size_t block_cache_bytes) {
  rocksdb::ColumnFamilyOptions o;
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kNoCompression;
  o.prefix_extractor.reset(
      rocksdb::NewFixedPrefixTransform(kTenantPrefixBytes));
  o.memtable_prefix_bloom_size_ratio = 0.1;
  o.write_buffer_size = 64 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.block_cache = rocksdb::NewLRUCache(block_cache_bytes);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

rocksdb::ColumnFamilyOptions RegistryCfOptions() {
  rocksdb::ColumnFamilyOptions o;
  o.write_buffer_size = 4 << 20;
  return o;
}

rocksdb::ColumnFamilyOptions AuditCfOptions() {
  rocksdb::ColumnFamilyOptions o;
  o.write_buffer_size = 16 << 20;
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
