// The tenant lifecycle state machine: ACTIVE -> ENDED (the contract end) ->
// PURGED (Options::purge_after later) -> SHREDDED (Options::backup_purge_after
// after the purge, with the deletion certificate). Purges and shreds run only
// against the store's own backup directory (BackupManager::CheckDirFor), and a
// shred only once every generation is deleted or checked; otherwise they wait,
// reported and audited, and nothing is signed. The operator's calls
// (EndContract, Reinstate, SetLegalHold, SetAccessAudit) and the steps a
// maintenance run finds due (RunDue). Every transition is a read-modify-write
// of the tenant's record under the registry's write lock, written with its
// audit entries in one synced batch; purge and shred resume after a crash.
//
// Thread safety: thread-safe; calls serialise on the registry's write lock.
// RunDue must be called under the store's maintenance lock (no backup or
// rotation meanwhile).

#ifndef LEYSER_LIB_LIFECYCLE_LIFECYCLE_H_
#define LEYSER_LIB_LIFECYCLE_LIFECYCLE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "leyser/backup.h"
#include "leyser/clock.h"
#include "leyser/maintenance.h"
#include "leyser/secret.h"

#include "lib/audit/audit_log.h"
#include "lib/backup/backup_manager.h"
#include "lib/db/db_core.h"
#include "lib/keys/key_store.h"
#include "lib/registry/registry.h"

namespace leyser::internal {

// How far ahead a contract end (or a purge or shred delay) may reach.
inline constexpr absl::Duration kMaxScheduleAhead = absl::Hours(24 * 36525);

// What the store does with a tenant's open handles when its record changes.
class ServingListener {
 public:
  // Makes the tenant's live handles follow `record` (served, scheduled end,
  // access audit). Once the tenant is not served, waits for calls in flight
  // and stops its iterators before returning.
  virtual void Apply(const proto::TenantRecord& record) = 0;
  // Tenant `number` is purged: its shared state (and unwrapped key) is
  // dropped from the cache.
  virtual void Forget(std::uint64_t number) = 0;

 protected:
  ~ServingListener() = default;
};

struct LifecycleConfig {
  absl::Duration purge_after;
  absl::Duration backup_purge_after;
  std::string actor;     // Of the operator's calls (Options::audit_actor).
  std::string data_dir;  // Options::data_dir: a purge clears its scratch.
  std::shared_ptr<const Clock> clock;
  // The key that signs deletion certificates now.
  std::function<absl::StatusOr<SecretBytes>()> signing_key;
};

class Lifecycle {
 public:
  // Every pointer must outlive the object.
  Lifecycle(LifecycleConfig config, Registry* registry, KeyStore* keys,
            BackupManager* backups, std::shared_ptr<DbCore> db,
            std::shared_ptr<AuditLogs> audit, ServingListener* serving);

  // Store::EndContract, Reinstate, SetLegalHold, SetAccessAudit (`mode` is a
  // checked AccessAudit value). Each (and each purge and shred of RunDue)
  // returns once a checkpoint covering their entry reached the audit
  // sink, if the store has one (AuditLogs::Anchor), so no rollback of the
  // store's files can undo them unseen.
  absl::Status EndContract(std::string_view tenant_id, absl::Time contract_end);
  absl::Status Reinstate(std::string_view tenant_id);
  absl::Status SetLegalHold(std::string_view tenant_id, bool hold);
  absl::Status SetAccessAudit(std::string_view tenant_id, int mode);

  // Moves the registry's high-water time to `now` and runs every step due at
  // `now`, in order: contract ends, purges, shreds. With the clock behind the
  // high-water time nothing runs (report->clock_behind).
  absl::Status RunDue(absl::Time now, MaintenanceReport* report);

 private:
  // OK once `record`'s audit log is anchored; else the anchoring error,
  // saying that `change` itself is done.
  absl::Status Anchored(const proto::TenantRecord& record,
                        std::string_view change);
  absl::Status RunSteps(absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_->lifecycle_mu());
  // Tenants due for the same step are taken in batches of this many.
  static constexpr std::size_t kBatch = 1024;
  // Purges (ENDED -> PURGED) or shreds (PURGED -> SHREDDED, the certificate)
  // every tenant of `batch` together. True when done; false when the step
  // waits (reported and recorded per tenant; nothing changed): the audit
  // sink refuses checkpoints (AnchoredBefore) or, for a shred, a generation
  // cannot be checked. Each returns once the changes are anchored, or the
  // anchoring error saying they are done.
  absl::StatusOr<bool> PurgeAll(const std::vector<proto::TenantRecord*>& batch,
                                absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_->lifecycle_mu());
  absl::StatusOr<bool> ShredAll(const std::vector<proto::TenantRecord*>& batch,
                                absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_->lifecycle_mu());
  // Before a batch destroys or signs anything: anchors the batch's logs.
  // False (each tenant's `step` waiting, Wait) if the sink refused.
  absl::StatusOr<bool> AnchoredBefore(
      const std::vector<proto::TenantRecord*>& batch, std::string_view step,
      MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_->lifecycle_mu());
  // Anchors `logs` (AuditLogs::AnchorLogs): OK, or its error after `done`
  // (what is done and recorded).
  absl::Status AnchoredLogs(const std::vector<std::uint64_t>& logs,
                            std::string_view done);
  // Anchored for every tenant of `batch` at once.
  absl::Status AnchoredAll(const std::vector<proto::TenantRecord*>& batch,
                           std::string_view change);
  absl::Status WaitAll(const std::vector<proto::TenantRecord*>& batch,
                       std::string_view step, const absl::Status& why,
                       MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_->lifecycle_mu());
  // A due `step` ("purge" or "shred") of `record` waits for `why`: reported
  // and recorded in the tenant's audit log.
  absl::Status Wait(const proto::TenantRecord& record, std::string_view step,
                    const absl::Status& why, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_->lifecycle_mu());

  const LifecycleConfig config_;
  Registry* const registry_;
  KeyStore* const keys_;
  BackupManager* const backups_;
  const std::shared_ptr<DbCore> db_;
  const std::shared_ptr<AuditLogs> audit_;
  ServingListener* const serving_;
  // The last LIFECYCLE_WAITING entry recorded per tenant and step.
  struct WaitRecorded {
    std::string reason;
    absl::Time at;
  };
  absl::flat_hash_map<std::string, WaitRecorded> waits_recorded_
      ABSL_GUARDED_BY(registry_->lifecycle_mu());
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_LIFECYCLE_LIFECYCLE_H_
