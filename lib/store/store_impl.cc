// Store::Open and the store implementation: registry, tenant creation, tenant
// handles.

#include "lib/store/store_impl.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include <fcntl.h>
#include <unistd.h>

#include "leyser/store.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/backup/backup_manager.h"
#include "lib/crypto/file_cipher.h"
#include "lib/crypto/sodium.h"
#include "lib/db/column_families.h"
#include "lib/db/db_core.h"
#include "lib/db/key_layout.h"
#include "lib/keys/key_store.h"
#include "lib/lifecycle/certificate.h"
#include "lib/lifecycle/purge.h"
#include "lib/proto/registry.pb.h"
#include "lib/registry/records.h"
#include "lib/rocks/fault_injection.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/store/tenant_core.h"
#include "lib/store/tenant_impl.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser {

std::string_view TenantStateName(TenantState state) {
  switch (state) {
    case TenantState::kActive:
      return "ACTIVE";
    case TenantState::kEnded:
      return "ENDED";
    case TenantState::kPurged:
      return "PURGED";
    case TenantState::kShredded:
      return "SHREDDED";
  }
  return "UNKNOWN";
}

namespace internal {

namespace {

constexpr std::uint32_t kRegistryFormatVersion = 1;
constexpr absl::Duration kMinAuditRetention = absl::Hours(24 * 184);
// How far ahead a contract end, a purge delay or a shred delay may reach.
constexpr absl::Duration kMaxScheduleAhead = absl::Hours(24 * 36525);
constexpr std::size_t kInstallationIdBytes = 16;
// Wrong-master-key attempts wait here (outside the encrypted database, which
// they cannot open) until the next successful Open records them.
constexpr char kPendingAuditFile[] = "audit-pending";

std::string NewInstallationId() {
  std::string id(kInstallationIdBytes, '\0');
  RandomBytes(id.data(), id.size());
  return id;
}

absl::Status ValidateActor(std::string_view actor, std::string_view what) {
  if (actor.empty() || actor.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(what), " must be 1..256 bytes, not ", actor.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<TenantInfo> InfoFromRecord(const proto::TenantRecord& record) {
  if (record.state() < proto::TENANT_STATE_ACTIVE ||
      record.state() > proto::TENANT_STATE_SHREDDED ||
      record.number() < kFirstTenantNumber ||
      record.number() > kMaxTenantNumber) {
    return absl::DataLossError("a tenant registry record is damaged");
  }
  TenantInfo info;
  info.id = record.id();
  info.number = record.number();
  info.state = static_cast<TenantState>(record.state());
  info.created = FromProtoTime(record.created());
  auto optional_time = [](bool has, const google::protobuf::Timestamp& t) {
    return has ? std::optional<absl::Time>(FromProtoTime(t)) : std::nullopt;
  };
  info.contract_end =
      optional_time(record.has_contract_end(), record.contract_end());
  info.purge_due = optional_time(record.has_purge_due(), record.purge_due());
  info.legal_hold = record.legal_hold();
  info.purged = optional_time(record.has_purged(), record.purged());
  info.shred_due = optional_time(record.has_shred_due(), record.shred_due());
  info.shredded = optional_time(record.has_shredded(), record.shredded());
  return info;
}

absl::Status ValidateOptions(const Options& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "Options::data_dir is empty; name the store's directory");
  }
  if (options.key_provider == nullptr) {
    return absl::InvalidArgumentError(
        "Options::key_provider is null; supply one (for example "
        "NewFileKeyProvider)");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError(
        "Options::clock is null; leave the default SystemClock()");
  }
  if (options.max_key_bytes == 0 || options.max_key_bytes > kKeyBytesLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options::max_key_bytes must be 1..", kKeyBytesLimit,
                     ", not ", options.max_key_bytes));
  }
  if (options.max_value_bytes == 0 ||
      options.max_value_bytes > kValueBytesLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options::max_value_bytes must be 1..", kValueBytesLimit,
                     ", not ", options.max_value_bytes));
  }
  if (!options.backup_dir.empty()) {
    std::error_code ec;
    const std::string data =
        std::filesystem::weakly_canonical(options.data_dir, ec).string() + "/";
    const std::string backup =
        std::filesystem::weakly_canonical(options.backup_dir, ec).string() +
        "/";
    if (absl::StartsWith(backup, data) || absl::StartsWith(data, backup)) {
      return absl::InvalidArgumentError(
          "Options::backup_dir must lie outside Options::data_dir (and not "
          "contain it)");
    }
  }
  if (options.purge_after < absl::ZeroDuration() ||
      options.backup_purge_after < absl::ZeroDuration() ||
      options.purge_after > kMaxScheduleAhead ||
      options.backup_purge_after > kMaxScheduleAhead) {
    return absl::InvalidArgumentError(
        "Options::purge_after and Options::backup_purge_after must lie in "
        "[0, 100 years]");
  }
  if (options.backup_generations < 1 || options.backup_generations > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options::backup_generations must be 1..1000, not ",
                     options.backup_generations));
  }
  if (options.audit_checkpoint_entries < 1 ||
      options.audit_checkpoint_entries > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options::audit_checkpoint_entries must be 1..10000, not ",
                     options.audit_checkpoint_entries));
  }
  if (options.audit_checkpoint_interval < absl::Seconds(1) ||
      options.audit_checkpoint_interval > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        "Options::audit_checkpoint_interval must lie in [1s, 1h]");
  }
  if (options.audit_retention < kMinAuditRetention) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options::audit_retention is ",
                     absl::FormatDuration(options.audit_retention),
                     "; audit entries must be kept at least 184 days (4416h)"));
  }
  LEYSER_RETURN_IF_ERROR(
      ValidateActor(options.audit_actor, "Options::audit_actor"));
  if (options.backup_time_of_day < absl::ZeroDuration() ||
      options.backup_time_of_day >= absl::Hours(24)) {
    return absl::InvalidArgumentError(
        "Options::backup_time_of_day must lie in [0, 24h)");
  }
  return absl::OkStatus();
}

// Whether a tenant with `record` is served at `now`.
bool Served(const proto::TenantRecord& record, absl::Time now) {
  return record.state() == proto::TENANT_STATE_ACTIVE &&
         (!record.has_contract_end() ||
          now < FromProtoTime(record.contract_end()));
}

// The shared state of one tenant: alive while any handle (or the cache of
// recently opened tenants) holds it.
struct CoreSlot {
  std::weak_ptr<const TenantCore> weak;
  std::shared_ptr<const TenantCore>
      cached;  // Set while among the recently opened.
  std::list<std::uint64_t>::iterator recent;  // Valid while `cached` is set.
};

class StoreImpl final : public Store {
 public:
  StoreImpl(Options options, std::shared_ptr<DbCore> db,
            std::unique_ptr<KeyStore> keys)
      : options_(std::move(options)),
        db_(std::move(db)),
        keys_(std::move(keys)),
        backups_(options_, db_, keys_.get()) {}

  // Loads the registry into memory and removes keys orphaned by interrupted
  // creations.
  absl::Status Load(bool created) {
    std::string meta_bytes;
    rocksdb::Status s = db_->db->Get(rocksdb::ReadOptions(), db_->registry_cf,
                                     kRegistryMetaKey, &meta_bytes);
    proto::RegistryMeta meta;
    if (s.IsNotFound()) {
      if (!created) {
        return absl::DataLossError(
            "the tenant registry has no metadata record; the database is "
            "damaged");
      }
      meta.set_format_version(kRegistryFormatVersion);
      meta.set_next_tenant_number(kFirstTenantNumber);
      ToProtoTime(options_.clock->Now(), meta.mutable_created());
      meta.set_installation_id(NewInstallationId());
      LEYSER_RETURN_IF_ERROR(
          FromRocks(db_->db->Put(SyncWrite(), db_->registry_cf,
                                 kRegistryMetaKey, meta.SerializeAsString()),
                    "initialising the tenant registry"));
    } else {
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the tenant registry"));
      if (!meta.ParseFromString(meta_bytes) ||
          meta.format_version() != kRegistryFormatVersion ||
          meta.next_tenant_number() < kFirstTenantNumber) {
        return absl::DataLossError(
            "the tenant registry metadata is damaged or of an unknown format");
      }
      // A store from before the audit log gets its installation id now.
      if (meta.installation_id().empty()) {
        meta.set_installation_id(NewInstallationId());
        LEYSER_RETURN_IF_ERROR(
            FromRocks(db_->db->Put(SyncWrite(), db_->registry_cf,
                                   kRegistryMetaKey, meta.SerializeAsString()),
                      "updating the tenant registry"));
      }
    }
    absl::flat_hash_map<std::string, proto::TenantRecord> tenants;
    LEYSER_RETURN_IF_ERROR(ForEachTenantRecord(
        db_->db, db_->registry_cf,
        [&](proto::TenantRecord record) -> absl::Status {
          LEYSER_RETURN_IF_ERROR(InfoFromRecord(record).status());
          if (record.number() >= meta.next_tenant_number()) {
            return absl::DataLossError(
                "a tenant registry record has a number not yet assigned");
          }
          std::string id = record.id();
          tenants.emplace(std::move(id), std::move(record));
          return absl::OkStatus();
        }));
    {
      absl::MutexLock lock(&mu_);
      meta_ = std::move(meta);
      tenants_ = std::move(tenants);
    }
    return keys_->DropKeysFrom(Meta().next_tenant_number());
  }

  // Opens the audit logs (signing key from the key provider) and records what
  // waited for this open: wrong-master-key attempts.
  absl::Status StartAudit() {
    LEYSER_ASSIGN_OR_RETURN(SecretBytes seed,
                            options_.key_provider->GetSigningKey());
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const CheckpointSigner> signer,
                            CheckpointSigner::Create(std::move(seed)));
    const proto::RegistryMeta meta = Meta();
    AuditConfig config;
    config.installation_id = absl::BytesToHexString(meta.installation_id());
    config.checkpoint_entries = options_.audit_checkpoint_entries;
    config.checkpoint_interval = options_.audit_checkpoint_interval;
    config.retention = options_.audit_retention;
    config.sink = options_.audit_sink;
    config.clock = options_.clock;
    audit_ = std::make_shared<AuditLogs>(std::move(config), db_->db,
                                         db_->audit_cf, signer, db_);
    for (const std::string& key : meta.checkpoint_keys()) {
      audit_->AddKnownKey(key);
    }
    if (meta.has_high_water()) {
      audit_->SeedClock(FromProtoTime(meta.high_water()));
    }
    LEYSER_RETURN_IF_ERROR(audit_->LoadDirtyLogs());
    const std::string pending = options_.data_dir + "/" + kPendingAuditFile;
    absl::StatusOr<std::string> attempts = ReadFileToString(pending);
    if (attempts.ok()) {
      for (absl::string_view line : absl::StrSplit(*attempts, '\n')) {
        std::int64_t micros = 0;
        if (!absl::SimpleAtoi(line, &micros)) continue;
        proto::AuditEntry entry =
            NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_WRONG_MASTER_KEY,
                          "unknown", options_.data_dir);
        SetAuditOutcome(absl::PermissionDeniedError("wrong master key"),
                        &entry);
        (*entry.mutable_details())["attempted_at"] =
            absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                             absl::FromUnixMicros(micros), absl::UTCTimeZone());
        LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
      }
      LEYSER_RETURN_IF_ERROR(RemoveAll(pending));
    } else if (!absl::IsNotFound(attempts.status())) {
      return attempts.status();
    }
    return absl::OkStatus();
  }

  ~StoreImpl() override { Close().IgnoreError(); }

  absl::Status RecordStoreRestored(BackupId id) {
    proto::AuditEntry entry =
        NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_STORE_RESTORED,
                      options_.audit_actor, options_.data_dir);
    (*entry.mutable_details())["generation"] = absl::StrCat(id);
    (*entry.mutable_details())["backup_dir"] = options_.backup_dir;
    LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
    return Close();
  }

  absl::Status Close() override {
    if (audit_ == nullptr) return absl::OkStatus();
    return audit_->CheckpointLogs(/*all=*/true);
  }

  absl::StatusOr<TenantInfo> CreateTenant(std::string_view id) override {
    LEYSER_ASSIGN_OR_RETURN(std::vector<TenantInfo> created,
                            CreateTenants({std::string(id)}));
    return std::move(created.front());
  }

  absl::StatusOr<std::vector<TenantInfo>> CreateTenants(
      const std::vector<std::string>& ids) override {
    if (ids.empty()) {
      return absl::InvalidArgumentError(
          "CreateTenants: the list of ids is empty");
    }
    absl::flat_hash_set<std::string_view> seen;
    for (const std::string& id : ids) {
      LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
      if (!seen.insert(id).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("tenant id ", id, " is listed twice"));
      }
    }
    absl::MutexLock lifecycle(&lifecycle_mu_);
    proto::RegistryMeta meta;
    {
      absl::ReaderMutexLock lock(&mu_);
      for (const std::string& id : ids) {
        if (tenants_.contains(id)) {
          return absl::AlreadyExistsError(
              absl::StrCat("tenant ", id, " already exists"));
        }
      }
      meta = meta_;
    }
    const std::uint64_t first = meta.next_tenant_number();
    if (first + ids.size() - 1 > kMaxTenantNumber) {
      return absl::ResourceExhaustedError("no tenant numbers are left");
    }
    // The keys first: a crash before the registry write leaves only
    // unreferenced keys, which the next open removes; never a registered tenant
    // without a key.
    LEYSER_RETURN_IF_ERROR(keys_->CreateTenantKeys(first, ids.size()));
    CrashPoint("create.after_key");

    const absl::Time now = options_.clock->Now();
    std::vector<proto::TenantRecord> records(ids.size());
    rocksdb::WriteBatch batch;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      proto::TenantRecord& record = records[i];
      record.set_id(ids[i]);
      record.set_number(first + i);
      record.set_state(proto::TENANT_STATE_ACTIVE);
      ToProtoTime(now, record.mutable_created());
      LEYSER_RETURN_IF_ERROR(
          FromRocks(batch.Put(db_->registry_cf, RegistryTenantKey(ids[i]),
                              record.SerializeAsString()),
                    "creating tenants"));
    }
    meta.set_next_tenant_number(first + ids.size());
    LEYSER_RETURN_IF_ERROR(CheckMetaSuccessor(meta));
    LEYSER_RETURN_IF_ERROR(FromRocks(
        batch.Put(db_->registry_cf, kRegistryMetaKey, meta.SerializeAsString()),
        "creating tenants"));
    std::vector<proto::AuditEntry> entries;
    entries.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      entries.push_back(NewAuditEntry(first + i,
                                      proto::AUDIT_EVENT_TENANT_CREATED,
                                      options_.audit_actor, ids[i]));
    }
    LEYSER_RETURN_IF_ERROR(audit_->Commit(&batch, std::move(entries),
                                          SyncWrite(), /*new_logs=*/true));
    std::vector<TenantInfo> infos;
    infos.reserve(records.size());
    absl::MutexLock lock(&mu_);
    meta_ = meta;
    for (proto::TenantRecord& record : records) {
      LEYSER_ASSIGN_OR_RETURN(TenantInfo info, InfoFromRecord(record));
      infos.push_back(std::move(info));
      std::string id = record.id();
      tenants_.emplace(std::move(id), std::move(record));
    }
    return infos;
  }

  absl::StatusOr<std::unique_ptr<Tenant>> OpenTenant(
      std::string_view id) override {
    return OpenTenantAs(id, options_.audit_actor);
  }

  absl::StatusOr<std::unique_ptr<Tenant>> OpenTenantAs(
      std::string_view id, std::string_view actor) override {
    LEYSER_RETURN_IF_ERROR(ValidateActor(actor, "the actor"));
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core,
                            ActiveCore(id));
    return NewTenantHandle(std::move(core), std::string(actor));
  }

  absl::StatusOr<TenantInfo> GetTenantInfo(std::string_view id) const override {
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(id));
    return InfoFromRecord(record);
  }

  absl::StatusOr<std::vector<TenantInfo>> ListTenants() const override {
    std::vector<TenantInfo> out;
    {
      absl::ReaderMutexLock lock(&mu_);
      out.reserve(tenants_.size());
      for (const auto& [id, record] : tenants_) {
        LEYSER_ASSIGN_OR_RETURN(TenantInfo info, InfoFromRecord(record));
        out.push_back(std::move(info));
      }
    }
    std::sort(
        out.begin(), out.end(),
        [](const TenantInfo& a, const TenantInfo& b) { return a.id < b.id; });
    return out;
  }

  absl::Status RotateMasterKey(
      std::shared_ptr<KeyProvider> new_provider) override {
    if (new_provider == nullptr) {
      return absl::InvalidArgumentError(
          "RotateMasterKey: the new key provider is null");
    }
    LEYSER_ASSIGN_OR_RETURN(SecretBytes new_key, new_provider->GetMasterKey());
    if (new_key.size() != kMasterKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the new key provider returned a ", new_key.size(),
                       "-byte master key; it must be 32 bytes"));
    }
    // The new signing key must be available before anything changes.
    LEYSER_ASSIGN_OR_RETURN(SecretBytes new_seed,
                            new_provider->GetSigningKey());
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const CheckpointSigner> signer,
                            CheckpointSigner::Create(std::move(new_seed)));
    proto::AuditEntry entry =
        NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_MASTER_KEY_ROTATED,
                      options_.audit_actor, "master key");
    // No backup, shred or restore runs during a rotation: each seals or opens
    // generations with the master key it started with.
    absl::MutexLock maintenance(&maintenance_mu_);
    const absl::Status rotated = keys_->RotateMasterKey(std::move(new_key));
    SetAuditOutcome(rotated, &entry);
    (*entry.mutable_details())["checkpoint_key"] =
        absl::BytesToHexString(signer->public_key());
    if (!rotated.ok()) {
      audit_->Record(std::move(entry)).IgnoreError();  // The error is returned.
      return rotated;
    }
    {
      absl::MutexLock lock(&provider_mu_);
      provider_ = new_provider;  // Signs certificates from now on.
    }
    // The rotation happened: what fails from here is reported, nothing undone.
    absl::Status recorded = audit_->Record(std::move(entry));
    {
      absl::MutexLock lifecycle(&lifecycle_mu_);
      proto::RegistryMeta meta = Meta();
      meta.add_checkpoint_keys(audit_->public_key());
      meta.add_checkpoint_keys(signer->public_key());
      LEYSER_RETURN_IF_ERROR(WriteMeta(meta));
    }
    audit_->AddKnownKey(audit_->public_key());
    audit_->AddKnownKey(signer->public_key());
    // One checkpoint signed by both keys vouches for the new one.
    absl::Status resigned = audit_->RotateSigner(std::move(signer));
    return recorded.ok() ? resigned : recorded;
  }

  // Backups.

  absl::StatusOr<BackupInfo> CreateBackup() override {
    absl::MutexLock maintenance(
        &maintenance_mu_);  // Never during a purge or shred.
    MaintenanceReport report;
    absl::StatusOr<BackupInfo> info =
        backups_.CreateBackup(options_.clock->Now(), &report);
    LEYSER_RETURN_IF_ERROR(RecordBackup(info.status(),
                                        info.ok() ? &*info : nullptr, report,
                                        options_.audit_actor));
    return info;
  }

  absl::StatusOr<std::vector<BackupInfo>> ListBackups() const override {
    return backups_.List();
  }

  absl::Status VerifyBackup(BackupId id) const override {
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

  absl::Status RestoreTenant(std::string_view tenant_id, BackupId id) override {
    absl::MutexLock maintenance(&maintenance_mu_);
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core,
                            ActiveCore(tenant_id));
    const absl::Status restored = RestoreTenantData(core, id);
    proto::AuditEntry entry =
        NewAuditEntry(core->number, proto::AUDIT_EVENT_TENANT_RESTORED,
                      options_.audit_actor, core->id);
    SetAuditOutcome(restored, &entry);
    (*entry.mutable_details())["generation"] = absl::StrCat(id);
    LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
    return restored;
  }

  absl::Status RestoreTenantData(const std::shared_ptr<const TenantCore>& core,
                                 BackupId id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_) {
    const std::string tmp_dir = options_.data_dir + "/tmp";
    LEYSER_RETURN_IF_ERROR(EnsureDir(tmp_dir));
    const std::string sst =
        absl::StrCat(tmp_dir, "/restore-", core->number, ".sst");
    LEYSER_RETURN_IF_ERROR(RemoveAll(sst));
    LEYSER_ASSIGN_OR_RETURN(BackupTenant in_backup,
                            backups_.ExportTenant(id, core->number, sst));
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
      ingest.move_files =
          false;  // A copy: the file layer cannot reopen a linked file.
      ingest.write_global_seqno =
          false;  // No in-place rewrite (it would reuse a file nonce).
      ingest.verify_checksums_before_ingest = true;
      s = FromRocks(db_->db->IngestExternalFile(db_->data_cf, {sst}, ingest),
                    "restoring a tenant");
    }
    absl::Status removed = RemoveAll(sst);
    return s.ok() ? removed : s;
  }

  // Lifecycle.

  absl::Status EndContract(std::string_view tenant_id,
                           absl::Time contract_end) override {
    absl::MutexLock lifecycle(&lifecycle_mu_);
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(tenant_id));
    const absl::Time now = options_.clock->Now();
    const absl::Time created = FromProtoTime(record.created());
    if (contract_end == absl::InfinitePast() ||
        contract_end == absl::InfiniteFuture() || contract_end < created ||
        contract_end > now + kMaxScheduleAhead) {
      return absl::InvalidArgumentError(absl::StrCat(
          "EndContract: the contract end must lie between the tenant's "
          "creation (",
          Rfc3339(created), ") and 100 years from now (",
          Rfc3339(now + kMaxScheduleAhead), "), not ",
          absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", contract_end,
                           absl::UTCTimeZone())));
    }
    const bool now_or_past = contract_end <= now;
    // An end recorded after the fact (in the past) keeps the whole grace
    // period from now: the purge is never due before now + purge_after.
    const absl::Time purge_due =
        std::max(contract_end, now) + options_.purge_after;
    proto::AuditEntry entry =
        NewAuditEntry(record.number(),
                      now_or_past ? proto::AUDIT_EVENT_CONTRACT_ENDED
                                  : proto::AUDIT_EVENT_CONTRACT_END_SCHEDULED,
                      options_.audit_actor, record.id());
    (*entry.mutable_details())["contract_end"] = Rfc3339(contract_end);
    if (!Served(record, now)) {
      return Denied(
          std::move(entry),
          absl::FailedPreconditionError(absl::StrCat(
              "tenant ", record.id(), "'s contract has already ended (state ",
              ToAbsl(TenantStateName(static_cast<TenantState>(record.state()))),
              ")")));
    }
    ToProtoTime(contract_end, record.mutable_contract_end());
    ToProtoTime(purge_due, record.mutable_purge_due());
    if (now_or_past) {
      record.set_state(proto::TENANT_STATE_ENDED);
    }
    (*entry.mutable_details())["purge_due"] = Rfc3339(purge_due);
    LEYSER_RETURN_IF_ERROR(WriteRecord(record, nullptr, {std::move(entry)}));
    ApplyServing(record);
    return absl::OkStatus();
  }

  absl::Status Reinstate(std::string_view tenant_id) override {
    absl::MutexLock lifecycle(&lifecycle_mu_);
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(tenant_id));
    proto::AuditEntry entry =
        NewAuditEntry(record.number(), proto::AUDIT_EVENT_REINSTATED,
                      options_.audit_actor, record.id());
    if (record.state() == proto::TENANT_STATE_PURGED ||
        record.state() == proto::TENANT_STATE_SHREDDED || record.has_purge()) {
      return Denied(
          std::move(entry),
          absl::FailedPreconditionError(absl::StrCat(
              "tenant ", record.id(),
              " has been purged; its data is gone and cannot be reinstated")));
    }
    if (!record.has_contract_end()) {
      return Denied(std::move(entry),
                    absl::FailedPreconditionError(absl::StrCat(
                        "tenant ", record.id(),
                        " is active and has no contract end to undo")));
    }
    record.set_state(proto::TENANT_STATE_ACTIVE);
    record.clear_contract_end();
    record.clear_purge_due();
    LEYSER_RETURN_IF_ERROR(WriteRecord(record, nullptr, {std::move(entry)}));
    ApplyServing(record);
    return absl::OkStatus();
  }

  absl::Status SetLegalHold(std::string_view tenant_id, bool hold) override {
    absl::MutexLock lifecycle(&lifecycle_mu_);
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(tenant_id));
    proto::AuditEntry entry =
        NewAuditEntry(record.number(),
                      hold ? proto::AUDIT_EVENT_LEGAL_HOLD_SET
                           : proto::AUDIT_EVENT_LEGAL_HOLD_RELEASED,
                      options_.audit_actor, record.id());
    if (record.state() == proto::TENANT_STATE_SHREDDED) {
      return Denied(std::move(entry),
                    absl::FailedPreconditionError(absl::StrCat(
                        "tenant ", record.id(),
                        " is shredded; there is nothing left to hold")));
    }
    record.set_legal_hold(hold);
    return WriteRecord(record, nullptr, {std::move(entry)});
  }

  absl::Status SetAccessAudit(std::string_view tenant_id,
                              AccessAudit mode) override {
    const int value = static_cast<int>(mode);
    if (value < 0 || value > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown access audit mode ", value));
    }
    absl::MutexLock lifecycle(&lifecycle_mu_);
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(tenant_id));
    proto::AuditEntry entry =
        NewAuditEntry(record.number(), proto::AUDIT_EVENT_ACCESS_AUDIT_CHANGED,
                      options_.audit_actor, record.id());
    static constexpr const char* kNames[] = {"off", "writes",
                                             "reads_and_writes"};
    (*entry.mutable_details())["from"] =
        kNames[std::clamp(record.access_audit(), 0, 2)];
    (*entry.mutable_details())["to"] = kNames[value];
    if (record.state() != proto::TENANT_STATE_ACTIVE) {
      return Denied(std::move(entry),
                    absl::FailedPreconditionError(absl::StrCat(
                        "tenant ", record.id(), " is not active")));
    }
    record.set_access_audit(value);
    LEYSER_RETURN_IF_ERROR(WriteRecord(record, nullptr, {std::move(entry)}));
    if (std::shared_ptr<const TenantCore> core = LiveCore(record.number())) {
      core->access_audit.store(value, std::memory_order_release);
    }
    return absl::OkStatus();
  }

  // Audit log reading, verification, export.

  absl::StatusOr<std::vector<AuditEntry>> ReadAuditLog(
      std::string_view log, std::uint64_t from_seq,
      std::size_t max_entries) const override {
    LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
    auto read = audit_->Read(number, from_seq, max_entries);
    NoteDataLoss(read.status(), kSystemLogNumber, log, "audit log");
    LEYSER_ASSIGN_OR_RETURN(auto entries, std::move(read));
    std::vector<AuditEntry> out;
    out.reserve(entries.size());
    for (const auto& [entry, stored] : entries) {
      out.push_back(ToPublicAuditEntry(entry, std::string(log)));
    }
    return out;
  }

  absl::StatusOr<AuditLogInfo> GetAuditLogInfo(std::string_view log) override {
    LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
    absl::StatusOr<AuditLogInfo> info = audit_->Info(number);
    NoteDataLoss(info.status(), kSystemLogNumber, log, "audit log");
    if (info.ok()) info->log = std::string(log);
    return info;
  }

  absl::StatusOr<AuditVerification> VerifyAuditLog(
      std::string_view log, const AuditVerifyOptions& options) const override {
    LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
    return audit_->Verify(number, options);
  }

  absl::StatusOr<std::string> ExportAuditLog(std::string_view log,
                                             std::uint64_t from_seq,
                                             std::uint64_t to_seq) override {
    LEYSER_ASSIGN_OR_RETURN(std::uint64_t number, LogNumber(log));
    absl::StatusOr<std::string> exported =
        audit_->Export(number, log, from_seq, to_seq);
    NoteDataLoss(exported.status(), kSystemLogNumber, log, "audit log");
    return exported;
  }

  absl::StatusOr<DeletionCertificate> GetDeletionCertificate(
      std::string_view tenant_id) const override {
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(tenant_id));
    if (record.state() != proto::TENANT_STATE_SHREDDED ||
        record.certificate().empty()) {
      return absl::NotFoundError(absl::StrCat(
          "tenant ", record.id(),
          " has no deletion certificate yet (it is issued at SHREDDED)"));
    }
    absl::StatusOr<DeletionCertificate> certificate =
        DecodeCertificate(record.certificate());
    NoteDataLoss(certificate.status(), record.number(), record.id(),
                 "deletion certificate");
    return certificate;
  }

  absl::StatusOr<std::string> SigningPublicKey() const override {
    LEYSER_ASSIGN_OR_RETURN(SecretBytes seed, provider()->GetSigningKey());
    return SigningPublicKeyFromSeed(seed);
  }

  absl::StatusOr<MaintenanceReport> RunMaintenance() override {
    absl::MutexLock maintenance(&maintenance_mu_);
    MaintenanceReport report;
    const absl::Time now = options_.clock->Now();
    report.now = now;
    audit_->ObserveClock(now);  // A step back is recorded as CLOCK_SKEW.
    absl::Status s = RunMaintenanceSteps(now, &report);
    if (!s.ok()) {
      proto::AuditEntry entry =
          NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_MAINTENANCE_ERROR,
                        "maintenance", "RunMaintenance");
      SetAuditOutcome(s, &entry);
      audit_->Record(std::move(entry)).IgnoreError();  // The error is returned.
      return s;
    }
    return report;
  }

  absl::Status RunMaintenanceSteps(absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_) {
    {
      // The metadata is read, changed and written under the lifecycle lock:
      // a copy taken before it would write back a stale next_tenant_number
      // (handing out numbers twice) or drop checkpoint keys added meanwhile.
      absl::MutexLock lifecycle(&lifecycle_mu_);
      proto::RegistryMeta meta = Meta();
      if (meta.has_high_water() && now < FromProtoTime(meta.high_water())) {
        report->clock_behind =
            true;  // Lifecycle steps wait until the clock catches up.
      } else {
        ToProtoTime(now, meta.mutable_high_water());
        LEYSER_RETURN_IF_ERROR(WriteMeta(meta));
        LEYSER_RETURN_IF_ERROR(RunLifecycle(now, report));
      }
    }
    MaintenanceReport backup_report;
    const absl::Status backed_up = backups_.RunMaintenance(now, &backup_report);
    report->backups_enabled = backup_report.backups_enabled;
    report->backup = backup_report.backup;
    report->pruned = backup_report.pruned;
    report->repaired = backup_report.repaired;
    if (!backed_up.ok() || backup_report.backup.has_value() ||
        !backup_report.pruned.empty()) {
      LEYSER_RETURN_IF_ERROR(RecordBackup(
          backed_up,
          backup_report.backup.has_value() ? &*backup_report.backup : nullptr,
          backup_report, "maintenance"));
    }
    LEYSER_RETURN_IF_ERROR(backed_up);
    // Audit: checkpoints of logs quiet for the interval, retention once a day.
    LEYSER_RETURN_IF_ERROR(audit_->CheckpointLogs(/*all=*/false));
    if (!last_retention_run_.has_value() ||
        now - *last_retention_run_ >= absl::Hours(24) ||
        now < *last_retention_run_) {
      std::vector<std::uint64_t> logs = {kSystemLogNumber};
      {
        absl::ReaderMutexLock lock(&mu_);
        for (const auto& [id, record] : tenants_) {
          // A legal hold keeps the tenant's audit log whole too.
          if (!record.legal_hold()) logs.push_back(record.number());
        }
      }
      std::sort(logs.begin(), logs.end());
      for (std::uint64_t log : logs) {
        std::uint64_t pruned = 0;
        LEYSER_RETURN_IF_ERROR(audit_->Prune(log, now, &pruned));
        report->audit_entries_pruned += pruned;
      }
      if (report->audit_entries_pruned > 0) {
        LEYSER_RETURN_IF_ERROR(audit_->CompactPruned());
      }
      last_retention_run_ = now;
    }
    return absl::OkStatus();
  }

  absl::Status CompactAll() {
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForce;
    return FromRocks(
        db_->db->CompactRange(compact, db_->data_cf, nullptr, nullptr),
        "compacting the store");
  }

 private:
  static std::string Rfc3339(absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
  }

  // Records that a DataLoss error about `what` of `target` is being returned
  // (in log `log`; best effort: the caller returns the error either way).
  void NoteDataLoss(const absl::Status& status, std::uint64_t log,
                    std::string_view target, std::string_view what) const {
    if (status.code() != absl::StatusCode::kDataLoss) return;
    proto::AuditEntry entry = NewAuditEntry(log, proto::AUDIT_EVENT_DATA_LOSS,
                                            options_.audit_actor, target);
    SetAuditOutcome(status, &entry);
    (*entry.mutable_details())["what"] = std::string(what);
    audit_->Record(std::move(entry)).IgnoreError();
  }

  // Records `entry` as refused with `status`, and returns `status`.
  absl::Status Denied(proto::AuditEntry entry, absl::Status status) {
    SetAuditOutcome(status, &entry);
    LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
    return status;
  }

  // Records what a backup run did: the generation created (or the failure),
  // and each generation pruned.
  absl::Status RecordBackup(const absl::Status& status, const BackupInfo* info,
                            const MaintenanceReport& report,
                            std::string_view actor) const {
    std::vector<proto::AuditEntry> entries;
    if (!status.ok()) {
      entries.push_back(NewAuditEntry(
          kSystemLogNumber, proto::AUDIT_EVENT_BACKUP_FAILED, actor, "backup"));
      SetAuditOutcome(status, &entries.back());
      (*entries.back().mutable_details())["operation"] = "create";
    } else if (info != nullptr) {
      entries.push_back(NewAuditEntry(kSystemLogNumber,
                                      proto::AUDIT_EVENT_BACKUP_CREATED, actor,
                                      absl::StrCat("generation ", info->id)));
      auto& details = *entries.back().mutable_details();
      details["verified"] = "true";
      details["tenants"] = absl::StrCat(info->tenants.size());
      details["keys"] = absl::StrCat(info->keys);
      details["bytes"] = absl::StrCat(info->data_bytes);
    }
    for (BackupId id : report.pruned) {
      entries.push_back(NewAuditEntry(kSystemLogNumber,
                                      proto::AUDIT_EVENT_BACKUP_PRUNED, actor,
                                      absl::StrCat("generation ", id)));
      (*entries.back().mutable_details())["reason"] = "generations limit";
    }
    if (entries.empty()) return absl::OkStatus();
    rocksdb::WriteBatch batch;
    return audit_->Commit(&batch, std::move(entries), SyncWrite());
  }

  // The number of the log named `log`.
  absl::StatusOr<std::uint64_t> LogNumber(std::string_view log) const {
    if (log == kSystemAuditLog) return kSystemLogNumber;
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(log));
    return record.number();
  }

  // A copy of the registry metadata.
  proto::RegistryMeta Meta() const {
    absl::ReaderMutexLock lock(&mu_);
    return meta_;
  }

  std::shared_ptr<KeyProvider> provider() const {
    absl::MutexLock lock(&provider_mu_);
    return provider_ != nullptr ? provider_ : options_.key_provider;
  }

  absl::StatusOr<proto::TenantRecord> Record(std::string_view id) const {
    LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
    absl::ReaderMutexLock lock(&mu_);
    auto it = tenants_.find(ToAbsl(id));
    if (it == tenants_.end()) {
      return absl::NotFoundError(absl::StrCat("no tenant ", ToAbsl(id)));
    }
    return it->second;
  }

  // Writes `record` (and `meta`, if given) with the audit `entries` in one
  // synced batch, then updates the memory copy.
  absl::Status WriteRecord(const proto::TenantRecord& record,
                           const proto::RegistryMeta* meta,
                           std::vector<proto::AuditEntry> entries = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_) {
    rocksdb::WriteBatch batch;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(db_->registry_cf, RegistryTenantKey(record.id()),
                            record.SerializeAsString()),
                  "updating the tenant registry"));
    if (meta != nullptr) {
      LEYSER_RETURN_IF_ERROR(CheckMetaSuccessor(*meta));
      LEYSER_RETURN_IF_ERROR(
          FromRocks(batch.Put(db_->registry_cf, kRegistryMetaKey,
                              meta->SerializeAsString()),
                    "updating the tenant registry"));
    }
    LEYSER_RETURN_IF_ERROR(
        audit_->Commit(&batch, std::move(entries), SyncWrite()));
    absl::MutexLock lock(&mu_);
    tenants_[record.id()] = record;
    if (meta != nullptr) meta_ = *meta;
    return absl::OkStatus();
  }

  // Writes `meta`, a copy of the metadata read under the same hold of
  // lifecycle_mu_ and then changed. Refuses a write that would move
  // next_tenant_number back (a number handed out twice gives one tenant
  // another's data key).
  absl::Status WriteMeta(const proto::RegistryMeta& meta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_) {
    LEYSER_RETURN_IF_ERROR(CheckMetaSuccessor(meta));
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->db->Put(SyncWrite(), db_->registry_cf, kRegistryMetaKey,
                               meta.SerializeAsString()),
                  "updating the tenant registry"));
    absl::MutexLock lock(&mu_);
    meta_ = meta;
    return absl::OkStatus();
  }

  absl::Status CheckMetaSuccessor(const proto::RegistryMeta& meta) const {
    absl::ReaderMutexLock lock(&mu_);
    if (meta.next_tenant_number() < meta_.next_tenant_number() ||
        meta.checkpoint_keys_size() < meta_.checkpoint_keys_size()) {
      return absl::InternalError(
          "refusing to write stale tenant registry metadata (a tenant number "
          "or a checkpoint key would be lost); nothing was changed");
    }
    return absl::OkStatus();
  }

  // The live shared core of tenant `number`, if a handle or iterator holds one.
  std::shared_ptr<const TenantCore> LiveCore(std::uint64_t number) {
    absl::MutexLock lock(&cores_mu_);
    auto it = cores_.find(number);
    return it == cores_.end() ? nullptr : it->second.weak.lock();
  }

  // Makes the tenant's open handles follow `record`: served while ACTIVE, until
  // a scheduled end. When the tenant stops being served, waits for the calls
  // in flight and stops its iterators, so that from the return on no handle
  // or iterator of the tenant reads or writes.
  void ApplyServing(const proto::TenantRecord& record) {
    std::shared_ptr<const TenantCore> core = LiveCore(record.number());
    if (core == nullptr) return;
    core->end_unix_nanos.store(
        record.has_contract_end()
            ? absl::ToUnixNanos(FromProtoTime(record.contract_end()))
            : TenantCore::kNoEnd,
        std::memory_order_release);
    const bool served = Served(record, options_.clock->Now());
    core->served.store(record.state() == proto::TENANT_STATE_ACTIVE,
                       std::memory_order_release);
    if (!served) {
      { std::unique_lock<std::shared_mutex> gate(core->gate); }
      db_->KillIterators(absl::FailedPreconditionError(absl::StrCat(
                             "tenant ", record.id(),
                             " is no longer served: its contract ended")),
                         record.number());
    }
  }

  // Returns the shared core of active tenant `id`, unwrapping its key if no
  // handle holds it.
  absl::StatusOr<std::shared_ptr<const TenantCore>> ActiveCore(
      std::string_view id) {
    LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
    absl::MutexLock lock(&cores_mu_);
    // The record is read under cores_mu_. A lifecycle change updates the
    // memory registry first and then takes cores_mu_ to update the live core
    // (ApplyServing): either this read sees the change, or the change sees
    // the core made here. A core is never built from a record the change has
    // already replaced.
    LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, Record(id));
    if (!Served(record, options_.clock->Now())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tenant ", record.id(), " is not served: ",
          ToAbsl(TenantStateName(static_cast<TenantState>(record.state()))),
          record.state() == proto::TENANT_STATE_ACTIVE
              ? " with its contract end passed"
              : ""));
    }
    CoreSlot& slot = cores_[record.number()];
    std::shared_ptr<const TenantCore> core = slot.weak.lock();
    if (core == nullptr) {
      absl::StatusOr<TenantKey> unwrapped =
          keys_->GetTenantKey(record.number());
      NoteDataLoss(unwrapped.status(), record.number(), record.id(),
                   "tenant data key");
      if (!unwrapped.ok()) {
        if (slot.weak.expired() && slot.cached == nullptr) {
          cores_.erase(record.number());
        }
        return unwrapped.status();
      }
      TenantKey key = *std::move(unwrapped);
      LEYSER_ASSIGN_OR_RETURN(SecretBytes audit_key,
                              DeriveKey(key.key, 0, "leyser-a"));
      auto fresh = std::make_shared<TenantCore>();
      fresh->audit_key = std::move(audit_key);
      // SetAccessAudit and the lifecycle calls write the memory registry
      // before they look for a live core under cores_mu_, so `record` is
      // current for both.
      fresh->access_audit = record.access_audit();
      fresh->db = db_;
      fresh->audit = audit_;
      fresh->id = record.id();
      fresh->number = record.number();
      fresh->prefix = TenantPrefix(record.number());
      fresh->next_prefix = TenantPrefix(record.number() + 1);
      fresh->key = std::move(key.key);
      fresh->key_version = key.version;
      if (record.has_contract_end()) {
        fresh->end_unix_nanos =
            absl::ToUnixNanos(FromProtoTime(record.contract_end()));
      }
      core = std::move(fresh);
      slot.weak = core;
    }
    KeepRecent(record.number(), slot, core);
    return core;
  }

  // Keeps `core` among the Options::tenant_cache_size most recently opened, so
  // reopening a tenant needs no key-store read and no unwrap; evicts the least
  // recently opened beyond that.
  void KeepRecent(std::uint64_t number, CoreSlot& slot,
                  const std::shared_ptr<const TenantCore>& core)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cores_mu_) {
    if (options_.tenant_cache_size == 0) return;
    if (slot.cached != nullptr) {
      recent_.splice(recent_.begin(), recent_, slot.recent);
      return;
    }
    recent_.push_front(number);
    slot.recent = recent_.begin();
    slot.cached = core;
    if (recent_.size() > options_.tenant_cache_size) {
      const std::uint64_t victim = recent_.back();
      recent_.pop_back();
      CoreSlot& old = cores_[victim];
      old.cached.reset();
      if (old.weak.expired()) cores_.erase(victim);
    }
  }

  // Every lifecycle step due at `now`, in order: contract ends, purges, shreds.
  absl::Status RunLifecycle(absl::Time now, MaintenanceReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_) {
    std::vector<proto::TenantRecord> records;
    {
      absl::ReaderMutexLock lock(&mu_);
      for (const auto& [id, record] : tenants_) records.push_back(record);
    }
    std::sort(records.begin(), records.end(),
              [](const proto::TenantRecord& a, const proto::TenantRecord& b) {
                return a.number() < b.number();
              });
    bool scrub =
        Meta().scrub_pending();  // Left by a run that crashed before its scrub.
    for (proto::TenantRecord& record : records) {
      if (record.state() == proto::TENANT_STATE_ACTIVE &&
          record.has_contract_end() &&
          FromProtoTime(record.contract_end()) <= now) {
        record.set_state(proto::TENANT_STATE_ENDED);
        proto::AuditEntry entry =
            NewAuditEntry(record.number(), proto::AUDIT_EVENT_CONTRACT_ENDED,
                          "maintenance", record.id());
        (*entry.mutable_details())["contract_end"] =
            Rfc3339(FromProtoTime(record.contract_end()));
        LEYSER_RETURN_IF_ERROR(
            WriteRecord(record, nullptr, {std::move(entry)}));
        ApplyServing(record);
        report->ended.push_back(record.id());
      }
      if (record.state() == proto::TENANT_STATE_ENDED &&
          FromProtoTime(record.purge_due()) <= now) {
        if (record.legal_hold()) {
          report->held.push_back(record.id());
          continue;
        }
        LEYSER_RETURN_IF_ERROR(Purge(record, now));
        report->purged.push_back(record.id());
        scrub = true;
      }
    }
    if (scrub) {
      // Obsolete WALs go, the MANIFEST rolls to a snapshot without the purged
      // key bounds, and the destroyed data keys leave the key store's files.
      LEYSER_RETURN_IF_ERROR(FlushEverything(*db_));
      CrashPoint("purge.after_flush");
      LEYSER_RETURN_IF_ERROR(keys_->Scrub());
      proto::RegistryMeta meta = Meta();
      meta.set_scrub_pending(false);
      LEYSER_RETURN_IF_ERROR(WriteMeta(meta));
    }
    for (proto::TenantRecord& record : records) {
      if (record.state() == proto::TENANT_STATE_PURGED &&
          FromProtoTime(record.shred_due()) <= now) {
        if (record.legal_hold()) {
          report->held.push_back(record.id());
          continue;
        }
        LEYSER_RETURN_IF_ERROR(Shred(record, now));
        report->shredded.push_back(record.id());
      }
    }
    return absl::OkStatus();
  }

  // ENDED -> PURGED. Resumable: each step can run again after a crash.
  absl::Status Purge(proto::TenantRecord& record, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_) {
    const std::uint64_t number = record.number();
    if (!record.has_purge()) {
      // Counted, and the newest backup noted, before anything is destroyed.
      LEYSER_ASSIGN_OR_RETURN(TenantCounts counts, CountTenant(*db_, number));
      LEYSER_ASSIGN_OR_RETURN(BackupId newest, backups_.NewestId());
      record.mutable_purge()->set_keys(counts.keys);
      record.mutable_purge()->set_bytes(counts.bytes);
      record.mutable_purge()->set_last_generation_before(newest);
      LEYSER_RETURN_IF_ERROR(WriteRecord(record, nullptr));
    }
    CrashPoint("purge.after_mark");
    if (std::shared_ptr<const TenantCore> core = LiveCore(number)) {
      core->served.store(false, std::memory_order_release);
      std::unique_lock<std::shared_mutex> gate(
          core->gate);  // Waits for calls in flight.
    }
    // Open iterators of any tenant pin files that may hold this tenant's
    // records: stop them, before the compaction and again after it (for any
    // created meanwhile).
    const absl::Status stopped = absl::AbortedError(
        "this iterator was stopped because a tenant was purged; create a new "
        "one");
    db_->KillIterators(stopped);
    LEYSER_RETURN_IF_ERROR(DeleteAndCompactTenant(*db_, number));
    db_->KillIterators(stopped);
    CrashPoint("purge.after_compact");
    LEYSER_RETURN_IF_ERROR(keys_->DestroyTenantKey(number));
    record.set_state(proto::TENANT_STATE_PURGED);
    ToProtoTime(now, record.mutable_purged());
    ToProtoTime(now + options_.backup_purge_after, record.mutable_shred_due());
    proto::RegistryMeta meta = Meta();
    meta.set_scrub_pending(true);
    proto::AuditEntry entry = NewAuditEntry(number, proto::AUDIT_EVENT_PURGED,
                                            "maintenance", record.id());
    (*entry.mutable_details())["keys_removed"] =
        absl::StrCat(record.purge().keys());
    (*entry.mutable_details())["bytes_removed"] =
        absl::StrCat(record.purge().bytes());
    LEYSER_RETURN_IF_ERROR(WriteRecord(record, &meta, {std::move(entry)}));
    CrashPoint("purge.after_record");
    absl::MutexLock lock(&cores_mu_);
    if (auto it = cores_.find(number); it != cores_.end()) {
      if (it->second.cached != nullptr) recent_.erase(it->second.recent);
      cores_.erase(it);
    }
    return absl::OkStatus();
  }

  // PURGED -> SHREDDED, issuing the certificate exactly once (with the state
  // change).
  absl::Status Shred(proto::TenantRecord& record, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_) {
    LEYSER_ASSIGN_OR_RETURN(
        BackupManager::ShredResult result,
        backups_.ShredTenant(
            record.number(), record.purge().last_generation_before(),
            [&](BackupId id) -> absl::Status {
              // Recorded before the generation is deleted, so
              // a resumed shred still names it.
              record.add_generations_deleted(id);
              proto::AuditEntry entry = NewAuditEntry(
                  kSystemLogNumber, proto::AUDIT_EVENT_BACKUP_PRUNED,
                  "maintenance", absl::StrCat("generation ", id));
              (*entry.mutable_details())["reason"] =
                  absl::StrCat("shred of tenant ", record.id());
              return WriteRecord(record, nullptr, {std::move(entry)});
            }));
    CrashPoint("shred.after_backups");
    DeletionCertificate certificate;
    certificate.tenant_id = record.id();
    certificate.tenant_number = record.number();
    certificate.contract_end = FromProtoTime(record.contract_end());
    certificate.purged = FromProtoTime(record.purged());
    certificate.shredded = now;
    certificate.issued = now;
    certificate.method = kDeletionMethod;
    certificate.keys_removed = record.purge().keys();
    certificate.bytes_removed = record.purge().bytes();
    absl::flat_hash_set<std::uint32_t> seen;
    for (std::uint32_t id : record.generations_deleted()) {
      if (seen.insert(id).second) certificate.generations_deleted.push_back(id);
    }
    std::sort(certificate.generations_deleted.begin(),
              certificate.generations_deleted.end());
    certificate.generations_kept.assign(result.kept.begin(), result.kept.end());
    // The tenant's audit log up to here (its PURGED entry included), signed.
    LEYSER_ASSIGN_OR_RETURN(certificate.audit_chain_head,
                            audit_->LatestCheckpoint(record.number()));
    LEYSER_ASSIGN_OR_RETURN(SecretBytes seed, provider()->GetSigningKey());
    LEYSER_ASSIGN_OR_RETURN(std::string stored,
                            SignCertificate(&certificate, seed));
    record.set_state(proto::TENANT_STATE_SHREDDED);
    ToProtoTime(now, record.mutable_shredded());
    record.set_certificate(std::move(stored));
    std::vector<proto::AuditEntry> entries;
    entries.push_back(NewAuditEntry(record.number(),
                                    proto::AUDIT_EVENT_SHREDDED, "maintenance",
                                    record.id()));
    (*entries.back().mutable_details())["generations_deleted"] =
        absl::StrJoin(certificate.generations_deleted, ",");
    entries.push_back(NewAuditEntry(record.number(),
                                    proto::AUDIT_EVENT_CERTIFICATE_ISSUED,
                                    "maintenance", record.id()));
    unsigned char digest[kSha256Bytes];
    Sha256({record.certificate()}, digest);
    (*entries.back().mutable_details())["certificate_sha256"] =
        absl::BytesToHexString(absl::string_view(
            reinterpret_cast<const char*>(digest), sizeof(digest)));
    LEYSER_RETURN_IF_ERROR(WriteRecord(record, nullptr, std::move(entries)));
    CrashPoint("shred.after_record");
    return absl::OkStatus();
  }

  const Options options_;
  const std::shared_ptr<DbCore> db_;
  const std::unique_ptr<KeyStore> keys_;
  BackupManager backups_;
  std::shared_ptr<AuditLogs> audit_;  // Set by StartAudit.
  // When RunMaintenance last pruned the audit logs (once a day).
  std::optional<absl::Time> last_retention_run_
      ABSL_GUARDED_BY(maintenance_mu_);

  mutable absl::Mutex provider_mu_;
  std::shared_ptr<KeyProvider> provider_
      ABSL_GUARDED_BY(provider_mu_);  // After a rotation.

  // Lock order (docs/concurrency.md): maintenance_mu_, lifecycle_mu_, a core's
  // gate, cores_mu_, mu_, then the backup manager's, the key store's and the
  // audit logs' own locks.
  //
  // Serialises what moves data around in bulk: backups, single-tenant restores,
  // maintenance runs (a purge never overlaps a backup), master-key rotations
  // (a backup's key-store copy and seal, and a shred, see one master key).
  absl::Mutex maintenance_mu_;
  // Serialises registry changes, and guards every read-modify-write of the
  // registry metadata and tenant records: tenant creation, lifecycle calls,
  // the lifecycle steps of a maintenance run. A backup does not hold it, so
  // tenants can be created during one.
  absl::Mutex lifecycle_mu_;
  // Guards the memory copy of the registry (copies in and out only; writers
  // also hold lifecycle_mu_).
  mutable absl::Mutex mu_;
  proto::RegistryMeta meta_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, proto::TenantRecord> tenants_
      ABSL_GUARDED_BY(mu_);

  absl::Mutex cores_mu_;
  // Unwrapped keys are shared by all open handles of a tenant and released with
  // the last one.
  absl::flat_hash_map<std::uint64_t, CoreSlot> cores_
      ABSL_GUARDED_BY(cores_mu_);
  std::list<std::uint64_t> recent_
      ABSL_GUARDED_BY(cores_mu_);  // Most recent first.
};

// Appends the time of a wrong-master-key attempt to the pending file.
void NotePendingWrongKey(const std::string& dir, absl::Time now) {
  const std::string path = dir + "/" + kPendingAuditFile;
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  FdCloser closer(fd);
  const std::string line = absl::StrCat(absl::ToUnixMicros(now), "\n");
  if (WriteAll(fd, reinterpret_cast<const unsigned char*>(line.data()),
               line.size(), path)
          .ok()) {
    (void)::fsync(fd);
  }
}

// `options` with data_dir and backup_dir made absolute (RocksDB's backup
// engine refuses relative paths, and a later chdir must not move the store).
absl::StatusOr<Options> WithAbsolutePaths(Options options) {
  std::error_code ec;
  for (std::string* dir : {&options.data_dir, &options.backup_dir}) {
    if (dir->empty()) continue;
    std::filesystem::path absolute = std::filesystem::absolute(*dir, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot make ", *dir, " an absolute path: ", ec.message()));
    }
    *dir = absolute.lexically_normal().string();
    while (dir->size() > 1 && dir->back() == '/') dir->pop_back();
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const Options& given,
                                                 bool file_encryption) {
  LEYSER_RETURN_IF_ERROR(ValidateOptions(given));
  LEYSER_ASSIGN_OR_RETURN(const Options options, WithAbsolutePaths(given));
  LEYSER_RETURN_IF_ERROR(EnsureSodium());
  const std::string& dir = options.data_dir;
  const std::string keys_dir = dir + "/keys";
  const std::string db_dir = dir + "/db";
  const bool keys_exist = KeyStore::Exists(keys_dir);
  if (!keys_exist) {
    if (PathExists(db_dir + "/CURRENT")) {
      return absl::DataLossError(
          absl::StrCat(dir, " holds a database but no key store; restore ",
                       keys_dir, " from a key-store copy"));
    }
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("no leyser store in ", dir,
                       "; set Options::create_if_missing to create one"));
    }
    LEYSER_RETURN_IF_ERROR(EnsureDir(dir));
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                          FileLock::Acquire(dir + "/LOCK"));
  LEYSER_ASSIGN_OR_RETURN(SecretBytes master_key,
                          options.key_provider->GetMasterKey());
  if (master_key.size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key provider returned a ", master_key.size(),
                     "-byte master key; it must be 32 bytes"));
  }
  absl::StatusOr<std::unique_ptr<KeyStore>> opened =
      KeyStore::Open(keys_dir, std::move(master_key), options.create_if_missing,
                     options.clock->Now(), /*plain_files=*/!file_encryption);
  if (opened.status().code() == absl::StatusCode::kPermissionDenied) {
    // Recorded in the audit log at the next successful open (the encrypted
    // database cannot be written without the right key).
    NotePendingWrongKey(dir, options.clock->Now());
  }
  LEYSER_RETURN_IF_ERROR(opened.status());
  std::unique_ptr<KeyStore> keys = *std::move(opened);
  if (keys->plain_files() == file_encryption) {
    return absl::FailedPreconditionError(
        keys->plain_files() ? "this store was made for tests without file "
                              "encryption; Store::Open refuses it"
                            : "this store encrypts its files and cannot be "
                              "opened without file encryption");
  }
  const bool create_db = !PathExists(db_dir + "/CURRENT");
  if (create_db && keys_exist && !options.create_if_missing) {
    return absl::DataLossError(
        absl::StrCat(db_dir, " is missing; restore the store from a backup"));
  }
  DataDbSettings settings;
  settings.create = create_db;
  settings.block_cache_bytes = options.block_cache_bytes;
  settings.sync_writes = options.sync_writes;
  settings.max_key_bytes = options.max_key_bytes;
  settings.max_value_bytes = options.max_value_bytes;
  settings.clock = options.clock;
  TenantKey file_key;
  if (!keys->plain_files()) {
    LEYSER_ASSIGN_OR_RETURN(file_key, keys->GetFileKey());
  }
  LEYSER_ASSIGN_OR_RETURN(
      std::shared_ptr<DbCore> db,
      OpenDataDb(db_dir, settings, std::move(lock), std::move(file_key.key),
                 file_key.version));
  auto store =
      std::make_unique<StoreImpl>(options, std::move(db), std::move(keys));
  LEYSER_RETURN_IF_ERROR(store->Load(create_db));
  LEYSER_RETURN_IF_ERROR(store->StartAudit());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

absl::Status CompactAllForTesting(Store& store) {
  return static_cast<StoreImpl&>(store).CompactAll();
}

absl::StatusOr<std::unique_ptr<Store>> OpenWithoutFileEncryptionForTesting(
    const Options& options) {
  return OpenStore(options, /*file_encryption=*/false);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const Options& options) {
  return internal::OpenStore(options, /*file_encryption=*/true);
}

absl::Status Store::RestoreStore(const Options& given, BackupId id) {
  LEYSER_RETURN_IF_ERROR(internal::ValidateOptions(given));
  LEYSER_ASSIGN_OR_RETURN(const Options options,
                          internal::WithAbsolutePaths(given));
  LEYSER_RETURN_IF_ERROR(internal::EnsureSodium());
  LEYSER_RETURN_IF_ERROR(internal::BackupManager::RestoreStore(options, id));
  // The restored store's system log records the restore. Its audit logs are
  // those of the generation: checkpoints anchored since then show what the
  // restore rolled back.
  Options open = options;
  open.create_if_missing = false;
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(open));
  return static_cast<internal::StoreImpl&>(*store).RecordStoreRestored(id);
}

}  // namespace leyser
