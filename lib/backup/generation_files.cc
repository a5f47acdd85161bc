#include "lib/backup/generation_files.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "lib/db/column_families.h"
#include "lib/db/filename.h"
#include "lib/db/key_layout.h"
#include "lib/registry/records.h"
#include "lib/rocks/options.h"
#include "lib/rocks/owner_only_fs.h"
#include "lib/rocks/status.h"
#include "lib/util/coding.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {

std::string GenerationContext(const proto::GenerationFile& file) {
  if (file.format_version() < 2) {
    return absl::StrCat("leyser.generation.v1/", file.id());
  }
  return absl::StrCat("leyser.generation.v", file.format_version(),
                      "/id=", file.id(), "/created=", file.created().seconds(),
                      ".", file.created().nanos(),
                      "/engine=", file.engine_backup_id());
}

rocksdb::Env* DataEnv(const DbCore& db) {
  return db.env.env != nullptr ? db.env.env.get() : OwnerOnlyEnv();
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

rocksdb::BackupID EngineId(const proto::GenerationFile& file) {
  return file.engine_backup_id() != 0 ? file.engine_backup_id() : file.id();
}

absl::StatusOr<proto::GenerationFile> ReadGeneration(const std::string& dir,
                                                     BackupId id) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(GenerationFileName(dir, id));
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("no backup generation ", id));
  }
  LEYSER_RETURN_IF_ERROR(bytes.status());
  proto::GenerationFile file;
  if (!file.ParseFromString(*bytes) || file.format_version() < 1 ||
      file.format_version() > kGenerationFormatVersion || file.id() != id) {
    return absl::DataLossError(
        absl::StrCat("backup generation ", id, " has a damaged header"));
  }
  return file;
}

absl::StatusOr<proto::BackupGeneration> OpenGeneration(
    const proto::GenerationFile& file, const KeyStore& keys) {
  LEYSER_ASSIGN_OR_RETURN(
      std::string payload,
      keys.OpenWithCurrentMasterKey(file, GenerationContext(file)));
  proto::BackupGeneration generation;
  if (!generation.ParseFromString(payload)) {
    return absl::DataLossError(absl::StrCat("backup generation ", file.id(),
                                            " has a damaged manifest"));
  }
  return generation;
}

absl::StatusOr<std::vector<std::string>> RemovePartialFiles(
    const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (absl::IsNotFound(names.status())) return std::vector<std::string>();
  LEYSER_RETURN_IF_ERROR(names.status());
  std::vector<std::string> removed;
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, ".tmp")) {
      LEYSER_RETURN_IF_ERROR(RemoveAll(dir + "/" + name));
      removed.push_back(name);
    }
  }
  return removed;
}

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

absl::StatusOr<std::unique_ptr<OpenedBackup>> OpenedBackup::Open(
    rocksdb::BackupEngineReadOnlyBase& engine, rocksdb::BackupID id) {
  auto out = std::unique_ptr<OpenedBackup>(new OpenedBackup());
  LEYSER_RETURN_IF_ERROR(FromRocks(engine.GetBackupInfo(id, &out->info_, true),
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
  LEYSER_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::OpenForReadOnly(options, out->info_.name_for_open,
                                             cfs, &out->handles_, &out->db_),
                absl::StrCat("opening backup ", id)));
  return out;
}

OpenedBackup::~OpenedBackup() {
  if (db_ == nullptr) return;
  for (auto* h : handles_) {
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  delete db_;
}
absl::Status BuildManifest(OpenedBackup& backup, const RecordMac& mac,
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
      backup.db(), backup.registry(), mac,
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

}  // namespace leyser::internal
