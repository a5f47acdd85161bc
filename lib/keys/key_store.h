// The key store: tenant data keys, the node file keys and the signing seed,
// wrapped by the master key, in their own small RocksDB database
// (`data_dir/keys`), separate from the data database so that data backups
// never carry it. It holds only wrapped keys, so its files are not
// file-encrypted.
//
// Layout: "m/meta" -> KeyStoreMeta (master-key generation, a check value
// sealed with the master key, and its other fields sealed too); "f/file" ->
// WrappedKey (the node file key; "f/file/" + 4-byte id: retired ones);
// "r/records" -> WrappedKey (the record key, lib/crypto/record_mac.h);
// "s/sign" -> WrappedKey (the signing-key seed); "d/" + 8-byte big-endian
// tenant number (+ 4-byte version: retired ones) -> WrappedKey. Every write
// is synced. Unwrapped keys exist only in secure memory.
//
// Thread safety: thread-safe. A master-key rotation excludes every other
// key-store call.

#ifndef LEYSER_LIB_KEYS_KEY_STORE_H_
#define LEYSER_LIB_KEYS_KEY_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "leyser/key_provider.h"
#include "leyser/secret.h"

#include "lib/crypto/file_cipher.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace leyser::proto {
class KeyStoreCopy;
class KeyStoreMeta;
class GenerationFile;
}  // namespace leyser::proto

namespace leyser::internal {

// An unwrapped key and its version (tenant key version, or file key id).
struct TenantKey {
  SecretBytes key;
  std::uint32_t version = 0;
};

// A tenant's data keys: the current version (new values are sealed with it)
// and the retired versions a data-key rotation has not finished with (values
// not yet re-sealed still name them), oldest first. Also the node's file keys
// (versions are file key ids).
struct TenantKeyRing {
  TenantKey current;
  std::vector<TenantKey> retired;
};

// The signing-key seed of stores from before signing keys of their own:
// derived from `provider`'s master key (BLAKE2b, context "leyser-s"). Used
// only to vouch for such a store's first key of its own.
absl::StatusOr<SecretBytes> LegacySigningSeed(const KeyProvider& provider);

// A file key as the file layer takes it (lib/crypto/file_cipher.h).
FileKey ToFileKey(TenantKey key);
std::vector<FileKey> ToFileKeys(std::vector<TenantKey> keys);

// What a look at a key store that writes nothing finds (KeyStore::Inspect).
struct KeyStoreInfo {
  bool plain_files = false;  // The data database's files are not encrypted.
  TenantKey file_key;        // The node file key and its id.
  // File keys a rotation retired that files still carry, oldest first.
  std::vector<TenantKey> retired_file_keys;
  // False for a key store from before control records were authenticated
  // (format 1), which only an upgrade opens (lib/store/open.cc).
  bool records_authenticated = false;
  // The key of the data database's control records (lib/crypto/record_mac.h);
  // empty only in a format-1 key store (which may not have one).
  TenantKey record_key;
  // Format 2, but the upgrade from format 1 has not tagged every record yet.
  bool records_pending = false;
};

class KeyStore {
 public:
  // Opens the key store in `dir`. If `dir` is missing or empty: with `create`
  // a new key store is made first (Create), without NotFound. Otherwise the
  // key store is checked with Inspect before anything in `dir` is modified.
  // Errors: PermissionDenied (wrong master key); DataLoss (a missing piece or
  // record, named; damaged); Unavailable (I/O).
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(
      const std::string& dir, SecretBytes master_key, bool create,
      absl::Time now, bool plain_files = false);

  // Opens the existing key store in `dir` for writing without inspecting it
  // again. REQUIRES: Inspect(dir, master_key) succeeded, and the caller has
  // held the store's lock since (Store::Open inspects before opening the data
  // database, and one read-only open less is a fifth of a small store's open).
  // Errors as Open.
  static absl::StatusOr<std::unique_ptr<KeyStore>> OpenInspected(
      const std::string& dir, SecretBytes master_key);

  // Creates a new key store in `dir`, which must be missing or empty
  // (FailedPrecondition otherwise): the check value sealed with `master_key`
  // and a new random file key, stamped `now`, marked `plain_files` if asked,
  // in one synced write; then closes it.
  [[nodiscard]] static absl::Status Create(const std::string& dir,
                                           const SecretBytes& master_key,
                                           absl::Time now, bool plain_files);

  // Checks the key store in `dir` without writing any file: its CURRENT and
  // MANIFEST, its metadata record, `master_key` against the check value, and
  // the file key. Errors: PermissionDenied (wrong master key); DataLoss
  // naming the missing or damaged piece; Unavailable (I/O).
  static absl::StatusOr<KeyStoreInfo> Inspect(const std::string& dir,
                                              const SecretBytes& master_key);

  // Whether the key store in `dir` holds a tenant key, read without writing
  // any file (no master key needed: only the records' names are read).
  static absl::StatusOr<bool> HoldsTenantKeys(const std::string& dir);

  // True if `dir` holds a key store database (its CURRENT file exists).
  static bool Exists(const std::string& dir);

  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // True if the data database of this store keeps its files unencrypted (tests
  // only).
  bool plain_files() const { return plain_files_; }

  // Generation of the current master key (1, then +1 per rotation).
  std::uint32_t master_generation() const;

  // The node file key and the retired file keys still kept (files carry
  // their ids), oldest first.
  absl::StatusOr<TenantKeyRing> GetFileKeys() const;

  // Ids of the retired file keys, ascending.
  absl::StatusOr<std::vector<std::uint32_t>> RetiredFileKeyIds() const;

  // Deletes the retired file keys `ids` in one synced write (files carrying
  // them no longer open); they leave the key store's files at the next
  // Scrub. OK for ids that are gone.
  [[nodiscard]] absl::Status DestroyRetiredFileKeys(
      const std::vector<std::uint32_t>& ids);

  // The record key (lib/crypto/record_mac.h).
  absl::StatusOr<TenantKey> GetRecordKey() const;

  // The upgrade of a format-1 key store (Options::authenticate_legacy_records),
  // in two steps: Begin makes the record key and marks the store format 2
  // with its records pending, in one synced write (DataLoss if a format-1
  // store already holds a record key: its metadata was put back); once every
  // control record carries a tag, Finish clears the mark. A crash in between
  // leaves the mark, and the next open finishes the job. Each is OK if there
  // is nothing to do.
  [[nodiscard]] absl::Status BeginRecordAuthentication();
  [[nodiscard]] absl::Status FinishRecordAuthentication();

  // Makes new random data keys for tenants first .. first + count - 1 and
  // stores them wrapped (replacing any key an interrupted creation left for
  // those numbers), in one synced write.
  [[nodiscard]] absl::Status CreateTenantKeys(std::uint64_t first,
                                              std::uint64_t count);

  // Returns tenant `number`'s data key. NotFound if none; DataLoss if it fails
  // authentication.
  absl::StatusOr<TenantKey> GetTenantKey(std::uint64_t number) const;

  // Tenant `number`'s current and retired data keys. Errors as GetTenantKey.
  absl::StatusOr<TenantKeyRing> GetTenantKeyRing(std::uint64_t number) const;

  // Gives each tenant of `numbers` a new random data key, version current +
  // 1; the former current key stays as a retired version. With
  // `new_file_key`, the node also gets a new random file key (id current +
  // 1), the former one retired. One synced write: after a crash either
  // everything has its new key or nothing. NotFound if a tenant has no key.
  [[nodiscard]] absl::Status RotateTenantKeys(
      const std::vector<std::uint64_t>& numbers, bool new_file_key = false);

  // The tenants that hold retired keys (a rotation in progress), ascending.
  absl::StatusOr<std::vector<std::uint64_t>> TenantsWithRetiredKeys() const;

  // Deletes the retired keys of tenants `numbers` in one synced write; they
  // leave the key store's files at the next Scrub. OK if there were none.
  [[nodiscard]] absl::Status DestroyRetiredTenantKeys(
      const std::vector<std::uint64_t>& numbers);

  // Removes the wrapped keys of every tenant number >= `first` (left by
  // creations that crashed before the tenant was registered).
  [[nodiscard]] absl::Status DropKeysFrom(std::uint64_t first);

  // Destroys tenant `number`'s data keys, current and retired: deletes them
  // (synced). Their wrapped forms leave the key store's files at the next
  // Scrub. OK if they were already gone.
  [[nodiscard]] absl::Status DestroyTenantKey(std::uint64_t number);
  // The same for every tenant of `numbers`, in one synced write.
  [[nodiscard]] absl::Status DestroyTenantKeys(
      const std::vector<std::uint64_t>& numbers);

  // Flushes and compacts the whole key store, so deleted or replaced entries
  // leave every file.
  [[nodiscard]] absl::Status Scrub();

  // The store's signing-key seed and its serial number; nullopt in a store
  // from before signing keys of their own.
  absl::StatusOr<std::optional<TenantKey>> GetSigningSeed() const;

  // Stores `seed` as the signing-key seed, serial number `serial` (synced);
  // the seed before it is gone from then on (and from the key store's files
  // at the next Scrub).
  [[nodiscard]] absl::Status SetSigningSeed(const SecretBytes& seed,
                                            std::uint32_t serial);

  // Re-wraps the file key and every tenant key under `new_master_key` in one
  // synced, atomic write (the master-key generation goes up by one), with
  // the signing seed replaced by `new_signing_seed` when that is not empty;
  // then
  // compacts the key store so no live file holds a key wrapped under the old
  // master key. Data is never rewritten. Crash safety: before the atomic write
  // only the old key opens the store, after it only the new. Errors:
  // InvalidArgument (wrong size, or equal to the current key); DataLoss (a
  // wrapped key failed authentication; nothing was changed); Unavailable (I/O).
  [[nodiscard]] absl::Status RotateMasterKey(
      SecretBytes new_master_key, SecretBytes new_signing_seed = SecretBytes());

  // Backups.

  // Takes a copy of every record and seals `payload(copy)` with the current
  // master key into `file` (master_generation, master_check, sealed), binding
  // `context` as associated data, under one hold of the key store's lock: a
  // rotation cannot come between the copy and the seal, so the copy's wrapped
  // keys always belong to the master key that sealed them. `payload` runs
  // under the lock and must not call the key store.
  [[nodiscard]] absl::Status SealWithCopy(
      const std::function<absl::StatusOr<std::string>(proto::KeyStoreCopy)>&
          payload,
      std::string_view context, proto::GenerationFile* file) const;

  // Opens what `file` seals with the current master key, lets `edit` change
  // the payload, and seals the result into `file` with that same key, as the
  // master-key generation `file` names, under one hold of the lock. Returns
  // what `edit` returned (false: `file` is untouched). Errors as
  // OpenWithMasterKey, or `edit`'s.
  absl::StatusOr<bool> Reseal(
      proto::GenerationFile* file, std::string_view context,
      const std::function<absl::StatusOr<bool>(std::string* payload)>& edit)
      const;

  // Checks that every key in `copy`, taken from a generation file sealed under
  // master-key generation `sealed_generation` with the current master key (a
  // rotation may return to an earlier key), opens: its metadata names that
  // generation and its check value opens, and every wrapped key authenticates.
  // DataLoss otherwise.
  [[nodiscard]] absl::Status CheckCopy(const proto::KeyStoreCopy& copy,
                                       std::uint32_t sealed_generation) const;

  // Removes the wrapped data keys (every version) of every tenant of
  // `numbers` from `copy`, in one pass over it; returns the numbers whose keys
  // were there. (The record layout stays inside the key store.)
  static absl::flat_hash_set<std::uint64_t> RemoveTenantKeysFromCopy(
      proto::KeyStoreCopy* copy,
      const absl::flat_hash_set<std::uint64_t>& numbers);

  // Opens what SealWithCopy sealed into `file`, with `master_key`.
  // Errors: PermissionDenied (`master_key` is not the key that sealed it; the
  // message names the master-key generation needed); DataLoss (damaged).
  static absl::StatusOr<std::string> OpenWithMasterKey(
      const proto::GenerationFile& file, const SecretBytes& master_key,
      std::string_view context);

  // OpenWithMasterKey with the store's current master key. Errors:
  // FailedPrecondition (sealed under another master-key generation: an earlier
  // one the store no longer holds, or a later one, as after a restore from an
  // older generation); DataLoss (damaged or altered, including a key check
  // that fails for the current generation or is the current key's under
  // another generation number).
  absl::StatusOr<std::string> OpenWithCurrentMasterKey(
      const proto::GenerationFile& file, std::string_view context) const;

  // Returns the key-store metadata record held in `copy`. DataLoss if missing
  // or damaged.
  static absl::StatusOr<proto::KeyStoreMeta> MetaFromCopy(
      const proto::KeyStoreCopy& copy);

  // Returns the file keys held in `copy` (current and retired), unwrapped
  // with `master_key`. DataLoss if missing/damaged.
  static absl::StatusOr<TenantKeyRing> FileKeysFromCopy(
      const proto::KeyStoreCopy& copy, const SecretBytes& master_key);

  // For a master-key rotation about to commit: `copy` (of a generation
  // sealed under master-key generation `sealed_generation` with the current
  // master key) with every key re-wrapped under `new_master` as generation
  // `new_generation`, its metadata's check and fields sealed again with it.
  // DataLoss if a key fails to open; InvalidArgument if `new_master` is not
  // 32 bytes.
  absl::StatusOr<proto::KeyStoreCopy> RewrapCopy(
      const proto::KeyStoreCopy& copy, std::uint32_t sealed_generation,
      const SecretBytes& new_master, std::uint32_t new_generation) const;

  // Seals `payload` into `file` with `master` as master-key generation
  // `generation` (as SealWithCopy does), binding `context`.
  static void SealGeneration(const SecretBytes& master,
                             std::uint32_t generation,
                             const std::string& payload,
                             std::string_view context,
                             proto::GenerationFile* file);

  // Tenant `number`'s data keys (every version) in `copy`, taken from a
  // generation sealed under the current master-key generation, unwrapped
  // with the current master key; ascending by version. NotFound if the copy
  // holds none; FailedPrecondition if the copy is of another master-key
  // generation; DataLoss if one fails to open.
  absl::StatusOr<std::vector<TenantKey>> TenantKeysFromCopy(
      const proto::KeyStoreCopy& copy, std::uint64_t number) const;

  // Creates a new key store database in `dir` (which must not hold one) with
  // exactly the records of `copy`, in one synced write.
  [[nodiscard]] static absl::Status CreateFromCopy(
      const std::string& dir, const proto::KeyStoreCopy& copy);

 private:
  KeyStore(rocksdb::DB* db, SecretBytes master_key, std::uint32_t generation,
           bool plain_files);

  // Every record of the key store (all keys in it are wrapped), as one
  // consistent copy.
  absl::StatusOr<proto::KeyStoreCopy> CopyLocked() const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The keys stored under `current` (the current version) and after it
  // before `end` (retired versions, ascending); nullopt without `current`.
  absl::StatusOr<std::optional<TenantKeyRing>> RingLocked(
      const std::string& current, const std::string& end) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Adds a new file key, the current one retired, to `batch`.
  absl::Status AddFileKeyRotation(rocksdb::WriteBatch* batch) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Opens the wrapped key stored under `entry_key`.
  absl::StatusOr<TenantKey> Unwrap(const std::string& entry_key,
                                   std::string_view bytes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  rocksdb::DB* const db_;
  const bool plain_files_;
  mutable absl::Mutex mu_;
  SecretBytes master_key_ ABSL_GUARDED_BY(mu_);
  std::uint32_t master_generation_ ABSL_GUARDED_BY(mu_);
  // TenantsWithRetiredKeys without a scan while none can exist: bumped after
  // every RotateTenantKeys write; a scan that found none records the count it
  // read before it began, and stays the answer while the count is unchanged.
  std::atomic<std::uint64_t> retired_added_{0};
  mutable std::atomic<std::uint64_t> none_retired_at_{UINT64_MAX};
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_KEYS_KEY_STORE_H_
