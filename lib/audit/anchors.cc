// The rollback check at open: the store's logs against the newest checkpoint
// the audit sink holds of each (AuditSink::NewestCheckpoints).

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/log_internal.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

absl::StatusOr<std::vector<AuditLogs::AnchorGap>> AuditLogs::CheckAnchors(
    const std::vector<AuditCheckpoint>& held, std::uint64_t next_log) {
  const std::vector<SigningKeyInfo> keys = known_keys();
  std::vector<AnchorGap> gaps;
  std::set<std::string> unknown_series;
  // The signature is checked only for checkpoints that would refuse the open
  // (one verification costs more than the comparison, and almost every
  // checkpoint matches). One not signed by this store refuses as well: the
  // sink hands back only its newest line of each origin, so a forged or
  // damaged line there may hide a genuine one.
  auto report = [&](const AuditCheckpoint& cp, AnchorGap gap) {
    gap.unsigned_note = !CheckpointSignedByAny(cp.note, keys);
    gaps.push_back(std::move(gap));
  };
  for (const AuditCheckpoint& cp : held) {
    // A series started after this copy was taken (by a restore or an
    // accepted rollback of a later state): this copy is older than that.
    if (std::optional<std::string> later = UnknownSeriesOf(cp.origin);
        later.has_value()) {
      if (unknown_series.insert(*later).second) {
        AnchorGap gap;
        gap.unknown_series = *later;
        gap.anchored = cp.size;
        report(cp, std::move(gap));
      }
      continue;
    }
    const std::optional<std::uint64_t> log = LogOfOrigin(cp.origin);
    // Another store's, another series', or not signed by this store: says
    // nothing about this store.
    if (!log.has_value()) continue;
    AnchorGap gap;
    gap.log = *log;
    gap.anchored = cp.size;
    if (*log != kSystemLogNumber && *log >= next_log) {
      report(cp, gap);  // Its tenant was created after this copy.
      continue;
    }
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(*log));
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) {
      // A damaged log cannot vouch for itself: damage must not be a way
      // around the check.
      absl::Status loaded = Load(*log, *state);
      if (absl::IsDataLoss(loaded)) {
        gap.damaged = std::string(loaded.message());
        report(cp, std::move(gap));
        continue;
      }
      LEYSER_RETURN_IF_ERROR(loaded);
    }
    gap.size = state->size;
    if (state->size < cp.size) {
      report(cp, gap);
      continue;
    }
    // Entries pruned behind the checkpoint leave no tree to compare with
    // (a rolled-back log is shorter, which the size shows).
    if (cp.size == 0 || cp.size < state->meta.first_retained()) continue;
    merkle::Hash root;
    if (cp.size == state->size) {
      root = state->frontier.Root();  // Usually: the whole log is anchored.
    } else {
      LEYSER_ASSIGN_OR_RETURN(merkle::CompactRange at,
                              merkle::ReadCompactRange(cp.size, Reader(*log)));
      root = at.Root();
    }
    if (HashToBytes(root) != cp.root) {
      gap.forked = true;
      report(cp, gap);
    }
  }
  return gaps;
}

bool AuditLogs::SinkHoldsNone(const std::vector<AuditCheckpoint>& held) const {
  if (!anchored_before_.load()) return false;
  const std::string ours =
      absl::StrCat("leyser/", config_.installation_id, "/");
  return std::none_of(held.begin(), held.end(), [&](const AuditCheckpoint& cp) {
    return absl::StartsWith(cp.origin, ours);
  });
}

absl::Status AuditLogs::RecordSinkHoldsNone() {
  sink_held_none_.store(true);
  proto::AuditEntry entry = NewAuditEntry(
      kSystemLogNumber, proto::AUDIT_EVENT_ANCHOR_FAILURE, "store", "open");
  SetAuditOutcome(
      absl::NotFoundError(
          "the audit sink holds no checkpoint of this store, although it "
          "accepted some before: the open could not check for a rollback "
          "(a sink file emptied, moved away or mistyped?)"),
      &entry);
  (*entry.mutable_details())["at"] = "open";
  return Record(std::move(entry));
}

}  // namespace leyser::internal
