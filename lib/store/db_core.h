// Shared internals of an open store, kept alive by the Store and by every
// tenant handle and iterator, so the database closes only after the last of
// them is gone.

#ifndef LEYSER_LIB_STORE_DB_CORE_H_
#define LEYSER_LIB_STORE_DB_CORE_H_

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"

#include "leyser/clock.h"
#include "leyser/secret.h"

#include "lib/crypto/file_cipher.h"
#include "lib/util/files.h"

namespace leyser::internal {

// Column family names of the data database.
inline constexpr char kTenantDataCf[] = "tenant_data";
inline constexpr char kRegistryCf[] = "registry";

class AuditLogs;

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
  std::shared_ptr<rocksdb::Logger> info_log;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* data_cf = nullptr;
  rocksdb::ColumnFamilyHandle* registry_cf = nullptr;
  rocksdb::ColumnFamilyHandle* audit_cf = nullptr;
  // The audit logs; set once while the store opens, before any handle exists.
  std::shared_ptr<AuditLogs> audit;
  rocksdb::WriteOptions write_options;
  std::size_t max_key_bytes = 0;
  std::size_t max_value_bytes = 0;
  std::shared_ptr<const Clock> clock;

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

// Everything a tenant handle needs: its number, key prefix and unwrapped data
// key. Shared by all handles of one tenant.
struct TenantCore {
  std::shared_ptr<DbCore> db;
  std::string id;
  std::uint64_t number = 0;
  std::string prefix;       // 8-byte big-endian number.
  std::string next_prefix;  // Exclusive upper bound of the keyspace.
  SecretBytes key;
  std::uint32_t key_version = 0;
  SecretBytes audit_key;  // Keys the hashes of user keys in audit entries.
  // leyser::AccessAudit of the tenant, followed by open handles.
  mutable std::atomic<int> access_audit{0};
  // False once the tenant is ENDED or PURGED: every call (and every iterator
  // move) gets FailedPrecondition.
  mutable std::atomic<bool> served{true};
  // A scheduled contract end (Unix nanoseconds); calls at or after it get
  // FailedPrecondition.
  mutable std::atomic<std::int64_t> end_unix_nanos{kNoEnd};
  static constexpr std::int64_t kNoEnd = INT64_MAX;
  // Held shared by every read and write of the tenant's handles, exclusively
  // while a restore replaces the tenant's data.
  mutable std::shared_mutex gate;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_DB_CORE_H_
