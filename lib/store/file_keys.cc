// The node file key's rotation (Store::RotateDataKeys replaces it with the
// tenants' data keys): the new key put to use, every file of the data
// directory rewritten under it, and a retired key destroyed once no file of
// the data or backup directory carries its id.
//
// Why each step (docs/architecture.md, "File-key rotation"): the key store
// commits the new key and keeps the former one as retired in the same synced
// write as the tenants' new keys; the data database's Env then writes every
// new file under the new key and still opens files carrying a retired id.
// The rewrite pass makes RocksDB write every file again: a flush of every
// column family (a new WAL; the MANIFEST starts over at every change, and
// CURRENT with it), a forced compaction of every column family (every SST),
// two OPTIONS files, IDENTITY, and the info LOG. Backup generations keep the
// files they were taken with; the retired key stays in the key store, and in
// the key-store copies of generations taken meanwhile, while a file of the
// backup directory carries it, and is destroyed when the last such generation
// is pruned. A crash anywhere leaves the retired key, and the next pass
// resumes.

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"

#include "lib/crypto/file_cipher.h"
#include "lib/db/filename.h"
#include "lib/rocks/status.h"
#include "lib/store/store_impl.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// Rewrite rounds before the pass gives up for this call (a file RocksDB has
// just made obsolete may outlive one round).
constexpr int kRewriteRounds = 3;
// A key of the unused default column family, deleted so that every column
// family has something to flush (the flush starts a new WAL).
constexpr char kRotationMarker[] = "leyser.file-key-rotation";

// The regular files under `dir` (recursively) whose prefix carries one of
// `ids`, and the name of the first (for messages). A file that disappears
// meanwhile is skipped.
absl::StatusOr<std::uint64_t> CountFilesUnder(
    const std::string& dir, const std::set<std::uint32_t>& ids,
    std::string* first = nullptr) {
  std::uint64_t count = 0;
  std::error_code error;
  std::filesystem::recursive_directory_iterator it(dir, error);
  if (error == std::errc::no_such_file_or_directory) return 0;
  for (; !error && it != std::filesystem::recursive_directory_iterator();
       it.increment(error)) {
    if (!it->is_regular_file(error)) continue;
    absl::StatusOr<std::optional<std::uint32_t>> id =
        FileKeyIdOf(it->path().string());
    if (absl::IsNotFound(id.status())) continue;
    LEYSER_RETURN_IF_ERROR(id.status());
    if (!id->has_value() || ids.count(**id) == 0) continue;
    if (count++ == 0 && first != nullptr) *first = it->path().string();
  }
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", dir, ": ", error.message()));
  }
  return count;
}

// Makes RocksDB write every file of the data database again (under the
// Env's current file key).
absl::Status RewriteDataFiles(DbCore& db, const std::string& db_dir) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->Delete(sync, db.handles[0], kRotationMarker),
                "starting a new WAL"));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->Flush(flush, db.handles), "flushing for a new WAL"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  for (rocksdb::ColumnFamilyHandle* cf : db.handles) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db.db->CompactRange(compact, cf, nullptr, nullptr),
                  "rewriting the data files"));
  }
  // A full scan for obsolete files: a WAL recovered at open is not among
  // the ones a flush lets go.
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db.db->DisableFileDeletions(), "scanning for obsolete files"));
  LEYSER_RETURN_IF_ERROR(FromRocks(db.db->EnableFileDeletions(/*force=*/false),
                                   "scanning for obsolete files"));
  CrashPoint("filekeys.after_compaction");
  // RocksDB keeps the two newest OPTIONS files and writes one only when an
  // option changes: a harmless one changed and put back makes two new files.
  const unsigned period = db.db->GetDBOptions().stats_dump_period_sec;
  for (unsigned value : {period + 1, period}) {
    LEYSER_RETURN_IF_ERROR(FromRocks(
        db.db->SetDBOptions({{"stats_dump_period_sec", absl::StrCat(value)}}),
        "rewriting the OPTIONS file"));
  }
  // IDENTITY is read only at open: replaced whole, atomically.
  rocksdb::Env* env = db.env.env.get();
  const std::string identity = db_dir + "/IDENTITY";
  const std::string temp = identity + ".leyser-tmp";
  std::string id;
  LEYSER_RETURN_IF_ERROR(FromRocks(
      rocksdb::ReadFileToString(env, identity, &id), "reading IDENTITY"));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(rocksdb::WriteStringToFile(env, id, temp, /*should_sync=*/true),
                "rewriting IDENTITY"));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(env->RenameFile(temp, identity), "rewriting IDENTITY"));
  LEYSER_RETURN_IF_ERROR(SyncDir(db_dir));
  if (db.info_log != nullptr) LEYSER_RETURN_IF_ERROR(db.info_log->Roll());
  return absl::OkStatus();
}

}  // namespace

absl::Status StoreImpl::UseNewFileKey() {
  LEYSER_ASSIGN_OR_RETURN(TenantKeyRing ring, keys_->GetFileKeys());
  const std::uint32_t id = ring.current.version;
  std::string retired;
  for (const TenantKey& key : ring.retired) {
    absl::StrAppend(&retired, retired.empty() ? "" : ",", key.version);
  }
  LEYSER_RETURN_IF_ERROR(
      db_->env.keys->Add(ToFileKey(std::move(ring.current))));
  LEYSER_RETURN_IF_ERROR(db_->env.keys->SetCurrent(id));
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_FILE_KEY_ROTATED,
                    options_.audit_actor, "file key");
  (*entry.mutable_details())["id"] = absl::StrCat(id);
  (*entry.mutable_details())["retired"] = retired;
  return audit_->Record(std::move(entry));
}

absl::Status StoreImpl::RewriteRetiredFiles(KeyRotationProgress* out) {
  if (db_->env.keys == nullptr) return absl::OkStatus();  // Plain test store.
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::uint32_t> retired,
                          keys_->RetiredFileKeyIds());
  out->retired_file_keys = retired.size();
  if (retired.empty()) return absl::OkStatus();
  const std::set<std::uint32_t> ids(retired.begin(), retired.end());
  const std::string db_dir = DataDbDir(options_.data_dir);
  std::uint64_t pending = 0;
  std::string first;
  LEYSER_ASSIGN_OR_RETURN(pending, CountFilesUnder(db_dir, ids, &first));
  for (int round = 0; round < kRewriteRounds && pending > 0 &&
                      !closed_.load(std::memory_order_acquire);
       ++round) {
    LEYSER_RETURN_IF_ERROR(RewriteDataFiles(*db_, db_dir));
    LEYSER_ASSIGN_OR_RETURN(pending, CountFilesUnder(db_dir, ids, &first));
  }
  out->files_pending = pending;
  if (pending > 0) {
    return absl::UnavailableError(
        absl::StrCat(pending, " files of ", db_dir,
                     " are still written under a retired file key (", first,
                     " among them); the next maintenance run rewrites them"));
  }
  // The backup directory's files stay as their generations were taken.
  const proto::RegistryMeta meta = registry_.Meta();
  if (!meta.backup_dir_id().empty()) {
    if (!backups_.CheckDirFor(meta).ok()) {
      // The store's generations are somewhere this run cannot look.
      return absl::OkStatus();
    }
    LEYSER_ASSIGN_OR_RETURN(out->backup_files_pending,
                            CountFilesUnder(backups_.dir(), ids));
    if (out->backup_files_pending > 0) return absl::OkStatus();
  }
  CrashPoint("filekeys.before_destroy");
  LEYSER_RETURN_IF_ERROR(keys_->DestroyRetiredFileKeys(retired));
  for (std::uint32_t id : retired) {
    LEYSER_RETURN_IF_ERROR(db_->env.keys->Remove(id));
  }
  out->retired_file_keys = 0;
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_FILE_KEY_RETIRED,
                    options_.audit_actor, "file key");
  (*entry.mutable_details())["ids"] = absl::StrJoin(retired, ",");
  LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  // The deleted wrapped keys leave the key store's files.
  return keys_->Scrub();
}

}  // namespace leyser::internal
