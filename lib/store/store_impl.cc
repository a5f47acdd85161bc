// The store front: tenants, backups and restores, the lifecycle calls, audit
// reads. What each does is delegated to the parts (store_impl.h).

#include "lib/store/store_impl.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"

#include "lib/crypto/sodium.h"
#include "lib/db/filename.h"
#include "lib/db/key_layout.h"
#include "lib/lifecycle/certificate.h"
#include "lib/rocks/status.h"
#include "lib/store/envelope.h"
#include "lib/store/tenant_impl.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {

absl::Status StoreImpl::CheckOpen() const {
  if (closed_.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError("the store is closed");
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::AnchorAuditLogs() {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  absl::Status not_anchored;
  LEYSER_RETURN_IF_ERROR(audit_->CheckpointLogs(/*all=*/true, &not_anchored));
  return not_anchored;
}

absl::StatusOr<AnchorStatus> StoreImpl::GetAnchorStatus() const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return audit_->GetAnchorStatus();
}

absl::Status StoreImpl::Close() {
  if (closed_.exchange(true) || audit_ == nullptr) return absl::OkStatus();
  // Calls that began before the flag was set finish under the locks they
  // hold; wait for the bulk ones.
  absl::MutexLock maintenance(&maintenance_mu_);
  absl::Status not_anchored;
  absl::Status checkpointed =
      audit_->CheckpointLogs(/*all=*/true, &not_anchored);
  audit_->Stop();
  if (!checkpointed.ok()) return checkpointed;
  return not_anchored;
}

// Tenants.

absl::StatusOr<TenantInfo> StoreImpl::CreateTenant(std::string_view id) {
  LEYSER_ASSIGN_OR_RETURN(std::vector<TenantInfo> created, CreateTenants({id}));
  return std::move(created.front());
}

absl::StatusOr<std::vector<TenantInfo>> StoreImpl::CreateTenants(
    absl::Span<const std::string_view> id_views) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  const std::vector<std::string> ids(id_views.begin(), id_views.end());
  if (ids.empty()) {
    return absl::InvalidArgumentError(
        "CreateTenants: the list of ids is empty");
  }
  absl::flat_hash_set<std::string_view> seen;
  for (const std::string& id : ids) {
    if (absl::Status valid = ValidateTenantId(id); !valid.ok()) {
      // Named, as several may be given (escaped: it may hold anything).
      return absl::Status(
          valid.code(),
          absl::StrCat(
              "'", absl::CHexEscape(ToAbsl(id)), "': ", valid.message(),
              ids.size() > 1 ? "; none of the tenants was created" : ""));
    }
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tenant id ", id, " is listed twice"));
    }
  }
  absl::MutexLock lifecycle(&registry_.lifecycle_mu());
  LEYSER_ASSIGN_OR_RETURN(const std::uint64_t first,
                          registry_.NextNumbers(ids));
  // The keys first: a crash before the registry write leaves only
  // unreferenced keys, which the next open removes; never a registered tenant
  // without a key.
  LEYSER_RETURN_IF_ERROR(keys_->CreateTenantKeys(first, ids.size()));
  CrashPoint("create.after_key");
  LEYSER_ASSIGN_OR_RETURN(
      std::vector<proto::TenantRecord> records,
      registry_.AddTenants(ids, first, options_.clock->Now(),
                           options_.audit_actor));
  std::vector<TenantInfo> infos;
  infos.reserve(records.size());
  for (const proto::TenantRecord& record : records) {
    LEYSER_ASSIGN_OR_RETURN(TenantInfo info, InfoFromRecord(record));
    infos.push_back(std::move(info));
  }
  return infos;
}

absl::StatusOr<std::unique_ptr<Tenant>> StoreImpl::OpenTenant(
    std::string_view id) {
  return OpenTenantAs(id, options_.audit_actor);
}

absl::StatusOr<std::unique_ptr<Tenant>> StoreImpl::OpenTenantAs(
    std::string_view id, std::string_view actor) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_RETURN_IF_ERROR(ValidateActor(actor, "the actor"));
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core,
                          cache_->Open(id));
  return NewTenantHandle(std::move(core), std::string(actor));
}

absl::StatusOr<TenantInfo> StoreImpl::GetTenantInfo(std::string_view id) const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, registry_.Record(id));
  return InfoFromRecord(record);
}

absl::StatusOr<std::vector<TenantInfo>> StoreImpl::ListTenants() const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  std::vector<TenantInfo> out;
  for (const proto::TenantRecord& record : registry_.Records()) {
    LEYSER_ASSIGN_OR_RETURN(TenantInfo info, InfoFromRecord(record));
    out.push_back(std::move(info));
  }
  std::sort(
      out.begin(), out.end(),
      [](const TenantInfo& a, const TenantInfo& b) { return a.id < b.id; });
  return out;
}

// Lifecycle.

absl::Status StoreImpl::EndContract(std::string_view tenant_id,
                                    absl::Time contract_end) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return lifecycle_->EndContract(tenant_id, contract_end);
}

absl::Status StoreImpl::Reinstate(std::string_view tenant_id) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return lifecycle_->Reinstate(tenant_id);
}

absl::Status StoreImpl::SetLegalHold(std::string_view tenant_id, bool hold) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return lifecycle_->SetLegalHold(tenant_id, hold);
}

absl::Status StoreImpl::SetAccessAudit(std::string_view tenant_id,
                                       AccessAudit mode) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  const int value = static_cast<int>(mode);
  if (value < 0 || value > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown access audit mode ", value));
  }
  return lifecycle_->SetAccessAudit(tenant_id, value);
}

// Backups.

absl::StatusOr<BackupInfo> StoreImpl::CreateBackup() {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  // Never during a purge, a shred or a rotation.
  absl::MutexLock maintenance(&maintenance_mu_);
  LEYSER_RETURN_IF_ERROR(BindBackupDir(/*take=*/true));
  MaintenanceReport report;
  absl::StatusOr<BackupInfo> info =
      backups_.CreateBackup(options_.clock->Now(), &report);
  LEYSER_RETURN_IF_ERROR(RecordBackup(info.status(),
                                      info.ok() ? &*info : nullptr, report,
                                      options_.audit_actor));
  return info;
}

absl::StatusOr<std::vector<BackupInfo>> StoreImpl::ListBackups() const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return backups_.List();
}

absl::Status StoreImpl::VerifyBackup(BackupId id) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  const absl::Status verified = backups_.Verify(id);
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber,
                    verified.ok() ? proto::AUDIT_EVENT_BACKUP_VERIFIED
                                  : proto::AUDIT_EVENT_BACKUP_FAILED,
                    options_.audit_actor, absl::StrCat("generation ", id));
  SetAuditOutcome(verified, &entry);
  (*entry.mutable_details())["operation"] = "verify";
  LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  return verified;
}

absl::Status StoreImpl::RemoveDamagedBackup(BackupId id) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  // Never during a backup, a purge, a shred or a rotation.
  absl::MutexLock maintenance(&maintenance_mu_);
  absl::StatusOr<std::string> problem = backups_.RemoveDamaged(id);
  if (absl::IsNotFound(problem.status())) return problem.status();
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber,
                    problem.ok() ? proto::AUDIT_EVENT_BACKUP_REMOVED
                                 : proto::AUDIT_EVENT_BACKUP_FAILED,
                    options_.audit_actor, absl::StrCat("generation ", id));
  SetAuditOutcome(problem.status(), &entry);
  (*entry.mutable_details())["operation"] = "remove";
  if (problem.ok()) (*entry.mutable_details())["damage"] = *problem;
  LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  return problem.status();
}

absl::Status StoreImpl::RestoreTenant(std::string_view tenant_id, BackupId id) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock maintenance(&maintenance_mu_);
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core,
                          cache_->Open(tenant_id));
  const absl::Status restored = RestoreTenantData(core, id);
  proto::AuditEntry entry =
      NewAuditEntry(core->number, proto::AUDIT_EVENT_TENANT_RESTORED,
                    options_.audit_actor, core->id);
  SetAuditOutcome(restored, &entry);
  (*entry.mutable_details())["generation"] = absl::StrCat(id);
  LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  return restored;
}

absl::Status StoreImpl::RestoreTenantData(
    const std::shared_ptr<const TenantCore>& core, BackupId id) {
  LEYSER_RETURN_IF_ERROR(EnsureDir(ScratchDir(options_.data_dir)));
  const std::string sst = RestoreSstFileName(options_.data_dir, core->number);
  LEYSER_RETURN_IF_ERROR(RemoveAll(sst));
  std::shared_ptr<const KeyRing> live;
  {
    std::shared_lock<std::shared_mutex> gate(core->gate);
    live = core->keys;
  }
  // Values sealed under a key the live store no longer has (a data-key
  // rotation since the generation) are re-sealed under the current one.
  auto reseal = [&](const std::vector<TenantKey>& backup_keys,
                    std::string_view full_key,
                    std::string_view sealed) -> absl::StatusOr<std::string> {
    const std::optional<std::uint32_t> version = EnvelopeKeyVersion(sealed);
    const SecretBytes* key = nullptr;
    for (const TenantKey& k : backup_keys) {
      if (version == k.version) key = &k.key;
    }
    if (key != nullptr && version == live->version && key->Equals(live->key)) {
      return std::string(sealed);
    }
    std::string value;
    if (key == nullptr ||
        !OpenValue(*key, *version, full_key, sealed, &value)) {
      return absl::DataLossError(
          "a value in the backup does not open under the tenant's data keys "
          "in that generation");
    }
    std::string out;
    SealValue(live->key, live->version, full_key, value, &out);
    return out;
  };
  LEYSER_ASSIGN_OR_RETURN(BackupTenant in_backup,
                          backups_.ExportTenant(id, core->number, sst, reseal));
  if (in_backup.id != core->id) {
    (void)RemoveAll(sst);
    return absl::FailedPreconditionError(
        absl::StrCat("tenant number ", core->number, " belongs to ",
                     in_backup.id, " in the backup"));
  }
  absl::Status s;
  {
    // The tenant's own calls wait; every other tenant goes on. One ingestion
    // replaces the tenant's keyspace atomically: the file starts with a range
    // deletion of all of it.
    std::unique_lock<std::shared_mutex> gate(core->gate);
    rocksdb::IngestExternalFileOptions ingest;
    // A copy: the file layer cannot reopen a linked file.
    ingest.move_files = false;
    // No in-place rewrite (it would reuse a file nonce).
    ingest.write_global_seqno = false;
    ingest.verify_checksums_before_ingest = true;
    s = FromRocks(db_->db->IngestExternalFile(db_->data_cf, {sst}, ingest),
                  "restoring a tenant");
  }
  absl::Status removed = RemoveAll(sst);
  return s.ok() ? removed : s;
}

// Audit log reading, verification, export; certificates.

absl::StatusOr<std::vector<AuditEntry>> StoreImpl::ReadAuditLog(
    std::string_view log, std::uint64_t from_seq, std::size_t max_entries) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
  auto read = audit_->Read(number, from_seq, max_entries);
  audit_->NoteDataLoss(read.status(), kSystemLogNumber, options_.audit_actor,
                       log, "audit log");
  LEYSER_ASSIGN_OR_RETURN(auto entries, std::move(read));
  std::vector<AuditEntry> out;
  out.reserve(entries.size());
  for (const auto& [entry, stored] : entries) {
    out.push_back(ToPublicAuditEntry(entry, std::string(log)));
  }
  return out;
}

absl::StatusOr<AuditLogInfo> StoreImpl::GetAuditLogInfo(
    std::string_view log) const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
  absl::StatusOr<AuditLogInfo> info = audit_->Info(number);
  audit_->NoteDataLoss(info.status(), kSystemLogNumber, options_.audit_actor,
                       log, "audit log");
  if (info.ok()) info->log = std::string(log);
  return info;
}

absl::StatusOr<AuditVerification> StoreImpl::VerifyAuditLog(
    std::string_view log, const AuditVerifyOptions& options) const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
  return audit_->Verify(number, options);
}

absl::StatusOr<std::string> StoreImpl::ExportAuditLog(std::string_view log,
                                                      std::uint64_t from_seq,
                                                      std::uint64_t to_seq) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
  absl::StatusOr<std::string> exported =
      audit_->Export(number, log, from_seq, to_seq);
  audit_->NoteDataLoss(exported.status(), kSystemLogNumber,
                       options_.audit_actor, log, "audit log");
  return exported;
}

absl::StatusOr<DeletionCertificate> StoreImpl::GetDeletionCertificate(
    std::string_view tenant_id) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record,
                          registry_.Record(tenant_id));
  if (record.state() != proto::TENANT_STATE_SHREDDED ||
      record.certificate().empty()) {
    return absl::NotFoundError(absl::StrCat(
        "tenant ", record.id(),
        " has no deletion certificate yet (it is issued at SHREDDED)"));
  }
  absl::StatusOr<DeletionCertificate> certificate =
      DecodeCertificate(record.certificate());
  audit_->NoteDataLoss(certificate.status(), record.number(),
                       options_.audit_actor, record.id(),
                       "deletion certificate");
  return certificate;
}

absl::StatusOr<std::string> StoreImpl::GetSigningPublicKey() const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return audit_->public_key();
}

absl::Status StoreImpl::CompactAll() {
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(
      db_->db->CompactRange(compact, db_->data_cf, nullptr, nullptr),
      "compacting the store");
}

absl::StatusOr<std::uint64_t> StoreImpl::LogNumber(std::string_view log) const {
  if (log == kSystemAuditLog) return kSystemLogNumber;
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, registry_.Record(log));
  return record.number();
}

std::shared_ptr<KeyProvider> StoreImpl::provider() const {
  absl::MutexLock lock(&provider_mu_);
  return provider_ != nullptr ? provider_ : options_.key_provider;
}

}  // namespace leyser::internal
