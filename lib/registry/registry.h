// The tenant registry: every tenant's record and the registry metadata, in the
// `registry` column family (lib/registry/records.h) and as a copy in memory.
//
// Every change is a read-modify-write under the registry's write lock
// (lifecycle_mu(), the "lifecycle lock" of docs/concurrency.md): the caller
// holds it from reading the record or metadata it changes until the write, and
// each write carries its audit entries in the same synced batch. Reads (Meta,
// Record, Records) copy under a short internal lock and need no write lock.
//
// Thread safety: thread-safe as described. Lock order: lifecycle_mu() before
// the internal lock; neither is held while calling out except into the audit
// logs.

#ifndef LEYSER_LIB_REGISTRY_REGISTRY_H_
#define LEYSER_LIB_REGISTRY_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "leyser/store_types.h"

#include "lib/audit/audit_log.h"
#include "lib/db/db_core.h"
#include "lib/proto/registry.pb.h"

namespace leyser::internal {

// The public form of `record`. DataLoss if its state or number is out of range.
absl::StatusOr<TenantInfo> InfoFromRecord(const proto::TenantRecord& record);

// Whether a tenant with `record` is served at `now`: ACTIVE and its contract
// end (if any) not reached.
bool Served(const proto::TenantRecord& record, absl::Time now);

// When the lifecycle next has a step for `record` (Lifecycle::RunSteps): an
// ACTIVE tenant with a contract end, at that end; an ENDED one at its
// purge_due; a PURGED one at its shred_due. Nothing for the others.
std::optional<absl::Time> NextDue(const proto::TenantRecord& record);

class Registry {
 public:
  explicit Registry(std::shared_ptr<DbCore> db);

  // Reads the registry into memory; with `created` (a new database) writes the
  // first metadata record stamped `now`. DataLoss if a record is damaged or
  // names a number not yet handed out.
  absl::Status Load(bool created, absl::Time now);

  // The audit logs the writes record into; set once after Load.
  void set_audit(std::shared_ptr<AuditLogs> audit) {
    audit_ = std::move(audit);
  }

  // The write lock: held across every read-modify-write of the registry.
  absl::Mutex& lifecycle_mu() ABSL_LOCK_RETURNED(lifecycle_mu_) {
    return lifecycle_mu_;
  }

  // Copies of the metadata, of one record (InvalidArgument for a bad id,
  // NotFound), of every record (by number), and whether `id` is registered.
  proto::RegistryMeta Meta() const;
  absl::StatusOr<proto::TenantRecord> Record(std::string_view id) const;
  std::vector<proto::TenantRecord> Records() const;

  // The earliest instant at which a lifecycle step falls due for some record
  // (NextDue), InfiniteFuture if none: a maintenance run before it has no
  // record to look at. Kept from one call to the next until a record changes.
  absl::Time EarliestDue() const;

  // Registers tenants `ids`, checked with NextNumbers under the same hold of
  // the write lock that returned `first`, as numbers `first`..`first + n - 1`,
  // ACTIVE, created `now`, with `next_tenant_number` moved past them and a
  // TENANT_CREATED entry each by `actor`, in one synced batch. Internal if
  // `first` is no longer the next number.
  absl::StatusOr<std::vector<proto::TenantRecord>> AddTenants(
      const std::vector<std::string>& ids, std::uint64_t first, absl::Time now,
      std::string_view actor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);

  // The first number AddTenants would hand out. AlreadyExists if one of `ids`
  // is registered; ResourceExhausted if `ids` do not fit below the limit.
  absl::StatusOr<std::uint64_t> NextNumbers(const std::vector<std::string>& ids)
      const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);

  // Writes `record` (and `meta`, if given) with the audit `entries` in one
  // synced batch, then updates the memory copy. Each write raises the
  // record's (and the metadata's) revision by one, and the entries of the
  // tenant's log (of the system log, with `meta`) carry the new revision.
  absl::Status WriteRecord(const proto::TenantRecord& record,
                           const proto::RegistryMeta* meta,
                           std::vector<proto::AuditEntry> entries = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);

  // WriteRecord for several records (each tenant once) in one synced batch;
  // each tenant's entries carry its record's new revision.
  absl::Status WriteRecords(const std::vector<proto::TenantRecord>& records,
                            const proto::RegistryMeta* meta,
                            std::vector<proto::AuditEntry> entries = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);

  // Writes `meta`, a copy of Meta() read under the same hold of the write lock
  // and then changed, with the audit `entries` in one synced batch.
  absl::Status WriteMeta(const proto::RegistryMeta& meta,
                         std::vector<proto::AuditEntry> entries = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);

 private:
  // Refuses a metadata write that would move next_tenant_number back (a number
  // handed out twice gives one tenant another's data key) or drop a checkpoint
  // key.
  absl::Status CheckMetaSuccessor(const proto::RegistryMeta& meta) const;

  // The revision the next write of `record` gets: one more than the stored
  // one, or `record.revision()` if that is higher.
  std::uint64_t NextRevision(const proto::TenantRecord& record) const;

  // The stored form of `record` under key `key`.
  std::string Sealed(std::string_view key,
                     const google::protobuf::MessageLite& record) const;

  const std::shared_ptr<DbCore> db_;
  std::shared_ptr<AuditLogs> audit_;
  absl::Mutex lifecycle_mu_;
  mutable absl::Mutex mu_;  // Guards the memory copy.
  proto::RegistryMeta meta_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, proto::TenantRecord> tenants_
      ABSL_GUARDED_BY(mu_);
  // EarliestDue() of tenants_, until they change (reset with them).
  mutable std::optional<absl::Time> earliest_due_ ABSL_GUARDED_BY(mu_);
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_REGISTRY_REGISTRY_H_
