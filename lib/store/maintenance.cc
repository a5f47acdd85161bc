// Store::RunMaintenance: the lifecycle steps that are due, the daily backup,
// audit checkpoints, and audit retention once a day.

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rocksdb/write_batch.h"

#include "lib/rocks/options.h"
#include "lib/store/store_impl.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

absl::Status Prefixed(const char* step, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(step, ": ", s.message()));
}

// The first failure's code, every failure's message.
absl::Status Combined(const std::vector<absl::Status>& failures) {
  if (failures.empty()) return absl::OkStatus();
  std::vector<absl::string_view> messages;
  for (const absl::Status& s : failures) messages.push_back(s.message());
  return absl::Status(failures.front().code(), absl::StrJoin(messages, "; "));
}

}  // namespace

absl::StatusOr<MaintenanceReport> StoreImpl::RunMaintenance() {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock maintenance(&maintenance_mu_);
  MaintenanceReport report;
  const absl::Time now = options_.clock->Now();
  report.now = now;
  audit_->ObserveClock(now);  // A step back is recorded as CLOCK_SKEW.
  absl::Status s = RunMaintenanceSteps(now, &report);
  if (!s.ok()) {
    proto::AuditEntry entry =
        NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_MAINTENANCE_ERROR,
                      "maintenance", "RunMaintenance");
    SetAuditOutcome(s, &entry);
    audit_->Record(std::move(entry)).IgnoreError();  // The error is returned.
    return s;
  }
  report.anchors = audit_->GetAnchorStatus();
  return report;
}

bool StoreImpl::EarlierBackups() {
  if (earlier_backups_.has_value()) return *earlier_backups_;
  // Signs that a store from before backup tracking took backups: a purge
  // that noted a generation, a shred that deleted one, or a BACKUP_CREATED
  // entry still in the system log.
  bool seen = false;
  for (const proto::TenantRecord& record : registry_.Records()) {
    seen = seen || record.purge().last_generation_before() > 0 ||
           record.generations_deleted_size() > 0;
  }
  for (std::uint64_t from = 0; !seen;) {
    absl::StatusOr<std::vector<std::pair<proto::AuditEntry, std::string>>>
        entries = audit_->Read(kSystemLogNumber, from, 4096);
    if (!entries.ok() || entries->empty()) break;
    for (const auto& [entry, bytes] : *entries) {
      seen = seen || entry.event() == proto::AUDIT_EVENT_BACKUP_CREATED;
      from = entry.seq() + 1;
    }
  }
  earlier_backups_ = seen;
  return seen;
}

absl::Status StoreImpl::BindBackupDir(bool take) {
  absl::MutexLock lifecycle(&registry_.lifecycle_mu());
  proto::RegistryMeta meta = registry_.Meta();
  const bool adopting = !meta.backups_tracked();
  LEYSER_ASSIGN_OR_RETURN(
      BackupManager::Binding binding,
      backups_.Bind(meta, options_.clock->Now(), take,
                    adopting && backups_.enabled() && EarlierBackups()));
  if (!binding.changed) return absl::OkStatus();
  meta.set_backup_dir_id(binding.dir_id);
  meta.set_backups_tracked(true);
  std::vector<proto::AuditEntry> entries;
  if (!binding.dir_id.empty()) {
    proto::AuditEntry entry =
        NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_BACKUP_DIR_BOUND,
                      options_.audit_actor, options_.backup_dir);
    (*entry.mutable_details())["dir_id"] =
        absl::BytesToHexString(binding.dir_id);
    if (adopting) {
      (*entry.mutable_details())["adopted"] =
          "a store from before backup tracking: the generations in it are "
          "taken as its own";
    }
    entries.push_back(std::move(entry));
  }
  return registry_.WriteMeta(meta, std::move(entries));
}

absl::Status StoreImpl::RunMaintenanceSteps(absl::Time now,
                                            MaintenanceReport* report) {
  LEYSER_RETURN_IF_ERROR(BindBackupDir(/*take=*/false));
  // Secret memory that the tenant cache's growth could not lock.
  LEYSER_RETURN_IF_ERROR(NoteUnlockedSecretMemory(/*at_open=*/false));
  LEYSER_RETURN_IF_ERROR(lifecycle_->RunDue(now, report));
  // A data-key rotation's re-sealing, before the day's backup takes the
  // values.
  // An error (a value that opens under none of its tenant's keys) is
  // reported; the run goes on to the backup and the audit steps.
  report->key_rotation.error = ResealPending(nullptr, &report->key_rotation);
  const absl::Status rewritten = RewriteRetiredFiles(&report->key_rotation);
  if (report->key_rotation.error.ok()) report->key_rotation.error = rewritten;
  if (backups_.enabled() && registry_.Meta().backup_dir_id().empty()) {
    // The store's first backup is due: its directory is bound now.
    LEYSER_ASSIGN_OR_RETURN(const bool due, backups_.BackupDue(now));
    if (due) LEYSER_RETURN_IF_ERROR(BindBackupDir(/*take=*/true));
  }
  MaintenanceReport backup_report;
  const absl::Status backed_up = backups_.RunMaintenance(now, &backup_report);
  report->backups_enabled = backup_report.backups_enabled;
  report->backup = backup_report.backup;
  report->pruned = backup_report.pruned;
  report->repaired = backup_report.repaired;
  report->backup_refused = backup_report.backup_refused;
  report->backup_damage = backup_report.backup_damage;
  // A refusal is recorded when its reason changes, and once a day while it
  // lasts.
  if (!backup_report.backup_refused.empty() &&
      (backup_report.backup_refused != last_refusal_.first ||
       now - last_refusal_.second >= absl::Hours(24) ||
       now < last_refusal_.second)) {
    last_refusal_ = {backup_report.backup_refused, now};
    LEYSER_RETURN_IF_ERROR(RecordBackup(
        absl::FailedPreconditionError(backup_report.backup_refused), nullptr,
        backup_report, "maintenance"));
  }
  if (!backed_up.ok() || backup_report.backup.has_value() ||
      !backup_report.pruned.empty() || !backup_report.backup_damage.empty()) {
    LEYSER_RETURN_IF_ERROR(RecordBackup(
        backed_up,
        backup_report.backup.has_value() ? &*backup_report.backup : nullptr,
        backup_report, "maintenance"));
  }
  // A failed backup stops none of the steps after it: the audit checkpoints
  // and retention run, and every failure is returned.
  std::vector<absl::Status> failures;
  if (!backed_up.ok()) failures.push_back(Prefixed("backup", backed_up));
  // Audit: checkpoints of logs quiet for the interval, retention once a day.
  if (absl::Status s = audit_->CheckpointLogs(/*all=*/false); !s.ok()) {
    failures.push_back(Prefixed("audit checkpoints", s));
  }
  if (absl::Status s = PruneAuditLogs(now, report); !s.ok()) {
    failures.push_back(Prefixed("audit retention", s));
  }
  return Combined(failures);
}

// Audit retention, once a day: entries older than Options::audit_retention
// leave every log but those of tenants under a legal hold.
absl::Status StoreImpl::PruneAuditLogs(absl::Time now,
                                       MaintenanceReport* report) {
  if (!last_retention_run_.has_value() ||
      now - *last_retention_run_ >= absl::Hours(24) ||
      now < *last_retention_run_) {
    std::vector<std::uint64_t> logs = {kSystemLogNumber};
    for (const proto::TenantRecord& record : registry_.Records()) {
      // A legal hold keeps the tenant's audit log whole too.
      if (!record.legal_hold()) logs.push_back(record.number());
    }
    for (std::uint64_t log : logs) {
      std::uint64_t pruned = 0;
      LEYSER_RETURN_IF_ERROR(audit_->Prune(log, now, &pruned));
      report->audit_entries_pruned += pruned;
    }
    if (report->audit_entries_pruned > 0) {
      LEYSER_RETURN_IF_ERROR(audit_->CompactPruned());
    }
    last_retention_run_ = now;
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::RecordBackup(const absl::Status& status,
                                     const BackupInfo* info,
                                     const MaintenanceReport& report,
                                     std::string_view actor) const {
  std::vector<proto::AuditEntry> entries;
  if (!status.ok()) {
    entries.push_back(NewAuditEntry(
        kSystemLogNumber, proto::AUDIT_EVENT_BACKUP_FAILED, actor, "backup"));
    SetAuditOutcome(status, &entries.back());
    (*entries.back().mutable_details())["operation"] = "create";
  } else if (info != nullptr) {
    entries.push_back(NewAuditEntry(kSystemLogNumber,
                                    proto::AUDIT_EVENT_BACKUP_CREATED, actor,
                                    absl::StrCat("generation ", info->id)));
    auto& details = *entries.back().mutable_details();
    details["verified"] = "true";
    details["tenants"] = absl::StrCat(info->tenants.size());
    details["keys"] = absl::StrCat(info->keys);
    details["bytes"] = absl::StrCat(info->data_bytes);
  }
  for (const BackupDamage& damage : report.backup_damage) {
    entries.push_back(NewAuditEntry(kSystemLogNumber,
                                    damage.repaired
                                        ? proto::AUDIT_EVENT_BACKUP_REPAIRED
                                        : proto::AUDIT_EVENT_BACKUP_DAMAGED,
                                    actor, "backup directory"));
    auto& details = *entries.back().mutable_details();
    details["generations"] = absl::StrJoin(damage.generations, ",");
    details["problem"] = damage.problem;
  }
  for (BackupId id : report.pruned) {
    entries.push_back(NewAuditEntry(kSystemLogNumber,
                                    proto::AUDIT_EVENT_BACKUP_PRUNED, actor,
                                    absl::StrCat("generation ", id)));
    (*entries.back().mutable_details())["reason"] = "generations limit";
  }
  if (entries.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  return audit_->Commit(&batch, std::move(entries), SyncWrite());
}

}  // namespace leyser::internal
