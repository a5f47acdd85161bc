// The shared state of one open tenant: what every handle and iterator of it
// needs. Built by the tenant cache (lib/store/tenant_cache.h) from the tenant's
// record and its unwrapped data key; alive while any handle, iterator or the
// cache holds it.

#ifndef LEYSER_LIB_STORE_TENANT_CORE_H_
#define LEYSER_LIB_STORE_TENANT_CORE_H_

#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

#include "leyser/secret.h"

#include "lib/audit/audit_log.h"
#include "lib/db/db_core.h"
#include "lib/keys/key_store.h"

namespace leyser::internal {

// A tenant's unwrapped keys: the current data key and its version (new values
// are sealed with it), the retired versions values may still name (a data-key
// rotation not finished), and the key of the user-key hashes in audit entries
// (derived from the current data key). Never changed once built, except
// zeroed in place when the tenant is purged.
struct KeyRing {
  mutable SecretBytes key;
  std::uint32_t version = 0;
  mutable SecretBytes audit_key;
  mutable std::vector<std::pair<std::uint32_t, SecretBytes>> retired;

  // The key of `version` (current or retired); null if the ring has none.
  const SecretBytes* For(std::uint32_t v) const;
  // Opens `sealed` (stored under `full_key`) with the key of the version its
  // envelope names. False (and `*value` cleared) if the ring has no such key
  // or the envelope does not open.
  bool Open(std::string_view full_key, std::string_view sealed,
            std::string* value) const;
  // Zeroes every key in place.
  void Wipe() const;
};

// The ring of `keys` (the audit key derived from the current key).
absl::StatusOr<std::shared_ptr<const KeyRing>> MakeKeyRing(TenantKeyRing keys);

// Everything a tenant handle needs: its number, key prefix and unwrapped data
// keys. Shared by all handles of one tenant.
struct TenantCore {
  std::shared_ptr<DbCore> db;
  std::shared_ptr<AuditLogs> audit;
  std::string id;
  std::uint64_t number = 0;
  std::string prefix;       // 8-byte big-endian number.
  std::string next_prefix;  // Exclusive upper bound of the keyspace.
  // Replaced (a data-key rotation) only while `gate` is held exclusively;
  // read while it is held shared. An iterator keeps the ring it started with
  // (its snapshot holds no value sealed later). Zeroed in place when the
  // tenant is purged (WipeKeys), while handles may still hold the core: by
  // then the tenant is not served, so no call reads them.
  mutable std::shared_ptr<const KeyRing> keys;
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

  // The tenant is purged: stops serving it and zeroes its unwrapped keys once
  // the calls in flight have finished (the gate, exclusively). Iterators must
  // have been stopped before (the purge does).
  void WipeKeys() const;
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_TENANT_CORE_H_
