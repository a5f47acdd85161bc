// Checkpoints: the publisher thread that hands signed checkpoints to the sink,
// checkpointing quiet or all logs, the logs a crash left dirty, and signer
// rotation.

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

void AuditLogs::Stop() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
}

void AuditLogs::Schedule(std::uint64_t log) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_ || !publisher_.joinable()) return;
    queue_.insert(log);
  }
  queue_cv_.notify_one();
}

void AuditLogs::PublisherLoop() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  while (true) {
    queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::set<std::uint64_t> logs;
    logs.swap(queue_);
    lock.unlock();
    for (std::uint64_t log : logs) {
      PublishPending(log).IgnoreError();  // Recorded as ANCHOR_FAILURE.
    }
    lock.lock();
  }
}

absl::Status AuditLogs::PublishPending(std::uint64_t log) {
  return PublishPendingOf({log});
}

absl::Status AuditLogs::Anchor(std::uint64_t log) { return AnchorLogs({log}); }

absl::Status AuditLogs::CheckpointLogs(bool all, absl::Status* not_anchored) {
  // Held until the end: no state is evicted and made again meanwhile.
  std::vector<std::pair<std::uint64_t, std::shared_ptr<LogState>>> states;
  {
    std::lock_guard<std::mutex> lock(states_mu_);
    states.assign(states_.begin(), states_.end());
  }
  std::sort(states.begin(), states.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::int64_t now_micros = absl::ToUnixMicros(config_.clock->Now());
  const std::int64_t interval =
      absl::ToInt64Microseconds(config_.checkpoint_interval);
  // A log not loaded has nothing uncovered in memory and nothing signed here
  // that it has not offered; a loaded one is due once its oldest uncovered
  // entry is `interval` old (or at once with `all`).
  std::vector<std::uint64_t> loaded;
  std::vector<std::uint64_t> due;
  for (const auto& [log, state] : states) {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) continue;
    loaded.push_back(log);
    if (state->size > state->meta.checkpoint_size() &&
        (all || now_micros - state->first_uncovered_micros >= interval)) {
      due.push_back(log);
    }
  }
  const absl::Status first_error =
      CheckpointEach(due, /*empty_too=*/false).status();
  // Everything the loaded logs have pending handed over in one
  // AuditSink::PublishAll; a failure is recorded as ANCHOR_FAILURE, and
  // reported to the caller.
  const absl::Status refused = PublishPendingOf(loaded);
  std::size_t refused_logs = 0;
  if (!refused.ok()) {
    for (std::uint64_t log : loaded) {
      absl::StatusOr<std::shared_ptr<LogState>> state = State(log);
      if (!state.ok()) continue;
      std::lock_guard<std::mutex> lock((*state)->mu);
      if ((*state)->meta.anchored_size() < (*state)->meta.checkpoint_size()) {
        ++refused_logs;
      }
    }
  }
  if (not_anchored != nullptr) {
    *not_anchored =
        refused.ok()
            ? absl::OkStatus()
            : absl::UnavailableError(absl::StrCat(
                  "the audit sink did not accept the checkpoints of ",
                  refused_logs, refused_logs == 1 ? " log" : " logs", " (",
                  refused.message(),
                  "); they stay pending and are offered again at the next "
                  "checkpoint, RunMaintenance or open with a sink"));
  }
  states.clear();
  EvictCleanStates();
  return first_error;
}

absl::Status AuditLogs::LoadDirtyLogs() {
  {
    std::string sealed;
    const rocksdb::Status s = db_->Get(
        rocksdb::ReadOptions(), cf_, std::string(kAnchoredBeforeKey), &sealed);
    if (!s.IsNotFound()) {
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the audit logs"));
      LEYSER_RETURN_IF_ERROR(
          config_.record_mac
              ->Open(kAuditTable, kAnchoredBeforeKey, sealed,
                     "the audit logs' record that the store has anchored")
              .status());
      anchored_mark_stored_.store(true);
      anchored_before_.store(true);
    }
  }
  if (!anchored_before_.load()) {
    // A store from before the mark: its system log shows whether a sink took
    // a checkpoint (the mark is written with the next one; nothing is written
    // here, before the open's rollback check).
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> system,
                            State(kSystemLogNumber));
    std::lock_guard<std::mutex> lock(system->mu);
    if (!system->loaded)
      LEYSER_RETURN_IF_ERROR(Load(kSystemLogNumber, *system));
    if (system->meta.anchored_size() > 0) anchored_before_.store(true);
  }
  std::vector<std::uint64_t> logs;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_));
    for (it->Seek(std::string(kDirtyPrefix));
         it->Valid() && it->key().starts_with(std::string(kDirtyPrefix)) &&
         it->key().size() == kDirtyPrefix.size() + 8;
         it->Next()) {
      logs.push_back(DecodeBigEndian64(
          std::string_view(it->key().data() + kDirtyPrefix.size(), 8)));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the audit logs"));
  }
  for (std::uint64_t log : logs) {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state, State(log));
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(log, *state));
  }
  return absl::OkStatus();
}

void AuditLogs::EvictCleanStates() {
  std::lock_guard<std::mutex> lock(states_mu_);
  for (auto it = states_.begin(); it != states_.end();) {
    LogState& state = *it->second;
    bool clean = false;
    // Nobody else holds it (State() needs states_mu_ to hand out another).
    if (it->second.use_count() == 1 && state.mu.try_lock()) {
      clean = !state.loaded ||
              (state.size == state.meta.checkpoint_size() &&
               (config_.sink == nullptr ||
                state.meta.anchored_size() == state.meta.checkpoint_size()));
      state.mu.unlock();
    }
    if (clean) {
      states_.erase(it++);
    } else {
      ++it;
    }
  }
}

AnchorStatus AuditLogs::GetAnchorStatus() const {
  AnchorStatus status;
  status.sink = config_.sink != nullptr;
  status.sink_held_none_at_open = sink_held_none_.load();
  {
    absl::MutexLock lock(&anchor_mu_);
    status.last_error = anchor_error_;
    status.failing_since = failing_since_;
  }
  if (status.sink || anchored_before_.load()) {
    // Every log with something not anchored is listed (kDirtyPrefix).
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_));
    const std::string prefix(kDirtyPrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      ++status.logs_pending;
    }
    if (!it->status().ok() && status.last_error.ok()) {
      status.last_error = FromRocks(it->status(), "reading the audit logs");
    }
  }
  return status;
}

absl::StatusOr<absl::Time> AuditLogs::RotateSigner(
    std::shared_ptr<const CheckpointSigner> next) {
  // One checkpoint of the system log signed by both keys vouches for the
  // new key.
  std::shared_ptr<const CheckpointSigner> previous;
  {
    absl::MutexLock lock(&signer_mu_);
    previous = signer_;
  }
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<LogState> state,
                          State(kSystemLogNumber));
  std::optional<AuditCheckpoint> rotation_note;
  absl::Time rotated_at;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->loaded) LEYSER_RETURN_IF_ERROR(Load(kSystemLogNumber, *state));
    Staged st{state->size, state->frontier, state->meta,
              state->first_uncovered_micros, false};
    const std::int64_t micros =
        std::max(absl::ToUnixMicros(config_.clock->Now()),
                 st.meta.checkpoint_time_micros() + 1);
    rotated_at = FromMicros(micros);
    const std::string body = CheckpointBody(Origin(kSystemLogNumber), st.size,
                                            st.frontier.Root(), rotated_at);
    LEYSER_ASSIGN_OR_RETURN(std::string note,
                            SignCheckpoint(body, {previous, next}));
    // If this size was checkpointed (and maybe anchored) already, the sink
    // would not be offered the new note: offer it here.
    if (config_.sink != nullptr && st.size == st.meta.checkpoint_size() &&
        st.size > 0) {
      LEYSER_ASSIGN_OR_RETURN(AuditCheckpoint cp, ParseAuditCheckpoint(note));
      rotation_note = std::move(cp);
    }
    rocksdb::WriteBatch batch;
    batch.Put(cf_, CheckpointKey(kSystemLogNumber, st.size), note)
        .PermitUncheckedError();
    st.meta.set_checkpoint_size(st.size);
    st.meta.set_checkpoint_time_micros(micros);
    batch
        .Put(cf_, MetaKey(kSystemLogNumber),
             SealMeta(kSystemLogNumber, st.meta))
        .PermitUncheckedError();
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->Write(SyncWrite(), &batch), "checkpointing"));
    state->meta = st.meta;
    state->first_uncovered_micros = INT64_MAX;
  }
  {
    absl::MutexLock lock(&signer_mu_);
    signer_ = std::move(next);
  }
  PublishPending(kSystemLogNumber).IgnoreError();
  if (rotation_note.has_value()) {
    std::lock_guard<std::mutex> publishing(publish_mu_);
    config_.sink->Publish(*rotation_note).IgnoreError();  // Best effort.
  }
  return rotated_at;
}

}  // namespace leyser::internal
