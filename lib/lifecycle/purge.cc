#include "lib/lifecycle/purge.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_reader.h"
#include "rocksdb/write_batch.h"

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

absl::Status DeleteAndCompactTenants(DbCore& db,
                                     const std::vector<std::uint64_t>& given) {
  std::vector<std::uint64_t> numbers = given;
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  if (numbers.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (std::uint64_t number : numbers) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.DeleteRange(db.data_cf, TenantPrefix(number),
                                    TenantPrefix(number + 1)),
                  "deleting a tenant"));
  }
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->Write(SyncWrite(), &batch), "deleting tenants"));
  // The range deletions leave the memtable once, not once per range.
  rocksdb::FlushOptions flush;
  flush.allow_write_stall = true;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->Flush(flush, db.data_cf), "flushing range deletions"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  compact.exclusive_manual_compaction = false;  // Other compactions go on.
  // One CompactRange is not always enough: an automatic compaction running at
  // the same time can move files holding a range below the level the manual
  // compaction treats as bottommost (seen on 7.8.3 right after a bulk load).
  // Compact until the decoded scan finds nothing.
  constexpr int kRounds = 5;
  std::vector<std::uint64_t> left = numbers;
  std::uint64_t records = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Each span of files holding a purged range is compacted once, whatever
    // number of ranges it holds (many small tenants share a file).
    for (const auto& [lo, hi] : SpansToCompact(db, left)) {
      const rocksdb::Slice begin(lo);
      const rocksdb::Slice end(hi);
      LEYSER_RETURN_IF_ERROR(
          FromRocks(db.db->CompactRange(compact, db.data_cf, &begin, &end),
                    "compacting purged tenants' ranges"));
    }
    LEYSER_ASSIGN_OR_RETURN(std::vector<std::uint64_t> counts,
                            CountTenantsInLiveFiles(db, left));
    std::vector<std::uint64_t> still;
    records = 0;
    for (std::size_t i = 0; i < left.size(); ++i) {
      if (counts[i] != 0) still.push_back(left[i]);
      records += counts[i];
    }
    left = std::move(still);
    if (left.empty()) return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      records, " records of ", left.size(),
      left.size() == 1 ? " purged tenant are" : " purged tenants are",
      " still in live files after ", kRounds,
      " compactions; the next maintenance run retries"));
}

std::vector<std::pair<std::string, std::string>> SpansToCompact(
    DbCore& db, const std::vector<std::uint64_t>& numbers) {
  // The purged ranges, sorted; a file overlaps one if the first range ending
  // after its smallest key starts at or before its largest.
  std::vector<std::pair<std::string, std::string>> ranges;
  for (std::uint64_t number : numbers) {
    ranges.emplace_back(TenantPrefix(number), TenantPrefix(number + 1));
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<rocksdb::LiveFileMetaData> files;
  db.db->GetLiveFilesMetaData(&files);
  std::vector<std::pair<std::string, std::string>> spans;
  for (const rocksdb::LiveFileMetaData& f : files) {
    if (f.column_family_name != kTenantDataCf) continue;
    auto first = std::upper_bound(
        ranges.begin(), ranges.end(), f.smallestkey,
        [](const std::string& key, const auto& r) { return key < r.second; });
    if (first == ranges.end() || first->first > f.largestkey) continue;
    // Clipped to the purged ranges it holds: its first one's start, its last
    // one's end.
    auto last = std::upper_bound(
        first, ranges.end(), f.largestkey,
        [](const std::string& key, const auto& r) { return key < r.first; });
    --last;
    spans.emplace_back(std::max(f.smallestkey, first->first),
                       std::min(f.largestkey, last->second));
  }
  // Overlapping spans merged: each file is rewritten once per round.
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<std::string, std::string>> merged;
  for (auto& span : spans) {
    if (!merged.empty() && span.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, span.second);
    } else {
      merged.push_back(std::move(span));
    }
  }
  return merged;
}

absl::Status FlushEverything(DbCore& db) {
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->FlushWAL(/*sync=*/true), "syncing the WAL"));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  return FromRocks(db.db->Flush(flush, db.handles), "flushing after a purge");
}

absl::StatusOr<std::vector<std::uint64_t>> CountTenantsInLiveFiles(
    DbCore& db, const std::vector<std::uint64_t>& numbers) {
  std::vector<std::uint64_t> found(numbers.size(), 0);
  std::vector<std::string> los;
  std::vector<std::string> his;
  for (std::uint64_t number : numbers) {
    los.push_back(TenantPrefix(number));
    his.push_back(TenantPrefix(number + 1));
  }
  {
    // Memtables and everything else the current version sees.
    std::unique_ptr<rocksdb::Iterator> it =
        RangeIterator(db.db, db.data_cf, nullptr);
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      const rocksdb::Slice end(his[i]);
      for (it->Seek(los[i]); it->Valid() && it->key().compare(end) < 0;
           it->Next()) {
        ++found[i];
      }
      LEYSER_RETURN_IF_ERROR(
          FromRocks(it->status(), "scanning a tenant's range"));
    }
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db.db->GetLiveFilesMetaData(&files);
  rocksdb::Options options(DataDbOptions(), TenantDataCfOptions(1 << 20));
  options.env =
      db.env.env != nullptr ? db.env.env.get() : rocksdb::Env::Default();
  for (const rocksdb::LiveFileMetaData& f : files) {
    // Every live file of the data column family whose key range overlaps a
    // tenant's, opened once and read record by record from each such
    // tenant's first possible key: cost follows the tenants' size.
    if (f.column_family_name != kTenantDataCf) continue;
    std::unique_ptr<rocksdb::SstFileReader> reader;
    std::unique_ptr<rocksdb::Iterator> it;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      const std::string& begin = los[i];
      if (f.largestkey < begin || f.smallestkey >= his[i]) continue;
      if (reader == nullptr) {
        reader = std::make_unique<rocksdb::SstFileReader>(options);
        LEYSER_RETURN_IF_ERROR(
            FromRocks(reader->Open(f.db_path + f.name), "opening a live file"));
        it.reset(reader->NewIterator(rocksdb::ReadOptions()));
      }
      for (it->Seek(begin); it->Valid() && it->key().starts_with(begin);
           it->Next()) {
        ++found[i];
      }
      LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading a live file"));
    }
  }
  return found;
}

}  // namespace leyser::internal
