#include "lib/store/creation.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <unistd.h>

#include "lib/db/db_core.h"
#include "lib/db/filename.h"
#include "lib/keys/key_store.h"
#include "lib/registry/registry.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// DataLoss about a CREATING directory that is no creation leyser left; `what`
// says why.
absl::Status NotLeftByCreation(const std::string& staging,
                               const std::string& what) {
  return absl::DataLossError(
      absl::StrCat(staging, " ", what,
                   ": it is no unfinished creation, so leyser leaves it as it "
                   "is. Move it out of the store's directory (after checking "
                   "what it holds) and open again"));
}

// OK if `staging` holds only what an interrupted creation can leave: no entry
// but keys/ and db/, no table file (a creation never flushes), no tenant key.
absl::Status CheckLeftByCreation(const std::string& staging) {
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(staging));
  for (const std::string& name : names) {
    if (name != "keys" && name != "db") {
      return NotLeftByCreation(
          staging, absl::StrCat("holds ", name,
                                ", which a store's creation never writes"));
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(staging, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (absl::EndsWith(it->path().filename().string(), ".sst")) {
      return NotLeftByCreation(
          staging, absl::StrCat("holds the table file ", it->path().string(),
                                ", which a store's creation never writes"));
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", staging, ": ", ec.message()));
  }
  const std::string keys = KeyStoreDir(staging);
  if (PathExists(CurrentFileName(keys))) {
    absl::StatusOr<bool> holds = KeyStore::HoldsTenantKeys(keys);
    if (absl::IsUnavailable(holds.status())) return holds.status();
    if (!holds.ok()) {
      return NotLeftByCreation(
          staging, absl::StrCat("holds a key store that cannot be read (",
                                holds.status().message(), ")"));
    }
    if (*holds) {
      return NotLeftByCreation(staging,
                               "holds a key store with tenant keys, which a "
                               "store's creation never writes");
    }
  }
  return absl::OkStatus();
}

// Removes `staging`, checked with CheckLeftByCreation. Its key store's CURRENT
// goes first: a removal interrupted half-way then leaves no key store that
// names a removed MANIFEST (which the next check could not read).
absl::Status Discard(const std::string& staging) {
  const std::string keys = KeyStoreDir(staging);
  const std::string current = CurrentFileName(keys);
  if (PathExists(current)) {
    if (unlink(current.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot remove ", current, ": ", std::strerror(errno)));
    }
    LEYSER_RETURN_IF_ERROR(SyncDir(keys));
    CrashPoint("create_store.discard_after_current");
  }
  LEYSER_RETURN_IF_ERROR(RemoveAll(staging));
  return SyncParentDir(staging);
}

// Builds a complete store in `staging`, which must not exist: the key store,
// the data database with the registry's metadata record, both closed.
absl::Status BuildStore(const Options& options, const std::string& staging,
                        const SecretBytes& master_key, bool plain_files) {
  LEYSER_RETURN_IF_ERROR(EnsureDir(staging));
  CrashPoint("create_store.after_staging_dir");
  const std::string keys_dir = KeyStoreDir(staging);
  const std::string db_dir = DataDbDir(staging);
  LEYSER_RETURN_IF_ERROR(KeyStore::Create(keys_dir, master_key,
                                          options.clock->Now(), plain_files));
  CrashPoint("create_store.after_key_store");
  LEYSER_ASSIGN_OR_RETURN(KeyStoreInfo keys,
                          KeyStore::Inspect(keys_dir, master_key));
  DataDbSettings settings = DataDbSettingsFor(options);
  settings.create = true;
  settings.sync_writes = true;
  {
    LEYSER_ASSIGN_OR_RETURN(
        std::shared_ptr<DbCore> db,
        OpenDataDb(
            db_dir, settings, /*lock=*/nullptr,
            plain_files ? FileKey{} : ToFileKey(std::move(keys.file_key))));
    CrashPoint("create_store.after_data_db");
    db->record_mac =
        std::make_shared<RecordMac>(std::move(keys.record_key.key));
    Registry registry(db);
    LEYSER_RETURN_IF_ERROR(
        registry.Load(/*created=*/true, options.clock->Now()));
    CrashPoint("create_store.after_registry");
  }  // Both databases are closed here.
  LEYSER_RETURN_IF_ERROR(SyncDir(keys_dir));
  LEYSER_RETURN_IF_ERROR(SyncDir(db_dir));
  return SyncDir(staging);
}

// Moves the complete parts in `staging` into `dir` (keys/ first) where they
// are missing, then removes the emptied `staging`.
absl::Status MoveIntoPlace(const std::string& dir, const std::string& staging) {
  struct Part {
    std::string from, to;
    const char* crash_point;
  };
  const Part parts[] = {
      {KeyStoreDir(staging), KeyStoreDir(dir), "create_store.after_move_keys"},
      {DataDbDir(staging), DataDbDir(dir), "create_store.after_move_db"},
  };
  for (const Part& part : parts) {
    if (PathExists(part.to)) continue;
    if (!PathExists(part.from)) {
      return absl::OkStatus();  // A part is missing: the open names it.
    }
    LEYSER_RETURN_IF_ERROR(RenameDurably(part.from, part.to));
    CrashPoint(part.crash_point);
  }
  absl::Status removed = RemoveEmptyDir(staging);
  if (absl::IsFailedPrecondition(removed)) {
    return NotLeftByCreation(staging,
                             "is not empty, although the store's key store "
                             "and data database are in place");
  }
  return removed;
}

}  // namespace

DataDbSettings DataDbSettingsFor(const Options& options) {
  DataDbSettings settings;
  settings.block_cache_bytes = options.block_cache_bytes;
  settings.sync_writes = options.sync_writes;
  settings.max_key_bytes = options.max_key_bytes;
  settings.max_value_bytes = options.max_value_bytes;
  settings.clock = options.clock;
  return settings;
}

absl::Status EnsureStoreCreated(const Options& options,
                                const SecretBytes& master_key,
                                bool plain_files) {
  const std::string& dir = options.data_dir;
  const std::string staging = CreationDir(dir);
  const bool has_keys = PathExists(KeyStoreDir(dir));
  const bool has_db = PathExists(DataDbDir(dir));
  if (!PathExists(staging)) {
    if (has_keys || has_db) return absl::OkStatus();
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("no leyser store in ", dir,
                       "; set Options::create_if_missing to create one"));
    }
  } else if (!has_keys && !has_db) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat(
          "the creation of a store in ", dir, " was interrupted (", staging,
          " is left); open it with Options::create_if_missing to create the "
          "store again"));
    }
    // Nothing in `staging` was ever served as a store: start again.
    LEYSER_RETURN_IF_ERROR(CheckLeftByCreation(staging));
    LEYSER_RETURN_IF_ERROR(Discard(staging));
  } else if (has_keys) {
    // Interrupted after the first move: `staging` holds at most the complete
    // data database.
    LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(staging));
    for (const std::string& name : names) {
      if (name != "db" || has_db) {
        return NotLeftByCreation(
            staging,
            absl::StrCat("holds ", name, " next to the store's ",
                         has_db ? "key store and data database" : "key store"));
      }
    }
    return MoveIntoPlace(dir, staging);
  } else {
    return absl::OkStatus();  // A data database without a key store: the open
                              // names the missing part.
  }
  LEYSER_RETURN_IF_ERROR(BuildStore(options, staging, master_key, plain_files));
  return MoveIntoPlace(dir, staging);
}

}  // namespace leyser::internal
