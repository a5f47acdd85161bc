// RocksDB options common to every database leyser opens, and the key store's.
// The data database's own (its column families) are in
// lib/db/column_families.h.

#ifndef LEYSER_LIB_ROCKS_OPTIONS_H_
#define LEYSER_LIB_ROCKS_OPTIONS_H_

#include <memory>

#include "rocksdb/env.h"
#include "rocksdb/options.h"

namespace leyser::internal {

// A logger that discards everything (for read-only probes that must not write a
// LOG file).
std::shared_ptr<rocksdb::Logger> NullRocksLogger();

// Settings every leyser database shares: owner-only files (OwnerOnlyEnv),
// paranoid checks, WAL recovery that accepts only a torn tail, WALs tracked in
// the MANIFEST, no mmap, quiet LOG.
void ApplyCommonDbOptions(rocksdb::DBOptions* o);

// Options of the small key-store database.
rocksdb::Options KeyStoreRocksOptions();

// WriteOptions with sync on.
const rocksdb::WriteOptions& SyncWrite();

}  // namespace leyser::internal

#endif  // LEYSER_LIB_ROCKS_OPTIONS_H_
