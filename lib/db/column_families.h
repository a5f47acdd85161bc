// The data database's column families: their names and options, and the
// database-wide options. The only place the data database's RocksDB options are
// chosen.
//
//   default       unused
//   tenant_data   tenant values (lib/db/key_layout.h)
//   registry      tenant records and registry metadata (lib/registry/records.h)
//   audit         audit logs (lib/audit/audit_log.h)

#ifndef LEYSER_LIB_DB_COLUMN_FAMILIES_H_
#define LEYSER_LIB_DB_COLUMN_FAMILIES_H_

#include <cstddef>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace leyser::internal {

inline constexpr char kTenantDataCf[] = "tenant_data";
inline constexpr char kRegistryCf[] = "registry";
inline constexpr char kAuditCf[] = "audit";

// DB-wide options of the data database.
rocksdb::DBOptions DataDbOptions();

// Options of the tenant data column family: fixed 8-byte prefix extractor,
// bloom filters, a block cache of `block_cache_bytes`, no compression (sealed
// values do not compress).
rocksdb::ColumnFamilyOptions TenantDataCfOptions(std::size_t block_cache_bytes);

// Options of the small registry column family.
rocksdb::ColumnFamilyOptions RegistryCfOptions();

// The audit log column family: small, append-mostly records.
rocksdb::ColumnFamilyOptions AuditCfOptions();

// The descriptors of every column family, in handle order (default,
// tenant_data, registry, audit).
std::vector<rocksdb::ColumnFamilyDescriptor> DataColumnFamilies(
    std::size_t block_cache_bytes);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_DB_COLUMN_FAMILIES_H_
