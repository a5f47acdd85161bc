#include "lib/lifecycle/lifecycle.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "leyser/audit.h"
#include "leyser/store_types.h"

#include "lib/crypto/sodium.h"
#include "lib/db/filename.h"
#include "lib/lifecycle/certificate.h"
#include "lib/lifecycle/purge.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

std::string StateName(const proto::TenantRecord& record) {
  return std::string(TenantStateName(static_cast<TenantState>(record.state())));
}

}  // namespace

Lifecycle::Lifecycle(LifecycleConfig config, Registry* registry, KeyStore* keys,
                     BackupManager* backups, std::shared_ptr<DbCore> db,
                     std::shared_ptr<AuditLogs> audit, ServingListener* serving)
    : config_(std::move(config)),
      registry_(registry),
      keys_(keys),
      backups_(backups),
      db_(std::move(db)),
      audit_(std::move(audit)),
      serving_(serving) {}

absl::Status Lifecycle::EndContract(std::string_view tenant_id,
                                    absl::Time contract_end) {
  absl::MutexLock lifecycle(&registry_->lifecycle_mu());
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record,
                          registry_->Record(tenant_id));
  const absl::Time now = config_.clock->Now();
  const absl::Time created = FromProtoTime(record.created());
  if (contract_end == absl::InfinitePast() ||
      contract_end == absl::InfiniteFuture() || contract_end < created ||
      contract_end > now + kMaxScheduleAhead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EndContract: the contract end must lie between the tenant's "
        "creation (",
        Rfc3339(created), ") and 100 years from now (",
        Rfc3339(now + kMaxScheduleAhead), "), not ", Rfc3339(contract_end)));
  }
  const bool now_or_past = contract_end <= now;
  // An end recorded after the fact (in the past) keeps the whole grace
  // period from now: the purge is never due before now + purge_after.
  const absl::Time purge_due =
      std::max(contract_end, now) + config_.purge_after;
  proto::AuditEntry entry =
      NewAuditEntry(record.number(),
                    now_or_past ? proto::AUDIT_EVENT_CONTRACT_ENDED
                                : proto::AUDIT_EVENT_CONTRACT_END_SCHEDULED,
                    config_.actor, record.id());
  (*entry.mutable_details())["contract_end"] = Rfc3339(contract_end);
  if (!Served(record, now)) {
    return audit_->RecordRefusal(
        std::move(entry),
        absl::FailedPreconditionError(absl::StrCat(
            "tenant ", record.id(), "'s contract has already ended (state ",
            StateName(record), ")")));
  }
  ToProtoTime(contract_end, record.mutable_contract_end());
  ToProtoTime(purge_due, record.mutable_purge_due());
  if (now_or_past) {
    record.set_state(proto::TENANT_STATE_ENDED);
  }
  (*entry.mutable_details())["purge_due"] = Rfc3339(purge_due);
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecord(record, nullptr, {std::move(entry)}));
  serving_->Apply(record);
  return Anchored(record, "the contract end");
}

absl::Status Lifecycle::Reinstate(std::string_view tenant_id) {
  absl::MutexLock lifecycle(&registry_->lifecycle_mu());
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record,
                          registry_->Record(tenant_id));
  proto::AuditEntry entry =
      NewAuditEntry(record.number(), proto::AUDIT_EVENT_REINSTATED,
                    config_.actor, record.id());
  if (record.state() == proto::TENANT_STATE_PURGED ||
      record.state() == proto::TENANT_STATE_SHREDDED || record.has_purge()) {
    return audit_->RecordRefusal(
        std::move(entry),
        absl::FailedPreconditionError(absl::StrCat(
            "tenant ", record.id(),
            " has been purged; its data is gone and cannot be reinstated")));
  }
  if (!record.has_contract_end()) {
    return audit_->RecordRefusal(
        std::move(entry), absl::FailedPreconditionError(absl::StrCat(
                              "tenant ", record.id(),
                              " is active and has no contract end to undo")));
  }
  record.set_state(proto::TENANT_STATE_ACTIVE);
  record.clear_contract_end();
  record.clear_purge_due();
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecord(record, nullptr, {std::move(entry)}));
  serving_->Apply(record);
  return Anchored(record, "the reinstatement");
}

absl::Status Lifecycle::SetLegalHold(std::string_view tenant_id, bool hold) {
  absl::MutexLock lifecycle(&registry_->lifecycle_mu());
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record,
                          registry_->Record(tenant_id));
  proto::AuditEntry entry =
      NewAuditEntry(record.number(),
                    hold ? proto::AUDIT_EVENT_LEGAL_HOLD_SET
                         : proto::AUDIT_EVENT_LEGAL_HOLD_RELEASED,
                    config_.actor, record.id());
  if (record.state() == proto::TENANT_STATE_SHREDDED) {
    return audit_->RecordRefusal(
        std::move(entry), absl::FailedPreconditionError(absl::StrCat(
                              "tenant ", record.id(),
                              " is shredded; there is nothing left to hold")));
  }
  record.set_legal_hold(hold);
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecord(record, nullptr, {std::move(entry)}));
  return Anchored(record, hold ? "the legal hold" : "the hold's release");
}

absl::Status Lifecycle::Anchored(const proto::TenantRecord& record,
                                 std::string_view change) {
  return AnchoredLogs({record.number()},
                      absl::StrCat(ToAbsl(change), " of tenant ", record.id(),
                                   " is done and recorded in its audit log"));
}

absl::Status Lifecycle::AnchoredLogs(const std::vector<std::uint64_t>& logs,
                                     std::string_view done) {
  const absl::Status anchored = audit_->AnchorLogs(logs);
  if (anchored.ok()) return anchored;
  return absl::Status(anchored.code(),
                      absl::StrCat(ToAbsl(done), ", but ", anchored.message()));
}

absl::Status Lifecycle::SetAccessAudit(std::string_view tenant_id, int mode) {
  absl::MutexLock lifecycle(&registry_->lifecycle_mu());
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record,
                          registry_->Record(tenant_id));
  proto::AuditEntry entry =
      NewAuditEntry(record.number(), proto::AUDIT_EVENT_ACCESS_AUDIT_CHANGED,
                    config_.actor, record.id());
  static constexpr const char* kNames[] = {"off", "writes", "reads_and_writes"};
  (*entry.mutable_details())["from"] =
      kNames[std::clamp(record.access_audit(), 0, 2)];
  (*entry.mutable_details())["to"] = kNames[std::clamp(mode, 0, 2)];
  if (record.state() != proto::TENANT_STATE_ACTIVE) {
    return audit_->RecordRefusal(
        std::move(entry), absl::FailedPreconditionError(absl::StrCat(
                              "tenant ", record.id(), " is not active")));
  }
  record.set_access_audit(mode);
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecord(record, nullptr, {std::move(entry)}));
  serving_->Apply(record);
  // Anchored too: turning access auditing off widens what a rollback of the
  // disk can undo unseen.
  return Anchored(record, "the access-audit change");
}

absl::Status Lifecycle::RunDue(absl::Time now, MaintenanceReport* report) {
  // The metadata is read, changed and written under the lifecycle lock: a
  // copy taken before it would write back a stale next_tenant_number (handing
  // out numbers twice) or drop checkpoint keys added meanwhile.
  absl::MutexLock lifecycle(&registry_->lifecycle_mu());
  proto::RegistryMeta meta = registry_->Meta();
  if (meta.has_high_water() && now < FromProtoTime(meta.high_water())) {
    report->clock_behind = true;  // Steps wait until the clock catches up.
    return absl::OkStatus();
  }
  ToProtoTime(now, meta.mutable_high_water());
  LEYSER_RETURN_IF_ERROR(registry_->WriteMeta(meta));
  return RunSteps(now, report);
}

absl::Status Lifecycle::Wait(const proto::TenantRecord& record,
                             std::string_view step, const absl::Status& why,
                             MaintenanceReport* report) {
  MaintenanceReport::WaitingStep waiting;
  waiting.tenant_id = record.id();
  waiting.step = std::string(step);
  waiting.reason = std::string(why.message());
  // Recorded when the reason changes, and once a day while it lasts (a
  // maintenance loop running every minute does not flood the log).
  const std::string key = absl::StrCat(record.number(), "/", ToAbsl(step));
  auto [it, fresh] = waits_recorded_.try_emplace(key);
  const bool record_it = fresh || it->second.reason != waiting.reason ||
                         report->now - it->second.at >= absl::Hours(24) ||
                         report->now < it->second.at;
  report->waiting.push_back(waiting);
  if (!record_it) return absl::OkStatus();
  it->second.reason = waiting.reason;
  it->second.at = report->now;
  proto::AuditEntry entry =
      NewAuditEntry(record.number(), proto::AUDIT_EVENT_LIFECYCLE_WAITING,
                    "maintenance", record.id());
  SetAuditOutcome(why, &entry);
  (*entry.mutable_details())["step"] = waiting.step;
  return audit_->Record(std::move(entry));
}

namespace {

// The record's step in its state (NextDue, the registry's one definition of
// it) is due at `now`.
bool Due(const proto::TenantRecord& record, absl::Time now) {
  const std::optional<absl::Time> due = NextDue(record);
  return due.has_value() && *due <= now;
}

// `all` in consecutive batches of at most `size`.
std::vector<std::vector<proto::TenantRecord*>> Batches(
    const std::vector<proto::TenantRecord*>& all, std::size_t size) {
  std::vector<std::vector<proto::TenantRecord*>> batches;
  for (std::size_t begin = 0; begin < all.size(); begin += size) {
    batches.emplace_back(all.begin() + begin,
                         all.begin() + std::min(all.size(), begin + size));
  }
  return batches;
}

std::vector<std::uint64_t> Numbers(
    const std::vector<proto::TenantRecord*>& batch) {
  std::vector<std::uint64_t> numbers;
  numbers.reserve(batch.size());
  for (const proto::TenantRecord* record : batch) {
    numbers.push_back(record->number());
  }
  return numbers;
}

}  // namespace

absl::Status Lifecycle::RunSteps(absl::Time now, MaintenanceReport* report) {
  // Left by a run that crashed before its scrub.
  bool scrub = registry_->Meta().scrub_pending();
  // No step due for any record: nothing to copy or walk (a held or waiting
  // step stays due, so such runs walk as before).
  if (!scrub && registry_->EarliestDue() > now) return absl::OkStatus();
  std::vector<proto::TenantRecord> records = registry_->Records();
  // Purges note the newest generation and shreds go through the backups:
  // both wait unless the store's backups (if any) are where it looks.
  const absl::Status backups = backups_->CheckDirFor(registry_->Meta());
  std::vector<proto::TenantRecord*> to_purge;
  for (proto::TenantRecord& record : records) {
    if (record.state() == proto::TENANT_STATE_ACTIVE && Due(record, now)) {
      record.set_state(proto::TENANT_STATE_ENDED);
      proto::AuditEntry entry =
          NewAuditEntry(record.number(), proto::AUDIT_EVENT_CONTRACT_ENDED,
                        "maintenance", record.id());
      (*entry.mutable_details())["contract_end"] =
          Rfc3339(FromProtoTime(record.contract_end()));
      LEYSER_RETURN_IF_ERROR(
          registry_->WriteRecord(record, nullptr, {std::move(entry)}));
      serving_->Apply(record);
      report->ended.push_back(record.id());
    }
    if (record.state() == proto::TENANT_STATE_ENDED && Due(record, now)) {
      if (record.legal_hold()) {
        report->held.push_back(record.id());
        continue;
      }
      if (!backups.ok()) {
        LEYSER_RETURN_IF_ERROR(Wait(record, "purge", backups, report));
        continue;
      }
      to_purge.push_back(&record);
    }
  }
  // Tenants whose contracts ended together are purged together, in batches
  // (one compaction per span of files, a few synced writes per batch).
  for (const auto& batch : Batches(to_purge, kBatch)) {
    LEYSER_ASSIGN_OR_RETURN(bool purged, PurgeAll(batch, now, report));
    scrub = scrub || purged;  // Else waiting for the audit sink.
  }
  if (scrub) {
    // Obsolete WALs go, the MANIFEST rolls to a snapshot without the purged
    // key bounds, and the destroyed data keys leave the key store's files.
    LEYSER_RETURN_IF_ERROR(FlushEverything(*db_));
    CrashPoint("purge.after_flush");
    LEYSER_RETURN_IF_ERROR(keys_->Scrub());
    proto::RegistryMeta meta = registry_->Meta();
    meta.set_scrub_pending(false);
    LEYSER_RETURN_IF_ERROR(registry_->WriteMeta(meta));
  }
  std::vector<proto::TenantRecord*> to_shred;
  for (proto::TenantRecord& record : records) {
    if (record.state() == proto::TENANT_STATE_PURGED && Due(record, now)) {
      if (record.legal_hold()) {
        report->held.push_back(record.id());
        continue;
      }
      if (absl::IsFailedPrecondition(backups)) {
        LEYSER_RETURN_IF_ERROR(Wait(record, "shred", backups, report));
        continue;
      }
      LEYSER_RETURN_IF_ERROR(backups);
      to_shred.push_back(&record);
    }
  }
  for (const auto& batch : Batches(to_shred, kBatch)) {
    // False: waiting (for the audit sink, a generation), reported.
    LEYSER_RETURN_IF_ERROR(ShredAll(batch, now, report).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Lifecycle::AnchoredBefore(
    const std::vector<proto::TenantRecord*>& batch, std::string_view step,
    MaintenanceReport* report) {
  // Nothing is destroyed or signed while changes cannot be anchored: the
  // batch's logs (their contract ends, their purges) are anchored first, so
  // a failing sink is found before the batch, not after it.
  // If they had nothing to anchor, the sink is asked all the same.
  const std::vector<std::uint64_t> logs = Numbers(batch);
  absl::Status anchored = audit_->AnchorLogs(logs);
  if (anchored.ok()) anchored = audit_->ProbeSink(logs);
  if (anchored.ok()) return true;
  if (!absl::IsUnavailable(anchored)) return anchored;
  const absl::Status why = absl::UnavailableError(
      absl::StrCat("changes cannot be anchored: ", anchored.message()));
  LEYSER_RETURN_IF_ERROR(WaitAll(batch, step, why, report));
  return false;
}

absl::Status Lifecycle::WaitAll(const std::vector<proto::TenantRecord*>& batch,
                                std::string_view step, const absl::Status& why,
                                MaintenanceReport* report) {
  for (const proto::TenantRecord* record : batch) {
    LEYSER_RETURN_IF_ERROR(Wait(*record, step, why, report));
  }
  return absl::OkStatus();
}

absl::Status Lifecycle::AnchoredAll(
    const std::vector<proto::TenantRecord*>& batch, std::string_view change) {
  if (batch.size() == 1) return Anchored(*batch.front(), change);
  return AnchoredLogs(
      Numbers(batch),
      absl::StrCat(ToAbsl(change), " of ", batch.size(),
                   " tenants is done and recorded in their audit logs"));
}

// ENDED -> PURGED for every tenant of `batch` together. Each tenant's steps
// run in the order of a purge on its own (marked, not served, deleted and
// compacted, key destroyed, recorded), each step for the whole batch at once,
// so every step can run again after a crash.
absl::StatusOr<bool> Lifecycle::PurgeAll(
    const std::vector<proto::TenantRecord*>& batch, absl::Time now,
    MaintenanceReport* report) {
  LEYSER_ASSIGN_OR_RETURN(bool may, AnchoredBefore(batch, "purge", report));
  if (!may) return false;
  // A store that never took a backup has none to note (its configured
  // directory, if it refused it, holds another store's generations).
  std::optional<BackupId> newest;
  std::vector<proto::TenantRecord> marked;
  for (proto::TenantRecord* record : batch) {
    if (record->has_purge()) continue;
    // Counted, and the newest backup noted, before anything is destroyed.
    LEYSER_ASSIGN_OR_RETURN(TenantCounts counts,
                            CountTenant(*db_, record->number()));
    if (!newest.has_value()) {
      newest = 0;
      if (!registry_->Meta().backup_dir_id().empty()) {
        LEYSER_ASSIGN_OR_RETURN(newest, backups_->NewestId());
      }
    }
    record->mutable_purge()->set_keys(counts.keys);
    record->mutable_purge()->set_bytes(counts.bytes);
    record->mutable_purge()->set_last_generation_before(*newest);
    marked.push_back(*record);
  }
  if (!marked.empty()) {
    LEYSER_RETURN_IF_ERROR(registry_->WriteRecords(marked, nullptr));
  }
  CrashPoint("purge.after_mark");
  // Not served (ENDED): calls in flight finish, the tenants' iterators stop.
  for (proto::TenantRecord* record : batch) serving_->Apply(*record);
  // Open iterators of any tenant pin files that may hold these tenants'
  // records: stop them, before the compaction and again after it (for any
  // created meanwhile).
  const absl::Status stopped = absl::AbortedError(
      "this iterator was stopped because a tenant was purged; create a new "
      "one");
  const std::vector<std::uint64_t> numbers = Numbers(batch);
  db_->KillIterators(stopped);
  LEYSER_RETURN_IF_ERROR(DeleteAndCompactTenants(*db_, numbers));
  db_->KillIterators(stopped);
  // What an interrupted restore of a tenant left in the scratch directory
  // (restores and purges both run under the store's maintenance lock).
  for (std::uint64_t number : numbers) {
    LEYSER_RETURN_IF_ERROR(
        RemoveAll(RestoreSstFileName(config_.data_dir, number)));
  }
  CrashPoint("purge.after_compact");
  LEYSER_RETURN_IF_ERROR(keys_->DestroyTenantKeys(numbers));
  std::vector<proto::TenantRecord> purged;
  std::vector<proto::AuditEntry> entries;
  for (proto::TenantRecord* record : batch) {
    record->set_state(proto::TENANT_STATE_PURGED);
    ToProtoTime(now, record->mutable_purged());
    ToProtoTime(now + config_.backup_purge_after, record->mutable_shred_due());
    entries.push_back(NewAuditEntry(record->number(), proto::AUDIT_EVENT_PURGED,
                                    "maintenance", record->id()));
    (*entries.back().mutable_details())["keys_removed"] =
        absl::StrCat(record->purge().keys());
    (*entries.back().mutable_details())["bytes_removed"] =
        absl::StrCat(record->purge().bytes());
    purged.push_back(*record);
  }
  proto::RegistryMeta meta = registry_->Meta();
  meta.set_scrub_pending(true);
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecords(purged, &meta, std::move(entries)));
  CrashPoint("purge.after_record");
  for (proto::TenantRecord* record : batch) {
    serving_->Forget(record->number());
    report->purged.push_back(record->id());
  }
  // Nothing more is destroyed while the purges cannot be anchored.
  LEYSER_RETURN_IF_ERROR(AnchoredAll(batch, "the purge"));
  return true;
}

// PURGED -> SHREDDED for every tenant of `batch`, issuing each certificate
// exactly once (with the state change).
absl::StatusOr<bool> Lifecycle::ShredAll(
    const std::vector<proto::TenantRecord*>& batch, absl::Time now,
    MaintenanceReport* report) {
  LEYSER_ASSIGN_OR_RETURN(bool may, AnchoredBefore(batch, "shred", report));
  if (!may) return false;
  // Backups exist exactly when the store has bound a directory (RunSteps
  // checked it is the configured one); without, there is nothing to shred.
  const bool had_backups = !registry_->Meta().backup_dir_id().empty();
  std::vector<BackupManager::ShredResult> results(batch.size());
  if (had_backups) {
    std::vector<BackupManager::ShredTarget> targets;
    std::vector<std::string> ids;
    for (const proto::TenantRecord* record : batch) {
      targets.push_back(BackupManager::ShredTarget{
          record->number(), record->purge().last_generation_before()});
      ids.push_back(record->id());
    }
    absl::StatusOr<std::vector<BackupManager::ShredResult>> shredded =
        backups_->ShredTenants(targets, [&](BackupId id) -> absl::Status {
          // Recorded before the generation is deleted, so a resumed shred
          // still names it.
          std::vector<proto::TenantRecord> changed;
          for (proto::TenantRecord* record : batch) {
            record->add_generations_deleted(id);
            changed.push_back(*record);
          }
          proto::AuditEntry entry =
              NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_BACKUP_PRUNED,
                            "maintenance", absl::StrCat("generation ", id));
          (*entry.mutable_details())["reason"] = absl::StrCat(
              ids.size() == 1 ? "shred of tenant " : "shred of tenants ",
              absl::StrJoin(ids, ", "));
          return registry_->WriteRecords(changed, nullptr, {std::move(entry)});
        });
    if (absl::IsFailedPrecondition(shredded.status())) {
      LEYSER_RETURN_IF_ERROR(
          WaitAll(batch, "shred", shredded.status(), report));
      return false;
    }
    LEYSER_RETURN_IF_ERROR(shredded.status());
    results = *std::move(shredded);
  }
  CrashPoint("shred.after_backups");
  // Each tenant's audit log up to here (its PURGED entry included), signed.
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> heads,
                          audit_->LatestCheckpoints(Numbers(batch)));
  LEYSER_ASSIGN_OR_RETURN(SecretBytes seed, config_.signing_key());
  const proto::RegistryMeta meta = registry_->Meta();  // A copy.
  std::vector<proto::TenantRecord> shredded;
  std::vector<proto::AuditEntry> entries;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    proto::TenantRecord& record = *batch[i];
    DeletionCertificate certificate;
    certificate.tenant_id = record.id();
    certificate.tenant_number = record.number();
    certificate.contract_end = FromProtoTime(record.contract_end());
    certificate.purged = FromProtoTime(record.purged());
    certificate.shredded = now;
    certificate.issued = now;
    certificate.keys_removed = record.purge().keys();
    certificate.bytes_removed = record.purge().bytes();
    absl::flat_hash_set<std::uint32_t> seen;
    for (std::uint32_t id : record.generations_deleted()) {
      if (seen.insert(id).second) certificate.generations_deleted.push_back(id);
    }
    std::sort(certificate.generations_deleted.begin(),
              certificate.generations_deleted.end());
    certificate.generations_checked.assign(results[i].checked.begin(),
                                           results[i].checked.end());
    certificate.generations_key_removed.assign(results[i].key_removed.begin(),
                                               results[i].key_removed.end());
    certificate.backup_dir_id = meta.backup_dir_id();
    certificate.restored_from_backup_dir_ids.assign(
        meta.restored_from_backup_dir_ids().begin(),
        meta.restored_from_backup_dir_ids().end());
    certificate.method = DeletionMethod(
        had_backups, !certificate.restored_from_backup_dir_ids.empty());
    certificate.audit_chain_head = std::move(heads[i]);
    // Issued no earlier than the checkpoint it embeds (the clock may have
    // moved on while the checkpoint was signed).
    LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint head,
                            ParseAuditCheckpoint(certificate.audit_chain_head));
    certificate.issued = std::max(certificate.issued, head.time);
    LEYSER_ASSIGN_OR_RETURN(std::string stored,
                            SignCertificate(&certificate, seed));
    record.set_state(proto::TENANT_STATE_SHREDDED);
    ToProtoTime(now, record.mutable_shredded());
    record.set_certificate(std::move(stored));
    entries.push_back(NewAuditEntry(record.number(),
                                    proto::AUDIT_EVENT_SHREDDED, "maintenance",
                                    record.id()));
    (*entries.back().mutable_details())["generations_deleted"] =
        absl::StrJoin(certificate.generations_deleted, ",");
    (*entries.back().mutable_details())["generations_checked"] =
        absl::StrJoin(certificate.generations_checked, ",");
    entries.push_back(NewAuditEntry(record.number(),
                                    proto::AUDIT_EVENT_CERTIFICATE_ISSUED,
                                    "maintenance", record.id()));
    (*entries.back().mutable_details())["certificate_sha256"] =
        Sha256Hex({record.certificate()});
    shredded.push_back(record);
  }
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecords(shredded, nullptr, std::move(entries)));
  CrashPoint("shred.after_record");
  for (const proto::TenantRecord* record : batch) {
    report->shredded.push_back(record->id());
  }
  LEYSER_RETURN_IF_ERROR(AnchoredAll(batch, "the shred"));
  return true;
}

}  // namespace leyser::internal
