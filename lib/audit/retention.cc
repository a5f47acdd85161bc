// Retention: entries older than the retention period leave a log behind a
// signed RETENTION entry, keeping the hashes that stand for them.

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "rocksdb/write_batch.h"

#include "lib/audit/log_internal.h"
#include "lib/crypto/sodium.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/proto.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {

absl::Status AuditLogs::Prune(std::uint64_t log, absl::Time now,
                              std::uint64_t* pruned) {
  *pruned = 0;
  if (config_.sink == nullptr) return absl::OkStatus();
  const std::int64_t cutoff = absl::ToUnixMicros(now - config_.retention);
  {
    // A look at the oldest kept entry first, without loading the log: most
    // logs have nothing to prune on most days.
    std::string bytes;
    rocksdb::ReadOptions peek;
    peek.fill_cache = false;
    proto::AuditLogMeta meta;
    rocksdb::Status s = db_->Get(peek, cf_, MetaKey(log), &bytes);
    if (s.ok()) LEYSER_RETURN_IF_ERROR(OpenMeta(log, bytes, &meta));
    if (!s.ok() && !s.IsNotFound())
      return FromRocks(s, "reading the audit log");
    s = db_->Get(peek, cf_, AuditEntryKey(log, meta.first_retained()), &bytes);
    if (s.IsNotFound()) return absl::OkStatus();  // An empty log.
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit log"));
    std::string_view entry_bytes;
    proto::AuditEntry oldest;
    if (!ParseAuditRecord(bytes, &oldest, &entry_bytes)) {
      return Damaged(log, "an entry does not parse");
    }
    if (oldest.time_micros() >= cutoff) return absl::OkStatus();
  }
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
  std::uint64_t boundary = 0;
  // The newest entry to prune, as stored: it goes into the RETENTION entry so
  // a verifier can check its age against the kept hashes.
  std::string last_bytes;
  bool need_anchor = false;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
    boundary = state->meta.first_retained();
    constexpr std::size_t kChunk = 1024;
    for (bool more = true; more;) {
      LEYSER_ASSIGN_OR_RETURN(auto chunk, Read(log, boundary, kChunk));
      more = chunk.size() == kChunk;
      for (auto& [entry, stored] : chunk) {
        if (entry.time_micros() >= cutoff) {
          more = false;
          break;
        }
        boundary = entry.seq() + 1;
        last_bytes = std::move(stored);
      }
    }
    if (boundary <= state->meta.first_retained()) return absl::OkStatus();
    need_anchor = state->meta.anchored_size() < boundary;
  }
  if (need_anchor) {
    // Only behind a checkpoint the sink holds: sign one of this log now (if
    // entries are uncovered) and hand it over.
    LEYSER_RETURN_IF_ERROR(LatestCheckpoint(log).status());
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->meta.anchored_size() < boundary) return absl::OkStatus();
  }
  std::lock_guard<std::mutex> lock(state->mu);
  const std::uint64_t old_first = state->meta.first_retained();
  const std::uint64_t anchored = state->meta.anchored_size();
  LEYSER_ASSIGN_OR_RETURN(merkle::CompactRange kept,
                          merkle::ReadCompactRange(boundary, Reader(log)));
  LEYSER_ASSIGN_OR_RETURN(
      std::vector<merkle::Hash> last_proof,
      merkle::InclusionProof(boundary - 1, boundary, Reader(log)));
  std::string anchored_note;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cf_,
                         CheckpointKey(log, anchored), &anchored_note),
                "reading the anchored checkpoint"));

  proto::AuditEntry entry =
      NewAuditEntry(log, proto::AUDIT_EVENT_RETENTION, "maintenance",
                    log == kSystemLogNumber ? std::string(kSystemAuditLog)
                                            : absl::StrCat("tenant/", log));
  auto& details = *entry.mutable_details();
  details["first_retained"] = absl::StrCat(boundary);
  details["frontier"] = HexList(kept.hashes());
  details["anchored_size"] = absl::StrCat(anchored);
  details["anchored_checkpoint_sha256"] = Sha256Hex({anchored_note});
  details["last_pruned_entry"] = absl::Base64Escape(ToAbsl(last_bytes));
  details["last_pruned_proof"] = HexList(last_proof);
  details["retention_seconds"] =
      absl::StrCat(absl::ToInt64Seconds(config_.retention));
  entry.set_count(boundary - old_first);

  rocksdb::WriteBatch batch;
  auto remove = [&](const std::string& from, const std::string& to) {
    return FromRocks(batch.DeleteRange(cf_, from, to), "pruning the audit log");
  };
  LEYSER_RETURN_IF_ERROR(
      remove(AuditEntryKey(log, 0), AuditEntryKey(log, boundary)));
  LEYSER_RETURN_IF_ERROR(
      remove(CheckpointKey(log, 0), CheckpointKey(log, boundary)));
  // The hashes standing for the pruned entries [0, M): the perfect subtrees
  // of M's binary decomposition, kept on their own (earlier ones replaced).
  LEYSER_RETURN_IF_ERROR(
      remove(AuditLogKey(log, 'n'), AuditLogKey(log, 'n' + 1)));
  {
    std::uint64_t start = 0;
    std::size_t i = 0;
    for (int level = 63; level >= 0; --level) {
      if ((boundary >> level & 1) == 0) continue;
      const merkle::Hash& h = kept.hashes()[i++];
      LEYSER_RETURN_IF_ERROR(FromRocks(
          batch.Put(cf_, AuditNodeKey(log, level, start >> level),
                    rocksdb::Slice(reinterpret_cast<const char*>(h.data()),
                                   h.size())),
          "pruning the audit log"));
      start += std::uint64_t{1} << level;
    }
  }
  Staged st{state->size, state->frontier, state->meta,
            state->first_uncovered_micros, false};
  st.meta.set_first_retained(boundary);
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch.Put(cf_, MetaKey(log), SealMeta(log, st.meta)), "pruning"));
  StageEntry(log, entry, absl::ToUnixMicros(now), st, &batch);
  // Signed at once: no later clock step can date the checkpoint covering the
  // RETENTION entry before the entry itself.
  LEYSER_RETURN_IF_ERROR(StageCheckpoint(log, now, st, &batch));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->Write(SyncWrite(), &batch), "pruning the audit log"));
  state->size = st.size;
  state->frontier = std::move(st.frontier);
  state->meta = std::move(st.meta);
  state->first_uncovered_micros = st.first_uncovered_micros;
  *pruned = boundary - old_first;
  Schedule(log);
  return absl::OkStatus();
}

absl::Status AuditLogs::CompactPruned() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(options, cf_, nullptr, nullptr),
                   "compacting the audit log");
}

}  // namespace leyser::internal
