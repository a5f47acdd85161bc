// RocksDB option sets leyser uses (the only place they are chosen).

#ifndef LEYSER_LIB_ROCKS_OPTIONS_H_
#define LEYSER_LIB_ROCKS_OPTIONS_H_

#include <cstddef>
#include <memory>

#include "rocksdb/env.h"
#include "rocksdb/options.h"

namespace leyser::internal {

// A logger that discards everything (for read-only probes that must not write a
// LOG file).
std::shared_ptr<rocksdb::Logger> NullRocksLogger();

// Options of the small key-store database.
rocksdb::Options KeyStoreRocksOptions();

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

// WriteOptions with sync on.
const rocksdb::WriteOptions& SyncWrite();

}  // namespace leyser::internal

#endif  // LEYSER_LIB_ROCKS_OPTIONS_H_
