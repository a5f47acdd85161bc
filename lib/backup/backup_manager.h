// Backup generations: BackupEngine backups plus sealed generation files;
// creation, pruning, verification, repair of interrupted runs
// (backup_manager.cc), the shred of a purged tenant (shred.cc), whole-store
// restore and the export of one tenant from a generation (restore.cc).
//
// Layout of Options::backup_dir (paths in lib/db/filename.h):
// - engine/: the RocksDB BackupEngine (meta/, private/, shared_checksum/);
//   every file goes through the store's file layer on both sides.
// - generations/<id>.gen: proto::GenerationFile, a clear id and time, a
//   sealed manifest and key-store copy. A generation is listed iff this file
//   exists; it is written (atomically) only after the engine backup is
//   complete and verified, and removed first when the generation is pruned.
// - generations/counter: proto::GenerationCounter, the highest generation id
//   ever handed out. Ids are never reused, so a certificate or audit entry
//   names one generation forever (the engine's own backup id, which the
//   engine reuses after its newest backup is deleted, is kept in the
//   generation file).
// - identity: proto::BackupDirIdentity, the directory's id and owner, sealed
//   (binding.cc).
// - damaged/: damaged engine files set aside while a backup copies them again.
//
// Thread safety: thread-safe; operations that write to the backup directory
// are serialised.

#ifndef LEYSER_LIB_BACKUP_BACKUP_MANAGER_H_
#define LEYSER_LIB_BACKUP_BACKUP_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/utilities/backup_engine.h"

#include "leyser/backup.h"
#include "leyser/maintenance.h"
#include "leyser/options.h"

#include "lib/db/db_core.h"
#include "lib/keys/key_store.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/registry.pb.h"

namespace leyser::internal {

class EngineSession;

class BackupManager {
 public:
  // `keys` must outlive the manager.
  BackupManager(const Options& options, std::shared_ptr<DbCore> db,
                const KeyStore* keys);

  bool enabled() const { return !backup_dir_.empty(); }
  const std::string& dir() const { return backup_dir_; }

  // Binding the store to its backup directory (binding.cc). The store keeps
  // the directory's id in its registry meta (backup_dir_id, backups_tracked);
  // the directory names itself in backup_dir/identity.

  // What Bind decided.
  struct Binding {
    // The meta fields to record (with an audit entry) when `changed`.
    bool changed = false;
    std::string dir_id;
    // Set when the directory cannot be this store's: backups are refused (and
    // purges and shreds wait) until the configuration is put right.
    absl::Status refusal;
  };

  // Checks Options::backup_dir against the store's binding in `meta`, and
  // binds it when the store has none yet and `take` (a backup is about to be
  // written): writes the identity file (never over another's) and answers
  // `changed`. A directory can be taken when it is absent or empty, or holds
  // an identity naming this store as its owner (a crash came before the
  // meta). The owner is meta.backup_owner_id, or the installation id when
  // that is empty (a store made by RestoreStore has an owner of its own). A
  // store from before backup tracking (`meta` not tracked) adopts a directory
  // whose newest generation opens with its master key, and is told it has no
  // backups (`changed`, empty id) given an empty directory, unless
  // `earlier_backups` (signs of backups taken before) makes that a refusal.
  // Anything else (another store's directory, not the store's, not empty,
  // unreadable) is `refusal`, kept until the next Bind: no backup is written
  // there. Never an error but I/O; backups off: nothing. Cheap (a small file
  // read): the store calls it at Open, at every maintenance run, and before
  // each backup.
  absl::StatusOr<Binding> Bind(const proto::RegistryMeta& meta, absl::Time now,
                               bool take, bool earlier_backups);

  // True if the daily backup is due at `now` (no generation with an
  // authenticated creation time since the last due instant).
  absl::StatusOr<bool> BackupDue(absl::Time now);

  // OK when a purge may run: the store's backups (if any) are in the
  // configured directory. FailedPrecondition saying why not, and what to do.
  absl::Status CheckDirFor(const proto::RegistryMeta& meta) const;

  // FailedPrecondition "backups are off" (for calls that need backups).
  static absl::Status BackupsOff();

  // Takes, verifies and seals a new generation stamped `now`, then prunes.
  // Repairs leftovers of interrupted runs first; what it repaired and pruned
  // goes into `report` (may be null). A shared file of earlier backups that
  // the new one would reuse but is damaged or missing is copied again from
  // the live database (the generations using it become whole again); a
  // generation that stays damaged is kept and reported (report->
  // backup_damage), never garbage-collected (lib/backup/engine_session.h).
  absl::StatusOr<BackupInfo> CreateBackup(absl::Time now,
                                          MaintenanceReport* report);

  // Every listed generation, oldest first.
  absl::StatusOr<std::vector<BackupInfo>> List() const;

  // Checks generation `id`: every file against its checksum, and its sealed
  // part. A damaged file is DataLoss naming it and every generation using it.
  absl::Status Verify(BackupId id) const;

  // Removes generation `id` if it is damaged (Verify fails with DataLoss, or
  // the engine cannot load it); returns what was wrong with it. NotFound (no
  // such generation); FailedPrecondition (it verifies, or the directory is
  // not the store's). Files other generations use stay.
  absl::StatusOr<std::string> RemoveDamaged(BackupId id);

  // What a tenant's value from a generation becomes in the live store: given
  // the tenant's data keys in the generation (every version it held), the
  // value's full key and its stored bytes, the bytes to restore (re-sealed
  // under the live key when a data-key rotation came between).
  using Reseal = std::function<absl::StatusOr<std::string>(
      const std::vector<TenantKey>& backup_keys, std::string_view full_key,
      std::string_view sealed)>;

  // Writes tenant `number`'s records of generation `id`, each through
  // `reseal`, to a new SST file at `sst_path` (through the data env), headed
  // by a range deletion of the tenant's whole keyspace, so that ingesting it
  // replaces the tenant atomically. Returns the tenant's manifest entry.
  // NotFound if the generation or the tenant in it does not exist; errors of
  // `reseal`.
  absl::StatusOr<BackupTenant> ExportTenant(BackupId id, std::uint64_t number,
                                            const std::string& sst_path,
                                            const Reseal& reseal) const;

  // A master-key rotation (rekey.cc). Before the key store commits:
  // PrepareRekey writes, beside each generation sealed under the current
  // master key, a twin sealed under `new_master` as generation
  // `new_generation` (its key-store copy re-wrapped); generations under an
  // earlier key are `kept` as they are. After the commit (or a refusal):
  // FinishRekey puts the twins of the key store's current generation in
  // place of their generations and removes the others; every repair does the
  // same after a crash. Nothing is done with backups off or a backup
  // directory that is not the store's (`skipped` says so).
  struct Rekeyed {
    std::vector<BackupId> resealed;
    std::vector<BackupId> kept;  // Under an earlier key, or unreadable.
    std::string skipped;         // Why none was looked at, if so.
  };
  absl::StatusOr<Rekeyed> PrepareRekey(const SecretBytes& new_master,
                                       std::uint32_t new_generation);
  absl::Status FinishRekey();

  // Takes the daily backup if it is due at `now`; repairs leftovers of
  // interrupted runs. Fills the backup fields of `report`.
  absl::Status RunMaintenance(absl::Time now, MaintenanceReport* report);

  // Newest listed generation id, 0 if none (or backups off).
  absl::StatusOr<BackupId> NewestId() const;

  // What ShredTenants did to the generations, for one tenant.
  struct ShredResult {
    // Could hold the tenant's data: deleted whole.
    std::vector<BackupId> deleted;
    // Opened and authenticated with the current master key; the manifest
    // lists the tenant as purged with no records, or not at all; kept.
    std::vector<BackupId> checked;
    // Of `checked`: its key-store copy still held the tenant's wrapped data
    // key, which was removed (the generation sealed again).
    std::vector<BackupId> key_removed;
  };

  // A tenant to shred and the newest generation taken before its purge.
  struct ShredTarget {
    std::uint64_t number = 0;
    BackupId last_before_purge = 0;
  };
  // Removes the tenants of `targets` from every generation of the directory
  // bound in `meta` (CheckDirFor must pass). First every listed generation is
  // read (once) and, unless it is to be deleted anyway, opened: if one cannot
  // be checked (sealed under a retired master key, damaged) nothing changes
  // and the answer is FailedPrecondition naming it. Then deletes each
  // generation that can hold one of the tenants' data (every one up to the
  // newest `last_before_purge`, and any whose manifest lists one of them
  // unpurged or with records; each result lists it as deleted), seals every
  // other once again without all of their data keys in its key-store copy,
  // and deletes engine backups no listed generation holds. Idempotent.
  // `before_delete(id)` runs before generation `id` is deleted (to record it
  // durably); an error stops the shred. One result per target, in order.
  absl::StatusOr<std::vector<ShredResult>> ShredTenants(
      const std::vector<ShredTarget>& targets,
      const std::function<absl::Status(BackupId)>& before_delete);

  // Restores generation `id` of `options.backup_dir` into `options.data_dir`.
  static absl::Status RestoreStore(const Options& options, BackupId id);

 private:
  const std::string backup_dir_;
  const std::string engine_dir_;
  // The twins a master-key rotation left (see PrepareRekey), settled; what
  // was done goes into `report` (may be null).
  absl::Status SettleRekeyedGenerations(MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Rounds of copying a damaged shared file again within one backup.
  static constexpr int kMaxFreshCopies = 16;
  absl::StatusOr<std::unique_ptr<EngineSession>> OpenSession() const;
  // Creates an engine backup and verifies it; copies damaged or missing
  // shared files again (reopening `session`).
  absl::StatusOr<rocksdb::BackupID> TakeVerifiedBackup(
      std::unique_ptr<EngineSession>& session, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves damaged engine file `file` (relative) into backup_dir/damaged/.
  absl::Status SetAside(const std::string& file)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Damaged generations `session` keeps, and those of `before` that are whole
  // again, into `report` (may be null).
  void ReportDamage(const EngineSession& session,
                    const std::map<BackupId, std::string>& before,
                    MaintenanceReport* report) const;
  // Removes the generations beyond Options::backup_generations.
  absl::Status Prune(EngineSession& session, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Verify with an engine at hand.
  absl::Status CheckGeneration(BackupId id, const proto::GenerationFile& file,
                               rocksdb::BackupEngineReadOnlyBase& engine) const;

  const std::string generations_dir_;
  const std::size_t generations_;
  const absl::Duration time_of_day_;
  const std::shared_ptr<DbCore> db_;
  const KeyStore* const keys_;
  // The id of the generation being created over engine backup `engine_id`:
  // above every id handed out before, recorded in the counter file first.
  absl::StatusOr<BackupId> NextId(std::uint64_t engine_id,
                                  MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Latest authenticated creation time of a listed generation (InfinitePast
  // if none) as of `now`, read from the generation files once and then kept
  // up to date.
  absl::StatusOr<absl::Time> LatestCreated(absl::Time now);

  absl::StatusOr<Binding> BindLocked(const proto::RegistryMeta& meta,
                                     absl::Time now, bool take,
                                     bool earlier_backups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes a new identity naming this installation; returns the directory id
  // (another's of this installation if one appeared meanwhile).
  absl::StatusOr<std::string> WriteIdentity(const proto::RegistryMeta& meta,
                                            absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // backup_dir/identity, opened with the store's record key: NotFound if
  // absent, DataLoss if damaged or sealed by another store.
  absl::StatusOr<proto::BackupDirIdentity> ReadIdentity() const;
  absl::Status WriteSealedIdentity(const proto::BackupDirIdentity& identity,
                                   bool exclusive) const;
  // OK when a backup may be written: Bind refused nothing and the directory
  // still carries the identity bound.
  absl::Status CheckBound() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;  // Serialises writers of the backup directory.
  // What Bind found (empty and OK before Bind, as in tests of this module).
  std::string bound_id_ ABSL_GUARDED_BY(mu_);
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);
  bool tightened_ ABSL_GUARDED_BY(mu_) = false;  // Permissions, once bound.
  // RegistryMeta::generation_id_floor, as of the last Bind.
  std::uint32_t id_floor_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Time> latest_created_ ABSL_GUARDED_BY(mu_);
  // Leftovers of interrupted runs were cleaned up in this process.
  bool repaired_ ABSL_GUARDED_BY(mu_) = false;
};

// The most recent instant at or before `now` at which a daily backup fell due.
absl::Time LatestDueInstant(absl::Time now, absl::Duration time_of_day);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_BACKUP_BACKUP_MANAGER_H_
