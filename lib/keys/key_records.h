// The key store's own records and wrapping, shared by its files
// (key_store.cc: the live store; key_store_copy.cc: copies in backup
// generations). Internal to lib/keys.

#ifndef LEYSER_LIB_KEYS_KEY_RECORDS_H_
#define LEYSER_LIB_KEYS_KEY_RECORDS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "rocksdb/db.h"

#include "leyser/secret.h"

#include "lib/keys/key_store.h"
#include "lib/proto/keystore.pb.h"

namespace leyser::internal {

// Format 2 seals the metadata's fields and has a record key; format 1 (before
// control records were authenticated) is opened only to be upgraded.
inline constexpr std::uint32_t kKeyStoreFormatVersion = 2;
inline constexpr std::uint32_t kLegacyKeyStoreFormatVersion = 1;
// Record keys: the metadata (master-key check), the node file key, the record
// key, and the tenant data keys ("d/" + 8-byte big-endian tenant number, the
// current version; retired versions after it, RetiredTenantKeyEntry).
inline constexpr std::string_view kMetaKey = "m/meta";
inline constexpr std::string_view kFileKeyEntry = "f/file";
inline constexpr std::string_view kRecordKeyEntry = "r/records";
inline constexpr std::string_view kTenantKeyPrefix = "d/";
// The seed of the store's Ed25519 signing key (random, not derived from any
// key; version: the key's serial number). Absent in stores from before
// signing keys of their own.
inline constexpr std::string_view kSigningSeedEntry = "s/sign";

std::string TenantKeyEntry(std::uint64_t number);
// A retired version of a tenant's data key (kept until a data-key rotation
// has re-sealed every value): TenantKeyEntry(number) + 4-byte big-endian
// version. Every record of a tenant's keys starts with TenantKeyEntry.
std::string RetiredTenantKeyEntry(std::uint64_t number, std::uint32_t version);

// A retired file key (kept while a file of the data or backup directory
// carries its id): kFileKeyEntry + "/" + 4-byte big-endian id.
std::string RetiredFileKeyEntry(std::uint32_t id);

// Associated data of the master-key check value of generation `generation`.
std::string CheckAd(std::uint32_t generation);

// The check value: known text sealed with `master` as generation
// `generation`.
std::string SealCheck(const SecretBytes& master, std::uint32_t generation);

// Sets `meta`'s fields check: its other fields sealed with `master`.
void SealMetaFields(const SecretBytes& master, proto::KeyStoreMeta* meta);

// Checks a metadata record whose master-key check opened with `master`: a
// known format, and for format 2 its fields check. DataLoss naming `where`
// otherwise.
absl::Status CheckMetaFields(const SecretBytes& master,
                             const proto::KeyStoreMeta& meta,
                             std::string_view where);

// Opens the key-store database in `dir` for writing (creating it with
// `create`; refusing an existing one with `must_be_new`).
absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenKeyStoreDb(
    const std::string& dir, bool create, bool must_be_new);

// `key` (version `version`) wrapped under `master` as master-key generation
// `generation` for the record `entry_key` (a serialized WrappedKey).
std::string Wrap(const SecretBytes& master, std::uint32_t generation,
                 std::string_view entry_key, const SecretBytes& key,
                 std::uint32_t version);

// Opens the wrapped key stored under `entry_key`, wrapped under master-key
// generation `generation` whose key is `master`.
absl::StatusOr<TenantKey> UnwrapWith(const SecretBytes& master,
                                     std::uint32_t generation,
                                     std::string_view entry_key,
                                     std::string_view bytes);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_KEYS_KEY_RECORDS_H_
