#include "lib/backup/backup_manager.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/utilities/backup_engine.h"

#include "lib/crypto/file_cipher.h"
#include "lib/db/column_families.h"
#include "lib/db/key_layout.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/keystore.pb.h"
#include "lib/proto/registry.pb.h"
#include "lib/registry/records.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/coding.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

constexpr std::uint32_t kGenerationFormatVersion = 1;
constexpr char kGenerationSuffix[] = ".gen";

std::string GenerationContext(BackupId id) {
  return absl::StrCat("leyser.generation.v1/", id);
}

std::string GenerationPath(const std::string& dir, BackupId id) {
  return absl::StrCat(dir, "/", id, kGenerationSuffix);
}

rocksdb::Env* DataEnv(const DbCore& db) {
  return db.env.env != nullptr ? db.env.env.get() : rocksdb::Env::Default();
}

rocksdb::BackupEngineOptions EngineOptions(const std::string& engine_dir,
                                           rocksdb::Env* env) {
  rocksdb::BackupEngineOptions o(engine_dir, env);
  o.share_table_files = true;
  o.share_files_with_checksum = true;
  o.sync = true;
  o.max_background_operations = 1;
  return o;
}

absl::StatusOr<std::unique_ptr<rocksdb::BackupEngine>> OpenEngine(
    const std::string& engine_dir, rocksdb::Env* env) {
  rocksdb::BackupEngine* engine = nullptr;
  LEYSER_RETURN_IF_ERROR(FromRocks(
      rocksdb::BackupEngine::Open(EngineOptions(engine_dir, env), env, &engine),
      "opening the backup engine"));
  return std::unique_ptr<rocksdb::BackupEngine>(engine);
}

absl::StatusOr<std::unique_ptr<rocksdb::BackupEngineReadOnly>>
OpenEngineReadOnly(const std::string& engine_dir, rocksdb::Env* env) {
  rocksdb::BackupEngineReadOnly* engine = nullptr;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(rocksdb::BackupEngineReadOnly::Open(
                    EngineOptions(engine_dir, env), env, &engine),
                "opening the backups"));
  return std::unique_ptr<rocksdb::BackupEngineReadOnly>(engine);
}

// The BackupEngine backup of a generation.
rocksdb::BackupID EngineId(const proto::GenerationFile& file) {
  return file.engine_backup_id() != 0 ? file.engine_backup_id() : file.id();
}

std::string CounterPath(const std::string& dir) { return dir + "/counter"; }

absl::StatusOr<proto::GenerationFile> ReadGeneration(const std::string& dir,
                                                     BackupId id) {
  absl::StatusOr<std::string> bytes = ReadFileToString(GenerationPath(dir, id));
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("no backup generation ", id));
  }
  LEYSER_RETURN_IF_ERROR(bytes.status());
  proto::GenerationFile file;
  if (!file.ParseFromString(*bytes) ||
      file.format_version() != kGenerationFormatVersion || file.id() != id) {
    return absl::DataLossError(
        absl::StrCat("backup generation ", id, " has a damaged header"));
  }
  return file;
}

// Opens the sealed part of `file` with the store's current master key.
absl::StatusOr<proto::BackupGeneration> OpenGeneration(
    const proto::GenerationFile& file, const KeyStore& keys) {
  LEYSER_ASSIGN_OR_RETURN(
      std::string payload,
      keys.OpenWithCurrentMasterKey(file, GenerationContext(file.id())));
  proto::BackupGeneration generation;
  if (!generation.ParseFromString(payload)) {
    return absl::DataLossError(absl::StrCat("backup generation ", file.id(),
                                            " has a damaged manifest"));
  }
  return generation;
}

// Ids of the listed generations (their .gen files), ascending.
absl::StatusOr<std::vector<BackupId>> ListedIds(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (absl::IsNotFound(names.status())) {
    return std::vector<BackupId>();
  }
  LEYSER_RETURN_IF_ERROR(names.status());
  std::vector<BackupId> ids;
  for (const std::string& name : *names) {
    BackupId id = 0;
    if (absl::EndsWith(name, kGenerationSuffix) &&
        absl::SimpleAtoi(name.substr(0, name.size() - 4), &id)) {
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

BackupInfo InfoFromFile(const proto::GenerationFile& file) {
  BackupInfo info;
  info.id = file.id();
  info.created = FromProtoTime(file.created());
  info.master_key_generation = file.master_generation();
  return info;
}

void AddManifest(const proto::BackupGeneration& generation, BackupInfo* info) {
  info->manifest_readable = true;
  info->keys = generation.keys();
  info->data_bytes = generation.data_bytes();
  info->data_files = generation.data_files();
  for (const proto::ManifestTenant& t : generation.tenants()) {
    BackupTenant tenant;
    tenant.id = t.id();
    tenant.number = t.number();
    tenant.state = static_cast<TenantState>(t.state());
    tenant.keys = t.keys();
    info->tenants.push_back(std::move(tenant));
  }
}

// A backup opened in place, read-only, without restoring it.
class OpenedBackup {
 public:
  static absl::StatusOr<std::unique_ptr<OpenedBackup>> Open(
      rocksdb::BackupEngineReadOnlyBase& engine, BackupId id) {
    auto out = std::unique_ptr<OpenedBackup>(new OpenedBackup());
    LEYSER_RETURN_IF_ERROR(
        FromRocks(engine.GetBackupInfo(id, &out->info_, true),
                  absl::StrCat("reading backup ", id)));
    rocksdb::DBOptions options = DataDbOptions();
    options.env = out->info_.env_for_open.get();
    options.info_log = NullRocksLogger();
    options.create_if_missing = false;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {kTenantDataCf, TenantDataCfOptions(8 << 20)},
        {kRegistryCf, RegistryCfOptions()},
    };
    LEYSER_RETURN_IF_ERROR(FromRocks(
        rocksdb::DB::OpenForReadOnly(options, out->info_.name_for_open, cfs,
                                     &out->handles_, &out->db_),
        absl::StrCat("opening backup ", id)));
    return out;
  }

  ~OpenedBackup() {
    if (db_ == nullptr) return;
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db_;
  }

  const rocksdb::BackupInfo& info() const { return info_; }
  rocksdb::DB* db() { return db_; }
  rocksdb::ColumnFamilyHandle* data() { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* registry() { return handles_[2]; }

 private:
  OpenedBackup() = default;
  rocksdb::BackupInfo info_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::DB* db_ = nullptr;
};

// Reads the manifest of an opened backup: its registry and per-tenant key
// counts.
absl::Status BuildManifest(OpenedBackup& backup,
                           proto::BackupGeneration* generation) {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  absl::flat_hash_map<std::uint64_t, std::uint64_t> counts;
  std::uint64_t total = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        backup.db()->NewIterator(ro, backup.data()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() >= kTenantPrefixBytes) {
        ++counts[DecodeBigEndian64(
            std::string_view(it->key().data(), kTenantPrefixBytes))];
        ++total;
      }
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading a backup"));
  }
  LEYSER_RETURN_IF_ERROR(ForEachTenantRecord(
      backup.db(), backup.registry(),
      [&](proto::TenantRecord record) -> absl::Status {
        proto::ManifestTenant* t = generation->add_tenants();
        t->set_id(record.id());
        t->set_number(record.number());
        t->set_state(record.state());
        t->set_keys(counts[record.number()]);
        return absl::OkStatus();
      }));
  generation->set_keys(total);
  generation->set_data_bytes(backup.info().size);
  generation->set_data_files(backup.info().number_files);
  return absl::OkStatus();
}

// Removes what interrupted runs left: temporary generation files, engine
// backups that never got a generation file (or whose file was removed first by
// an interrupted prune), partial files.
absl::Status Repair(rocksdb::BackupEngine& engine,
                    const std::string& generations_dir,
                    MaintenanceReport* report) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(generations_dir);
  LEYSER_RETURN_IF_ERROR(names.status());
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, ".tmp")) {
      LEYSER_RETURN_IF_ERROR(RemoveAll(generations_dir + "/" + name));
      if (report != nullptr)
        report->repaired.push_back("removed partial " + name);
    }
  }
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir));
  // The engine backups the listed generations hold. A generation file that
  // cannot be read hides which backup it holds: then no unlisted backup is
  // removed (a damaged file never costs the backup behind it).
  absl::flat_hash_set<rocksdb::BackupID> listed_set;
  for (BackupId id : listed) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir, id);
    if (absl::IsNotFound(file.status())) continue;
    if (!file.ok()) {
      if (report != nullptr) {
        report->repaired.push_back(
            absl::StrCat("kept unlisted backups: generation ", id,
                         " cannot be read (", file.status().message(), ")"));
      }
      return absl::OkStatus();
    }
    listed_set.insert(EngineId(*file));
  }
  std::vector<rocksdb::BackupInfo> infos;
  engine.GetBackupInfo(&infos);
  std::vector<rocksdb::BackupID> unlisted;
  for (const rocksdb::BackupInfo& info : infos) {
    if (!listed_set.contains(info.backup_id))
      unlisted.push_back(info.backup_id);
  }
  std::vector<rocksdb::BackupID> corrupted;
  engine.GetCorruptedBackups(&corrupted);
  for (rocksdb::BackupID id : corrupted) {
    if (!listed_set.contains(id)) unlisted.push_back(id);
  }
  for (rocksdb::BackupID id : unlisted) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(engine.DeleteBackup(id), "removing an unlisted backup"));
    if (report != nullptr)
      report->repaired.push_back(absl::StrCat("removed unlisted backup ", id));
  }
  return FromRocks(engine.GarbageCollect(),
                   "removing files of interrupted backups");
}

}  // namespace

absl::Time LatestDueInstant(absl::Time now, absl::Duration time_of_day) {
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  absl::Time due = absl::FromCivil(today, absl::UTCTimeZone()) + time_of_day;
  if (due > now) due -= absl::Hours(24);
  return due;
}

BackupManager::BackupManager(const Options& options, std::shared_ptr<DbCore> db,
                             const KeyStore* keys)
    : backup_dir_(options.backup_dir),
      engine_dir_(options.backup_dir + "/engine"),
      generations_dir_(options.backup_dir + "/generations"),
      generations_(options.backup_generations),
      time_of_day_(options.backup_time_of_day),
      db_(std::move(db)),
      keys_(keys) {}

absl::StatusOr<BackupInfo> BackupManager::CreateBackup(
    absl::Time now, MaintenanceReport* report) {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "backups are off: set Options::backup_dir");
  }
  absl::MutexLock lock(&mu_);
  LEYSER_RETURN_IF_ERROR(EnsureDir(backup_dir_));
  LEYSER_RETURN_IF_ERROR(EnsureDir(generations_dir_));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngine> engine,
                          OpenEngine(engine_dir_, DataEnv(*db_)));
  LEYSER_RETURN_IF_ERROR(Repair(*engine, generations_dir_, report));
  repaired_ = true;

  // 1. The database, flushed first so no tenant data sits only in a copied WAL.
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = true;
  rocksdb::BackupID engine_id = 0;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(engine->CreateNewBackup(create, db_->db, &engine_id),
                "backing up the database"));
  CrashPoint("backup.after_engine");
  // 2. Verified against its checksums before it is listed.
  rocksdb::IOStatus verified =
      engine->VerifyBackup(engine_id, /*verify_with_checksum=*/true);
  if (!verified.ok()) {
    engine->DeleteBackup(engine_id).PermitUncheckedError();
    return absl::DataLossError(
        absl::StrCat("the new backup failed verification and was removed: ",
                     verified.ToString()));
  }
  // 3. The manifest, read from the backup itself.
  proto::BackupGeneration generation;
  {
    LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<OpenedBackup> opened,
                            OpenedBackup::Open(*engine, engine_id));
    LEYSER_RETURN_IF_ERROR(BuildManifest(*opened, &generation));
  }
  // 4. A generation id never handed out before, recorded before it is used.
  LEYSER_ASSIGN_OR_RETURN(const BackupId id, NextId(engine_id, report));
  // 5. The generation file, written atomically: from here on the generation is
  // listed. The key-store copy (taken after the database, so it holds the key
  // of every tenant in the backup) and its seal come from one state of the key
  // store.
  proto::GenerationFile file;
  file.set_format_version(kGenerationFormatVersion);
  file.set_id(id);
  file.set_engine_backup_id(static_cast<std::uint32_t>(engine_id));
  ToProtoTime(now, file.mutable_created());
  LEYSER_RETURN_IF_ERROR(keys_->SealWithCopy(
      [&](proto::KeyStoreCopy copy) -> absl::StatusOr<std::string> {
        *generation.mutable_key_store() = std::move(copy);
        return generation.SerializeAsString();
      },
      GenerationContext(id), &file));
  LEYSER_RETURN_IF_ERROR(WriteFileAtomically(
      GenerationPath(generations_dir_, id), file.SerializeAsString()));
  CrashPoint("backup.after_generation");
  latest_created_ = latest_created_.has_value()
                        ? std::max(*latest_created_, now)
                        : std::optional<absl::Time>();
  BackupInfo info = InfoFromFile(file);
  AddManifest(generation, &info);

  // 6. Prune to the configured number of generations, oldest first. The
  // generation file goes first, so an interrupted prune leaves an unlisted
  // backup that the next run removes.
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir_));
  for (std::size_t i = 0;
       i + static_cast<std::size_t>(generations_) < listed.size(); ++i) {
    const BackupId victim = listed[i];
    LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile victim_file,
                            ReadGeneration(generations_dir_, victim));
    LEYSER_RETURN_IF_ERROR(RemoveAll(GenerationPath(generations_dir_, victim)));
    LEYSER_RETURN_IF_ERROR(
        SyncParentDir(GenerationPath(generations_dir_, victim)));
    latest_created_.reset();  // Recomputed when next needed.
    CrashPoint("prune.after_unlist");
    LEYSER_RETURN_IF_ERROR(FromRocks(
        engine->DeleteBackup(EngineId(victim_file)), "pruning a backup"));
    if (report != nullptr) report->pruned.push_back(victim);
  }
  return info;
}

absl::StatusOr<std::vector<BackupInfo>> BackupManager::List() const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "backups are off: set Options::backup_dir");
  }
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  std::vector<BackupInfo> out;
  for (BackupId id : ids) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir_, id);
    if (absl::IsNotFound(file.status())) continue;  // Pruned meanwhile.
    LEYSER_RETURN_IF_ERROR(file.status());
    BackupInfo info = InfoFromFile(*file);
    // Sealed under an earlier master key (or damaged): listed without its
    // manifest.
    if (absl::StatusOr<proto::BackupGeneration> generation =
            OpenGeneration(*file, *keys_);
        generation.ok()) {
      AddManifest(*generation, &info);
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status BackupManager::Verify(BackupId id) const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "backups are off: set Options::backup_dir");
  }
  LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile file,
                          ReadGeneration(generations_dir_, id));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngineReadOnly> engine,
                          OpenEngineReadOnly(engine_dir_, DataEnv(*db_)));
  rocksdb::IOStatus s =
      engine->VerifyBackup(EngineId(file), /*verify_with_checksum=*/true);
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat(
        "backup generation ", id, " failed verification: ", s.ToString()));
  }
  LEYSER_ASSIGN_OR_RETURN(proto::BackupGeneration generation,
                          OpenGeneration(file, *keys_));
  // A restore needs every key of the copy: open them all.
  absl::Status keys =
      keys_->CheckCopy(generation.key_store(), file.master_generation());
  if (!keys.ok()) {
    return absl::DataLossError(absl::StrCat(
        "backup generation ", id, " cannot be restored: ", keys.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<BackupTenant> BackupManager::ExportTenant(
    BackupId id, std::uint64_t number, const std::string& sst_path) const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "backups are off: set Options::backup_dir");
  }
  LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile file,
                          ReadGeneration(generations_dir_, id));
  LEYSER_ASSIGN_OR_RETURN(proto::BackupGeneration generation,
                          OpenGeneration(file, *keys_));
  const proto::ManifestTenant* found = nullptr;
  for (const proto::ManifestTenant& t : generation.tenants()) {
    if (t.number() == number) found = &t;
  }
  if (found == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("the tenant is not in backup generation ", id));
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngineReadOnly> engine,
                          OpenEngineReadOnly(engine_dir_, DataEnv(*db_)));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<OpenedBackup> backup,
                          OpenedBackup::Open(*engine, EngineId(file)));

  rocksdb::Options options(DataDbOptions(), TenantDataCfOptions(1 << 20));
  options.env = DataEnv(*db_);
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options);
  LEYSER_RETURN_IF_ERROR(
      FromRocks(writer.Open(sst_path), "writing a tenant export"));
  const std::string lo = TenantPrefix(number);
  const std::string hi = TenantPrefix(number + 1);
  LEYSER_RETURN_IF_ERROR(
      FromRocks(writer.DeleteRange(lo, hi), "writing a tenant export"));
  rocksdb::Slice upper(hi);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(
      backup->db()->NewIterator(ro, backup->data()));
  BackupTenant tenant;
  tenant.id = found->id();
  tenant.number = found->number();
  tenant.state = static_cast<TenantState>(found->state());
  for (it->Seek(lo); it->Valid(); it->Next()) {
    LEYSER_RETURN_IF_ERROR(FromRocks(writer.Put(it->key(), it->value()),
                                     "writing a tenant export"));
    ++tenant.keys;
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading a backup"));
  LEYSER_RETURN_IF_ERROR(FromRocks(writer.Finish(), "writing a tenant export"));
  return tenant;
}

absl::StatusOr<BackupId> BackupManager::NewestId() const {
  if (!enabled()) return BackupId{0};
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  return ids.empty() ? BackupId{0} : ids.back();
}

absl::StatusOr<BackupManager::ShredResult> BackupManager::ShredTenant(
    std::uint64_t number, BackupId last_before_purge,
    const std::function<absl::Status(BackupId)>& before_delete) {
  ShredResult result;
  if (!enabled()) return result;
  absl::MutexLock lock(&mu_);
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  if (ids.empty()) return result;
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngine> engine,
                          OpenEngine(engine_dir_, DataEnv(*db_)));
  for (BackupId id : ids) {
    // Read whole even when it is deleted: its file names the engine backup.
    LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile file,
                            ReadGeneration(generations_dir_, id));
    bool remove = id <= last_before_purge;
    bool readable = false;
    if (!remove) {
      absl::StatusOr<proto::BackupGeneration> opened =
          OpenGeneration(file, *keys_);
      readable = opened.ok();
      if (readable) {
        for (const proto::ManifestTenant& t : opened->tenants()) {
          if (t.number() == number && t.state() != proto::TENANT_STATE_PURGED &&
              t.state() != proto::TENANT_STATE_SHREDDED) {
            remove =
                true;  // Taken before the purge: it holds the tenant's data.
          }
        }
      }
      // A generation sealed under an earlier master key than the current one
      // was taken before the last rotation; if that was after the purge, it
      // cannot hold the tenant's key (the live key store no longer had it), and
      // it is kept.
    }
    if (remove) {
      LEYSER_RETURN_IF_ERROR(before_delete(id));
      LEYSER_RETURN_IF_ERROR(RemoveAll(GenerationPath(generations_dir_, id)));
      LEYSER_RETURN_IF_ERROR(
          SyncParentDir(GenerationPath(generations_dir_, id)));
      latest_created_.reset();
      CrashPoint("shred.after_unlist");
      LEYSER_RETURN_IF_ERROR(FromRocks(engine->DeleteBackup(EngineId(file)),
                                       "deleting a backup generation"));
      result.deleted.push_back(id);
      continue;
    }
    if (readable) {
      // Remove the tenant's wrapped key from the generation's key-store copy
      // if it is there: opened and sealed again with one master key.
      LEYSER_ASSIGN_OR_RETURN(
          bool changed,
          keys_->Reseal(&file, GenerationContext(id),
                        [&](std::string* payload) -> absl::StatusOr<bool> {
                          proto::BackupGeneration generation;
                          if (!generation.ParseFromString(*payload)) {
                            return absl::DataLossError(
                                absl::StrCat("backup generation ", id,
                                             " has a damaged manifest"));
                          }
                          if (!KeyStore::RemoveTenantKeyFromCopy(
                                  generation.mutable_key_store(), number)) {
                            return false;
                          }
                          *payload = generation.SerializeAsString();
                          return true;
                        }));
      if (changed) {
        LEYSER_RETURN_IF_ERROR(WriteFileAtomically(
            GenerationPath(generations_dir_, id), file.SerializeAsString()));
      }
    }
    result.kept.push_back(id);
  }
  return result;
}

absl::StatusOr<BackupId> BackupManager::NextId(std::uint64_t engine_id,
                                               MaintenanceReport* report) {
  proto::GenerationCounter counter;
  absl::StatusOr<std::string> bytes =
      ReadFileToString(CounterPath(generations_dir_));
  if (bytes.ok() && !counter.ParseFromString(*bytes)) {
    counter.Clear();
    if (report != nullptr) {
      report->repaired.push_back(
          "the generation counter was damaged; rebuilt from the generations");
    }
  } else if (!bytes.ok() && !absl::IsNotFound(bytes.status())) {
    return bytes.status();
  }
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir_));
  std::uint64_t next = std::max<std::uint64_t>(
      {std::uint64_t{counter.last_id()} + 1,
       listed.empty() ? 1 : std::uint64_t{listed.back()} + 1, engine_id});
  if (next > UINT32_MAX) {
    return absl::ResourceExhaustedError("no backup generation ids are left");
  }
  counter.set_last_id(static_cast<std::uint32_t>(next));
  LEYSER_RETURN_IF_ERROR(WriteFileAtomically(CounterPath(generations_dir_),
                                             counter.SerializeAsString()));
  return static_cast<BackupId>(next);
}

absl::Status BackupManager::RunMaintenance(absl::Time now,
                                           MaintenanceReport* report_ptr) {
  MaintenanceReport& report = *report_ptr;
  report.backups_enabled = enabled();
  if (!enabled()) {
    return absl::OkStatus();
  }
  const absl::Time due = LatestDueInstant(now, time_of_day_);
  // Due unless a generation exists since the last due instant. A clock that
  // stepped back behind the newest generation finds one (created > now >= due),
  // so it never takes an early one.
  LEYSER_ASSIGN_OR_RETURN(absl::Time latest, LatestCreated());
  if (latest < due) {
    LEYSER_ASSIGN_OR_RETURN(report.backup, CreateBackup(now, &report));
    return absl::OkStatus();
  }
  // Nothing due: clean up what an earlier process left, once per process (a
  // backup repairs anyway); later calls cost no I/O.
  absl::MutexLock lock(&mu_);
  if (repaired_) return absl::OkStatus();
  LEYSER_RETURN_IF_ERROR(EnsureDir(backup_dir_));
  LEYSER_RETURN_IF_ERROR(EnsureDir(generations_dir_));
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngine> engine,
                          OpenEngine(engine_dir_, DataEnv(*db_)));
  LEYSER_RETURN_IF_ERROR(Repair(*engine, generations_dir_, &report));
  repaired_ = true;
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> BackupManager::LatestCreated() {
  absl::MutexLock lock(&mu_);
  if (latest_created_.has_value()) return *latest_created_;
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  absl::Time latest = absl::InfinitePast();
  for (BackupId id : ids) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir_, id);
    if (file.ok()) latest = std::max(latest, FromProtoTime(file->created()));
  }
  latest_created_ = latest;
  return latest;
}

absl::Status BackupManager::RestoreStore(const Options& options, BackupId id) {
  if (options.data_dir.empty() || options.key_provider == nullptr) {
    return absl::InvalidArgumentError(
        "RestoreStore needs Options::data_dir (the target) and "
        "Options::key_provider");
  }
  if (options.backup_dir.empty()) {
    return absl::FailedPreconditionError(
        "RestoreStore needs Options::backup_dir (the source)");
  }
  const std::string& target = options.data_dir;
  if (PathExists(target)) {
    LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(target));
    if (!names.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore target ", target,
                       " is not empty; restore into a new directory"));
    }
  }
  const std::string generations_dir = options.backup_dir + "/generations";
  LEYSER_ASSIGN_OR_RETURN(proto::GenerationFile file,
                          ReadGeneration(generations_dir, id));
  LEYSER_ASSIGN_OR_RETURN(SecretBytes master,
                          options.key_provider->GetMasterKey());
  if (master.size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(
        "the key provider's master key must be 32 bytes");
  }
  LEYSER_ASSIGN_OR_RETURN(
      std::string payload,
      KeyStore::OpenWithMasterKey(file, master, GenerationContext(id)));
  proto::BackupGeneration generation;
  if (!generation.ParseFromString(payload)) {
    return absl::DataLossError(
        absl::StrCat("backup generation ", id, " has a damaged manifest"));
  }
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta,
                          KeyStore::MetaFromCopy(generation.key_store()));
  EncryptedEnv env;
  rocksdb::Env* data_env = rocksdb::Env::Default();
  if (!meta.plain_files()) {
    LEYSER_ASSIGN_OR_RETURN(
        TenantKey file_key,
        KeyStore::FileKeyFromCopy(generation.key_store(), master));
    LEYSER_ASSIGN_OR_RETURN(
        env, NewEncryptedEnv(std::move(file_key.key), file_key.version));
    data_env = env.env.get();
  }

  const bool target_existed = PathExists(target);
  auto clean_up = [&](absl::Status error) {
    absl::Status removed =
        target_existed ? RemoveAll(target + "/db") : RemoveAll(target);
    if (removed.ok() && target_existed) removed = RemoveAll(target + "/keys");
    return error;
  };
  LEYSER_RETURN_IF_ERROR(EnsureDir(target));
  absl::Status restored;
  {
    absl::StatusOr<std::unique_ptr<rocksdb::BackupEngineReadOnly>> engine =
        OpenEngineReadOnly(options.backup_dir + "/engine", data_env);
    restored = engine.status();
    if (restored.ok()) {
      const std::string db_dir = target + "/db";
      restored = FromRocks(
          (*engine)->RestoreDBFromBackup(rocksdb::RestoreOptions(),
                                         EngineId(file), db_dir, db_dir),
          absl::StrCat("restoring backup generation ", id));
    }
  }  // The engine is gone here, and with it every copy thread: nothing writes
     // to the target now.
  if (!restored.ok()) return clean_up(restored);
  absl::Status keys =
      KeyStore::CreateFromCopy(target + "/keys", generation.key_store());
  if (!keys.ok()) return clean_up(keys);
  return SyncParentDir(target + "/keys");
}

}  // namespace leyser::internal
