// The writable RocksDB BackupEngine, opened so that it can never delete what a
// listed generation needs.
//
// RocksDB 7.8.3's BackupEngine treats a backup whose files do not all load
// (one missing, one of the wrong size, an unreadable meta file) as corrupt: it
// leaves it out of its live backups, and its garbage collection (run by
// GarbageCollect, by the first DeleteBackup of each engine, and after any
// failed CreateNewBackup) deletes the private directory (CURRENT, MANIFEST,
// OPTIONS) of every corrupt backup and every shared file no live backup
// references. A shared file moved away for one run would so cost every
// generation using it its other files, for good. When the engine finds a
// corrupt backup that a listed generation holds, a session therefore runs it
// over a file system that refuses to delete any file of such a backup (its
// meta file, private directory and the shared files its meta file names), and
// reports those generations as damaged. (With every backup loaded, the garbage
// collection cannot reach a listed generation's files: the engine runs over
// the plain data env.) A generation deleted on purpose (pruning, a shred, an
// operator's RemoveDamagedBackup) is released first.
//
// Also here: the files an engine backup uses, read from its meta file, so
// that a damaged file names the generations that depend on it.
//
// Internal to lib/backup. Thread safety: a session is used by one thread at a
// time (BackupManager holds its mutex); the engine's own threads may call the
// file system concurrently.

#ifndef LEYSER_LIB_BACKUP_ENGINE_SESSION_H_
#define LEYSER_LIB_BACKUP_ENGINE_SESSION_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/env.h"
#include "rocksdb/utilities/backup_engine.h"

#include "leyser/backup.h"

namespace leyser::internal {

class KeepingFileSystem;

class EngineSession {
 public:
  // Opens the engine in `engine_dir` over `env` (the data env: the file layer)
  // and finds the listed generations (the .gen files of `generations_dir`)
  // whose engine backup is corrupt; if there are any, opens it again over the
  // file system that keeps their files (with none, the engine's garbage
  // collection cannot reach a listed generation's files).
  static absl::StatusOr<std::unique_ptr<EngineSession>> Open(
      const std::string& engine_dir, rocksdb::Env* env,
      const std::string& generations_dir);
  ~EngineSession();

  rocksdb::BackupEngine& engine() { return *engine_; }

  // Listed generations whose engine backup the engine found corrupt, with its
  // reason (naming the file). Their files are kept.
  const std::map<BackupId, std::string>& damaged() const { return damaged_; }

  // Lets the engine delete engine backup `id`'s files (it is about to be
  // deleted on purpose); files another kept backup names stay kept.
  void Release(rocksdb::BackupID id);

 private:
  EngineSession() = default;
  std::map<BackupId, std::string> damaged_;
  std::shared_ptr<KeepingFileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;  // Outlives engine_.
  std::unique_ptr<rocksdb::BackupEngine> engine_;
};

// The files engine backup `id` uses, relative to `engine_dir` (e.g.
// "shared_checksum/000012_s1A2B.sst", "private/3/CURRENT"), read from its
// meta file through `env`. NotFound if there is no such backup, DataLoss if
// the meta file cannot be read as one.
absl::StatusOr<std::vector<std::string>> EngineBackupFiles(
    const std::string& engine_dir, rocksdb::Env* env, rocksdb::BackupID id);

// The shared file (relative to the engine directory, "shared_checksum/..." or
// "shared/...") an engine error names as missing or damaged, if it names one.
std::optional<std::string> DamagedSharedFile(std::string_view message);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_BACKUP_ENGINE_SESSION_H_
