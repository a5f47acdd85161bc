#include "lib/db/column_families.h"

#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"

#include "lib/db/key_layout.h"
#include "lib/rocks/options.h"

namespace leyser::internal {

rocksdb::DBOptions DataDbOptions() {
  rocksdb::DBOptions o;
  ApplyCommonDbOptions(&o);
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

std::vector<rocksdb::ColumnFamilyDescriptor> DataColumnFamilies(
    std::size_t block_cache_bytes) {
  return {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kTenantDataCf, TenantDataCfOptions(block_cache_bytes)},
      {kRegistryCf, RegistryCfOptions()},
      {kAuditCf, AuditCfOptions()},
  };
}

}  // namespace leyser::internal
