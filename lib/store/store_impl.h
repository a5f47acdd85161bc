// The store: a thin front over its parts. The registry (lib/registry), the
// tenant cache (tenant_cache.h), the lifecycle state machine (lib/lifecycle),
// backups (lib/backup), the key store (lib/keys) and the audit logs
// (lib/audit) do the work; the front checks arguments, takes the store-wide
// maintenance lock and records audit entries for what it refuses. Its methods
// live in store_impl.cc (tenants, backups, audit reads), maintenance.cc
// (RunMaintenance), rotation.cc (RotateMasterKey), data_keys.cc (data-key
// rotation) and open.cc (the open path,
// option checks, Store::Open and Store::RestoreStore).
//
// Thread safety: thread-safe. Locks and their order: docs/concurrency.md.

#ifndef LEYSER_LIB_STORE_STORE_IMPL_H_
#define LEYSER_LIB_STORE_STORE_IMPL_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "leyser/store.h"

#include "lib/audit/audit_log.h"
#include "lib/backup/backup_manager.h"
#include "lib/db/db_core.h"
#include "lib/keys/key_store.h"
#include "lib/lifecycle/lifecycle.h"
#include "lib/registry/registry.h"
#include "lib/store/tenant_cache.h"

namespace leyser::internal {

// Like Store::Open, but the data database's files are NOT encrypted by the file
// layer (values are still sealed). For benchmarks that measure the file layer's
// cost, and tests. A store created this way is marked in its key store and
// refuses to open through Store::Open, and vice versa.
absl::StatusOr<std::unique_ptr<Store>> OpenWithoutFileEncryptionForTesting(
    const Options& options);

// Compacts the whole tenant data column family into its bottommost level and
// waits for it: the settled state of a store at rest. For benchmarks and tests.
// `store` must come from Store::Open or OpenWithoutFileEncryptionForTesting.
absl::Status CompactAllForTesting(Store& store);

// True if the unwrapped keys `tenant` (a handle of a store) holds are all
// zero: wiped by a purge. For tests.
bool TenantKeysWipedForTesting(const Tenant& tenant);

// OK if `actor` is 1..256 bytes; otherwise InvalidArgument naming `what`.
absl::Status ValidateActor(std::string_view actor, std::string_view what);

// OK if every secret of the process so far is locked into RAM, or `options`
// allow unlocked ones; otherwise FailedPrecondition saying what to do. Makes
// sure the secret pool's first slab exists (and was locked, or not) first.
absl::Status CheckSecretMemory(const Options& options);

class StoreImpl final : public Store {
 public:
  // `options` are checked and absolute (open.cc).
  StoreImpl(Options options, std::shared_ptr<DbCore> db,
            std::unique_ptr<KeyStore> keys);
  ~StoreImpl() override;

  // How the open came about.
  struct StartKind {
    // The open that follows Store::RestoreStore of this generation: it
    // records STORE_RESTORED and starts a new anchor series.
    std::optional<BackupId> restored;
    // The open tagged a legacy store's records: RECORDS_AUTHENTICATED.
    bool records_authenticated = false;
  };

  // Loads the registry, opens the audit logs, checks them against the
  // checkpoints the audit sink holds (DataLoss, with nothing written, for a
  // rollback that is neither a restore nor accepted), then records what
  // waited for this open (wrong-master-key attempts), removes keys orphaned by
  // interrupted tenant creations and builds the parts.
  absl::Status Start(const StartKind& kind);

  // Once some secret memory of the process is unlocked (CheckSecretMemory):
  // at open, FailedPrecondition unless the options allow it; else records
  // SECRET_MEMORY_UNLOCKED in the system log, once per store.
  absl::Status NoteUnlockedSecretMemory(bool at_open);

  absl::Status CompactAll();

  // Store.
  absl::Status Close() override;
  absl::Status AnchorAuditLogs() override;
  absl::StatusOr<AnchorStatus> GetAnchorStatus() const override;
  absl::StatusOr<TenantInfo> CreateTenant(std::string_view id) override;
  absl::StatusOr<std::vector<TenantInfo>> CreateTenants(
      absl::Span<const std::string_view> ids) override;
  absl::StatusOr<std::unique_ptr<Tenant>> OpenTenant(
      std::string_view id) override;
  absl::StatusOr<std::unique_ptr<Tenant>> OpenTenantAs(
      std::string_view id, std::string_view actor) override;
  absl::StatusOr<TenantInfo> GetTenantInfo(std::string_view id) const override;
  absl::StatusOr<std::vector<TenantInfo>> ListTenants() const override;
  absl::Status RotateMasterKey(
      std::shared_ptr<KeyProvider> new_provider) override;
  absl::Status RotateDataKeys() override;
  absl::Status RotateTenantDataKey(std::string_view id) override;
  absl::StatusOr<KeyRotationProgress> ResealRetiredKeys(
      const std::function<void(const KeyRotationProgress&)>& progress) override;
  absl::StatusOr<BackupInfo> CreateBackup() override;
  absl::StatusOr<std::vector<BackupInfo>> ListBackups() const override;
  absl::Status VerifyBackup(BackupId id) override;
  absl::Status RemoveDamagedBackup(BackupId id) override;
  absl::Status RestoreTenant(std::string_view tenant_id, BackupId id) override;
  absl::Status EndContract(std::string_view tenant_id,
                           absl::Time contract_end) override;
  absl::Status Reinstate(std::string_view tenant_id) override;
  absl::Status SetLegalHold(std::string_view tenant_id, bool hold) override;
  absl::Status SetAccessAudit(std::string_view tenant_id,
                              AccessAudit mode) override;
  absl::StatusOr<std::vector<AuditEntry>> ReadAuditLog(
      std::string_view log, std::uint64_t from_seq,
      std::size_t max_entries) override;
  absl::StatusOr<AuditLogInfo> GetAuditLogInfo(
      std::string_view log) const override;
  absl::StatusOr<AuditVerification> VerifyAuditLog(
      std::string_view log, const AuditVerifyOptions& options) const override;
  absl::StatusOr<std::string> ExportAuditLog(std::string_view log,
                                             std::uint64_t from_seq,
                                             std::uint64_t to_seq) override;
  absl::StatusOr<DeletionCertificate> GetDeletionCertificate(
      std::string_view tenant_id) override;
  absl::StatusOr<std::string> GetSigningPublicKey() const override;
  absl::StatusOr<std::vector<SigningKeyInfo>> ListSigningKeys() const override;
  absl::Status RotateSigningKey() override;
  absl::StatusOr<MaintenanceReport> RunMaintenance() override;

 private:
  // FailedPrecondition once Close has begun.
  absl::Status CheckOpen() const;

  // open.cc: the audit logs, for the anchor series of `meta` (replacing any
  // started before); the rollback check (AuditLogs::CheckAnchors with the
  // sink's checkpoints), its description, and a new anchor series (after a
  // restore of generation `restored`, or an accepted rollback), recorded as
  // its first entry; the wrong-master-key attempts that waited.
  absl::Status StartAudit(const proto::RegistryMeta& meta);
  // A registry record older than its audit log: a write of it was removed
  // (from the WAL) while its entry stayed.
  struct StaleRecord {
    std::uint64_t log = 0;       // The tenant's number; 0: the metadata.
    std::uint64_t revision = 0;  // The record's.
    std::uint64_t logged = 0;    // Its log's newest entry's.
  };
  struct RollbackFindings {
    std::vector<AuditLogs::AnchorGap> gaps;
    std::vector<StaleRecord> stale;
    // The sink holds no checkpoint of this store although one accepted its
    // checkpoints before: nothing was compared (not a refusal; recorded).
    bool sink_holds_none = false;
    bool empty() const { return gaps.empty() && stale.empty(); }
  };
  absl::StatusOr<RollbackFindings> CheckRollback();
  std::string DescribeRollback(const RollbackFindings& found,
                               bool refused) const;
  absl::Status StartNewSeries(const RollbackFindings& found,
                              std::optional<BackupId> restored);
  absl::Status RecordPendingWrongKeys();

  // maintenance.cc.
  // Checks Options::backup_dir against the store's binding
  // (BackupManager::Bind) and records what changed: the directory bound
  // (`take`: just before the first backup is written), or a store from before
  // backup tracking that adopts its directory or has none.
  absl::Status BindBackupDir(bool take);
  // For a store from before backup tracking: signs that it took backups (in
  // its registry or its system audit log). Read once.
  bool EarlierBackups();
  absl::Status RunMaintenanceSteps(absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  absl::Status PruneAuditLogs(absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  // Records what a backup run did: the generation created (or the failure),
  // and each generation pruned.
  absl::Status RecordBackup(const absl::Status& status, const BackupInfo* info,
                            const MaintenanceReport& report,
                            std::string_view actor) const;

  // data_keys.cc: new data keys for `records` (recorded per tenant); the
  // re-sealing pass over every tenant with retired keys (progress after each
  // tenant), which then destroys the finished tenants' retired keys; one
  // tenant's values re-sealed.
  absl::Status RotateKeysOf(const std::vector<proto::TenantRecord>& records,
                            bool new_file_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  absl::Status ResealPending(
      const std::function<void(const KeyRotationProgress&)>& progress,
      KeyRotationProgress* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  // A tenant whose values ResealTenant re-sealed: its retired key versions
  // (for the log) and how many values it re-sealed.
  struct RetiredKeys {
    std::uint64_t number = 0;
    std::string id;
    std::string versions;
    std::uint64_t resealed = 0;
  };
  absl::StatusOr<RetiredKeys> ResealTenant(const proto::TenantRecord& record,
                                           KeyRotationProgress* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);

  // signing.cc: the seed the store signs with (the key provider's, or the
  // key store's; NotFound for a store from before signing keys of its own);
  // the signing keys with their windows as the registry keeps them; after
  // the audit logs started, a legacy store's first key of its own (cross-
  // signed by the derived one) or a key change the windows do not show yet
  // recorded; a new signing key made current.
  absl::StatusOr<SecretBytes> SigningSeed() const;
  std::vector<SigningKeyInfo> SigningKeys(
      const proto::RegistryMeta& meta) const;
  absl::Status SettleSigningKey(bool legacy);
  // A new random seed committed to the key store as serial `serial`, then
  // made current (SwitchSigner).
  absl::Status CommitNewSigningKey(std::uint32_t serial,
                                   std::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  // Makes `new_signer` (its seed committed, or the provider's) current from
  // the rotation checkpoint's time, recording `entry` (SIGNING_KEY_ROTATED)
  // before that checkpoint.
  absl::Status SwitchSigner(std::shared_ptr<const CheckpointSigner> new_signer,
                            std::string_view reason, proto::AuditEntry entry);

  // file_keys.cc: the node file key a data-key rotation committed, put to use
  // (recorded as FILE_KEY_ROTATED); the files of the data directory still
  // written under a retired file key rewritten, and the retired keys that no
  // file of the data or backup directory carries destroyed.
  absl::Status UseNewFileKey() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  absl::Status RewriteRetiredFiles(KeyRotationProgress* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);

  absl::Status RestoreTenantData(const std::shared_ptr<const TenantCore>& core,
                                 BackupId id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  // The number of the log named `log`.
  absl::StatusOr<std::uint64_t> LogNumber(std::string_view log) const;
  // The provider whose keys sign now (changes with a rotation).
  std::shared_ptr<KeyProvider> provider() const;

  const Options options_;
  const std::shared_ptr<DbCore> db_;
  const std::unique_ptr<KeyStore> keys_;
  Registry registry_;
  BackupManager backups_;
  // Set by Start. Members are destroyed in reverse order: the lifecycle and
  // the cache, which point at the registry, the key store and the backup
  // manager, go first.
  std::shared_ptr<AuditLogs> audit_;
  std::unique_ptr<TenantCache> cache_;
  std::unique_ptr<Lifecycle> lifecycle_;

  // Lock order (docs/concurrency.md): maintenance_mu_, the registry's write
  // lock, a core's gate, the tenant cache's lock, the registry's memory lock,
  // then the backup manager's, the key store's and the audit logs' own locks.
  //
  // Serialises what moves data around in bulk: backups, single-tenant restores,
  // maintenance runs (a purge never overlaps a backup), master-key rotations
  // (a backup's key-store copy and seal, and a shred, see one master key).
  absl::Mutex maintenance_mu_;
  // When RunMaintenance last pruned the audit logs (once a day).
  std::optional<absl::Time> last_retention_run_
      ABSL_GUARDED_BY(maintenance_mu_);
  std::optional<bool> earlier_backups_;  // EarlierBackups(), once read.
  // The backup refusal last recorded in the audit log, and when.
  std::pair<std::string, absl::Time> last_refusal_
      ABSL_GUARDED_BY(maintenance_mu_);

  std::atomic<bool> closed_{false};
  // NoteUnlockedSecretMemory recorded its entry (it runs at open and under
  // maintenance_mu_).
  std::atomic<bool> unlocked_secrets_recorded_{false};

  // StartAudit found a store from before signing keys of its own: its logs
  // are signed with the key derived from the master key until Start makes
  // one (SettleSigningKey).
  bool legacy_signer_ = false;
  mutable absl::Mutex provider_mu_;
  std::shared_ptr<KeyProvider> provider_
      ABSL_GUARDED_BY(provider_mu_);  // After a rotation.
};

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_STORE_IMPL_H_
