// Shared internals of an open store, kept alive by the Store and by every tenant handle and
// iterator, so the database closes only after the last of them is gone.

#ifndef LEYSER_LIB_STORE_DB_CORE_H_
#define LEYSER_LIB_STORE_DB_CORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "leyser/secret.h"
#include "lib/crypto/file_cipher.h"
#include "lib/util/files.h"
#include "rocksdb/db.h"

namespace leyser::internal {

// Column family names of the data database.
inline constexpr char kTenantDataCf[] = "tenant_data";
inline constexpr char kRegistryCf[] = "registry";

struct DbCore {
  DbCore() = default;
  DbCore(const DbCore&) = delete;
  DbCore& operator=(const DbCore&) = delete;
  ~DbCore();

  std::unique_ptr<FileLock> lock;  // Released last.
  EncryptedEnv env;                // Empty for test stores with the file layer off.
  std::shared_ptr<rocksdb::Logger> info_log;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* data_cf = nullptr;
  rocksdb::ColumnFamilyHandle* registry_cf = nullptr;
  rocksdb::WriteOptions write_options;
  std::size_t max_key_bytes = 0;
  std::size_t max_value_bytes = 0;
};

// Everything a tenant handle needs: its number, key prefix and unwrapped data key. Shared by all
// handles of one tenant.
struct TenantCore {
  std::shared_ptr<DbCore> db;
  std::string id;
  std::uint64_t number = 0;
  std::string prefix;       // 8-byte big-endian number.
  std::string next_prefix;  // Exclusive upper bound of the keyspace.
  SecretBytes key;
  std::uint32_t key_version = 0;
  // Held shared by every read and write of the tenant's handles, exclusively while a restore
  // replaces the tenant's data.
  mutable absl::Mutex gate;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_DB_CORE_H_
