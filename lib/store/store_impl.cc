// Store::Open and the store implementation: registry, tenant creation, tenant handles.

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "leyser/store.h"
#include "lib/backup/backup_manager.h"
#include "lib/crypto/file_cipher.h"
#include "lib/crypto/sodium.h"
#include "lib/keys/key_store.h"
#include "lib/proto/registry.pb.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/store/db_core.h"
#include "lib/store/key_encoding.h"
#include "lib/store/store_impl.h"
#include "lib/store/tenant_impl.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"
#include "lib/util/strings.h"

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

DbCore::~DbCore() {
  if (db == nullptr) {
    return;
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  db->Close().PermitUncheckedError();
  delete db;
}

namespace {

constexpr std::uint32_t kRegistryFormatVersion = 1;

absl::StatusOr<TenantInfo> InfoFromRecord(const proto::TenantRecord& record) {
  if (record.state() < proto::TENANT_STATE_ACTIVE || record.state() > proto::TENANT_STATE_SHREDDED ||
      record.number() < kFirstTenantNumber || record.number() > kMaxTenantNumber) {
    return absl::DataLossError("a tenant registry record is damaged");
  }
  TenantInfo info;
  info.id = record.id();
  info.number = record.number();
  info.state = static_cast<TenantState>(record.state());
  info.created = FromProtoTime(record.created());
  return info;
}

absl::Status ValidateOptions(const Options& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("Options::data_dir is empty; name the store's directory");
  }
  if (options.key_provider == nullptr) {
    return absl::InvalidArgumentError(
        "Options::key_provider is null; supply one (for example NewFileKeyProvider)");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("Options::clock is null; leave the default SystemClock()");
  }
  if (options.max_key_bytes == 0 || options.max_key_bytes > kKeyBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat("Options::max_key_bytes must be 1..",
                                                   kKeyBytesLimit, ", not ",
                                                   options.max_key_bytes));
  }
  if (options.max_value_bytes == 0 || options.max_value_bytes > kValueBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat("Options::max_value_bytes must be 1..",
                                                   kValueBytesLimit, ", not ",
                                                   options.max_value_bytes));
  }
  if (!options.backup_dir.empty()) {
    std::error_code ec;
    const std::string data = std::filesystem::weakly_canonical(options.data_dir, ec).string() + "/";
    const std::string backup =
        std::filesystem::weakly_canonical(options.backup_dir, ec).string() + "/";
    if (absl::StartsWith(backup, data) || absl::StartsWith(data, backup)) {
      return absl::InvalidArgumentError(
          "Options::backup_dir must lie outside Options::data_dir (and not contain it)");
    }
  }
  if (options.backup_generations < 1 || options.backup_generations > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Options::backup_generations must be 1..1000, not ", options.backup_generations));
  }
  if (options.backup_time_of_day < absl::ZeroDuration() ||
      options.backup_time_of_day >= absl::Hours(24)) {
    return absl::InvalidArgumentError("Options::backup_time_of_day must lie in [0, 24h)");
  }
  return absl::OkStatus();
}

class StoreImpl final : public Store {
 public:
  StoreImpl(Options options, std::shared_ptr<DbCore> db, std::unique_ptr<KeyStore> keys)
      : options_(std::move(options)),
        db_(std::move(db)),
        keys_(std::move(keys)),
        backups_(options_, db_, keys_.get()) {}

  // Loads the registry into memory and removes keys orphaned by interrupted creations.
  absl::Status Load(bool created) {
    std::string meta_bytes;
    rocksdb::Status s =
        db_->db->Get(rocksdb::ReadOptions(), db_->registry_cf, kRegistryMetaKey, &meta_bytes);
    proto::RegistryMeta meta;
    if (s.IsNotFound()) {
      if (!created) {
        return absl::DataLossError(
            "the tenant registry has no metadata record; the database is damaged");
      }
      meta.set_format_version(kRegistryFormatVersion);
      meta.set_next_tenant_number(kFirstTenantNumber);
      ToProtoTime(options_.clock->Now(), meta.mutable_created());
      LEYSER_RETURN_IF_ERROR(FromRocks(
          db_->db->Put(SyncWrite(), db_->registry_cf, kRegistryMetaKey, meta.SerializeAsString()),
          "initialising the tenant registry"));
    } else {
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the tenant registry"));
      if (!meta.ParseFromString(meta_bytes) || meta.format_version() != kRegistryFormatVersion ||
          meta.next_tenant_number() < kFirstTenantNumber) {
        return absl::DataLossError("the tenant registry metadata is damaged or of an unknown format");
      }
    }
    next_number_ = meta.next_tenant_number();

    std::unique_ptr<rocksdb::Iterator> it(
        db_->db->NewIterator(rocksdb::ReadOptions(), db_->registry_cf));
    for (it->Seek(kRegistryTenantPrefix); it->Valid() && it->key().starts_with(kRegistryTenantPrefix);
         it->Next()) {
      proto::TenantRecord record;
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("a tenant registry record is damaged");
      }
      LEYSER_ASSIGN_OR_RETURN(TenantInfo info, InfoFromRecord(record));
      if (info.number >= next_number_) {
        return absl::DataLossError("a tenant registry record has a number not yet assigned");
      }
      std::string id = info.id;
      tenants_.emplace(std::move(id), std::move(info));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the tenant registry"));
    return keys_->DropKeysFrom(next_number_);
  }

  absl::StatusOr<TenantInfo> CreateTenant(std::string_view id) override {
    LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
    absl::MutexLock create_lock(&create_mu_);
    {
      absl::ReaderMutexLock lock(&mu_);
      if (tenants_.contains(ToAbsl(id))) {
        return absl::AlreadyExistsError(absl::StrCat("tenant ", ToAbsl(id), " already exists"));
      }
    }
    std::uint64_t number = NextNumber();
    if (number > kMaxTenantNumber) {
      return absl::ResourceExhaustedError("no tenant numbers are left");
    }
    // The key first: a crash before the registry write leaves only an unreferenced key, which the
    // next open removes; never a registered tenant without a key.
    LEYSER_ASSIGN_OR_RETURN(TenantKey key, keys_->CreateTenantKey(number));
    (void)key;

    TenantInfo info;
    info.id = std::string(id);
    info.number = number;
    info.state = TenantState::kActive;
    info.created = options_.clock->Now();
    proto::TenantRecord record;
    record.set_id(info.id);
    record.set_number(number);
    record.set_state(proto::TENANT_STATE_ACTIVE);
    ToProtoTime(info.created, record.mutable_created());
    proto::RegistryMeta meta = LoadedMeta(number + 1);

    rocksdb::WriteBatch batch;
    LEYSER_RETURN_IF_ERROR(FromRocks(
        batch.Put(db_->registry_cf, RegistryTenantKey(id), record.SerializeAsString()),
        "creating a tenant"));
    LEYSER_RETURN_IF_ERROR(FromRocks(
        batch.Put(db_->registry_cf, kRegistryMetaKey, meta.SerializeAsString()),
        "creating a tenant"));
    LEYSER_RETURN_IF_ERROR(FromRocks(db_->db->Write(SyncWrite(), &batch), "creating a tenant"));

    absl::MutexLock lock(&mu_);
    next_number_ = number + 1;
    tenants_.emplace(info.id, info);
    return info;
  }

  absl::StatusOr<std::unique_ptr<Tenant>> OpenTenant(std::string_view id) override {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core, ActiveCore(id));
    return NewTenantHandle(std::move(core));
  }

  absl::StatusOr<TenantInfo> GetTenantInfo(std::string_view id) const override {
    LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
    absl::ReaderMutexLock lock(&mu_);
    auto it = tenants_.find(ToAbsl(id));
    if (it == tenants_.end()) {
      return absl::NotFoundError(absl::StrCat("no tenant ", ToAbsl(id)));
    }
    return it->second;
  }

  absl::Status RotateMasterKey(std::shared_ptr<KeyProvider> new_provider) override {
    if (new_provider == nullptr) {
      return absl::InvalidArgumentError("RotateMasterKey: the new key provider is null");
    }
    LEYSER_ASSIGN_OR_RETURN(SecretBytes new_key, new_provider->GetMasterKey());
    if (new_key.size() != kMasterKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("the new key provider returned a ",
                                                     new_key.size(),
                                                     "-byte master key; it must be 32 bytes"));
    }
    return keys_->RotateMasterKey(std::move(new_key));
  }

  absl::StatusOr<BackupInfo> CreateBackup() override {
    return backups_.CreateBackup(options_.clock->Now(), nullptr);
  }

  absl::StatusOr<std::vector<BackupInfo>> ListBackups() const override { return backups_.List(); }

  absl::Status VerifyBackup(BackupId id) const override { return backups_.Verify(id); }

  absl::Status RestoreTenant(std::string_view tenant_id, BackupId id) override {
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core, ActiveCore(tenant_id));
    const std::string tmp_dir = options_.data_dir + "/tmp";
    LEYSER_RETURN_IF_ERROR(EnsureDir(tmp_dir));
    const std::string sst = absl::StrCat(tmp_dir, "/restore-", core->number, ".sst");
    LEYSER_RETURN_IF_ERROR(RemoveAll(sst));
    LEYSER_ASSIGN_OR_RETURN(BackupTenant in_backup, backups_.ExportTenant(id, core->number, sst));
    if (in_backup.id != core->id) {
      (void)RemoveAll(sst);
      return absl::FailedPreconditionError(absl::StrCat(
          "tenant number ", core->number, " belongs to ", in_backup.id, " in the backup"));
    }
    absl::Status s;
    {
      // The tenant's own calls wait; every other tenant goes on. One ingestion replaces the
      // tenant's keyspace atomically: the file starts with a range deletion of all of it.
      absl::WriterMutexLock gate(&core->gate);
      rocksdb::IngestExternalFileOptions ingest;
      ingest.move_files = false;  // A copy: the file layer cannot reopen a linked file.
      ingest.write_global_seqno = false;  // No in-place rewrite (it would reuse a file nonce).
      ingest.verify_checksums_before_ingest = true;
      s = FromRocks(db_->db->IngestExternalFile(db_->data_cf, {sst}, ingest),
                    "restoring a tenant");
    }
    absl::Status removed = RemoveAll(sst);
    return s.ok() ? removed : s;
  }

  absl::StatusOr<MaintenanceReport> RunMaintenance() override {
    return backups_.RunMaintenance(options_.clock->Now());
  }

  absl::Status CompactAll() {
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    return FromRocks(db_->db->CompactRange(compact, db_->data_cf, nullptr, nullptr),
                     "compacting the store");
  }

  absl::StatusOr<std::vector<TenantInfo>> ListTenants() const override {
    std::vector<TenantInfo> out;
    {
      absl::ReaderMutexLock lock(&mu_);
      out.reserve(tenants_.size());
      for (const auto& [id, info] : tenants_) {
        out.push_back(info);
      }
    }
    std::sort(out.begin(), out.end(),
              [](const TenantInfo& a, const TenantInfo& b) { return a.id < b.id; });
    return out;
  }

 private:
  // Returns the shared core of active tenant `id`, unwrapping its key if no handle holds it.
  absl::StatusOr<std::shared_ptr<const TenantCore>> ActiveCore(std::string_view id) {
    LEYSER_ASSIGN_OR_RETURN(TenantInfo info, GetTenantInfo(id));
    if (info.state != TenantState::kActive) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tenant ", ToAbsl(id), " is ", ToAbsl(TenantStateName(info.state)),
          " and no longer served"));
    }
    absl::MutexLock lock(&cores_mu_);
    std::weak_ptr<const TenantCore>& slot = cores_[info.number];
    std::shared_ptr<const TenantCore> core = slot.lock();
    if (core == nullptr) {
      LEYSER_ASSIGN_OR_RETURN(TenantKey key, keys_->GetTenantKey(info.number));
      auto fresh = std::make_shared<TenantCore>();
      fresh->db = db_;
      fresh->id = info.id;
      fresh->number = info.number;
      fresh->prefix = TenantPrefix(info.number);
      fresh->next_prefix = TenantPrefix(info.number + 1);
      fresh->key = std::move(key.key);
      fresh->key_version = key.version;
      core = std::move(fresh);
      slot = core;
    }
    return core;
  }

  std::uint64_t NextNumber() {
    absl::ReaderMutexLock lock(&mu_);
    return next_number_;
  }

  proto::RegistryMeta LoadedMeta(std::uint64_t next) const {
    proto::RegistryMeta meta;
    meta.set_format_version(kRegistryFormatVersion);
    meta.set_next_tenant_number(next);
    return meta;
  }

  const Options options_;
  const std::shared_ptr<DbCore> db_;
  const std::unique_ptr<KeyStore> keys_;
  BackupManager backups_;

  absl::Mutex create_mu_;  // Serialises CreateTenant.
  mutable absl::Mutex mu_;
  std::uint64_t next_number_ ABSL_GUARDED_BY(mu_) = kFirstTenantNumber;
  absl::flat_hash_map<std::string, TenantInfo> tenants_ ABSL_GUARDED_BY(mu_);

  absl::Mutex cores_mu_;
  // Unwrapped keys are shared by all open handles of a tenant and released with the last one.
  absl::flat_hash_map<std::uint64_t, std::weak_ptr<const TenantCore>> cores_
      ABSL_GUARDED_BY(cores_mu_);
};

absl::StatusOr<std::shared_ptr<DbCore>> OpenDataDb(const Options& options, const std::string& dir,
                                                   bool create, std::unique_ptr<FileLock> lock,
                                                   const KeyStore& keys) {
  auto core = std::make_shared<DbCore>();
  core->lock = std::move(lock);
  rocksdb::DBOptions db_options = DataDbOptions();
  db_options.create_if_missing = create;
  db_options.create_missing_column_families = create;
  if (!keys.plain_files()) {
    // Every file of the data database goes through the file layer, the info LOG included.
    LEYSER_ASSIGN_OR_RETURN(TenantKey file_key, keys.GetFileKey());
    LEYSER_ASSIGN_OR_RETURN(core->env, NewEncryptedEnv(std::move(file_key.key), file_key.version));
    LEYSER_RETURN_IF_ERROR(EnsureDir(dir));
    LEYSER_ASSIGN_OR_RETURN(core->info_log, NewEncryptedInfoLog(core->env.env.get(), dir));
    db_options.env = core->env.env.get();
    db_options.info_log = core->info_log;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kTenantDataCf, TenantDataCfOptions(options.block_cache_bytes)},
      {kRegistryCf, RegistryCfOptions()},
  };
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, cfs, &core->handles, &core->db);
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "opening the data database"));
  core->data_cf = core->handles[1];
  core->registry_cf = core->handles[2];
  core->write_options.sync = options.sync_writes;
  core->max_key_bytes = options.max_key_bytes;
  core->max_value_bytes = options.max_value_bytes;
  return core;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const Options& options, bool file_encryption) {
  LEYSER_RETURN_IF_ERROR(ValidateOptions(options));
  LEYSER_RETURN_IF_ERROR(EnsureSodium());
  const std::string& dir = options.data_dir;
  const std::string keys_dir = dir + "/keys";
  const std::string db_dir = dir + "/db";
  const bool keys_exist = KeyStore::Exists(keys_dir);
  if (!keys_exist) {
    if (PathExists(db_dir + "/CURRENT")) {
      return absl::DataLossError(absl::StrCat(
          dir, " holds a database but no key store; restore ", keys_dir, " from a key-store copy"));
    }
    if (!options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat(
          "no leyser store in ", dir, "; set Options::create_if_missing to create one"));
    }
    LEYSER_RETURN_IF_ERROR(EnsureDir(dir));
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, FileLock::Acquire(dir + "/LOCK"));
  LEYSER_ASSIGN_OR_RETURN(SecretBytes master_key, options.key_provider->GetMasterKey());
  if (master_key.size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the key provider returned a ", master_key.size(), "-byte master key; it must be 32 bytes"));
  }
  LEYSER_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyStore> keys,
      KeyStore::Open(keys_dir, std::move(master_key), options.create_if_missing,
                     options.clock->Now(), /*plain_files=*/!file_encryption));
  if (keys->plain_files() == file_encryption) {
    return absl::FailedPreconditionError(
        keys->plain_files()
            ? "this store was made for tests without file encryption; Store::Open refuses it"
            : "this store encrypts its files and cannot be opened without file encryption");
  }
  const bool create_db = !PathExists(db_dir + "/CURRENT");
  if (create_db && keys_exist && !options.create_if_missing) {
    return absl::DataLossError(absl::StrCat(db_dir, " is missing; restore the store from a backup"));
  }
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<DbCore> db,
                          OpenDataDb(options, db_dir, create_db, std::move(lock), *keys));
  auto store = std::make_unique<StoreImpl>(options, std::move(db), std::move(keys));
  LEYSER_RETURN_IF_ERROR(store->Load(create_db));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

absl::Status CompactAllForTesting(Store& store) {
  return static_cast<StoreImpl&>(store).CompactAll();
}

absl::StatusOr<std::unique_ptr<Store>> OpenWithoutFileEncryptionForTesting(const Options& options) {
  return OpenStore(options, /*file_encryption=*/false);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const Options& options) {
  return internal::OpenStore(options, /*file_encryption=*/true);
}

absl::Status Store::RestoreStore(const Options& options, BackupId id) {
  LEYSER_RETURN_IF_ERROR(internal::ValidateOptions(options));
  LEYSER_RETURN_IF_ERROR(internal::EnsureSodium());
  return internal::BackupManager::RestoreStore(options, id);
}

}  // namespace leyser
