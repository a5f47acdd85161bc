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
  absl::Status anchored = audit_->Anchor(record.number());
  if (anchored.ok()) return anchored;
  return absl::Status(
      anchored.code(),
      absl::StrCat(ToAbsl(change), " of tenant ", record.id(),
                   " is done and recorded in its audit log, but ",
                   anchored.message()));
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
      LEYSER_RETURN_IF_ERROR(Purge(record, now));
      report->purged.push_back(record.id());
      // Nothing more is destroyed while changes cannot be anchored.
      LEYSER_RETURN_IF_ERROR(Anchored(record, "the purge"));
      scrub = true;
    }
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
  for (proto::TenantRecord& record : records) {
    if (record.state() == proto::TENANT_STATE_PURGED && Due(record, now)) {
      if (record.legal_hold()) {
        report->held.push_back(record.id());
        continue;
      }
      absl::Status shred = backups;
      if (shred.ok()) shred = Shred(record, now);
      if (absl::IsFailedPrecondition(shred)) {
        LEYSER_RETURN_IF_ERROR(Wait(record, "shred", shred, report));
        continue;
      }
      LEYSER_RETURN_IF_ERROR(shred);
      report->shredded.push_back(record.id());
      LEYSER_RETURN_IF_ERROR(Anchored(record, "the shred"));
    }
  }
  return absl::OkStatus();
}

// ENDED -> PURGED. Resumable: each step can run again after a crash.
absl::Status Lifecycle::Purge(proto::TenantRecord& record, absl::Time now) {
  const std::uint64_t number = record.number();
  if (!record.has_purge()) {
    // Counted, and the newest backup noted, before anything is destroyed.
    LEYSER_ASSIGN_OR_RETURN(TenantCounts counts, CountTenant(*db_, number));
    // A store that never took a backup has none to note (its configured
    // directory, if it refused it, holds another store's generations).
    BackupId newest = 0;
    if (!registry_->Meta().backup_dir_id().empty()) {
      LEYSER_ASSIGN_OR_RETURN(newest, backups_->NewestId());
    }
    record.mutable_purge()->set_keys(counts.keys);
    record.mutable_purge()->set_bytes(counts.bytes);
    record.mutable_purge()->set_last_generation_before(newest);
    LEYSER_RETURN_IF_ERROR(registry_->WriteRecord(record, nullptr));
  }
  CrashPoint("purge.after_mark");
  // Not served (ENDED): calls in flight finish, the tenant's iterators stop.
  serving_->Apply(record);
  // Open iterators of any tenant pin files that may hold this tenant's
  // records: stop them, before the compaction and again after it (for any
  // created meanwhile).
  const absl::Status stopped = absl::AbortedError(
      "this iterator was stopped because a tenant was purged; create a new "
      "one");
  db_->KillIterators(stopped);
  LEYSER_RETURN_IF_ERROR(DeleteAndCompactTenant(*db_, number));
  db_->KillIterators(stopped);
  // What an interrupted restore of the tenant left in the scratch directory
  // (restores and purges both run under the store's maintenance lock).
  LEYSER_RETURN_IF_ERROR(
      RemoveAll(RestoreSstFileName(config_.data_dir, number)));
  CrashPoint("purge.after_compact");
  LEYSER_RETURN_IF_ERROR(keys_->DestroyTenantKey(number));
  record.set_state(proto::TENANT_STATE_PURGED);
  ToProtoTime(now, record.mutable_purged());
  ToProtoTime(now + config_.backup_purge_after, record.mutable_shred_due());
  proto::RegistryMeta meta = registry_->Meta();
  meta.set_scrub_pending(true);
  proto::AuditEntry entry = NewAuditEntry(number, proto::AUDIT_EVENT_PURGED,
                                          "maintenance", record.id());
  (*entry.mutable_details())["keys_removed"] =
      absl::StrCat(record.purge().keys());
  (*entry.mutable_details())["bytes_removed"] =
      absl::StrCat(record.purge().bytes());
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecord(record, &meta, {std::move(entry)}));
  CrashPoint("purge.after_record");
  serving_->Forget(number);
  return absl::OkStatus();
}

// PURGED -> SHREDDED, issuing the certificate exactly once (with the state
// change).
absl::Status Lifecycle::Shred(proto::TenantRecord& record, absl::Time now) {
  // Backups exist exactly when the store has bound a directory (RunSteps
  // checked it is the configured one); without, there is nothing to shred.
  const bool had_backups = !registry_->Meta().backup_dir_id().empty();
  absl::StatusOr<BackupManager::ShredResult> shredded =
      BackupManager::ShredResult();
  if (had_backups) {
    shredded = backups_->ShredTenant(
        record.number(), record.purge().last_generation_before(),
        [&](BackupId id) -> absl::Status {
          // Recorded before the generation is deleted, so a resumed shred
          // still names it.
          record.add_generations_deleted(id);
          proto::AuditEntry entry =
              NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_BACKUP_PRUNED,
                            "maintenance", absl::StrCat("generation ", id));
          (*entry.mutable_details())["reason"] =
              absl::StrCat("shred of tenant ", record.id());
          return registry_->WriteRecord(record, nullptr, {std::move(entry)});
        });
  }
  LEYSER_RETURN_IF_ERROR(shredded.status());
  const BackupManager::ShredResult& result = *shredded;
  CrashPoint("shred.after_backups");
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
  certificate.generations_checked.assign(result.checked.begin(),
                                         result.checked.end());
  certificate.generations_key_removed.assign(result.key_removed.begin(),
                                             result.key_removed.end());
  const proto::RegistryMeta meta = registry_->Meta();  // A copy.
  certificate.backup_dir_id = meta.backup_dir_id();
  certificate.restored_from_backup_dir_ids.assign(
      meta.restored_from_backup_dir_ids().begin(),
      meta.restored_from_backup_dir_ids().end());
  certificate.method = DeletionMethod(
      had_backups, !certificate.restored_from_backup_dir_ids.empty());
  // The tenant's audit log up to here (its PURGED entry included), signed.
  LEYSER_ASSIGN_OR_RETURN(certificate.audit_chain_head,
                          audit_->LatestCheckpoint(record.number()));
  // Issued no earlier than the checkpoint it embeds (the clock may have moved
  // on while the checkpoint was signed).
  LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint head,
                          ParseAuditCheckpoint(certificate.audit_chain_head));
  certificate.issued = std::max(certificate.issued, head.time);
  LEYSER_ASSIGN_OR_RETURN(SecretBytes seed, config_.signing_key());
  LEYSER_ASSIGN_OR_RETURN(std::string stored,
                          SignCertificate(&certificate, seed));
  record.set_state(proto::TENANT_STATE_SHREDDED);
  ToProtoTime(now, record.mutable_shredded());
  record.set_certificate(std::move(stored));
  std::vector<proto::AuditEntry> entries;
  entries.push_back(NewAuditEntry(record.number(), proto::AUDIT_EVENT_SHREDDED,
                                  "maintenance", record.id()));
  (*entries.back().mutable_details())["generations_deleted"] =
      absl::StrJoin(certificate.generations_deleted, ",");
  (*entries.back().mutable_details())["generations_checked"] =
      absl::StrJoin(certificate.generations_checked, ",");
  entries.push_back(NewAuditEntry(record.number(),
                                  proto::AUDIT_EVENT_CERTIFICATE_ISSUED,
                                  "maintenance", record.id()));
  (*entries.back().mutable_details())["certificate_sha256"] =
      Sha256Hex({record.certificate()});
  LEYSER_RETURN_IF_ERROR(
      registry_->WriteRecord(record, nullptr, std::move(entries)));
  CrashPoint("shred.after_record");
  return absl::OkStatus();
}

}  // namespace leyser::internal
