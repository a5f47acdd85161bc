// BackupManager::ShredTenant: a purged tenant leaves every backup generation.

#include <utility>

#include "absl/strings/str_cat.h"

#include "lib/backup/backup_manager.h"
#include "lib/backup/generation_files.h"
#include "lib/db/filename.h"
#include "lib/rocks/status.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

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
            // Taken before the purge: it holds the tenant's data.
            remove = true;
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
      LEYSER_RETURN_IF_ERROR(
          RemoveAll(GenerationFileName(generations_dir_, id)));
      LEYSER_RETURN_IF_ERROR(
          SyncParentDir(GenerationFileName(generations_dir_, id)));
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
        LEYSER_RETURN_IF_ERROR(
            WriteFileAtomically(GenerationFileName(generations_dir_, id),
                                file.SerializeAsString()));
      }
    }
    result.kept.push_back(id);
  }
  return result;
}

}  // namespace leyser::internal
