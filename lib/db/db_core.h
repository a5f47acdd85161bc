// The open data database: its handle, column families, file layer and lock,
// shared by the Store and by every tenant handle and iterator, so the database
// closes only after the last of them is gone. Opening it (OpenDataDb) is the
// only place the data database is opened in place.

#ifndef LEYSER_LIB_DB_DB_CORE_H_
#define LEYSER_LIB_DB_DB_CORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"

#include "leyser/clock.h"
#include "leyser/secret.h"

#include "lib/crypto/file_cipher.h"
#include "lib/crypto/record_mac.h"
#include "lib/util/files.h"

namespace leyser::internal {

// An open iterator that a purge can stop: it releases its RocksDB iterator (and
// so the files that iterator pins) and reports `reason` from then on.
class KillableIterator {
 public:
  virtual void Kill(const absl::Status& reason) = 0;
  // The number of the tenant whose keyspace it reads.
  virtual std::uint64_t tenant_number() const = 0;

 protected:
  ~KillableIterator() = default;
};

struct DbCore {
  DbCore() = default;
  DbCore(const DbCore&) = delete;
  DbCore& operator=(const DbCore&) = delete;
  ~DbCore();

  std::unique_ptr<FileLock> lock;  // Released last.
  EncryptedEnv env;  // Empty for test stores with the file layer off.
  std::shared_ptr<EncryptedInfoLog> info_log;  // Null with the layer off.
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* data_cf = nullptr;
  rocksdb::ColumnFamilyHandle* registry_cf = nullptr;
  rocksdb::ColumnFamilyHandle* audit_cf = nullptr;
  rocksdb::WriteOptions write_options;
  std::size_t max_key_bytes = 0;
  std::size_t max_value_bytes = 0;
  std::shared_ptr<const Clock> clock;
  // Authenticates the registry's and the audit logs' records
  // (lib/crypto/record_mac.h). Set by the opener before the registry or the
  // audit logs read anything.
  std::shared_ptr<const RecordMac> record_mac;

  // Every open iterator of the store, so a purge can stop them all (an iterator
  // of any tenant pins files that may hold the purged tenant's records).
  void Register(KillableIterator* it);
  void Unregister(KillableIterator* it);
  void KillIterators(const absl::Status& reason);
  // Stops only the iterators of tenant `tenant_number` (its contract ended).
  void KillIterators(const absl::Status& reason, std::uint64_t tenant_number);

 private:
  absl::Mutex iterators_mu_;
  absl::flat_hash_set<KillableIterator*> iterators_
      ABSL_GUARDED_BY(iterators_mu_);
};

// How to open the data database.
struct DataDbSettings {
  bool create = false;  // Create it; `dir` must be missing or empty.
  std::size_t block_cache_bytes = 0;
  bool sync_writes = true;  // For tenant writes (DbCore::write_options).
  std::size_t max_key_bytes = 0;
  std::size_t max_value_bytes = 0;
  std::shared_ptr<const Clock> clock;
};

// Opens (or creates) the data database in `dir`, holding `lock` (may be null),
// with every column family of lib/db/column_families.h (adding those an older
// store lacks). Every file goes through the XChaCha20 file layer, the info LOG
// included: new files under `file_key`, and files written under it or one of
// `retired_file_keys` open; an empty `file_key.key` keeps the files plain
// (test stores only). An existing database is checked
// first (CheckDbFiles, lib/db/db_files.h): DataLoss naming a missing CURRENT
// or MANIFEST, before any file is written; then `checked` runs (if set; the
// store starts opening its key store beside it), then the empty WALs an older
// open left are removed (RemoveEmptyWals) and RocksDB opens it. Creating:
// FailedPrecondition if `dir` is not empty.
absl::StatusOr<std::shared_ptr<DbCore>> OpenDataDb(
    const std::string& dir, const DataDbSettings& settings,
    std::unique_ptr<FileLock> lock, FileKey file_key,
    std::vector<FileKey> retired_file_keys = {},
    const std::function<void()>& checked = nullptr);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_DB_DB_CORE_H_
