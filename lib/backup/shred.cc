// BackupManager::ShredTenants: purged tenants leave every backup generation.
// Every generation is either deleted or opened and checked; one that can be
// neither makes the shred wait, before anything changes.

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

#include "lib/backup/backup_manager.h"
#include "lib/backup/engine_session.h"
#include "lib/backup/generation_files.h"
#include "lib/db/filename.h"
#include "lib/rocks/status.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// One listed generation and what the shred does to it.
struct Planned {
  BackupId id = 0;
  proto::GenerationFile file;
  bool remove = false;
  bool opened = false;  // Authenticated with the current master key.
};

// True if `generation` (authenticated) can hold the data of one of tenants
// `numbers`: its registry lists one unpurged, or its data holds records of
// one.
bool CanHoldTenant(const proto::BackupGeneration& generation,
                   const absl::flat_hash_set<std::uint64_t>& numbers) {
  for (const proto::ManifestTenant& t : generation.tenants()) {
    if (!numbers.contains(t.number())) continue;
    if (t.keys() != 0 || (t.state() != proto::TENANT_STATE_PURGED &&
                          t.state() != proto::TENANT_STATE_SHREDDED)) {
      return true;
    }
  }
  return false;
}

absl::Status Wait(BackupId id,
                  const std::vector<BackupManager::ShredTarget>& targets,
                  const absl::Status& why) {
  return absl::FailedPreconditionError(absl::StrCat(
      "backup generation ", id, " cannot be checked for tenant",
      targets.size() == 1 ? " " : "s ",
      targets.size() == 1 ? absl::StrCat(targets[0].number)
                          : absl::StrCat(targets.size(), " (a batch)"),
      ", so the shred waits (nothing was changed): ", why.message()));
}

}  // namespace

absl::StatusOr<std::vector<BackupManager::ShredResult>>
BackupManager::ShredTenants(
    const std::vector<ShredTarget>& targets,
    const std::function<absl::Status(BackupId)>& before_delete) {
  std::vector<ShredResult> results(targets.size());
  if (!enabled() || targets.empty())
    return results;  // No backups (CheckDirFor).
  absl::flat_hash_set<std::uint64_t> numbers;
  BackupId last_before_purge = 0;  // The newest any target's purge noted.
  for (const ShredTarget& t : targets) {
    numbers.insert(t.number);
    last_before_purge = std::max(last_before_purge, t.last_before_purge);
  }
  absl::MutexLock lock(&mu_);
  LEYSER_RETURN_IF_ERROR(CheckBound());
  // 0. A generation file an interrupted backup left unfinished holds a
  // key-store copy: gone first (it never listed a generation).
  LEYSER_RETURN_IF_ERROR(RemovePartialFiles(generations_dir_).status());
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  // 1. Every generation read, and opened unless it is deleted anyway.
  std::vector<Planned> plan;
  absl::flat_hash_map<rocksdb::BackupID, int> engine_users;
  for (BackupId id : ids) {
    Planned p;
    p.id = id;
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir_, id);
    if (absl::IsNotFound(file.status())) continue;
    if (absl::IsDataLoss(file.status()))
      return Wait(id, targets, file.status());
    LEYSER_RETURN_IF_ERROR(file.status());
    p.file = *std::move(file);
    absl::StatusOr<proto::BackupGeneration> opened =
        OpenGeneration(p.file, *keys_);
    p.opened = opened.ok();
    if (p.opened) {
      p.remove = id <= last_before_purge || CanHoldTenant(*opened, numbers);
    } else if (id <= last_before_purge) {
      // Taken before a purge: deleted whatever it holds.
      p.remove = true;
    } else if (absl::IsFailedPrecondition(opened.status()) ||
               absl::IsDataLoss(opened.status())) {
      return Wait(id, targets, opened.status());
    } else {
      return opened.status();
    }
    ++engine_users[EngineId(p.file)];
    plan.push_back(std::move(p));
  }
  for (const Planned& p : plan) {
    // A deletion trusts the engine backup id of a generation it could not
    // open only if no other generation names the same backup.
    if (p.remove && !p.opened && engine_users[EngineId(p.file)] > 1) {
      return Wait(p.id, targets,
                  absl::DataLossError(
                      absl::StrCat("it names engine backup ", EngineId(p.file),
                                   ", which another generation names too")));
    }
  }
  LEYSER_ASSIGN_OR_RETURN(
      std::unique_ptr<EngineSession> session,
      EngineSession::Open(engine_dir_, DataEnv(*db_), generations_dir_));
  rocksdb::BackupEngine* const engine = &session->engine();
  // 2. Deleted, or the tenant's key removed from the copy.
  absl::flat_hash_set<rocksdb::BackupID> kept_engine_ids;
  for (Planned& p : plan) {
    if (p.remove) {
      LEYSER_RETURN_IF_ERROR(before_delete(p.id));
      LEYSER_RETURN_IF_ERROR(
          RemoveAll(GenerationFileName(generations_dir_, p.id)));
      LEYSER_RETURN_IF_ERROR(
          SyncParentDir(GenerationFileName(generations_dir_, p.id)));
      latest_created_.reset();
      CrashPoint("shred.after_unlist");
      session->Release(EngineId(p.file));  // Damaged or not, it goes.
      LEYSER_RETURN_IF_ERROR(FromRocks(engine->DeleteBackup(EngineId(p.file)),
                                       "deleting a backup generation"));
      for (ShredResult& result : results) result.deleted.push_back(p.id);
      continue;
    }
    kept_engine_ids.insert(EngineId(p.file));
    absl::flat_hash_set<std::uint64_t> removed;
    LEYSER_ASSIGN_OR_RETURN(
        bool changed,
        keys_->Reseal(&p.file, GenerationContext(p.file),
                      [&](std::string* payload) -> absl::StatusOr<bool> {
                        proto::BackupGeneration generation;
                        if (!generation.ParseFromString(*payload)) {
                          return absl::DataLossError(
                              absl::StrCat("backup generation ", p.id,
                                           " has a damaged manifest"));
                        }
                        removed = KeyStore::RemoveTenantKeysFromCopy(
                            generation.mutable_key_store(), numbers);
                        if (removed.empty()) return false;
                        *payload = generation.SerializeAsString();
                        return true;
                      }));
    if (changed) {
      LEYSER_RETURN_IF_ERROR(
          WriteFileAtomically(GenerationFileName(generations_dir_, p.id),
                              p.file.SerializeAsString()));
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (changed && removed.contains(targets[i].number)) {
        results[i].key_removed.push_back(p.id);
      }
      results[i].checked.push_back(p.id);
    }
  }
  // 3. No engine backup outlives its generation (one left by an interrupted
  // run or an earlier interrupted shred could hold the tenant).
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  std::vector<rocksdb::BackupID> corrupted;
  engine->GetCorruptedBackups(&corrupted);
  absl::flat_hash_set<rocksdb::BackupID> unlisted(corrupted.begin(),
                                                  corrupted.end());
  for (const rocksdb::BackupInfo& info : infos) unlisted.insert(info.backup_id);
  for (rocksdb::BackupID id : unlisted) {
    if (kept_engine_ids.contains(id)) continue;
    session->Release(id);
    LEYSER_RETURN_IF_ERROR(FromRocks(engine->DeleteBackup(id),
                                     "deleting an unlisted engine backup"));
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(engine->GarbageCollect(),
                                   "removing files no generation holds"));
  return results;
}

}  // namespace leyser::internal
