// leyser/audit.h: the tamper-evident audit log.
//
// Every store keeps a system log (store-level events: backups, restores, key
// rotation, wrong master keys, maintenance errors, clock steps, secret memory
// that could not be locked) and one log per tenant (its lifecycle, restores,
// and with access auditing its reads and writes), so a tenant's log can be
// handed to that tenant. Each log is an RFC 6962 Merkle log: entry i is leaf i,
// hashed exactly as stored. An entry is written in the same RocksDB write batch
// as the change it records; if it cannot be written, the change fails and
// nothing changes.
//
// The store signs a checkpoint (a C2SP tlog-checkpoint note: origin, size,
// root, time, Ed25519 signature) of each log every
// Options::audit_checkpoint_entries entries or
// Options::audit_checkpoint_interval of activity, at every RunMaintenance and
// at Close, and hands it to the host's AuditSink. A checkpoint kept outside the
// store is what makes truncation, a rollback to an older backup, or a rewrite
// by someone holding the store's files detectable (VerifyAuditLog with trusted
// checkpoints).
//
// Entries never hold a value or key material; user keys appear only as keyed
// BLAKE2b hashes under a key derived from the tenant's data key (so they
// become unlinkable once the tenant is purged).
//
// Thread safety: AuditSink implementations must be thread-safe; the functions
// here are. Value types are copyable.
// Ownership: sinks are shared (std::shared_ptr); the store keeps its sink
// alive while it is open. Everything returned is a value the caller owns.

#ifndef LEYSER_AUDIT_H_
#define LEYSER_AUDIT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "leyser/signing_key.h"
#include "leyser/store_types.h"

namespace leyser {

// Name of the system log wherever a log is named (tenant ids cannot contain
// '@').
inline constexpr std::string_view kSystemAuditLog = "@system";

// What an entry records. Values are persisted; never renumbered.
enum class AuditEvent {
  kTenantCreated = 1,
  kContractEndScheduled = 2,  // EndContract with a future end.
  kContractEnded = 3,         // The end took effect (now, or when it passed).
  kReinstated = 4,
  kLegalHoldSet = 5,
  kLegalHoldReleased = 6,
  kPurged = 7,
  kShredded = 8,
  kCertificateIssued = 9,
  kBackupCreated = 10,
  kBackupVerified = 11,
  kBackupFailed = 12,
  kBackupPruned = 13,
  kStoreRestored = 14,
  kTenantRestored = 15,
  kMasterKeyRotated = 16,
  kWrongMasterKey = 17,  // Recorded at the next successful Open.
  kDataLoss = 18,        // A DataLoss error was returned.
  kMaintenanceError = 19,
  kClockSkew = 20,  // The clock read earlier than before.
  kAccessAuditChanged = 21,
  kDataPut = 22,
  kDataDelete = 23,
  kDataBatch = 24,
  kDataGet = 25,
  kDataScan = 26,
  kRetention = 27,  // Entries older than the retention period were pruned.
  // The AuditSink refused a checkpoint; or (details: at=open) it held none
  // of the store's checkpoints at Store::Open although it had accepted some,
  // so the open could not check for a rollback.
  kAnchorFailure = 28,
  // A due purge or shred waits: the backups it must account for cannot be
  // checked now (details: step; the message says why).
  kLifecycleWaiting = 29,
  // The store took Options::backup_dir as its backup directory.
  kBackupDirBound = 30,
  // Secret memory could not be locked into RAM: an open that
  // Options::allow_unlocked_secret_memory let go ahead, or RunMaintenance
  // noticed it (details: allowed, noticed, rlimit_memlock).
  kSecretMemoryUnlocked = 31,
  // A store made by leyser 0.2 or earlier had its registry and audit-state
  // records tagged at this open (Options::authenticate_legacy_records;
  // details: tenants).
  kRecordsAuthenticated = 32,
  // The open found the audit logs behind the checkpoints the sink holds and
  // went ahead (Options::accept_rollback); details: rolled_back (which logs,
  // by how much), anchor_series (the new series this entry starts).
  kRollbackAccepted = 33,
  // In a tenant's log: Store::RotateDataKeys gave the tenant a new data key
  // (details: version, the new one).
  kDataKeyRotated = 34,
  // In a tenant's log: every value sealed under a retired data key was
  // re-sealed and the retired keys were destroyed (details: versions,
  // resealed).
  kDataKeyRetired = 35,
  // In the system log: Store::RotateDataKeys gave the node a new file key
  // (details: id, the new one; retired, the former).
  kFileKeyRotated = 36,
  // In the system log: no file of the data or backup directory carries a
  // retired file key any more, and it was destroyed (details: ids).
  kFileKeyRetired = 37,
  // In the system log: the store's signing key was replaced (details:
  // public_key, the new one; previous, the retired one; reason: rotation,
  // master_key, upgrade (a store from before signing keys of their own),
  // provider (the key provider supplies another key) or recovered (a
  // rotation interrupted after its commit); cross_signed: whether a
  // checkpoint carries both keys' signatures).
  kSigningKeyRotated = 38,
  // In the system log: a run found generations damaged (a file of the backup
  // directory missing, of the wrong size or failing its checksum) that it
  // could not make whole; they are kept (details: generations, problem).
  kBackupDamaged = 39,
  // In the system log: a damaged or missing backup file was copied again from
  // the live database (or came back), so the generations using it are whole
  // again (details: generations, problem).
  kBackupRepaired = 40,
  // In the system log: Store::RemoveDamagedBackup removed a damaged
  // generation (details: damage).
  kBackupRemoved = 41,
};

// Returns the event's name, e.g. "TENANT_CREATED".
std::string_view AuditEventName(AuditEvent event);

enum class AuditOutcome {
  kOk = 1,
  kFailed = 2,  // Attempted and failed; `status_code` says why.
  kDenied = 3,  // Refused: a precondition did not hold.
};

// One audit entry, as read back. All times UTC.
struct AuditEntry {
  std::string log;  // kSystemAuditLog or the tenant id.
  std::uint64_t seq = 0;
  absl::Time time;
  std::string actor;
  AuditEvent event = AuditEvent::kTenantCreated;
  std::string target;
  AuditOutcome outcome = AuditOutcome::kOk;
  absl::StatusCode status_code = absl::StatusCode::kOk;
  std::string message;
  std::vector<std::string> key_hashes;  // 16 bytes each.
  std::uint64_t count = 0;
  std::map<std::string, std::string> details;
  std::string library_version;  // The leyser version that wrote the entry.
};

// A signed checkpoint: the note text and what it says. `note` is what a sink
// keeps and what VerifyAuditLog takes as trusted.
struct AuditCheckpoint {
  // "leyser/<installation id>/system" or ".../tenant/<n>"; after a restore or
  // an accepted rollback "leyser/<installation id>/<series>/system" or
  // ".../<series>/tenant/<n>" (a new anchor series).
  std::string origin;
  std::uint64_t size = 0;
  std::string root;  // 32 bytes.
  absl::Time time;
  std::string note;  // C2SP tlog-checkpoint note with Ed25519 signature lines.
};

// Receives the store's checkpoints, in order per log: from a background thread
// of the store for ordinary writes (they never wait for it), and on the
// calling thread for the lifecycle changes that return only once anchored
// (Store::EndContract, Reinstate, SetLegalHold, SetAccessAudit, purges and
// shreds; a slow sink slows them). RunMaintenance and Store::Close hand over
// everything pending before they return. Checkpoints of an anchor series that
// ended (a restore, an accepted rollback) and were never handed over are not
// offered again. Store it outside the store
// (write-once storage, a SIEM, another machine). An error leaves the checkpoint
// pending: it is offered again, in order, at the next checkpoint,
// RunMaintenance, AnchorAuditLogs or Close, and an ANCHOR_FAILURE entry is
// recorded (once per failing streak). Once a sink has accepted a checkpoint of
// the store, checkpoints stay pending until one is accepted, whatever runs in
// between: a run without a sink leaves them for the next run with one. A
// checkpoint may be offered more than once (after a crash); keep the first.
// Must be thread-safe.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual absl::Status Publish(const AuditCheckpoint& checkpoint) = 0;

  // Takes `checkpoints` (several logs', each log's in order) in one call: OK
  // only once the sink holds every one; after an error it may hold some (they
  // are all offered again). leyser calls it when it anchors many logs at once
  // (a batch of purges or shreds). The default calls Publish for each and
  // stops at the first error; a sink that can make several durable together
  // (the file sink: one append, one fsync) overrides it.
  virtual absl::Status PublishAll(
      const std::vector<AuditCheckpoint>& checkpoints);

  // The newest checkpoint (largest size) this sink holds of each log, one per
  // origin, in any order. Store::Open compares the store's logs with them: a
  // log shorter than its anchored checkpoint, or not extending it, means the
  // store was rolled back or forked, and the open is refused with DataLoss
  // (Options::accept_rollback). A returned checkpoint that would refuse the
  // open but carries no valid signature of this store refuses it too, with a
  // message saying so (it may be a forgery, or a copy from another store).
  // The default returns Unimplemented: such a sink gives no check at open
  // (VerifyAuditLog with trusted checkpoints still finds a rollback). Any other
  // error refuses the open, since it could not be checked. Must be
  // thread-safe.
  virtual absl::StatusOr<std::vector<AuditCheckpoint>> NewestCheckpoints();
};

// A sink that appends each checkpoint as one JSON line to the file at `path`
// (created with mode 0600 if missing): a whole line or nothing, fsynced
// before Publish returns. Appenders (also in other processes) take turns
// under an advisory lock; a line an earlier append left torn (a crash, a full
// disk) is ended first, so it stays a damaged line of its own and the lines
// after it are whole. Its NewestCheckpoints reads the file: a missing file
// holds none, damaged lines are skipped. The file grows by one line per
// checkpoint: rotate it with RotateAuditCheckpointFile (never by truncating
// it or moving it away; see there). InvalidArgument for an empty path.
absl::StatusOr<std::shared_ptr<AuditSink>> NewFileAuditSink(
    const std::string& path);

// What ReadAuditCheckpointFiles read.
struct AuditCheckpointFiles {
  std::vector<std::string> files;  // The files read, in the order read.
  std::vector<std::string> notes;  // Every checkpoint note, in file order.
  // One description per line skipped ("FILE line N: ..."): a torn append, or
  // a line no file sink wrote. The other lines are read all the same.
  std::vector<std::string> damaged_lines;
};

// Reads the checkpoint notes file sinks wrote to `paths`: files, or glob
// patterns (*, ?, [...]) such as "anchors.jsonl*" for a sink's file with the
// files rotated from it; a pattern's files are read in name order, each file
// once. Damaged lines are skipped and listed. Errors: InvalidArgument (no
// path); NotFound (a file does not exist, or a pattern matches none);
// Unavailable (I/O).
absl::StatusOr<AuditCheckpointFiles> ReadAuditCheckpointFiles(
    const std::vector<std::string>& paths);

// Rotates a file sink's file. Under the lock its appenders take, the file is
// kept as `path`.<UTC time> (for example anchors.jsonl.20261207T101500Z) and
// `path` starts again with the newest checkpoint of each origin it held, so
// Store::Open's rollback check keeps what it compares with, and stores
// appending meanwhile (this process or another) go on in the new file.
// Returns the rotated file's name. Keep rotated files: they are the history
// that VerifyAuditLog checks a log against (ReadAuditCheckpointFiles with
// "`path`*"). A file moved away or truncated by other means leaves the open
// check nothing to compare with until every log is anchored again. Errors:
// InvalidArgument (empty path); NotFound (no such file); FailedPrecondition
// (not a regular file); Unavailable (I/O; the file is left as it was or
// rotated whole).
absl::StatusOr<std::string> RotateAuditCheckpointFile(const std::string& path,
                                                      absl::Time now);

// Parses a checkpoint note (without checking its signature).
// InvalidArgument if it is not one.
absl::StatusOr<AuditCheckpoint> ParseAuditCheckpoint(std::string_view note);

// What VerifyAuditLog and VerifyAuditExport check against.
struct AuditVerifyOptions {
  // Checkpoint notes kept outside the store (for example
  // ReadAuditCheckpointFiles of the sink's files). Notes of other logs (and of
  // this log's earlier anchor series) are ignored; a note given twice counts
  // once. The log must reproduce the root of each that carries a valid
  // signature by one of `public_keys` (or, when that is empty, by a key the
  // store has signed with: its current key and those before its master-key
  // rotations); the others are not applied, and are counted as rejected.
  std::vector<std::string> trusted_checkpoints;
  // Ed25519 public keys (32 bytes) accepted as signers at any time.
  std::vector<std::string> public_keys;
  // Keys accepted only on checkpoints dated inside their validity windows
  // (Store::ListSigningKeys, `leyserctl public-keys --json`): a retired key
  // that leaked cannot vouch for anything newer than its retirement. Prefer
  // these to `public_keys`. Both empty: the keys the store has signed with,
  // with their windows (VerifyAuditLog); VerifyAuditExport needs one of the
  // two. A rotation (SIGNING_KEY_ROTATED, MASTER_KEY_ROTATED) changes the
  // signing key: give every key a verified span was signed with (the
  // rotation's checkpoint carries both signatures).
  std::vector<SigningKeyInfo> signing_keys;
};

// The result of a verification. `intact` is false when anything does not
// check out; `first_bad_seq` then names the first entry that is damaged,
// missing, out of place, or (when only a checkpoint disagrees) the first entry
// of the span that the checkpoint shows was changed.
struct AuditVerification {
  bool intact = true;
  std::uint64_t first_bad_seq = 0;   // Meaningful when !intact.
  std::string problem;               // What is wrong, when !intact.
  std::uint64_t size = 0;            // Entries ever appended (next seq).
  std::uint64_t first_retained = 0;  // Older entries were pruned.
  std::uint64_t entries_checked = 0;
  // The store's own signed checkpoints of the log that were reproduced (the
  // export's checkpoint, for VerifyAuditExport).
  std::uint64_t checkpoints_checked = 0;
  // Trusted checkpoints (AuditVerifyOptions) of this log with a valid
  // signature, each once, and how many of them the entries were checked
  // against. A trusted checkpoint of a size whose
  // entries were pruned, or outside an export's range, cannot be applied.
  // None applied: nothing kept outside the store vouched for the log, so a
  // rollback or a rewrite by someone holding the store's files would not
  // show; an operator should be told.
  std::uint64_t trusted_checkpoints_given = 0;
  std::uint64_t trusted_checkpoints_applied = 0;
  // Trusted checkpoints of this log without a valid signature by an accepted
  // key (a damaged or forged line, or the wrong public key given).
  std::uint64_t trusted_checkpoints_rejected = 0;
};

// Describes a log.
struct AuditLogInfo {
  std::string log;
  std::string origin;
  std::uint64_t size = 0;
  std::uint64_t first_retained = 0;
  std::uint64_t checkpoint_size = 0;  // Newest signed checkpoint.
  std::uint64_t anchored_size = 0;    // Newest checkpoint the sink accepted.
};

// Whether the store's checkpoints reach its audit sink (Store::GetAnchorStatus,
// MaintenanceReport::anchors). A few logs pending between checkpoints are
// normal; a growing number, or an error, needs the operator.
struct AnchorStatus {
  bool sink = false;  // Options::audit_sink is set.
  // Logs with entries not yet covered by a checkpoint a sink accepted. Once a
  // sink has accepted one of the store's checkpoints, this counts in runs
  // without a sink too (their checkpoints wait for the next run with one);
  // 0 for a store that never had a sink.
  std::uint64_t logs_pending = 0;
  // OK, or the sink's error while its latest attempt failed; the failing
  // streak began at `failing_since` (this process's attempts only).
  absl::Status last_error;
  std::optional<absl::Time> failing_since;
  // Store::Open found no checkpoint of this store at the sink although one
  // accepted its checkpoints before (a sink file emptied, moved away or
  // mistyped): it could not check for a rollback. Recorded as ANCHOR_FAILURE
  // (at=open). Check the logs against the sink's history (VerifyAuditLog with
  // the rotated files) and put the sink right.
  bool sink_held_none_at_open = false;
};

// Verifies an export written by Store::ExportAuditLog with the public key(s)
// alone: each line's readable entry is exactly what its stored bytes render
// to, the sequence is complete, the entries with the export's proof
// reproduce the root of its signed checkpoint, and each entry's RFC 9162
// inclusion proof leads to that root. Trusted checkpoints of the same log
// must agree with it: those whose size lies within [from_seq, to_seq] are
// reproduced from the entries, smaller ones outside it are checked with the
// export's RFC 9162 consistency proof from their size (the store proves
// consistency from each checkpoint it signed). A trusted checkpoint larger
// than the export's, or of a size the export has no proof from, is not
// applied (counted in trusted_checkpoints_given only). Those not signed by
// one of the keys are rejected (counted). InvalidArgument if `jsonl` is not
// an export or no public key is given.
absl::StatusOr<AuditVerification> VerifyAuditExport(
    std::string_view jsonl, const AuditVerifyOptions& options);

// Returns `entry` as one line of JSON (protobuf JSON mapping; no raw control
// characters).
std::string AuditEntryToJson(const AuditEntry& entry);

}  // namespace leyser

#endif  // LEYSER_AUDIT_H_
