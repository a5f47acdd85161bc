// A RocksDB snapshot held for the life of a scope, so that several reads see
// one state of the database (for example a verification that reads a log's
// state record and then its entries while maintenance prunes them).
//
// Thread safety: one object per reading thread; the database must outlive it.

#ifndef LEYSER_LIB_ROCKS_SNAPSHOT_H_
#define LEYSER_LIB_ROCKS_SNAPSHOT_H_

#include "rocksdb/db.h"

namespace leyser::internal {

class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db)
      : db_(db), snapshot_(db->GetSnapshot()) {
    read_.snapshot = snapshot_;
  }
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;

  const rocksdb::Snapshot* get() const { return snapshot_; }
  // Read options that read at the snapshot.
  const rocksdb::ReadOptions& read() const { return read_; }

 private:
  rocksdb::DB* const db_;
  const rocksdb::Snapshot* const snapshot_;
  rocksdb::ReadOptions read_;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_ROCKS_SNAPSHOT_H_
