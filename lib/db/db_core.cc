#include "lib/db/db_core.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "lib/crypto/file_cipher.h"
#include "lib/db/column_families.h"
#include "lib/db/db_files.h"
#include "lib/rocks/fault_injection.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

void DbCore::Register(KillableIterator* it) {
  absl::MutexLock guard(&iterators_mu_);
  iterators_.insert(it);
}

void DbCore::Unregister(KillableIterator* it) {
  absl::MutexLock guard(&iterators_mu_);
  iterators_.erase(it);
}

void DbCore::KillIterators(const absl::Status& reason) {
  absl::MutexLock guard(&iterators_mu_);
  for (KillableIterator* it : iterators_) it->Kill(reason);
}

void DbCore::KillIterators(const absl::Status& reason,
                           std::uint64_t tenant_number) {
  absl::MutexLock guard(&iterators_mu_);
  for (KillableIterator* it : iterators_) {
    if (it->tenant_number() == tenant_number) it->Kill(reason);
  }
}

DbCore::~DbCore() {
  if (db == nullptr) {
    return;
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  db->Close().PermitUncheckedError();
  delete db;
}

absl::StatusOr<std::shared_ptr<DbCore>> OpenDataDb(
    const std::string& dir, const DataDbSettings& settings,
    std::unique_ptr<FileLock> lock, FileKey file_key,
    std::vector<FileKey> retired_file_keys,
    const std::function<void()>& checked) {
  auto core = std::make_shared<DbCore>();
  core->lock = std::move(lock);
  rocksdb::DBOptions db_options = DataDbOptions();
  if (settings.create) {
    // RocksDB creating a database deletes the files of an older one it finds
    // in the directory: create only where there is nothing.
    LEYSER_ASSIGN_OR_RETURN(const bool fresh, IsAbsentOrEmptyDir(dir));
    if (!fresh) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir,
          " is not empty; a data database is only created in an empty "
          "directory"));
    }
    db_options.create_if_missing = true;
    db_options.error_if_exists = true;
  }
  db_options.max_file_opening_threads = TableOpeningThreads(dir);
  // Stores from before the audit log get its column family on their next open.
  db_options.create_missing_column_families = true;
  if (file_key.key.size() > 0) {
    LEYSER_ASSIGN_OR_RETURN(
        core->env,
        NewEncryptedEnv(std::move(file_key), std::move(retired_file_keys)));
    if (FileSystemWrapper wrap = DataFileSystemWrapper()) {
      core->env.fs = wrap(core->env.fs);
      core->env.env = rocksdb::NewCompositeEnv(core->env.fs);
    }
  }
  if (!settings.create) {
    // Before anything is written (the info LOG below, RocksDB's own files).
    LEYSER_RETURN_IF_ERROR(CheckDbFiles(
        core->env.env ? core->env.env.get() : rocksdb::Env::Default(), dir,
        "the data database"));
  }
  if (checked) checked();
  if (!settings.create) {
    LEYSER_RETURN_IF_ERROR(
        RemoveEmptyWals(dir, core->env.env ? kFilePrefixBytes : 0).status());
  }
  if (core->env.env) {
    LEYSER_RETURN_IF_ERROR(EnsureDir(dir));
    LEYSER_ASSIGN_OR_RETURN(core->info_log,
                            NewEncryptedInfoLog(core->env.env.get(), dir));
    // RocksDB applies info_log_level only to a logger it makes itself.
    core->info_log->SetInfoLogLevel(db_options.info_log_level);
    db_options.env = core->env.env.get();
    db_options.info_log = core->info_log;
  }
  rocksdb::Status s = rocksdb::DB::Open(
      db_options, dir, DataColumnFamilies(settings.block_cache_bytes),
      &core->handles, &core->db);
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "opening the data database"));
  core->data_cf = core->handles[1];
  core->registry_cf = core->handles[2];
  core->audit_cf = core->handles[3];
  core->write_options.sync = settings.sync_writes;
  core->max_key_bytes = settings.max_key_bytes;
  core->max_value_bytes = settings.max_value_bytes;
  core->clock = settings.clock;
  return core;
}

}  // namespace leyser::internal
