// The audit logs of a store: one Merkle log per tenant and a system log, kept
// in the "audit" column family of the data database (layout in
// lib/proto/audit.proto). Appends go into the caller's write batch, so an
// entry commits with the change it records or not at all.
//
// Thread safety: thread-safe. Appends to one log are serialised (its lock is
// held across the write, so sequence numbers never have holes); appends to
// different logs run in parallel. Locks, in the order taken: callers' locks,
// the publish lock, log locks (ascending log number), the signer lock; the
// states-map lock is never held while taking another.

#ifndef LEYSER_LIB_AUDIT_AUDIT_LOG_H_
#define LEYSER_LIB_AUDIT_AUDIT_LOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"

#include "leyser/audit.h"
#include "leyser/clock.h"

#include "lib/audit/checkpoint.h"
#include "lib/audit/merkle.h"
#include "lib/crypto/record_mac.h"
#include "lib/proto/audit.pb.h"

namespace leyser::internal {

inline constexpr std::uint64_t kSystemLogNumber = 0;

// The shortest retention of audit entries leyser accepts (and a RETENTION
// entry may state): 184 days.
inline constexpr absl::Duration kMinAuditRetention = absl::Hours(24 * 184);

// Returns a new entry of `event` for log `log` (OK outcome).
proto::AuditEntry NewAuditEntry(std::uint64_t log, proto::AuditEventType event,
                                std::string_view actor,
                                std::string_view target);

// Sets the outcome of `entry` from `status`: OK, or FAILED with its code and
// message (DENIED for FailedPrecondition).
void SetAuditOutcome(const absl::Status& status, proto::AuditEntry* entry);

struct AuditConfig {
  std::string installation_id;  // Hex; part of every origin.
  // The anchor series (hex; empty for a store's first series) and the earlier
  // ones, whose checkpoints the logs may still hold (lib/proto/registry.proto).
  std::string series;
  std::vector<std::string> earlier_series;
  std::uint64_t checkpoint_entries = 1000;
  absl::Duration checkpoint_interval = absl::Seconds(60);
  absl::Duration retention = kMinAuditRetention;
  std::shared_ptr<AuditSink> sink;  // May be null.
  std::shared_ptr<const Clock> clock;
  // Authenticates each log's state record (table "audit").
  std::shared_ptr<const RecordMac> record_mac;
};

class AuditLogs {
 public:
  // `db` and `cf` must outlive the object: `keep_alive` (may be null), held
  // until the object and its publisher thread are gone, can own them.
  AuditLogs(AuditConfig config, rocksdb::DB* db,
            rocksdb::ColumnFamilyHandle* cf,
            std::shared_ptr<const CheckpointSigner> signer,
            std::shared_ptr<const void> keep_alive = nullptr);
  ~AuditLogs();
  AuditLogs(const AuditLogs&) = delete;
  AuditLogs& operator=(const AuditLogs&) = delete;

  // Stops the background publisher (checkpoints still pending stay in the
  // store and are offered again after the next open). Call before the
  // database closes. Idempotent.
  void Stop();

  // The origin line of log `log`'s checkpoints (of the current series).
  std::string Origin(std::uint64_t log) const;

  // True if `origin` is log `log`'s in the current or an earlier series.
  bool IsOwnOrigin(std::uint64_t log, std::string_view origin) const;

  // A log whose contents contradict the newest checkpoint an AuditSink holds
  // of it (AuditSink::NewestCheckpoints).
  struct AnchorGap {
    std::uint64_t log = 0;
    std::uint64_t size = 0;      // Entries the store's log has.
    std::uint64_t anchored = 0;  // Size of the sink's newest checkpoint.
    bool forked = false;         // Long enough, but does not extend it.
    std::string damaged;         // Set if the log does not load (DataLoss).
    // Set (the log is then meaningless) if the sink holds a checkpoint of a
    // series this copy never had: the store went on from a later state.
    std::string unknown_series;
    // The sink's checkpoint carries no valid signature by a key this store
    // has used (a forged or damaged line): it could stand in front of a
    // genuine one the store does not reach, so it refuses too.
    bool unsigned_note = false;
  };

  // The registry-record revision the newest entry of each log of `logs`
  // carries (AuditEntry.record_revision; 0 for an empty log or entries from
  // before revisions), in order: one seek per log not loaded, DataLoss for a
  // damaged one.
  std::vector<absl::StatusOr<std::uint64_t>> LastRecordRevisions(
      const std::vector<std::uint64_t>& logs);

  // Compares each log of the current series with the checkpoint of it in
  // `held`: shorter, not extending it, or damaged so that it cannot be
  // compared, is a gap; so is each series of the store's that this copy has
  // never had. Signatures are checked only where a gap shows; a checkpoint
  // there not signed by a known key is a gap too (unsigned_note). Tenant
  // logs from `next_log` on do not exist (size 0). Reads only.
  absl::StatusOr<std::vector<AnchorGap>> CheckAnchors(
      const std::vector<AuditCheckpoint>& held, std::uint64_t next_log);

  // True if a sink accepted checkpoints of this store before but `held` (what
  // the sink holds now) has none of this installation's, of any series: a
  // sink file emptied, moved away or mistyped; the open check compares
  // nothing. RecordSinkHoldsNone records it (an ANCHOR_FAILURE entry, at=open)
  // and GetAnchorStatus reports it from then on.
  bool SinkHoldsNone(const std::vector<AuditCheckpoint>& held) const;
  absl::Status RecordSinkHoldsNone();

  // Adds `entries` (log, event, actor, target, outcome, ... filled in; seq,
  // time and version are assigned here) to `batch` and writes it. Signs a
  // checkpoint into the same batch when one is due; a background thread hands
  // new checkpoints to the sink, so writers never wait for it. Either the batch
  // commits with every entry or the error is returned and nothing changed.
  // `new_logs`: the entries start logs that cannot hold anything yet (the
  // numbers of tenants being created), so nothing is read for them.
  absl::Status Commit(rocksdb::WriteBatch* batch,
                      std::vector<proto::AuditEntry> entries,
                      const rocksdb::WriteOptions& write_options,
                      bool new_logs = false);

  // Commits `entry` alone (synced).
  absl::Status Record(proto::AuditEntry entry);

  // Raises the latest clock reading seen to `t` (a persisted high-water mark).
  void SeedClock(absl::Time t);

  // Loads every log that an earlier run left with entries not covered by a
  // checkpoint or checkpoints not anchored (a crash, a failing sink, a run
  // without the sink), so the next CheckpointLogs covers and anchors them.
  // Reads whether a sink ever accepted a checkpoint of this store: from then
  // on checkpoints stay pending, also through runs without a sink, until one
  // takes them. DataLoss if that record fails authentication.
  absl::Status LoadDirtyLogs();

  // Records a CLOCK_SKEW entry if `now` is earlier than the latest reading
  // seen.
  void ObserveClock(absl::Time now);

  // Signs a checkpoint of every log with entries not yet covered by one (all
  // such logs when `all`, else those whose oldest uncovered entry is older
  // than the interval), then offers every pending checkpoint to the sink. An
  // error of signing is returned; if the sink refused checkpoints,
  // *not_anchored (if given) is set to Unavailable saying so (else OK).
  absl::Status CheckpointLogs(bool all, absl::Status* not_anchored = nullptr);

  // Whether checkpoints reach the sink: the logs with entries not yet anchored
  // and the sink's error while it fails. Without a sink (and no anchoring
  // before) nothing is pending.
  AnchorStatus GetAnchorStatus() const;

  // With a sink: signs a checkpoint of log `log` if entries are not covered
  // yet, and hands every pending checkpoint of it to the sink now, returning
  // once one covering every entry committed before the call was accepted.
  // Unavailable (with the sink's error) if it was not; the checkpoints stay
  // pending. OK at once without a sink.
  absl::Status Anchor(std::uint64_t log);
  // Anchor for every log of `logs` at once: their checkpoints signed in one
  // synced write per 1,024 logs, everything they have pending handed to the
  // sink in one AuditSink::PublishAll. Unavailable (naming how many logs stay
  // short) unless the sink accepted a checkpoint covering every entry of each
  // committed before the call.
  absl::Status AnchorLogs(const std::vector<std::uint64_t>& logs);
  // Whether the sink takes checkpoints now, for a caller about to destroy
  // or sign something when AnchorLogs had nothing to offer: offers the newest
  // anchored checkpoint of the first of `logs` (then of the system log) that
  // has one again (sinks take a checkpoint more than once). Unavailable with
  // the sink's error (recorded as for any refusal); OK without a sink or if
  // none of them was ever anchored.
  absl::Status ProbeSink(const std::vector<std::uint64_t>& logs);

  // Prunes entries of log `log` older than the retention period at `now`,
  // behind an anchored checkpoint and a RETENTION entry. Sets *pruned to the
  // number of entries removed. Without a sink nothing is ever pruned.
  absl::Status Prune(std::uint64_t log, absl::Time now, std::uint64_t* pruned);

  // Compacts the audit column family, so pruned entries leave the files.
  absl::Status CompactPruned();

  // Replaces the signer with `next` (a signing-key rotation): signs one
  // checkpoint of the system log with both the old and the new key, so the old
  // key vouches for the new one, and signs with `next` alone from then on.
  // Returns the time that checkpoint carries (the end of the old key's window
  // and the start of the new one's).
  absl::StatusOr<absl::Time> RotateSigner(
      std::shared_ptr<const CheckpointSigner> next);
  std::string public_key() const;
  // Keys whose checkpoint signatures Verify and the open check accept by
  // default, with their windows: those set here (the store's signing keys)
  // and the current signer's (without a window if it is not among them).
  std::vector<SigningKeyInfo> known_keys() const;
  void SetKnownKeys(std::vector<SigningKeyInfo> keys);

  // Records `entry` as refused with `status` and returns `status` (or the
  // error of recording it).
  absl::Status RecordRefusal(proto::AuditEntry entry, absl::Status status);

  // If `status` is DataLoss, records that it is being returned about `what`
  // of `target` (in log `log`, by `actor`); best effort.
  void NoteDataLoss(const absl::Status& status, std::uint64_t log,
                    std::string_view actor, std::string_view target,
                    std::string_view what);

  // Reading, verification, export.
  // Entries from `from` on, at most `max`; read at `snapshot` if given.
  absl::StatusOr<std::vector<std::pair<proto::AuditEntry, std::string>>> Read(
      std::uint64_t log, std::uint64_t from, std::size_t max,
      const rocksdb::Snapshot* snapshot = nullptr) const;
  absl::StatusOr<AuditLogInfo> Info(std::uint64_t log);
  absl::StatusOr<AuditVerification> Verify(
      std::uint64_t log, const AuditVerifyOptions& options) const;
  // Exports entries [from, to) of `log` (named `name` in the export).
  absl::StatusOr<std::string> Export(std::uint64_t log, std::string_view name,
                                     std::uint64_t from, std::uint64_t to);
  // The signed note of the newest checkpoint of `log` (signing one first if
  // entries are uncovered).
  absl::StatusOr<std::string> LatestCheckpoint(std::uint64_t log);
  // LatestCheckpoint of each of `logs` (in their order), signed together as
  // AnchorLogs does; handing them to the sink is attempted, not awaited.
  absl::StatusOr<std::vector<std::string>> LatestCheckpoints(
      const std::vector<std::uint64_t>& logs);

 private:
  struct LogState;
  struct Staged;

  absl::StatusOr<std::shared_ptr<LogState>> State(std::uint64_t log);
  std::string OriginIn(std::string_view series, std::uint64_t log) const;
  // The series `origin` names if it is this store's but of a series this
  // copy has never had (neither current nor earlier): a later state of the
  // store started it.
  std::optional<std::string> UnknownSeriesOf(std::string_view origin) const;
  // The log `origin` (of the current series) names, if any.
  std::optional<std::uint64_t> LogOfOrigin(std::string_view origin) const;
  // The stored form of log `log`'s state record, and back (DataLoss naming
  // the log if it fails authentication or does not parse).
  std::string SealMeta(std::uint64_t log,
                       const proto::AuditLogMeta& meta) const;
  absl::Status OpenMeta(std::uint64_t log, std::string_view stored,
                        proto::AuditLogMeta* meta) const;
  absl::Status Load(std::uint64_t log, LogState& state) const;
  // The size of log `log` and the record revision of its newest entry
  // (0, 0 for an empty log). DataLoss if that entry does not parse.
  absl::Status NewestEntry(std::uint64_t log, std::uint64_t* size,
                           std::uint64_t* revision,
                           rocksdb::Iterator* shared = nullptr) const;
  void StageEntry(std::uint64_t log, proto::AuditEntry& entry,
                  std::int64_t now_micros, Staged& staged,
                  rocksdb::WriteBatch* batch) const;
  absl::Status StageCheckpoint(std::uint64_t log, absl::Time now,
                               Staged& staged,
                               rocksdb::WriteBatch* batch) const;
  absl::Status PublishPending(std::uint64_t log);
  // Offers the sink every checkpoint of `logs` not yet anchored, in one
  // AuditSink::PublishAll (per log in order), and records the outcome (Settle).
  // The first log's failure, if any.
  absl::Status PublishPendingOf(const std::vector<std::uint64_t>& logs);
  // Records that log `log` is anchored up to `anchored` (its state record,
  // unsynced, and the store's first-anchor mark, synced), and the sink's
  // outcome `failure` for it (one ANCHOR_FAILURE per failing streak).
  absl::Status Settle(std::uint64_t log, LogState& state,
                      std::uint64_t anchored, const absl::Status& failure);
  // Compacts the dirty-key range once many of its keys were deleted since the
  // last time (dirty_keys_cleared_).
  void CompactClearedDirtyKeys();
  // Signs and writes a checkpoint of each of `logs` (sorted, unique) with
  // entries not covered yet (with `empty_too`, of an empty log too), one
  // synced write per chunk; returns each log's size.
  absl::StatusOr<std::vector<std::uint64_t>> CheckpointEach(
      const std::vector<std::uint64_t>& logs, bool empty_too);
  // Tree nodes, read at `snapshot` if given (a reader that mixes a snapshot
  // with live reads sees a prune half done).
  absl::StatusOr<merkle::Hash> ReadNode(
      std::uint64_t log, int level, std::uint64_t index,
      const rocksdb::Snapshot* snapshot = nullptr) const;
  merkle::NodeReader Reader(std::uint64_t log,
                            const rocksdb::Snapshot* snapshot = nullptr) const;
  std::vector<std::shared_ptr<const CheckpointSigner>> Signers() const;

  const AuditConfig config_;
  // Declared before the members that use the database: released after them
  // (and after the publisher thread, which the destructor joins).
  const std::shared_ptr<const void> keep_alive_;
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;

  mutable absl::Mutex signer_mu_;
  std::shared_ptr<const CheckpointSigner> signer_ ABSL_GUARDED_BY(signer_mu_);
  std::vector<SigningKeyInfo> known_keys_ ABSL_GUARDED_BY(signer_mu_);

  std::mutex states_mu_;  // Guards states_.
  absl::flat_hash_map<std::uint64_t, std::shared_ptr<LogState>> states_;

  // Forgets the state of logs fully checkpointed (and anchored), so memory
  // follows the logs in use, not all logs ever touched.
  void EvictCleanStates();
  void Schedule(std::uint64_t log);
  void PublisherLoop();

  std::mutex publish_mu_;  // Keeps each log's checkpoints in order at the sink.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::set<std::uint64_t> queue_;  // Logs with checkpoints to publish.
  bool stopping_ = false;
  std::thread publisher_;
  std::atomic<std::int64_t> latest_clock_micros_{INT64_MIN};
  // A sink accepted a checkpoint of this store once (kAnchoredBeforeKey, or
  // for a store from before that mark, its system log's anchored size), and
  // whether the mark is stored.
  std::atomic<bool> anchored_before_{false};
  std::atomic<bool> anchored_mark_stored_{false};
  std::atomic<bool> sink_held_none_{false};  // At open (SinkHoldsNone).
  // Dirty keys deleted since their range was last compacted.
  std::atomic<std::uint64_t> dirty_keys_cleared_{0};
  // The sink's outcome: the logs whose latest attempt it refused, its latest
  // error while there are any, since when.
  mutable absl::Mutex anchor_mu_;
  absl::flat_hash_set<std::uint64_t> failing_logs_ ABSL_GUARDED_BY(anchor_mu_);
  absl::Status anchor_error_ ABSL_GUARDED_BY(anchor_mu_);
  std::optional<absl::Time> failing_since_ ABSL_GUARDED_BY(anchor_mu_);
};

// Seals the state record of every log written before records were
// authenticated (lib/crypto/record_mac.h), in one synced write. DataLoss if a
// sealed one fails authentication.
absl::Status SealLegacyAuditStates(rocksdb::DB* db,
                                   rocksdb::ColumnFamilyHandle* cf,
                                   const RecordMac& mac);

// The public form of `entry`, in the log named `log_name`.
AuditEntry ToPublicAuditEntry(const proto::AuditEntry& entry,
                              std::string log_name);

// `entry` as one line of JSON, fields in a fixed order (log, seq, time as RFC
// 3339 UTC, actor, event, target, outcome, status_code, message, key_hashes in
// hex, count, details sorted by key, library_version); control characters
// escaped. The same entry always renders to the same bytes.
std::string RenderAuditEntryJson(const proto::AuditEntry& entry,
                                 std::string_view log_name);

// A hash as 32 bytes, and back (nullopt unless exactly 32 bytes).
std::string HashToBytes(const merkle::Hash& h);
std::optional<merkle::Hash> HashFromBytes(std::string_view bytes);

// Decodes a stored record and parses its entry; false if either fails.
// `*bytes` views the entry's stored bytes inside `record`.
bool ParseAuditRecord(std::string_view record, proto::AuditEntry* entry,
                      std::string_view* bytes);

// `text` with every byte sequence that is not valid UTF-8 replaced by U+FFFD
// (entries are protobuf strings, which must be UTF-8).
std::string ValidUtf8(std::string_view text);

// A stored record: the entry's bytes exactly as the Merkle leaf hashes them,
// then the hashes of the perfect subtrees its append completed (the leaf
// first), so one key per append holds the entry and its share of the tree.
// Encoding: 4-byte big-endian entry length, entry, then per node one level
// byte and 32 hash bytes.
using AuditNodes = std::vector<std::pair<int, merkle::Hash>>;
std::string EncodeAuditRecord(std::string_view entry, const AuditNodes& nodes);
// False if `record` is not such an encoding.
bool DecodeAuditRecord(std::string_view record, std::string_view* entry,
                       AuditNodes* nodes);

// Key prefix of log `log`'s records of `kind` ('e', 'n', 'c', 'm').
std::string AuditLogKey(std::uint64_t log, char kind);
// Key of entry `seq` of log `log`.
std::string AuditEntryKey(std::uint64_t log, std::uint64_t seq);
// Key of node (level, index) of log `log`, kept on its own only for the
// hashes that stand for pruned entries.
std::string AuditNodeKey(std::uint64_t log, int level, std::uint64_t index);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_AUDIT_AUDIT_LOG_H_
