// Building audit entries, and recording refusals and data loss.

#include <utility>

#include "lib/audit/audit_log.h"

namespace leyser::internal {

proto::AuditEntry NewAuditEntry(std::uint64_t log, proto::AuditEventType event,
                                std::string_view actor,
                                std::string_view target) {
  proto::AuditEntry entry;
  entry.set_log(log);
  entry.set_event(event);
  entry.set_actor(std::string(actor));
  entry.set_target(std::string(target));
  entry.set_outcome(proto::AUDIT_OUTCOME_OK);
  return entry;
}

void SetAuditOutcome(const absl::Status& status, proto::AuditEntry* entry) {
  if (status.ok()) {
    entry->set_outcome(proto::AUDIT_OUTCOME_OK);
    entry->set_status_code(0);
    entry->clear_message();
    return;
  }
  entry->set_outcome(status.code() == absl::StatusCode::kFailedPrecondition
                         ? proto::AUDIT_OUTCOME_DENIED
                         : proto::AUDIT_OUTCOME_FAILED);
  entry->set_status_code(static_cast<int>(status.code()));
  entry->set_message(std::string(status.message()));
}

absl::Status AuditLogs::RecordRefusal(proto::AuditEntry entry,
                                      absl::Status status) {
  SetAuditOutcome(status, &entry);
  if (absl::Status recorded = Record(std::move(entry)); !recorded.ok()) {
    return recorded;
  }
  return status;
}

void AuditLogs::NoteDataLoss(const absl::Status& status, std::uint64_t log,
                             std::string_view actor, std::string_view target,
                             std::string_view what) {
  if (status.code() != absl::StatusCode::kDataLoss) return;
  proto::AuditEntry entry =
      NewAuditEntry(log, proto::AUDIT_EVENT_DATA_LOSS, actor, target);
  SetAuditOutcome(status, &entry);
  (*entry.mutable_details())["what"] = std::string(what);
  Record(std::move(entry)).IgnoreError();  // The caller returns the error.
}

}  // namespace leyser::internal
