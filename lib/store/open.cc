// The open path: option checks, creating a store (creation.h), checking its
// parts, opening the key store and the data database, starting the parts;
// Store::Open and Store::RestoreStore (the rollback check is in rollback.cc).

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <fcntl.h>
#include <unistd.h>

#include "leyser/store.h"

#include "lib/audit/checkpoint.h"
#include "lib/crypto/sodium.h"
#include "lib/db/db_files.h"
#include "lib/db/filename.h"
#include "lib/registry/records.h"
#include "lib/store/creation.h"
#include "lib/store/store_impl.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser {
namespace internal {

absl::Status ValidateActor(std::string_view actor, std::string_view what) {
  if (actor.empty() || actor.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(what), " must be 1..256 bytes, not ", actor.size()));
  }
  return absl::OkStatus();
}

namespace {

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

// Appends the time of a wrong-master-key attempt to the pending file.
void NotePendingWrongKey(const std::string& dir, absl::Time now) {
  // Best effort: the wrong key is refused either way.
  AppendLineDurably(PendingAuditFileName(dir),
                    absl::StrCat(absl::ToUnixMicros(now), "\n"))
      .IgnoreError();
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

}  // namespace

StoreImpl::StoreImpl(Options options, std::shared_ptr<DbCore> db,
                     std::unique_ptr<KeyStore> keys)
    : options_(std::move(options)),
      db_(std::move(db)),
      keys_(std::move(keys)),
      registry_(db_),
      backups_(options_, db_, keys_.get()) {}

StoreImpl::~StoreImpl() { Close().IgnoreError(); }

absl::Status StoreImpl::Start(const StartKind& kind) {
  LEYSER_RETURN_IF_ERROR(
      registry_.Load(/*created=*/false, options_.clock->Now()));
  LEYSER_RETURN_IF_ERROR(StartAudit(registry_.Meta()));
  // Nothing is written before the rollback check.
  LEYSER_ASSIGN_OR_RETURN(RollbackFindings found, CheckRollback());
  if (!found.empty() && !kind.restored.has_value() &&
      !options_.accept_rollback) {
    return absl::DataLossError(DescribeRollback(found, /*refused=*/true));
  }
  if (!found.empty() || kind.restored.has_value()) {
    LEYSER_RETURN_IF_ERROR(StartNewSeries(found, kind.restored));
  }
  LEYSER_RETURN_IF_ERROR(SettleSigningKey(legacy_signer_));
  LEYSER_RETURN_IF_ERROR(RecordPendingWrongKeys());
  if (found.sink_holds_none) {
    LEYSER_RETURN_IF_ERROR(audit_->RecordSinkHoldsNone());
  }
  if (kind.records_authenticated) {
    proto::AuditEntry entry = NewAuditEntry(
        kSystemLogNumber, proto::AUDIT_EVENT_RECORDS_AUTHENTICATED,
        options_.audit_actor, options_.data_dir);
    (*entry.mutable_details())["tenants"] =
        absl::StrCat(registry_.Records().size());
    LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  }
  LEYSER_RETURN_IF_ERROR(
      keys_->DropKeysFrom(registry_.Meta().next_tenant_number()));
  TenantCache::Config cache;
  cache.capacity = options_.tenant_cache_size;
  cache.actor = options_.audit_actor;
  cache.clock = options_.clock;
  cache_ = std::make_unique<TenantCache>(std::move(cache), db_, audit_,
                                         &registry_, keys_.get());
  LifecycleConfig lifecycle;
  lifecycle.purge_after = options_.purge_after;
  lifecycle.backup_purge_after = options_.backup_purge_after;
  lifecycle.actor = options_.audit_actor;
  lifecycle.data_dir = options_.data_dir;
  lifecycle.clock = options_.clock;
  lifecycle.signing_key = [this] { return SigningSeed(); };
  lifecycle_ =
      std::make_unique<Lifecycle>(std::move(lifecycle), &registry_, keys_.get(),
                                  &backups_, db_, audit_, cache_.get());
  LEYSER_RETURN_IF_ERROR(BindBackupDir(/*take=*/false));
  return NoteUnlockedSecretMemory(/*at_open=*/true);
}

absl::Status StoreImpl::StartAudit(const proto::RegistryMeta& meta) {
  if (audit_ != nullptr) audit_->Stop();
  absl::StatusOr<SecretBytes> seed = SigningSeed();
  legacy_signer_ = absl::IsNotFound(seed.status());
  if (legacy_signer_) seed = LegacySigningSeed(*provider());
  LEYSER_RETURN_IF_ERROR(seed.status());
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const CheckpointSigner> signer,
                          CheckpointSigner::Create(*std::move(seed)));
  AuditConfig config;
  config.installation_id = absl::BytesToHexString(meta.installation_id());
  config.series = absl::BytesToHexString(meta.anchor_series());
  for (const std::string& series : meta.earlier_anchor_series()) {
    config.earlier_series.push_back(absl::BytesToHexString(series));
  }
  config.record_mac = db_->record_mac;
  config.checkpoint_entries = options_.audit_checkpoint_entries;
  config.checkpoint_interval = options_.audit_checkpoint_interval;
  config.retention = options_.audit_retention;
  config.sink = options_.audit_sink;
  config.clock = options_.clock;
  audit_ = std::make_shared<AuditLogs>(std::move(config), db_->db,
                                       db_->audit_cf, signer, db_);
  audit_->SetKnownKeys(SigningKeys(meta));
  if (meta.has_high_water()) {
    audit_->SeedClock(FromProtoTime(meta.high_water()));
  }
  LEYSER_RETURN_IF_ERROR(audit_->LoadDirtyLogs());
  registry_.set_audit(audit_);
  return absl::OkStatus();
}

absl::Status StoreImpl::RecordPendingWrongKeys() {
  const std::string pending = PendingAuditFileName(options_.data_dir);
  absl::StatusOr<std::string> attempts = ReadFileToString(pending);
  if (attempts.ok()) {
    for (absl::string_view line : absl::StrSplit(*attempts, '\n')) {
      std::int64_t micros = 0;
      if (!absl::SimpleAtoi(line, &micros)) continue;
      proto::AuditEntry entry =
          NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_WRONG_MASTER_KEY,
                        "unknown", options_.data_dir);
      SetAuditOutcome(absl::PermissionDeniedError("wrong master key"), &entry);
      (*entry.mutable_details())["attempted_at"] =
          Rfc3339(absl::FromUnixMicros(micros));
      LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
    }
    LEYSER_RETURN_IF_ERROR(RemoveAll(pending));
  } else if (!absl::IsNotFound(attempts.status())) {
    return attempts.status();
  }
  return absl::OkStatus();
}

namespace {

// DataLoss naming the part of the store in `dir` (keys/ or db/) that is
// missing, when the other is there.
absl::Status CheckStoreParts(const std::string& dir) {
  const std::string keys = KeyStoreDir(dir);
  const std::string db = DataDbDir(dir);
  if (!PathExists(keys)) {
    return absl::DataLossError(
        absl::StrCat(keys, " (the key store) is missing, but ", db,
                     " (the data database) is there; ", kPutBackOrRestore));
  }
  if (!PathExists(db)) {
    return absl::DataLossError(
        absl::StrCat(db, " (the data database) is missing, but ", keys,
                     " (the key store) is there; ", kPutBackOrRestore));
  }
  return absl::OkStatus();
}

// Tags the control records of a store from before they were authenticated
// (Options::authenticate_legacy_records, or an upgrade a crash interrupted)
// under a new record key: KeyStore::BeginRecordAuthentication, the tags, then
// FinishRecordAuthentication; from then on tags are required. Each step can
// run again after a crash.
absl::Status AuthenticateLegacyRecords(DbCore& db, KeyStore& keys) {
  LEYSER_RETURN_IF_ERROR(keys.BeginRecordAuthentication());
  LEYSER_ASSIGN_OR_RETURN(TenantKey record_key, keys.GetRecordKey());
  db.record_mac = std::make_shared<RecordMac>(std::move(record_key.key));
  LEYSER_RETURN_IF_ERROR(
      SealLegacyRegistryRecords(db.db, db.registry_cf, *db.record_mac));
  LEYSER_RETURN_IF_ERROR(
      SealLegacyAuditStates(db.db, db.audit_cf, *db.record_mac));
  return keys.FinishRecordAuthentication();
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(
    const Options& given, bool file_encryption,
    std::optional<BackupId> restored = std::nullopt) {
  LEYSER_RETURN_IF_ERROR(ValidateOptions(given));
  LEYSER_ASSIGN_OR_RETURN(const Options options, WithAbsolutePaths(given));
  LEYSER_RETURN_IF_ERROR(EnsureSodium());
  LEYSER_RETURN_IF_ERROR(CheckSecretMemory(options));
  const std::string& dir = options.data_dir;
  const std::string keys_dir = KeyStoreDir(dir);
  const std::string db_dir = DataDbDir(dir);
  if (options.create_if_missing) {
    LEYSER_RETURN_IF_ERROR(EnsureDir(dir));
  } else if (!PathExists(keys_dir) && !PathExists(db_dir) &&
             !PathExists(CreationDir(dir))) {
    return absl::NotFoundError(
        absl::StrCat("no leyser store in ", dir,
                     "; set Options::create_if_missing to create one"));
  }
  // Taken before looking closer: a creation under way holds it.
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                          FileLock::Acquire(LockFileName(dir)));
  LEYSER_ASSIGN_OR_RETURN(SecretBytes master_key,
                          options.key_provider->GetMasterKey());
  if (master_key.size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key provider returned a ", master_key.size(),
                     "-byte master key; it must be 32 bytes"));
  }
  LEYSER_RETURN_IF_ERROR(EnsureStoreCreated(options, master_key,
                                            /*plain_files=*/!file_encryption));
  // Every check that can refuse the store runs before anything in it is
  // written: the parts, the key store (read-only, with the master key), and
  // the data database's CURRENT and MANIFEST (in OpenDataDb).
  LEYSER_RETURN_IF_ERROR(CheckStoreParts(dir));
  absl::StatusOr<KeyStoreInfo> inspected =
      KeyStore::Inspect(keys_dir, master_key);
  if (inspected.status().code() == absl::StatusCode::kPermissionDenied) {
    // Recorded in the audit log at the next successful open (the encrypted
    // database cannot be written without the right key).
    NotePendingWrongKey(dir, options.clock->Now());
  }
  LEYSER_RETURN_IF_ERROR(inspected.status());
  // 0700/0600 for what an older leyser left looser (lib/util/files.h), once
  // the master key is known to be the store's. (The backup directory is
  // tightened when it is bound as the store's: BackupManager::Bind.)
  TightenPermissions(dir);
  if (!inspected->records_authenticated &&
      !options.authenticate_legacy_records) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the store in ", dir,
        " was made by leyser 0.2 or earlier: its registry and audit-state "
        "records carry no authentication tag. Open it once with "
        "Options::authenticate_legacy_records (leyserctl "
        "--authenticate_legacy_records) to tag them as they are on disk, "
        "after making sure nobody altered its files; nothing was changed"));
  }
  if (inspected->plain_files == file_encryption) {
    return absl::FailedPreconditionError(
        inspected->plain_files ? "this store was made for tests without file "
                                 "encryption; Store::Open refuses it"
                               : "this store encrypts its files and cannot be "
                                 "opened without file encryption");
  }
  const DataDbSettings settings = DataDbSettingsFor(options);
  // Once the data database's files passed their checks too, the key store
  // opens for writing beside it (each open mostly waits for its own fsyncs);
  // both are waited for, whatever either returns.
  std::optional<absl::StatusOr<std::unique_ptr<KeyStore>>> opened_keys;
  auto open_keys = [&] {
    opened_keys.emplace(
        KeyStore::OpenInspected(keys_dir, std::move(master_key)));
  };
  std::thread keys_opener;
  auto start_keys = [&] {
    try {
      keys_opener = std::thread(open_keys);
    } catch (const std::system_error&) {
      open_keys();  // No thread to be had: one after the other.
    }
  };
  // The lock stays here until both opens ended (a refused data database
  // must not let it go while the key store is still being opened).
  absl::StatusOr<std::shared_ptr<DbCore>> opened_db = OpenDataDb(
      db_dir, settings, /*lock=*/nullptr,
      file_encryption ? ToFileKey(std::move(inspected->file_key)) : FileKey{},
      ToFileKeys(std::move(inspected->retired_file_keys)), start_keys);
  if (keys_opener.joinable()) keys_opener.join();
  if (!opened_keys.has_value()) {
    // The data database was refused before its checks passed.
    LEYSER_RETURN_IF_ERROR(opened_db.status());
    open_keys();
  }
  LEYSER_RETURN_IF_ERROR(opened_db.status());
  std::shared_ptr<DbCore> db = *std::move(opened_db);
  db->lock = std::move(lock);
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<KeyStore> keys,
                          *std::move(opened_keys));
  StoreImpl::StartKind kind;
  kind.restored = restored;
  if (inspected->records_authenticated && !inspected->records_pending) {
    db->record_mac =
        std::make_shared<RecordMac>(std::move(inspected->record_key.key));
  } else {
    LEYSER_RETURN_IF_ERROR(AuthenticateLegacyRecords(*db, *keys));
    kind.records_authenticated = true;
  }
  auto store =
      std::make_unique<StoreImpl>(options, std::move(db), std::move(keys));
  LEYSER_RETURN_IF_ERROR(store->Start(kind));
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
  LEYSER_RETURN_IF_ERROR(internal::CheckSecretMemory(options));
  LEYSER_RETURN_IF_ERROR(internal::BackupManager::RestoreStore(options, id));
  // The restored store's system log records the restore, as the first entry
  // of a new anchor series: its audit logs are those of the generation, and
  // the checkpoints anchored since then (which show what the restore rolled
  // back) stay in the old one. A generation from before records were
  // authenticated is tagged as restored: restoring it is the operator's
  // choice, and its key-store copy is sealed with the master key.
  Options open = options;
  open.create_if_missing = false;
  open.authenticate_legacy_records = true;
  LEYSER_ASSIGN_OR_RETURN(
      std::unique_ptr<Store> store,
      internal::OpenStore(open, /*file_encryption=*/true, id));
  return store->Close();
}

}  // namespace leyser
