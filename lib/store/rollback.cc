// The rollback check of Store::Open (docs/architecture.md, "Tampering and
// rollback"): every registry record against its audit log's newest entry,
// every log against the newest checkpoint the audit sink holds; how a
// refusal reads; and the new anchor series a restore or an accepted rollback
// starts.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "lib/crypto/sodium.h"
#include "lib/store/store_impl.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// Random bytes naming an anchor series (RegistryMeta::anchor_series).
constexpr std::size_t kAnchorSeriesBytes = 8;
constexpr std::size_t kBackupOwnerBytes = 16;

}  // namespace

absl::StatusOr<StoreImpl::RollbackFindings> StoreImpl::CheckRollback() {
  RollbackFindings found;
  const proto::RegistryMeta meta = registry_.Meta();
  // Damage an accepted rollback let through earlier refuses no more (a
  // damaged log takes no entry, so its record cannot change either).
  absl::flat_hash_set<std::uint64_t> damaged(
      meta.accepted_damaged_logs().begin(), meta.accepted_damaged_logs().end());
  const absl::flat_hash_set<std::uint64_t> accepted = damaged;
  auto add = [&](AuditLogs::AnchorGap gap) {
    if (!gap.damaged.empty() && !damaged.insert(gap.log).second) return;
    found.gaps.push_back(std::move(gap));
  };
  // The logs against the newest checkpoints the sink holds (this loads the
  // logs it names).
  if (options_.audit_sink != nullptr) {
    absl::StatusOr<std::vector<AuditCheckpoint>> held =
        options_.audit_sink->NewestCheckpoints();
    if (!held.ok() && !absl::IsUnimplemented(held.status())) {
      return absl::Status(
          held.status().code(),
          absl::StrCat("cannot read back the checkpoints Options::audit_sink "
                       "holds, so the store cannot be checked for a rollback; "
                       "nothing was changed: ",
                       held.status().message()));
    }
    if (held.ok()) {  // Unimplemented: no check (audit.h).
      found.sink_holds_none = audit_->SinkHoldsNone(*held);
      LEYSER_ASSIGN_OR_RETURN(
          std::vector<AuditLogs::AnchorGap> gaps,
          audit_->CheckAnchors(*held, meta.next_tenant_number()));
      for (AuditLogs::AnchorGap& gap : gaps) add(std::move(gap));
    }
  }
  // Every record against its log: the log's newest entry names the record
  // revision it was written with (or after), which the record must reach. A
  // log whose newest entry is damaged cannot vouch for its record.
  std::vector<std::uint64_t> logs = {kSystemLogNumber};
  std::vector<std::uint64_t> revisions = {meta.revision()};
  for (const proto::TenantRecord& record : registry_.Records()) {
    logs.push_back(record.number());
    revisions.push_back(record.revision());
  }
  const std::vector<absl::StatusOr<std::uint64_t>> logged =
      audit_->LastRecordRevisions(logs);
  for (std::size_t i = 0; i < logs.size(); ++i) {
    if (damaged.contains(logs[i])) continue;  // Reported, or accepted.
    if (absl::IsDataLoss(logged[i].status())) {
      AuditLogs::AnchorGap gap;
      gap.log = logs[i];
      gap.damaged = std::string(logged[i].status().message());
      add(std::move(gap));
      continue;
    }
    LEYSER_RETURN_IF_ERROR(logged[i].status());
    if (revisions[i] < *logged[i]) {
      found.stale.push_back({logs[i], revisions[i], *logged[i]});
    }
  }
  // Damage accepted before is not reported again.
  found.gaps.erase(std::remove_if(found.gaps.begin(), found.gaps.end(),
                                  [&](const AuditLogs::AnchorGap& gap) {
                                    return !gap.damaged.empty() &&
                                           accepted.contains(gap.log);
                                  }),
                   found.gaps.end());
  return found;
}

std::string StoreImpl::DescribeRollback(const RollbackFindings& found,
                                        bool refused) const {
  absl::flat_hash_map<std::uint64_t, std::string> ids;
  for (const proto::TenantRecord& record : registry_.Records()) {
    ids[record.number()] = record.id();
  }
  std::vector<std::string> logs;
  for (const StaleRecord& stale : found.stale) {
    logs.push_back(absl::StrCat(
        stale.log == kSystemLogNumber
            ? std::string("the registry's metadata record")
            : absl::StrCat("the registry record of tenant '", ids[stale.log],
                           "'"),
        " is revision ", stale.revision, ", older than its audit log (",
        stale.logged, "): a write of it was removed"));
  }
  for (const AuditLogs::AnchorGap& gap : found.gaps) {
    if (logs.size() >= 20) {
      logs.push_back("and more");
      break;
    }
    if (gap.unsigned_note) {
      logs.push_back(absl::StrCat(
          "the sink holds a checkpoint of ",
          gap.unknown_series.empty()
              ? (gap.log == kSystemLogNumber
                     ? std::string("the store's log")
                     : absl::StrCat("tenant number ", gap.log))
              : absl::StrCat("anchor series ", gap.unknown_series),
          " (size ", gap.anchored,
          ") that carries no valid signature of this store: the sink's file "
          "was altered or damaged, and a genuine checkpoint behind that line "
          "cannot be checked; inspect the sink (ReadAuditCheckpointFiles, "
          "VerifyAuditLog with its files)"));
      continue;
    }
    if (!gap.unknown_series.empty()) {
      logs.push_back(absl::StrCat(
          "the sink holds checkpoints of anchor series ", gap.unknown_series,
          ", which this copy has never had: the store went on from a later "
          "state (a restore or an accepted rollback started that series), so "
          "this is an older copy"));
      continue;
    }
    std::string name = "the store's log";
    if (gap.log != kSystemLogNumber) {
      auto it = ids.find(gap.log);
      name = it != ids.end() ? absl::StrCat("tenant '", it->second, "'")
                             : absl::StrCat("tenant number ", gap.log,
                                            " (not in this copy's registry)");
    }
    if (!gap.damaged.empty()) {
      logs.push_back(absl::StrCat(
          name, ": damaged, so it cannot vouch for its registry record or be ",
          "compared with what was anchored (", gap.damaged, ")"));
      continue;
    }
    logs.push_back(
        gap.forked ? absl::StrCat(name, ": ", gap.size,
                                  " entries that do not extend the anchored "
                                  "checkpoint of ",
                                  gap.anchored)
                   : absl::StrCat(name, ": ", gap.size, " entries, anchored ",
                                  gap.anchored, " (", gap.anchored - gap.size,
                                  " missing)"));
  }
  std::string text = absl::StrCat(
      "the store's records or audit logs do not reach what was written and "
      "anchored before (in its audit log, in Options::audit_sink), so the "
      "store was rolled back or forked (an older copy put back, or some of "
      "its newest writes cut off or removed): ",
      absl::StrJoin(logs, "; "));
  if (refused) {
    absl::StrAppend(
        &text,
        ". Nothing was changed. Put back the newest copy of the store; if an "
        "older copy was put back on purpose, restore it with "
        "Store::RestoreStore or open it once with Options::accept_rollback "
        "(recorded; a new anchor series starts)");
  }
  return text;
}

absl::Status StoreImpl::StartNewSeries(const RollbackFindings& found,
                                       std::optional<BackupId> restored) {
  absl::MutexLock lifecycle(&registry_.lifecycle_mu());
  // Records older than their logs catch up, so the next open accepts them.
  std::uint64_t meta_logged = 0;
  for (const StaleRecord& stale : found.stale) {
    if (stale.log == kSystemLogNumber) {
      meta_logged = stale.logged;
      continue;
    }
    for (proto::TenantRecord record : registry_.Records()) {
      if (record.number() != stale.log) continue;
      record.set_revision(stale.logged);
      LEYSER_RETURN_IF_ERROR(registry_.WriteRecord(record, nullptr));
    }
  }
  const std::vector<AuditLogs::AnchorGap>& gaps = found.gaps;
  proto::RegistryMeta meta = registry_.Meta();
  meta.set_revision(std::max(meta.revision(), meta_logged));
  for (const AuditLogs::AnchorGap& gap : gaps) {
    if (!gap.damaged.empty()) meta.add_accepted_damaged_logs(gap.log);
  }
  std::string series(kAnchorSeriesBytes, '\0');
  RandomBytes(series.data(), series.size());
  meta.add_earlier_anchor_series(meta.anchor_series());
  // Series a later state of the store started (this copy is older): known
  // from now on, so they do not refuse the next open again.
  for (const AuditLogs::AnchorGap& gap : gaps) {
    if (gap.unknown_series.empty() || gap.unsigned_note) continue;
    const std::string bytes = absl::HexStringToBytes(gap.unknown_series);
    if (absl::BytesToHexString(bytes) == gap.unknown_series) {
      meta.add_earlier_anchor_series(bytes);
    }
  }
  meta.set_anchor_series(series);
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber,
                    restored.has_value() ? proto::AUDIT_EVENT_STORE_RESTORED
                                         : proto::AUDIT_EVENT_ROLLBACK_ACCEPTED,
                    options_.audit_actor, options_.data_dir);
  auto& details = *entry.mutable_details();
  if (restored.has_value()) {
    details["generation"] = absl::StrCat(*restored);
    details["backup_dir"] = options_.backup_dir;
    details["backup_dir_id"] = absl::BytesToHexString(meta.backup_dir_id());
    // Its tenants' data from before the restore may stay in the original's
    // generations: its certificates say so.
    if (!meta.backup_dir_id().empty()) {
      meta.add_restored_from_backup_dir_ids(meta.backup_dir_id());
    }
    // A store of its own: it shares the original's installation, keys and
    // logs, never its backup directory (both would write, prune and shred
    // the same generations). Its first backup binds a directory of its own,
    // with generation ids above those its records name.
    std::string owner(kBackupOwnerBytes, '\0');
    RandomBytes(owner.data(), owner.size());
    meta.set_backup_owner_id(owner);
    meta.clear_backup_dir_id();
    meta.set_backups_tracked(true);
    meta.set_generation_id_floor(*restored + 1);
    details["backup_owner_id"] = absl::BytesToHexString(owner);
  }
  if (!found.empty()) details["rolled_back"] = DescribeRollback(found, false);
  details["anchor_series"] = absl::BytesToHexString(series);
  // The entry is the first of the new series: the logs restart under their
  // new origins before it is written, so no checkpoint of the old series
  // ever covers the rolled-back state.
  LEYSER_RETURN_IF_ERROR(StartAudit(meta));
  return registry_.WriteMeta(meta, {std::move(entry)});
}

}  // namespace leyser::internal
