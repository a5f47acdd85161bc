// The key store: tenant data keys wrapped by the master key, in their own small RocksDB database
// (`data_dir/keys`), separate from the data database so that data backups never carry it.
//
// Layout: "m/meta" -> KeyStoreMeta (master-key generation and a check value sealed with the
// master key); "d/" + 8-byte big-endian tenant number -> WrappedKey. Every write is synced.
// Unwrapped keys exist only in secure memory (SecretBytes).
//
// Thread safety: thread-safe.

#ifndef LEYSER_LIB_KEYS_KEY_STORE_H_
#define LEYSER_LIB_KEYS_KEY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "leyser/secret.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace leyser::internal {

// A tenant's unwrapped data key and its version.
struct TenantKey {
  SecretBytes key;
  std::uint32_t version = 0;
};

class KeyStore {
 public:
  // Opens the key store in `dir`. The master key is checked against the stored check value with a
  // read-only open before anything in `dir` is modified.
  // If `dir` holds no key store: with `create` a new one is made (check value sealed with
  // `master_key`, stamped `now`); without, NotFound.
  // Errors: PermissionDenied (wrong master key); DataLoss (damaged); Unavailable (I/O).
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(const std::string& dir,
                                                        SecretBytes master_key, bool create,
                                                        absl::Time now);

  // True if `dir` holds a key store database (its CURRENT file exists).
  static bool Exists(const std::string& dir);

  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Makes a new random data key for tenant `number`, stores it wrapped (replacing any key an
  // interrupted creation left for that number) and returns it.
  absl::StatusOr<TenantKey> CreateTenantKey(std::uint64_t number);

  // Returns tenant `number`'s data key. NotFound if none; DataLoss if it fails authentication.
  absl::StatusOr<TenantKey> GetTenantKey(std::uint64_t number) const;

  // Removes the wrapped keys of every tenant number >= `first` (left by creations that crashed
  // before the tenant was registered).
  [[nodiscard]] absl::Status DropKeysFrom(std::uint64_t first);

 private:
  KeyStore(rocksdb::DB* db, SecretBytes master_key, std::uint32_t generation);

  rocksdb::DB* const db_;
  const SecretBytes master_key_;
  const std::uint32_t master_generation_;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_KEYS_KEY_STORE_H_
