// leyser/store.h: a store of tenant-isolated, encrypted keyspaces.
//
// A `Store` owns one data directory: a RocksDB database in which every tenant has its own
// keyspace (an 8-byte tenant-number prefix no user key can escape), and a key store holding each
// tenant's data key wrapped by the master key. Open it with `Store::Open`, create tenants with
// `CreateTenant`, and read and write through the `Tenant` handles from `OpenTenant`.
//
// Tenant ids are 1 to 128 bytes of [A-Za-z0-9._-]. Each id maps to an internal number that is
// never reused, so ids that are prefixes of one another ("a", "ab") never share a key.
//
// Errors follow the codes documented per function; no message contains key material or values.
//
// Encryption at rest: every file of the database (SST, WAL, MANIFEST, OPTIONS, CURRENT, IDENTITY,
// the info LOG) is encrypted with XChaCha20 under a random node file key, and every value is
// additionally sealed with its tenant's key. The master key wraps both; leyser never stores it.
//
// Thread safety: thread-safe.
// Ownership: `Open` returns the only owner. Tenant handles and iterators keep the underlying
// database open, so they may outlive the `Store` object.

#ifndef LEYSER_STORE_H_
#define LEYSER_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "leyser/options.h"
#include "leyser/tenant.h"

namespace leyser {

// Where a tenant is in its life. Values are persisted; never renumbered.
enum class TenantState {
  kActive = 1,    // Readable and writable.
  kEnded = 2,     // Contract ended: data kept, not served.
  kPurged = 3,    // Data and live data key destroyed; older backups may still hold it.
  kShredded = 4,  // Gone from every backup too.
};

// Returns "ACTIVE", "ENDED", "PURGED" or "SHREDDED".
std::string_view TenantStateName(TenantState state);

// What the store knows about a tenant. Copyable.
struct TenantInfo {
  std::string id;
  std::uint64_t number = 0;  // Internal number: the tenant's key prefix. Never reused.
  TenantState state = TenantState::kActive;
  absl::Time created;  // UTC, from the store's clock.
};

class Store {
 public:
  // Opens (or, with `options.create_if_missing`, creates) the store in `options.data_dir`.
  // The master key is checked before anything on disk is modified.
  // Errors: InvalidArgument (bad option, naming it); NotFound (no store and !create_if_missing);
  // PermissionDenied (wrong master key); FailedPrecondition (the store is open elsewhere, in this
  // or another process); DataLoss (key store or database damaged); errors of the key provider;
  // Unavailable (I/O).
  static absl::StatusOr<std::unique_ptr<Store>> Open(const Options& options);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Creates tenant `id` with a new random data key and returns its info.
  // Errors: InvalidArgument (malformed id); AlreadyExists; Unavailable; ResourceExhausted.
  virtual absl::StatusOr<TenantInfo> CreateTenant(std::string_view id) = 0;

  // Returns a handle on tenant `id`.
  // Errors: InvalidArgument (malformed id); NotFound (no such tenant); FailedPrecondition (tenant
  // is not active); DataLoss (its wrapped data key failed authentication).
  virtual absl::StatusOr<std::unique_ptr<Tenant>> OpenTenant(std::string_view id) = 0;

  // Returns what the store knows about tenant `id`.
  // Errors: InvalidArgument (malformed id); NotFound.
  virtual absl::StatusOr<TenantInfo> GetTenantInfo(std::string_view id) const = 0;

  // Returns every tenant, ordered by id.
  virtual absl::StatusOr<std::vector<TenantInfo>> ListTenants() const = 0;

  // Replaces the master key, online: the node file key and every tenant data key are re-wrapped
  // under the key from `new_provider` in one synced, atomic write, and the key store is then
  // compacted so no live file keeps a key wrapped under the old master key. Data files are never
  // rewritten; tenants keep reading and writing throughout (creating or opening a tenant waits
  // for the rotation).
  //
  // After an OK return only the new key opens the store: point `Options::key_provider` at it for
  // the next Open. If the process dies during the call, the store opens with exactly one of the
  // two keys: the old one if the atomic write had not happened yet, the new one if it had (the
  // other key gets PermissionDenied, so trying the new key and then the old one always finds it).
  // An error other than a crash leaves the old key in force, except the one saying the rotation
  // is committed (only the final compaction failed).
  //
  // Errors: InvalidArgument (null provider, key not 32 bytes, or equal to the current key);
  // errors of the provider; DataLoss (a wrapped key failed authentication: nothing changed);
  // Unavailable (I/O).
  [[nodiscard]] virtual absl::Status RotateMasterKey(std::shared_ptr<KeyProvider> new_provider) = 0;

 protected:
  Store() = default;
};

}  // namespace leyser

#endif  // LEYSER_STORE_H_
