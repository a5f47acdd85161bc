// Every file and directory leyser names, in the store's data directory and in
// its backup directory. The one place paths are spelled.
//
//   data_dir/LOCK              the process lock (one process per store)
//   data_dir/CREATING/         a store being created: its keys/ and db/ are
//                              built here, then moved into place
//                              (lib/store/creation.h)
//   data_dir/db/               the data database (RocksDB, file-encrypted)
//   data_dir/keys/             the key store (RocksDB, wrapped keys only)
//   data_dir/tmp/              scratch: tenant restores' SST files
//   data_dir/audit-pending     wrong-master-key attempts awaiting the next open
//   backup_dir/engine/         RocksDB BackupEngine (file-encrypted)
//   backup_dir/identity        BackupDirIdentity: the directory's id and
//                              owner, sealed
//   backup_dir/damaged/        damaged engine files set aside while a backup
//                              copies them again
//   backup_dir/generations/    <id>.gen generation files, `counter`, and
//                              <id>.gen.next twins during a master-key rotation
//
// Everything created there is owner-only, directories 0700 and files 0600
// (lib/util/files.h, lib/rocks/owner_only_fs.h); Store::Open tightens what an
// older leyser left looser. docs/architecture.md has the whole picture.

#ifndef LEYSER_LIB_DB_FILENAME_H_
#define LEYSER_LIB_DB_FILENAME_H_

#include <cstdint>
#include <string>

namespace leyser::internal {

inline std::string LockFileName(const std::string& data_dir) {
  return data_dir + "/LOCK";
}
inline std::string DataDbDir(const std::string& data_dir) {
  return data_dir + "/db";
}
inline std::string KeyStoreDir(const std::string& data_dir) {
  return data_dir + "/keys";
}
inline std::string CreationDir(const std::string& data_dir) {
  return data_dir + "/CREATING";
}
inline std::string ScratchDir(const std::string& data_dir) {
  return data_dir + "/tmp";
}
inline std::string PendingAuditFileName(const std::string& data_dir) {
  return data_dir + "/audit-pending";
}
// A database directory's CURRENT file: it names the live MANIFEST (a
// database without it is damaged, lib/db/db_files.h).
inline std::string CurrentFileName(const std::string& db_dir) {
  return db_dir + "/CURRENT";
}
// The prefix of a database's MANIFEST files; CURRENT names the live one.
inline constexpr char kManifestPrefix[] = "MANIFEST-";
inline std::string RestoreSstFileName(const std::string& data_dir,
                                      std::uint64_t tenant_number) {
  return ScratchDir(data_dir) + "/restore-" + std::to_string(tenant_number) +
         ".sst";
}

inline std::string BackupEngineDir(const std::string& backup_dir) {
  return backup_dir + "/engine";
}
inline std::string BackupIdentityFileName(const std::string& backup_dir) {
  return backup_dir + "/identity";
}
// Damaged backup files set aside while they are copied again (removed once
// the new generation verifies, or by the next repair).
inline std::string DamagedFilesDir(const std::string& backup_dir) {
  return backup_dir + "/damaged";
}
inline std::string GenerationsDir(const std::string& backup_dir) {
  return backup_dir + "/generations";
}
inline constexpr char kGenerationSuffix[] = ".gen";
inline std::string GenerationFileName(const std::string& generations_dir,
                                      std::uint32_t id) {
  return generations_dir + "/" + std::to_string(id) + kGenerationSuffix;
}
inline std::string GenerationCounterFileName(
    const std::string& generations_dir) {
  return generations_dir + "/counter";
}

}  // namespace leyser::internal

#endif  // LEYSER_LIB_DB_FILENAME_H_
