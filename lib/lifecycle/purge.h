// The physical part of a tenant purge, on the data database.

#ifndef LEYSER_LIB_LIFECYCLE_PURGE_H_
#define LEYSER_LIB_LIFECYCLE_PURGE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "lib/db/db_core.h"

namespace leyser::internal {

struct TenantCounts {
  std::uint64_t keys = 0;
  std::uint64_t bytes = 0;  // Stored key and value bytes (values sealed).
};

// Counts tenant `number`'s records now.
absl::StatusOr<TenantCounts> CountTenant(DbCore& db, std::uint64_t number);

// Deletes the whole keyspace of every tenant of `numbers` (a mass purge: one
// synced batch of range deletions), flushes once, and compacts down through
// the bottommost level, per round one compaction of each span of files that
// holds purged ranges (SpansToCompact: a file shared by many purged tenants is
// rewritten once, not once per tenant; other tenants' ranges are compacted
// only where they share those files), repeating until CountTenantsInLiveFiles
// finds nothing, so no live SST holds their records. Unavailable naming how
// many tenants still have records after several rounds. REQUIRES: no iterator
// of the store is open (see DbCore::KillIterators).
absl::Status DeleteAndCompactTenants(DbCore& db,
                                     const std::vector<std::uint64_t>& numbers);

// The key spans to compact so no live file of the data column family holds a
// record of tenants `numbers`: each live file overlapping one of their ranges
// contributes its key range clipped to the first and last such range it
// overlaps; overlapping spans are merged. Empty if no file holds any.
std::vector<std::pair<std::string, std::string>> SpansToCompact(
    DbCore& db, const std::vector<std::uint64_t>& numbers);

// Syncs the WAL and flushes every column family, so every WAL written before
// becomes obsolete and is deleted, and the MANIFEST rolls
// (Options::max_manifest_file_size is tiny) to a snapshot without the purged
// keys.
absl::Status FlushEverything(DbCore& db);

// Decoded scan: counts each tenant of `numbers`' records (in their order) in
// every live SST file of the data column family that overlaps its range (read
// through the file layer with SstFileReader, each file opened once) and
// through the current version (memtables included). 0 after a purge.
absl::StatusOr<std::vector<std::uint64_t>> CountTenantsInLiveFiles(
    DbCore& db, const std::vector<std::uint64_t>& numbers);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_LIFECYCLE_PURGE_H_
