// leyser/store.h: a store of tenant-isolated, encrypted keyspaces.
//
// A `Store` owns one data directory: a RocksDB database in which every tenant
// has its own keyspace (an 8-byte tenant-number prefix no user key can escape),
// and a key store holding each tenant's data key wrapped by the master key.
// Open it with `Store::Open`, create tenants with `CreateTenant`, and read and
// write through the `Tenant` handles from `OpenTenant`.
//
// Tenant ids are 1 to 128 bytes of [A-Za-z0-9._-]. Each id maps to an internal
// number that is never reused, so ids that are prefixes of one another ("a",
// "ab") never share a key.
//
// Errors follow the codes documented per function (docs/errors.md); no message
// contains key material or values. After Close, every call gets
// FailedPrecondition.
//
// Encryption at rest: every file of the database (SST, WAL, MANIFEST, OPTIONS,
// CURRENT, IDENTITY, the info LOG) is encrypted with XChaCha20 under a random
// node file key, and every value is additionally sealed with its tenant's key.
// The master key wraps both; leyser never stores it.
//
// Thread safety: thread-safe.
// Ownership: `Open` returns the only owner. Tenant handles and iterators keep
// the underlying database open, so they may outlive the `Store` object.

#ifndef LEYSER_STORE_H_
#define LEYSER_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

#include "leyser/audit.h"
#include "leyser/backup.h"
#include "leyser/certificate.h"
#include "leyser/maintenance.h"
#include "leyser/options.h"
#include "leyser/store_types.h"
#include "leyser/tenant.h"

namespace leyser {

class Store {
 public:
  // Opens (or, with `options.create_if_missing`, creates) the store in
  // `options.data_dir`. Creating is atomic: a creation interrupted at any
  // point is completed or redone by the next Open with create_if_missing. The
  // master key and every part of the store (key store, data database, their
  // CURRENT and MANIFEST files, the key store's metadata record, every
  // registry record's tag) are checked before anything on disk is modified,
  // and so are the audit logs against the newest checkpoints
  // Options::audit_sink holds (AuditSink::NewestCheckpoints). Errors:
  // InvalidArgument (bad option, naming it); NotFound (no store, or an
  // unfinished creation, and !create_if_missing); PermissionDenied (wrong
  // master key); FailedPrecondition (the store is open elsewhere, in this or
  // another process; secret memory cannot be locked into RAM and
  // Options::allow_unlocked_secret_memory is false; or a store of leyser 0.2
  // or earlier without Options::authenticate_legacy_records); DataLoss (a
  // part or record of the store missing, damaged or altered, named; a
  // registry record older than its audit log; or its audit logs behind,
  // forked from or damaged against the anchored checkpoints, or the sink
  // holding a later anchor series: naming the logs and how far, unless
  // Options::accept_rollback; nothing was changed); errors of the key provider
  // and of the sink's NewestCheckpoints; Unavailable (I/O).
  static absl::StatusOr<std::unique_ptr<Store>> Open(const Options& options);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Creates tenant `id` with a new random data key and returns its info.
  // Errors: InvalidArgument (malformed id); AlreadyExists; Unavailable;
  // ResourceExhausted.
  virtual absl::StatusOr<TenantInfo> CreateTenant(std::string_view id) = 0;

  // Creates every tenant of `ids` at once (two synced writes in all, instead of
  // two per tenant), for provisioning and migrations; all or nothing. Returns
  // their infos in the order given. Errors: InvalidArgument (a malformed or
  // repeated id, naming it; or an empty list); AlreadyExists (naming the first
  // existing id); Unavailable; ResourceExhausted.
  virtual absl::StatusOr<std::vector<TenantInfo>> CreateTenants(
      absl::Span<const std::string_view> ids) = 0;

  // Returns a handle on tenant `id`.
  // Errors: InvalidArgument (malformed id); NotFound (no such tenant);
  // FailedPrecondition (tenant is not active); DataLoss (its wrapped data key
  // failed authentication).
  virtual absl::StatusOr<std::unique_ptr<Tenant>> OpenTenant(
      std::string_view id) = 0;

  // Like OpenTenant, but the handle's calls are recorded in the audit log
  // with `actor` (for example the end user's id; 1..256 bytes) instead of
  // Options::audit_actor. Errors: those of OpenTenant; InvalidArgument (bad
  // actor).
  virtual absl::StatusOr<std::unique_ptr<Tenant>> OpenTenantAs(
      std::string_view id, std::string_view actor) = 0;

  // Returns what the store knows about tenant `id`.
  // Errors: InvalidArgument (malformed id); NotFound.
  virtual absl::StatusOr<TenantInfo> GetTenantInfo(
      std::string_view id) const = 0;

  // Returns every tenant, ordered by id.
  virtual absl::StatusOr<std::vector<TenantInfo>> ListTenants() const = 0;

  // Replaces the master key, online: the node file key and every tenant data
  // key are re-wrapped under the key from `new_provider` in one synced, atomic
  // write, and the key store is then compacted so no live file keeps a key
  // wrapped under the old master key. Data files are never rewritten; tenants
  // keep reading and writing throughout (creating or opening a tenant waits for
  // the rotation). The backup generations sealed under the old key are
  // re-sealed under the new one (their key-store copies re-wrapped), so they
  // keep opening with the store's key and the old key no longer opens them;
  // generations it cannot reach (backups off, a backup directory that is not
  // the store's, one sealed under an even earlier key or damaged) keep needing
  // the key that sealed them, and the MASTER_KEY_ROTATED entry names them
  // (details generations_resealed, generations_kept, generations_skipped).
  // The data keys stay the same: RotateDataKeys replaces them.
  //
  // After an OK return only the new key opens the store: point
  // `Options::key_provider` at it for the next Open. If the process dies during
  // the call, the store opens with exactly one of the two keys: the old one if
  // the atomic write had not happened yet, the new one if it had (the other key
  // gets PermissionDenied, so trying the new key and then the old one always
  // finds it). An error other than a crash leaves the old key in force, except
  // the one saying the rotation is committed (only the final compaction
  // failed).
  //
  // Errors: InvalidArgument (null provider, key not 32 bytes, or equal to the
  // current key); errors of the provider; DataLoss (a wrapped key failed
  // authentication: nothing changed); Unavailable (I/O).
  [[nodiscard]] virtual absl::Status RotateMasterKey(
      std::shared_ptr<KeyProvider> new_provider) = 0;

  // Gives every tenant (or only tenant `id`: a tenant whose key is suspected)
  // a new random data key, online: new writes use it at once, in one synced
  // write for all (after a crash, all or none have it); the former keys are
  // retired, kept wrapped only to open values not yet re-sealed. The values
  // are then re-sealed under the new keys (ResealRetiredKeys, or the next
  // RunMaintenance, which does the whole pass), after which the retired keys
  // are destroyed and the store's files compacted, so that a leaked earlier
  // master key with an earlier backup no longer opens any live value. Readers
  // and writers go on; each re-sealed batch holds up one tenant's calls
  // briefly. Recorded as DATA_KEY_ROTATED in each tenant's log. Backup
  // generations taken before keep the retired keys (that is what restores
  // them). RotateDataKeys also gives the node a new file key in the same
  // write (FILE_KEY_ROTATED): new files use it at once, the pass rewrites
  // every file of the data directory under it, and the retired file key is
  // destroyed (FILE_KEY_RETIRED) once no file of the data or backup directory
  // carries it (KeyRotationProgress). Errors: InvalidArgument, NotFound (id);
  // DataLoss (a key fails to open: nothing changed); Unavailable (I/O).
  [[nodiscard]] virtual absl::Status RotateDataKeys() = 0;
  [[nodiscard]] virtual absl::Status RotateTenantDataKey(
      std::string_view id) = 0;

  // Re-seals every value still sealed under a retired data key, destroys the
  // retired keys of each tenant that has none left (DATA_KEY_RETIRED), and
  // then compacts the data and key stores so no live file holds a value or
  // key of a retired version; then rewrites the files still under a retired
  // file key and destroys that key once no file needs it. `progress` (may be
  // null) is called after each tenant, on the calling thread. Resumable: a
  // crash or an error leaves the rest for the next call or RunMaintenance.
  // Errors: DataLoss (a value does not open under any of its tenant's keys:
  // that tenant's retired keys are kept); Unavailable (I/O).
  virtual absl::StatusOr<KeyRotationProgress> ResealRetiredKeys(
      const std::function<void(const KeyRotationProgress&)>& progress) = 0;

  // Backups (require Options::backup_dir; otherwise FailedPrecondition).

  // Takes a backup generation now, verifies it with checksums, then removes the
  // oldest generations beyond Options::backup_generations (whole ones; damaged
  // ones are kept besides them, BackupInfo::damage). A file of earlier backups
  // that the new one would reuse but is damaged or missing in the backup
  // directory is copied again from the live database, which makes the
  // generations using it whole again (BACKUP_REPAIRED). Readers and writers
  // continue meanwhile. Errors: FailedPrecondition (no backup_dir, or it is
  // not this store's); DataLoss (the new generation failed verification even
  // so; it was removed); ResourceExhausted (disk full); Unavailable (I/O).
  virtual absl::StatusOr<BackupInfo> CreateBackup() = 0;

  // Returns every complete generation, oldest first, with what is known to
  // be wrong with damaged ones (BackupInfo::damage) without reading their
  // data.
  virtual absl::StatusOr<std::vector<BackupInfo>> ListBackups() const = 0;

  // Re-reads every file of generation `id` and checks it against its recorded
  // checksum (crc32c), then opens its sealed key-store copy and manifest.
  // Errors: NotFound (no such generation); DataLoss (a file or the sealed part
  // is damaged); PermissionDenied (sealed under an earlier master key);
  // FailedPrecondition (no backup_dir).
  // Records BACKUP_VERIFIED or BACKUP_FAILED in the system log.
  [[nodiscard]] virtual absl::Status VerifyBackup(BackupId id) = 0;

  // Removes generation `id` because it is damaged (VerifyBackup fails with
  // DataLoss, or BackupInfo::damage says what is missing), when the operator
  // gives up on it: a damaged generation is otherwise kept and reported until
  // the daily backup makes it whole again (a missing or damaged file the live
  // database still has is copied again) or the file is put back. Files other
  // generations use stay. Recorded as BACKUP_REMOVED (details: damage).
  // Errors: NotFound (no such generation); FailedPrecondition (it verifies:
  // Options::backup_generations prunes whole generations; or no backup_dir, or
  // the directory is not this store's); Unavailable (I/O).
  [[nodiscard]] virtual absl::Status RemoveDamagedBackup(BackupId id) = 0;

  // Restores generation `id` of the backups in `options.backup_dir` as a new
  // store in `options.data_dir`, which must be absent or empty; opens it
  // afterwards with `options`. Needs no open store (disaster recovery).
  // `options.key_provider` must supply the master key that sealed the
  // generation (BackupInfo::master_key_generation). Every file is checked
  // against its checksum while it is copied; on any error the target is left
  // empty. Errors: InvalidArgument (bad options); FailedPrecondition (target
  // not empty, or no backup_dir); NotFound (no such generation);
  // PermissionDenied (wrong master key); DataLoss (damaged generation);
  // Unavailable (I/O).
  //
  // The restored store is a store of its own: it never writes, prunes or
  // shreds in `options.backup_dir` (the original's directory: opened with it,
  // its backups are refused, MaintenanceReport::backup_refused); give it a
  // backup directory of its own. Its generation ids start above `id`.
  //
  // Audit: the restored store's logs are those of the generation. A restore is
  // a rollback, so it starts a new anchor series: the restored store's
  // checkpoints carry new origins (AuditCheckpoint::origin), and its system
  // log records STORE_RESTORED (details: generation, anchor_series) as the
  // series' first entry. The checkpoints the old store anchored after the
  // backup stay in the sink under the old origins and show exactly what was
  // lost; they never contradict the new series, and the restored store opens
  // with the same Options::audit_sink. A store from leyser 0.2 or earlier is
  // authenticated as restored (Options::authenticate_legacy_records).
  [[nodiscard]] static absl::Status RestoreStore(const Options& options,
                                                 BackupId id);

  // Replaces tenant `tenant_id`'s data with its data in generation `id`, in one
  // atomic step; every other tenant is untouched and keeps reading and writing.
  // Calls on the tenant's own handles wait until the restore is done. Errors:
  // InvalidArgument (malformed id); NotFound (no such tenant, generation, or
  // the tenant is not in that generation); FailedPrecondition (tenant not
  // active, or not the same tenant as in the generation); DataLoss (damaged
  // generation); Unavailable (I/O).
  [[nodiscard]] virtual absl::Status RestoreTenant(std::string_view tenant_id,
                                                   BackupId id) = 0;

  // Lifecycle: ACTIVE -> ENDED (at the contract end) -> PURGED
  // (Options::purge_after later) -> SHREDDED (Options::backup_purge_after after
  // the purge). RunMaintenance performs every step when it is due at the
  // clock's now, never before (also when the clock steps back); each step is
  // durable and resumes after a crash.

  // Ends tenant `tenant_id`'s contract at `contract_end` (which may lie in the
  // future: the end is then scheduled, and may be rescheduled or cancelled with
  // Reinstate until it passes). From the end on, the tenant's reads and writes
  // get FailedPrecondition; its data stays until the purge, due at
  // max(contract_end, now) + Options::purge_after: an end recorded after the
  // fact still gets the whole grace period from the call, never less. Once an
  // end at or before now returns, every handle and iterator of the tenant,
  // however and whenever opened, gets FailedPrecondition (calls in flight
  // finish first). Errors: InvalidArgument (`contract_end` infinite, before the
  // tenant's creation, or more than 100 years ahead); NotFound;
  // FailedPrecondition (already ended, purged or shredded); Unavailable (the
  // end is recorded, but the audit sink did not accept the checkpoint covering
  // it, below).
  //
  // EndContract, Reinstate, SetLegalHold and SetAccessAudit (and each purge
  // and shred that RunMaintenance performs) return only once a checkpoint
  // covering their audit entry reached Options::audit_sink, if there is one, so
  // a rollback of the store's files cannot undo them unseen (README, "Threat
  // model").
  [[nodiscard]] virtual absl::Status EndContract(std::string_view tenant_id,
                                                 absl::Time contract_end) = 0;

  // Returns an ENDED tenant (or one with a scheduled end) to ACTIVE with all
  // its data. Errors: InvalidArgument; NotFound; FailedPrecondition (active
  // without a scheduled end, or already purged: its data is gone and cannot
  // come back); Unavailable (done, but not anchored: see EndContract).
  [[nodiscard]] virtual absl::Status Reinstate(std::string_view tenant_id) = 0;

  // Sets or releases a legal hold. While held, neither the purge nor the shred
  // runs, even when due; after the release they run at the next RunMaintenance.
  // Errors: InvalidArgument; NotFound; FailedPrecondition (already shredded);
  // Unavailable (done, but not anchored: see EndContract).
  [[nodiscard]] virtual absl::Status SetLegalHold(std::string_view tenant_id,
                                                  bool hold) = 0;

  // Returns the deletion certificate of a shredded tenant.
  // Errors: InvalidArgument; NotFound (no such tenant, or not shredded yet).
  virtual absl::StatusOr<DeletionCertificate> GetDeletionCertificate(
      std::string_view tenant_id) = 0;

  // Returns the Ed25519 public key (32 bytes) that signs this store's deletion
  // certificates and audit checkpoints now.
  virtual absl::StatusOr<std::string> GetSigningPublicKey() const = 0;

  // Every key that has signed this store's checkpoints and certificates, oldest
  // first, each with its validity window (the last is the current key, valid
  // until InfiniteFuture). Give them to VerifyAuditExport, VerifyAuditLog and
  // VerifyDeletionCertificate: a retired key is then accepted only on what is
  // dated inside its window. Keys of a store from before signing keys of their
  // own get the window from the store's creation to the upgrade.
  virtual absl::StatusOr<std::vector<SigningKeyInfo>> ListSigningKeys()
      const = 0;

  // Replaces the signing key with a new random one (the store's own; not
  // derived from any key that encrypts data): the retired key's window ends
  // and the new one's begins at one checkpoint of the system log signed by
  // both, and its seed is destroyed. Recorded as SIGNING_KEY_ROTATED. A
  // master-key rotation does the same. Errors: FailedPrecondition (the key
  // provider supplies the signing key: rotate it there); Unavailable (I/O).
  [[nodiscard]] virtual absl::Status RotateSigningKey() = 0;

  // Maintenance.

  // Runs what is due at the clock's now: lifecycle steps (contract ends,
  // purges, shreds with their certificates); the daily backup
  // (Options::backup_time_of_day) if none was taken since it fell due, with its
  // verification and pruning; the clean-up of anything an interrupted run left.
  // Idempotent: a second call at the same time does nothing. If the clock reads
  // earlier than the latest time a previous run acted on (it stepped back),
  // lifecycle steps wait until it catches up. Call it periodically (for example
  // every few minutes) from a background thread of the host. Errors: those of
  // CreateBackup (the audit checkpoints and retention after it still run; the
  // error has the first failure's code and every failure's message, each
  // prefixed by its step: "backup: ...; audit checkpoints: ..."); Unavailable
  // when the audit sink refused the checkpoint of a purge or shred (it is done;
  // the rest of the run, later steps and the backup, is left for the next
  // run). Damaged backup generations are no error: they are kept and reported
  // (MaintenanceReport::backup_damage). Work done before an error is kept.
  virtual absl::StatusOr<MaintenanceReport> RunMaintenance() = 0;

  // Audit log (leyser/audit.h). `log` is kSystemAuditLog or a tenant id (also
  // of a purged or shredded tenant: its log is kept for the retention period).

  // Switches access auditing of tenant `tenant_id` (recorded as
  // ACCESS_AUDIT_CHANGED; takes effect for open handles at once). Anchored
  // before it returns, like EndContract. Errors: InvalidArgument; NotFound;
  // FailedPrecondition (not active); Unavailable (done, but not anchored).
  [[nodiscard]] virtual absl::Status SetAccessAudit(std::string_view tenant_id,
                                                    AccessAudit mode) = 0;

  // Returns up to `max_entries` entries of `log` from sequence number
  // `from_seq` on (entries pruned by retention are skipped).
  // Errors: InvalidArgument (bad log name); NotFound (no such tenant);
  // DataLoss (an entry is damaged; recorded as DATA_LOSS).
  virtual absl::StatusOr<std::vector<AuditEntry>> ReadAuditLog(
      std::string_view log, std::uint64_t from_seq,
      std::size_t max_entries) = 0;

  // Size, retained range and checkpoint state of `log`.
  virtual absl::StatusOr<AuditLogInfo> GetAuditLogInfo(
      std::string_view log) const = 0;

  // Verifies the whole retained log: every entry is in place and unchanged,
  // the kept hashes of pruned entries match their RETENTION entry, every
  // stored checkpoint is signed and reproduced, and every trusted checkpoint
  // of `options` is reproduced (a log shorter than one was truncated or
  // rolled back). Tampering is reported in the result, not as an error.
  // Errors: InvalidArgument (malformed key or trusted checkpoint); NotFound.
  virtual absl::StatusOr<AuditVerification> VerifyAuditLog(
      std::string_view log, const AuditVerifyOptions& options) const = 0;

  // Exports entries [from_seq, to_seq) of `log` (clamped to what is kept) as
  // JSON Lines with a signed checkpoint and the proof that ties them to it;
  // VerifyAuditExport checks it with the public key alone. Signs a checkpoint
  // first if entries are uncovered. Errors: InvalidArgument; NotFound.
  virtual absl::StatusOr<std::string> ExportAuditLog(std::string_view log,
                                                     std::uint64_t from_seq,
                                                     std::uint64_t to_seq) = 0;

  // Signs a checkpoint of every audit log with uncovered entries and hands
  // every pending checkpoint to Options::audit_sink now; the store stays
  // usable. (Close does it too; RunMaintenance signs the logs quiet for
  // Options::audit_checkpoint_interval.) Errors: Unavailable (I/O, or the
  // sink refused checkpoints: they are signed and stay pending; the message
  // says how many logs and the sink's error).
  [[nodiscard]] virtual absl::Status AnchorAuditLogs() = 0;

  // Whether the audit checkpoints reach Options::audit_sink: the logs not yet
  // anchored and the sink's error while it fails (leyser/audit.h). For health
  // checks; cheap (reads the list of logs with something pending).
  virtual absl::StatusOr<AnchorStatus> GetAnchorStatus() const = 0;

  // Closes the store: signs a checkpoint of every audit log with uncovered
  // entries, hands pending checkpoints to the sink and stops the background
  // publisher. Every later call on the store gets FailedPrecondition (a second
  // Close is OK); tenant handles and iterators opened before keep working
  // until they are destroyed, and the database closes with the last of them.
  // The destructor closes the store too (ignoring errors: call Close to see
  // them). Errors: Unavailable (I/O, or the sink refused checkpoints, which
  // stay pending for the next open with a sink; the store is closed
  // nevertheless).
  [[nodiscard]] virtual absl::Status Close() = 0;

 protected:
  Store() = default;
};

}  // namespace leyser

#endif  // LEYSER_STORE_H_
