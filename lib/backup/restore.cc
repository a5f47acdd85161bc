// Restores: one tenant exported from a generation (for Store::RestoreTenant),
// and a whole store restored from a generation into an empty directory.

#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/sst_file_writer.h"

#include "lib/backup/backup_manager.h"
#include "lib/backup/generation_files.h"
#include "lib/crypto/file_cipher.h"
#include "lib/db/column_families.h"
#include "lib/db/filename.h"
#include "lib/db/key_layout.h"
#include "lib/proto/keystore.pb.h"
#include "lib/rocks/owner_only_fs.h"
#include "lib/rocks/status.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

absl::StatusOr<BackupTenant> BackupManager::ExportTenant(
    BackupId id, std::uint64_t number, const std::string& sst_path,
    const Reseal& reseal) const {
  if (!enabled()) {
    return BackupsOff();
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
  LEYSER_ASSIGN_OR_RETURN(
      std::vector<TenantKey> backup_keys,
      keys_->TenantKeysFromCopy(generation.key_store(), number));
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
    LEYSER_ASSIGN_OR_RETURN(
        std::string value,
        reseal(backup_keys,
               std::string_view(it->key().data(), it->key().size()),
               std::string_view(it->value().data(), it->value().size())));
    LEYSER_RETURN_IF_ERROR(
        FromRocks(writer.Put(it->key(), value), "writing a tenant export"));
    ++tenant.keys;
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading a backup"));
  LEYSER_RETURN_IF_ERROR(FromRocks(writer.Finish(), "writing a tenant export"));
  return tenant;
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
  const std::string generations_dir = GenerationsDir(options.backup_dir);
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
      KeyStore::OpenWithMasterKey(file, master, GenerationContext(file)));
  proto::BackupGeneration generation;
  if (!generation.ParseFromString(payload)) {
    return absl::DataLossError(
        absl::StrCat("backup generation ", id, " has a damaged manifest"));
  }
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta,
                          KeyStore::MetaFromCopy(generation.key_store()));
  EncryptedEnv env;
  rocksdb::Env* data_env = OwnerOnlyEnv();
  if (!meta.plain_files()) {
    // Every file key the copy holds: files written before a file-key
    // rotation finished carry a retired one.
    LEYSER_ASSIGN_OR_RETURN(
        TenantKeyRing file_keys,
        KeyStore::FileKeysFromCopy(generation.key_store(), master));
    LEYSER_ASSIGN_OR_RETURN(
        env, NewEncryptedEnv(ToFileKey(std::move(file_keys.current)),
                             ToFileKeys(std::move(file_keys.retired))));
    data_env = env.env.get();
  }

  const bool target_existed = PathExists(target);
  auto clean_up = [&](absl::Status error) {
    absl::Status removed =
        target_existed ? RemoveAll(DataDbDir(target)) : RemoveAll(target);
    if (removed.ok() && target_existed)
      removed = RemoveAll(KeyStoreDir(target));
    return error;
  };
  LEYSER_RETURN_IF_ERROR(EnsureDir(target));
  absl::Status restored;
  {
    absl::StatusOr<std::unique_ptr<rocksdb::BackupEngineReadOnly>> engine =
        OpenEngineReadOnly(BackupEngineDir(options.backup_dir), data_env);
    restored = engine.status();
    if (restored.ok()) {
      const std::string db_dir = DataDbDir(target);
      restored = FromRocks(
          (*engine)->RestoreDBFromBackup(rocksdb::RestoreOptions(),
                                         EngineId(file), db_dir, db_dir),
          absl::StrCat("restoring backup generation ", id));
    }
  }  // The engine is gone here, and with it every copy thread: nothing writes
     // to the target now.
  if (!restored.ok()) return clean_up(restored);
  absl::Status keys =
      KeyStore::CreateFromCopy(KeyStoreDir(target), generation.key_store());
  if (!keys.ok()) return clean_up(keys);
  return SyncParentDir(KeyStoreDir(target));
}

}  // namespace leyser::internal
