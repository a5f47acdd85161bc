#include "lib/lifecycle/purge.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_reader.h"

#include "lib/db/column_families.h"
#include "lib/db/key_layout.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

std::unique_ptr<rocksdb::Iterator> RangeIterator(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
    const rocksdb::Slice* upper) {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.iterate_upper_bound = upper;
  ro.fill_cache = false;
  return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro, cf));
}

}  // namespace

absl::StatusOr<TenantCounts> CountTenant(DbCore& db, std::uint64_t number) {
  const std::string lo = TenantPrefix(number);
  const std::string hi = TenantPrefix(number + 1);
  rocksdb::Slice upper(hi);
  std::unique_ptr<rocksdb::Iterator> it =
      RangeIterator(db.db, db.data_cf, &upper);
  TenantCounts counts;
  for (it->Seek(lo); it->Valid(); it->Next()) {
    ++counts.keys;
    counts.bytes += it->key().size() + it->value().size();
  }
  LEYSER_RETURN_IF_ERROR(
      FromRocks(it->status(), "counting a tenant's records"));
  return counts;
}

absl::Status DeleteAndCompactTenant(DbCore& db, std::uint64_t number) {
  const std::string lo = TenantPrefix(number);
  const std::string hi = TenantPrefix(number + 1);
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->DeleteRange(SyncWrite(), db.data_cf, lo, hi),
                "deleting a tenant"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  compact.exclusive_manual_compaction = false;  // Other compactions go on.
  const rocksdb::Slice begin(lo);
  const rocksdb::Slice end(hi);
  // One CompactRange is not always enough: an automatic compaction running at
  // the same time can move files holding the range below the level the manual
  // compaction treats as bottommost (seen on 7.8.3 right after a bulk load).
  // Compact until the decoded scan finds nothing.
  constexpr int kRounds = 5;
  std::uint64_t left = 0;
  for (int round = 0; round < kRounds; ++round) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db.db->CompactRange(compact, db.data_cf, &begin, &end),
                  "compacting a purged tenant's range"));
    LEYSER_ASSIGN_OR_RETURN(left, CountTenantInLiveFiles(db, number));
    if (left == 0) {
      return absl::OkStatus();
    }
  }
  return absl::UnavailableError(absl::StrCat(
      left, " records of the purged tenant are still in live files after ",
      kRounds, " compactions; the next maintenance run retries"));
}

absl::Status FlushEverything(DbCore& db) {
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->FlushWAL(/*sync=*/true), "syncing the WAL"));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  return FromRocks(db.db->Flush(flush, db.handles), "flushing after a purge");
}

absl::StatusOr<std::uint64_t> CountTenantInLiveFiles(DbCore& db,
                                                     std::uint64_t number) {
  const std::string lo = TenantPrefix(number);
  const std::string hi = TenantPrefix(number + 1);
  std::uint64_t found = 0;
  {
    // Memtables and everything else the current version sees.
    rocksdb::Slice upper(hi);
    std::unique_ptr<rocksdb::Iterator> it =
        RangeIterator(db.db, db.data_cf, &upper);
    for (it->Seek(lo); it->Valid(); it->Next()) ++found;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(it->status(), "scanning a tenant's range"));
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db.db->GetLiveFilesMetaData(&files);
  rocksdb::Options options(DataDbOptions(), TenantDataCfOptions(1 << 20));
  options.env =
      db.env.env != nullptr ? db.env.env.get() : rocksdb::Env::Default();
  for (const rocksdb::LiveFileMetaData& f : files) {
    // Every live file of the data column family whose key range overlaps the
    // tenant's, read record by record from the tenant's first possible key:
    // cost follows the tenant's size.
    if (f.column_family_name != kTenantDataCf || f.largestkey < lo ||
        f.smallestkey >= hi) {
      continue;
    }
    rocksdb::SstFileReader reader(options);
    LEYSER_RETURN_IF_ERROR(
        FromRocks(reader.Open(f.db_path + f.name), "opening a live file"));
    rocksdb::ReadOptions ro;
    std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
    for (it->Seek(lo); it->Valid() && it->key().starts_with(lo); it->Next())
      ++found;
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading a live file"));
  }
  return found;
}

}  // namespace leyser::internal
