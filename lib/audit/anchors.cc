// The rollback check at open: the store's logs against the newest checkpoint
// the audit sink holds of each (AuditSink::NewestCheckpoints).

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lib/audit/audit_log.h"
#include "lib/audit/log_internal.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

absl::StatusOr<std::vector<AuditLogs::AnchorGap>> AuditLogs::CheckAnchors(
    const std::vector<AuditCheckpoint>& held, std::uint64_t next_log) {
  const std::vector<std::string> keys = known_keys();
  std::vector<AnchorGap> gaps;
  for (const AuditCheckpoint& cp : held) {
    const std::optional<std::uint64_t> log = LogOfOrigin(cp.origin);
    // Another store's, another series', or not signed by this store: says
    // nothing about this store.
    if (!log.has_value() || !CheckpointSignedByAny(cp.note, keys)) continue;
    AnchorGap gap;
    gap.log = *log;
    gap.anchored = cp.size;
    if (*log != kSystemLogNumber && *log >= next_log) {
      gaps.push_back(gap);  // Its tenant was created after this copy.
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
        gaps.push_back(std::move(gap));
        continue;
      }
      LEYSER_RETURN_IF_ERROR(loaded);
    }
    gap.size = state->size;
    if (state->size < cp.size) {
      gaps.push_back(gap);
      continue;
    }
    // Entries pruned behind the checkpoint leave no tree to compare with
    // (a rolled-back log is shorter, which the size shows).
    if (cp.size == 0 || cp.size < state->meta.first_retained()) continue;
    LEYSER_ASSIGN_OR_RETURN(merkle::CompactRange at,
                            merkle::ReadCompactRange(cp.size, Reader(*log)));
    if (HashToBytes(at.Root()) != cp.root) {
      gap.forked = true;
      gaps.push_back(gap);
    }
  }
  return gaps;
}

}  // namespace leyser::internal
