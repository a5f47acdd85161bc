// The live shared state of open tenants (TenantCore: the unwrapped data key and
// the serving state), and the Options::tenant_cache_size most recently opened
// kept after their last handle closes, so reopening one needs no key-store read
// and no unwrap.
//
// A core is built from the tenant's record read while the cache's lock is held;
// the lifecycle updates the memory registry before it calls Apply, which takes
// the same lock: either the open sees the change, or the change sees the core
// (docs/concurrency.md).
//
// Thread safety: thread-safe. Lock order: the cache's lock before the
// registry's memory lock and the key store's.

#ifndef LEYSER_LIB_STORE_TENANT_CACHE_H_
#define LEYSER_LIB_STORE_TENANT_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "leyser/clock.h"

#include "lib/audit/audit_log.h"
#include "lib/db/db_core.h"
#include "lib/keys/key_store.h"
#include "lib/lifecycle/lifecycle.h"
#include "lib/registry/registry.h"
#include "lib/store/tenant_core.h"

namespace leyser::internal {

class TenantCache final : public ServingListener {
 public:
  struct Config {
    std::size_t capacity = 0;  // Options::tenant_cache_size.
    std::string actor;         // Of DATA_LOSS entries (Options::audit_actor).
    std::shared_ptr<const Clock> clock;
  };
  // `registry` and `keys` must outlive the cache.
  TenantCache(Config config, std::shared_ptr<DbCore> db,
              std::shared_ptr<AuditLogs> audit, const Registry* registry,
              const KeyStore* keys);
  ~TenantCache() = default;

  // The shared state of tenant `id` if it is served now, unwrapping its key
  // if no handle (and not the cache) holds it. FailedPrecondition if it is not
  // served; NotFound; InvalidArgument; DataLoss (its key fails to open).
  absl::StatusOr<std::shared_ptr<const TenantCore>> Open(std::string_view id);

  // The live core of tenant `record`, or one built for it from its record
  // as the registry holds it now, whether it is served or not (not kept
  // among the recent): what holds its gate while a data-key rotation re-seals
  // its values. Errors as Open's key errors.
  absl::StatusOr<std::shared_ptr<const TenantCore>> Acquire(
      const proto::TenantRecord& record);

  // Replaces the key ring of `core` (of the live core of tenant `number`, if
  // there is one) with the tenant's keys as the key store holds them now,
  // under the core's gate: after a data-key rotation, or once the retired keys
  // are destroyed. Calls in flight finish first. Errors of the key store.
  absl::Status RefreshKeys(const TenantCore& core);
  absl::Status RefreshLiveKeys(std::uint64_t number);

  // ServingListener.
  void Apply(const proto::TenantRecord& record) override;
  void Forget(std::uint64_t number) override;

 private:
  struct Slot {
    std::weak_ptr<const TenantCore> weak;
    std::shared_ptr<const TenantCore> cached;   // While among the recent.
    std::list<std::uint64_t>::iterator recent;  // Valid while `cached` is set.
  };

  // The live core of `record`'s tenant, or a new one built from `record` and
  // its keys (held by `slot.weak`).
  absl::StatusOr<std::shared_ptr<const TenantCore>> LiveOrBuild(
      const proto::TenantRecord& record, Slot& slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live core of tenant `number`, if a handle, iterator or the cache holds
  // one.
  std::shared_ptr<const TenantCore> Live(std::uint64_t number);
  // Keeps `core` among the most recently opened; evicts the least recently
  // opened beyond the capacity.
  void KeepRecent(std::uint64_t number, Slot& slot,
                  const std::shared_ptr<const TenantCore>& core)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Config config_;
  const std::shared_ptr<DbCore> db_;
  const std::shared_ptr<AuditLogs> audit_;
  const Registry* const registry_;
  const KeyStore* const keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::uint64_t, Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::list<std::uint64_t> recent_ ABSL_GUARDED_BY(mu_);  // Newest first.
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_TENANT_CACHE_H_
