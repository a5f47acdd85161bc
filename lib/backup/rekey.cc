// A master-key rotation's side of the backup directory: every generation
// sealed under the current master key gets a twin sealed under the new one
// (`<id>.gen.next`) before the key store commits, and the twins replace the
// generations after it, so generations keep opening with the store's key and
// a retired master key need not be kept for them.
//
// A crash leaves twins behind: those of the key store's current master-key
// generation are the rotation's (it committed) and replace their generation;
// the others (it did not) are removed. SettleRekeyedGenerations does that at
// every repair.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "lib/backup/backup_manager.h"
#include "lib/backup/generation_files.h"
#include "lib/db/filename.h"
#include "lib/proto/backup.pb.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

constexpr char kTwinSuffix[] = ".next";

std::string TwinName(const std::string& dir, BackupId id) {
  return GenerationFileName(dir, id) + kTwinSuffix;
}

}  // namespace

absl::StatusOr<BackupManager::Rekeyed> BackupManager::PrepareRekey(
    const SecretBytes& new_master, std::uint32_t new_generation) {
  Rekeyed out;
  if (!enabled()) {
    out.skipped = "backups are off (no Options::backup_dir)";
    return out;
  }
  absl::MutexLock lock(&mu_);
  // Never into a directory that is not the store's own.
  if (bound_id_.empty()) {
    out.skipped = "the store has taken no backup into Options::backup_dir yet";
    return out;
  }
  if (absl::Status bound = CheckBound(); !bound.ok()) {
    out.skipped = std::string(bound.message());
    return out;
  }
  LEYSER_RETURN_IF_ERROR(SettleRekeyedGenerations(nullptr));
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> ids,
                          ListedIds(generations_dir_));
  for (BackupId id : ids) {
    // A generation that cannot be re-sealed (sealed under an earlier master
    // key the store no longer has, or damaged) stays as it is: the rotation
    // goes ahead, and says which.
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir_, id);
    absl::StatusOr<proto::BackupGeneration> generation =
        file.ok() ? OpenGeneration(*file, *keys_)
                  : absl::StatusOr<proto::BackupGeneration>(file.status());
    absl::StatusOr<proto::KeyStoreCopy> copy =
        generation.ok()
            ? keys_->RewrapCopy(generation->key_store(),
                                file->master_generation(), new_master,
                                new_generation)
            : absl::StatusOr<proto::KeyStoreCopy>(generation.status());
    if (!copy.ok()) {
      out.kept.push_back(id);
      continue;
    }
    *generation->mutable_key_store() = *std::move(copy);
    KeyStore::SealGeneration(new_master, new_generation,
                             generation->SerializeAsString(),
                             GenerationContext(*file), &*file);
    LEYSER_RETURN_IF_ERROR(WriteFileAtomically(TwinName(generations_dir_, id),
                                               file->SerializeAsString()));
    out.resealed.push_back(id);
  }
  return out;
}

absl::Status BackupManager::FinishRekey() {
  if (!enabled()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  // Only in the store's own directory (another store's twins are its own).
  if (bound_id_.empty() || !CheckBound().ok()) return absl::OkStatus();
  return SettleRekeyedGenerations(nullptr);
}

absl::Status BackupManager::SettleRekeyedGenerations(
    MaintenanceReport* report) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(generations_dir_);
  if (absl::IsNotFound(names.status())) return absl::OkStatus();
  LEYSER_RETURN_IF_ERROR(names.status());
  const std::string suffix = absl::StrCat(kGenerationSuffix, kTwinSuffix);
  for (const std::string& name : *names) {
    BackupId id = 0;
    if (!absl::EndsWith(name, suffix) ||
        !absl::SimpleAtoi(name.substr(0, name.size() - suffix.size()), &id)) {
      continue;
    }
    const std::string twin = TwinName(generations_dir_, id);
    absl::StatusOr<std::string> bytes = ReadFileToString(twin);
    LEYSER_RETURN_IF_ERROR(bytes.status());
    // Only a twin that opens, with its key-store copy, under the key store's
    // current master key replaces its generation (a twin of a rotation that
    // never committed may carry the same generation number as a later one).
    proto::GenerationFile file;
    bool committed = file.ParseFromString(*bytes) &&
                     file.master_generation() == keys_->master_generation() &&
                     PathExists(GenerationFileName(generations_dir_, id));
    if (committed) {
      absl::StatusOr<proto::BackupGeneration> opened =
          OpenGeneration(file, *keys_);
      committed =
          opened.ok() &&
          keys_->CheckCopy(opened->key_store(), file.master_generation()).ok();
    }
    if (committed) {
      // Written over the generation atomically, then the twin removed: a
      // crash in between writes it again at the next settling.
      LEYSER_RETURN_IF_ERROR(WriteFileAtomically(
          GenerationFileName(generations_dir_, id), *bytes));
    }
    LEYSER_RETURN_IF_ERROR(RemoveAll(twin));
    LEYSER_RETURN_IF_ERROR(SyncParentDir(twin));
    if (report != nullptr) {
      report->repaired.push_back(
          committed ? absl::StrCat("generation ", id,
                                   " re-sealed under the current master key")
                    : absl::StrCat("removed ", name,
                                   " of a master-key rotation that did not "
                                   "happen"));
    }
  }
  return absl::OkStatus();
}

}  // namespace leyser::internal
