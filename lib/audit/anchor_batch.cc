// Checkpointing and anchoring many logs at once: one synced write per chunk of
// logs for their checkpoints, and one AuditSink::PublishAll for everything
// they have pending (a batch of purges or shreds anchors 1,000 tenants' logs
// with a few fsyncs instead of thousands).

#include <algorithm>
#include <climits>
#include <utility>

#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

#include "lib/audit/log_internal.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// Sorted, without repeats.
std::vector<std::uint64_t> Unique(std::vector<std::uint64_t> logs) {
  std::sort(logs.begin(), logs.end());
  logs.erase(std::unique(logs.begin(), logs.end()), logs.end());
  return logs;
}

}  // namespace

absl::Status AuditLogs::PublishPendingOf(
    const std::vector<std::uint64_t>& given) {
  if (config_.sink == nullptr) return absl::OkStatus();
  std::lock_guard<std::mutex> publishing(publish_mu_);
  // Per log with checkpoints not yet anchored: where its anchoring stands if
  // the sink refuses (checkpoints of an ended series skipped) and if it takes
  // everything offered.
  struct Pending {
    std::uint64_t log = 0;
    std::shared_ptr<LogState> state;
    std::uint64_t if_refused = 0;
    std::uint64_t if_taken = 0;
    absl::Status damaged;
    bool offered = false;
    std::size_t begin = 0;  // Its checkpoints in `offer`: [begin, end).
    std::size_t end = 0;
  };
  std::vector<Pending> pending;
  for (std::uint64_t log : Unique(given)) {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
    if (state->meta.anchored_size() >= state->meta.checkpoint_size()) continue;
    Pending p;
    p.log = log;
    p.if_refused = p.if_taken = state->meta.anchored_size();
    p.state = std::move(state);
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return absl::OkStatus();
  // A checkpoint leaves the store only once it is durable here: with unsynced
  // writes it may still be in an unsynced WAL, and a power loss would then
  // leave the sink holding a tree this store no longer has.
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->FlushWAL(/*sync=*/true), "syncing checkpoints"));
  std::vector<AuditCheckpoint> offer;
  absl::Status read_error;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_));
    for (Pending& p : pending) {
      std::uint64_t newest = 0;
      {
        std::lock_guard<std::mutex> lock(p.state->mu);
        newest = p.state->meta.checkpoint_size();
      }
      const std::string prefix = AuditLogKey(p.log, 'c');
      p.begin = offer.size();
      for (it->Seek(CheckpointKey(p.log, p.if_taken + 1));
           it->Valid() && it->key().starts_with(prefix); it->Next()) {
        absl::StatusOr<AuditCheckpoint> cp =
            ParseAuditCheckpoint(it->value().ToString());
        if (!cp.ok()) {
          p.damaged = Damaged(p.log, "a stored checkpoint does not parse");
          break;
        }
        if (cp->size > newest) break;
        if (cp->origin != Origin(p.log)) {
          // Of a series that ended (a restore or an accepted rollback): never
          // handed over since, as the sink may hold another history for it.
          p.if_taken = cp->size;
          if (!p.offered) p.if_refused = cp->size;
          continue;
        }
        offer.push_back(*std::move(cp));
        p.offered = true;
        p.if_taken = offer.back().size;
      }
      p.end = offer.size();
      if (!it->status().ok()) {
        read_error = FromRocks(it->status(), "reading checkpoints");
        break;
      }
    }
  }
  absl::Status refused = read_error;
  if (refused.ok() && !offer.empty()) {
    refused = config_.sink->PublishAll(offer);
  }
  absl::Status first_failure;
  for (Pending& p : pending) {
    absl::Status failure = !p.damaged.ok() ? p.damaged : refused;
    std::uint64_t anchored = refused.ok() ? p.if_taken : p.if_refused;
    if (!refused.ok() && read_error.ok() && pending.size() > 1) {
      // The batch was refused: log by log, so a sink refusing one log's
      // checkpoints still takes the others'.
      failure = p.damaged;
      bool all = true;
      for (std::size_t k = p.begin; k < p.end; ++k) {
        const absl::Status one = config_.sink->Publish(offer[k]);
        if (!one.ok()) {
          if (failure.ok()) failure = one;
          all = false;
          break;
        }
        anchored = offer[k].size;
      }
      if (all && p.damaged.ok()) anchored = p.if_taken;
    }
    LEYSER_RETURN_IF_ERROR(Settle(p.log, *p.state, anchored, failure));
    if (first_failure.ok()) first_failure = failure;
  }
  CompactClearedDirtyKeys();
  return first_failure;
}

void AuditLogs::CompactClearedDirtyKeys() {
  // Every deleted dirty key stays a tombstone until a compaction drops it,
  // and GetAnchorStatus (every RunMaintenance) steps over each: after 100,000
  // logs were anchored at once that cost 18 ms a call. Once many were
  // cleared, their few files are compacted (best effort: a failure only
  // leaves the tombstones).
  constexpr std::uint64_t kCompactAfter = 4096;
  if (dirty_keys_cleared_.load() < kCompactAfter) return;
  dirty_keys_cleared_.store(0);
  const std::string begin(kDirtyPrefix);
  std::string end = begin;
  end.append(8, '\xff');
  const rocksdb::Slice b(begin);
  const rocksdb::Slice e(end);
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  options.exclusive_manual_compaction = false;
  db_->CompactRange(options, cf_, &b, &e).PermitUncheckedError();
}

absl::Status AuditLogs::Settle(std::uint64_t log, LogState& state,
                               std::uint64_t anchored,
                               const absl::Status& failure) {
  bool report_failure = false;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    if (anchored > state.meta.anchored_size()) {
      proto::AuditLogMeta meta = state.meta;
      meta.set_anchored_size(anchored);
      // Not synced: if it is lost, the checkpoints are offered again (sinks
      // take a checkpoint more than once).
      rocksdb::WriteBatch batch;
      LEYSER_RETURN_IF_ERROR(
          FromRocks(batch.Put(cf_, MetaKey(log), SealMeta(log, meta)),
                    "recording an anchored checkpoint"));
      const bool clean = state.size == anchored;
      if (clean) {
        LEYSER_RETURN_IF_ERROR(FromRocks(batch.Delete(cf_, DirtyKey(log)),
                                         "recording an anchored checkpoint"));
      }
      const bool first_anchor = !anchored_mark_stored_.load();
      if (first_anchor) {
        LEYSER_RETURN_IF_ERROR(FromRocks(
            batch.Put(
                cf_, std::string(kAnchoredBeforeKey),
                config_.record_mac->Seal(kAuditTable, kAnchoredBeforeKey, "")),
            "recording an anchored checkpoint"));
      }
      // The mark is written once, synced: losing it would let a run
      // without a sink drop pending checkpoints.
      LEYSER_RETURN_IF_ERROR(FromRocks(
          db_->Write(first_anchor ? SyncWrite() : rocksdb::WriteOptions(),
                     &batch),
          "recording an anchored checkpoint"));
      state.meta = std::move(meta);
      if (first_anchor) {
        anchored_mark_stored_.store(true);
        anchored_before_.store(true);
      }
      if (clean) dirty_keys_cleared_.fetch_add(1);
    }
  }
  {
    // The sink fails while any log's checkpoints were refused at their
    // latest attempt; one ANCHOR_FAILURE entry per failing streak.
    absl::MutexLock lock(&anchor_mu_);
    const bool was_failing = !failing_logs_.empty();
    if (failure.ok()) {
      failing_logs_.erase(log);
    } else {
      failing_logs_.insert(log);
      anchor_error_ = failure;
    }
    report_failure = !was_failing && !failure.ok();
    if (failing_logs_.empty()) {
      anchor_error_ = absl::OkStatus();
      failing_since_.reset();
    } else if (!was_failing) {
      failing_since_ = config_.clock->Now();
    }
  }
  if (report_failure) {
    proto::AuditEntry entry = NewAuditEntry(
        kSystemLogNumber, proto::AUDIT_EVENT_ANCHOR_FAILURE, "store",
        log == kSystemLogNumber ? std::string(kSystemAuditLog)
                                : absl::StrCat("tenant/", log));
    SetAuditOutcome(failure, &entry);
    in_publish = true;
    absl::Status recorded = Record(std::move(entry));
    in_publish = false;
    recorded.IgnoreError();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::uint64_t>> AuditLogs::CheckpointEach(
    const std::vector<std::uint64_t>& logs, bool empty_too) {
  std::vector<std::uint64_t> sizes(logs.size());
  const absl::Time now = config_.clock->Now();
  // In chunks: one synced write per chunk of logs, each locked (in ascending
  // order) until its checkpoint is written.
  constexpr std::size_t kChunk = 1024;
  for (std::size_t begin = 0; begin < logs.size(); begin += kChunk) {
    const std::size_t end = std::min(logs.size(), begin + kChunk);
    std::vector<std::shared_ptr<LogState>> states;
    for (std::size_t i = begin; i < end; ++i) {
      LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(logs[i]));
      states.push_back(std::move(state));
    }
    std::vector<std::unique_lock<std::mutex>> locks;
    std::vector<std::pair<std::size_t, Staged>> staged;
    rocksdb::WriteBatch batch;
    for (std::size_t i = begin; i < end; ++i) {
      LogState& state = *states[i - begin];
      locks.emplace_back(state.mu);
      if (!state.loaded) LEYSER_RETURN_IF_ERROR(Load(logs[i], state));
      sizes[i] = state.size;
      if (state.size <= state.meta.checkpoint_size() &&
          !(empty_too && state.size == 0)) {
        continue;
      }
      Staged st{state.size, state.frontier, state.meta,
                state.first_uncovered_micros, false};
      LEYSER_RETURN_IF_ERROR(StageCheckpoint(logs[i], now, st, &batch));
      staged.emplace_back(i, std::move(st));
    }
    if (staged.empty()) continue;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Write(SyncWrite(), &batch), "checkpointing"));
    for (auto& [i, st] : staged) {
      LogState& state = *states[i - begin];
      state.meta = std::move(st.meta);
      state.first_uncovered_micros = INT64_MAX;
    }
  }
  return sizes;
}

absl::Status AuditLogs::AnchorLogs(const std::vector<std::uint64_t>& given) {
  if (config_.sink == nullptr) return absl::OkStatus();
  const std::vector<std::uint64_t> logs = Unique(given);
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::uint64_t> targets,
                          CheckpointEach(logs, /*empty_too=*/false));
  const absl::Status published = PublishPendingOf(logs);
  std::size_t short_logs = 0;
  for (std::size_t i = 0; i < logs.size(); ++i) {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(logs[i]));
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->meta.anchored_size() < targets[i]) ++short_logs;
  }
  if (short_logs == 0) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "the audit sink did not accept the checkpoint covering it",
      logs.size() > 1 ? absl::StrCat(" (", short_logs, " logs)") : "", " (",
      published.ok() ? "a later attempt is under way"
                     : std::string(published.message()),
      "); it stays pending and is offered again at the next checkpoint"));
}

absl::Status AuditLogs::ProbeSink(const std::vector<std::uint64_t>& given) {
  if (config_.sink == nullptr) return absl::OkStatus();
  std::vector<std::uint64_t> logs = given;
  logs.push_back(kSystemLogNumber);
  for (std::uint64_t log : logs) {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
    std::uint64_t anchored = 0;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
      anchored = state->meta.anchored_size();
    }
    if (anchored == 0) continue;  // Nothing of it to offer again.
    std::string note;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Get(rocksdb::ReadOptions(), cf_,
                           CheckpointKey(log, anchored), &note),
                  "reading a checkpoint"));
    LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint cp, ParseAuditCheckpoint(note));
    if (cp.origin != Origin(log)) continue;  // Of an ended series.
    absl::Status offered;
    {
      std::lock_guard<std::mutex> publishing(publish_mu_);
      offered = config_.sink->Publish(cp);
    }
    LEYSER_RETURN_IF_ERROR(Settle(log, *state, anchored, offered));
    if (offered.ok()) return offered;
    return absl::UnavailableError(absl::StrCat(
        "the audit sink refuses checkpoints (", offered.message(), ")"));
  }
  return absl::OkStatus();  // Nothing anchored yet: nothing to offer.
}

absl::StatusOr<std::vector<std::string>> AuditLogs::LatestCheckpoints(
    const std::vector<std::uint64_t>& logs) {
  std::vector<std::uint64_t> sorted = Unique(logs);
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::uint64_t> sizes,
                          CheckpointEach(sorted, /*empty_too=*/true));
  PublishPendingOf(sorted).IgnoreError();  // Recorded as ANCHOR_FAILURE.
  std::vector<std::string> notes;
  for (std::uint64_t log : logs) {
    const std::size_t i =
        std::lower_bound(sorted.begin(), sorted.end(), log) - sorted.begin();
    std::string note;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Get(rocksdb::ReadOptions(), cf_,
                           CheckpointKey(log, sizes[i]), &note),
                  "reading a checkpoint"));
    notes.push_back(std::move(note));
  }
  return notes;
}

}  // namespace leyser::internal
