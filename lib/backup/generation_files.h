// The backup module's own pieces: generation files (read, list, open the
// sealed part), the backup engine, a backup opened in place, and manifests.
// Internal to lib/backup.

#ifndef LEYSER_LIB_BACKUP_GENERATION_FILES_H_
#define LEYSER_LIB_BACKUP_GENERATION_FILES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/backup_engine.h"

#include "leyser/backup.h"

#include "lib/db/db_core.h"
#include "lib/keys/key_store.h"
#include "lib/proto/backup.pb.h"

namespace leyser::internal {

// Version 2 binds every clear field into the seal; version 1 files (before
// backup tracking) are still read.
inline constexpr std::uint32_t kGenerationFormatVersion = 2;

// Associated data of `file`'s sealed part (the key store adds the master-key
// generation): from version 2 on, its id, creation time and engine backup id,
// so a changed clear field fails authentication. Version 1: the id alone.
std::string GenerationContext(const proto::GenerationFile& file);

// The env the data database's files go through (its file layer).
rocksdb::Env* DataEnv(const DbCore& db);

absl::StatusOr<std::unique_ptr<rocksdb::BackupEngine>> OpenEngine(
    const std::string& engine_dir, rocksdb::Env* env);
absl::StatusOr<std::unique_ptr<rocksdb::BackupEngineReadOnly>>
OpenEngineReadOnly(const std::string& engine_dir, rocksdb::Env* env);

// The BackupEngine backup of a generation.
rocksdb::BackupID EngineId(const proto::GenerationFile& file);

// Generation `id`'s file in `dir`: NotFound, or DataLoss if its clear header
// is damaged.
absl::StatusOr<proto::GenerationFile> ReadGeneration(const std::string& dir,
                                                     BackupId id);

// Opens the sealed part of `file` with the store's current master key: the
// authenticated manifest and key-store copy. Errors: FailedPrecondition
// (sealed under a retired master key), DataLoss (damaged or altered).
absl::StatusOr<proto::BackupGeneration> OpenGeneration(
    const proto::GenerationFile& file, const KeyStore& keys);

// Removes the partial files an interrupted atomic write left in `dir` (a
// generation file or the counter being written: `*.tmp`; they are never
// listed, but a partial generation holds a key-store copy). Returns their
// names. A missing `dir` has none.
absl::StatusOr<std::vector<std::string>> RemovePartialFiles(
    const std::string& dir);

// Ids of the listed generations (their .gen files in `dir`), ascending.
absl::StatusOr<std::vector<BackupId>> ListedIds(const std::string& dir);

// The public form of a generation: its clear fields, and its manifest.
BackupInfo InfoFromFile(const proto::GenerationFile& file);
void AddManifest(const proto::BackupGeneration& generation, BackupInfo* info);

// A backup opened in place, read-only, without restoring it.
class OpenedBackup {
 public:
  static absl::StatusOr<std::unique_ptr<OpenedBackup>> Open(
      rocksdb::BackupEngineReadOnlyBase& engine, rocksdb::BackupID id);
  ~OpenedBackup();

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
absl::Status BuildManifest(OpenedBackup& backup, const RecordMac& mac,
                           proto::BackupGeneration* generation);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_BACKUP_GENERATION_FILES_H_
