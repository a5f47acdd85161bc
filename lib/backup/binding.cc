// BackupManager::Bind and CheckDirFor: a store and the one backup directory
// its generations are in.

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "lib/backup/backup_manager.h"
#include "lib/backup/generation_files.h"
#include "lib/crypto/record_mac.h"
#include "lib/crypto/sodium.h"
#include "lib/db/filename.h"
#include "lib/proto/backup.pb.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

constexpr std::uint32_t kLegacyIdentityFormatVersion = 1;
constexpr std::uint32_t kIdentityFormatVersion = 2;
constexpr std::size_t kDirIdBytes = 16;
constexpr char kIdentityTable[] = "backup_dir";
constexpr char kIdentityKey[] = "identity";

std::string Hex(const std::string& bytes) {
  return absl::BytesToHexString(bytes);
}

// The owner a store writes into (and looks for in) its backup directory's
// identity.
const std::string& Owner(const proto::RegistryMeta& meta) {
  return meta.backup_owner_id().empty() ? meta.installation_id()
                                        : meta.backup_owner_id();
}
const std::string& Owner(const proto::BackupDirIdentity& identity) {
  return identity.format_version() == kLegacyIdentityFormatVersion
             ? identity.installation_id()
             : identity.owner_id();
}

}  // namespace

absl::StatusOr<proto::BackupDirIdentity> BackupManager::ReadIdentity() const {
  const std::string path = BackupIdentityFileName(backup_dir_);
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat(
        backup_dir_,
        " has no identity file: no store has taken it as its backup "
        "directory"));
  }
  LEYSER_RETURN_IF_ERROR(bytes.status());
  std::string_view payload = *bytes;
  const bool sealed = RecordMac::HasHeader(*bytes);
  if (sealed) {
    if (db_->record_mac == nullptr) {
      return absl::FailedPreconditionError("no record key to open " + path);
    }
    absl::StatusOr<std::string_view> opened =
        db_->record_mac->Open(kIdentityTable, kIdentityKey, *bytes, path);
    if (!opened.ok()) {
      return absl::DataLossError(
          absl::StrCat(path,
                       " is damaged or sealed by another store (its record "
                       "key does not open it): the directory is not this "
                       "store's"));
    }
    payload = *opened;
  }
  proto::BackupDirIdentity identity;
  if (!identity.ParseFromArray(payload.data(),
                               static_cast<int>(payload.size())) ||
      identity.format_version() !=
          (sealed ? kIdentityFormatVersion : kLegacyIdentityFormatVersion) ||
      identity.dir_id().size() != kDirIdBytes ||
      (sealed && identity.owner_id().empty())) {
    return absl::DataLossError(
        absl::StrCat(path, " is damaged or of another format"));
  }
  return identity;
}

absl::Status BackupManager::WriteSealedIdentity(
    const proto::BackupDirIdentity& identity, bool exclusive) const {
  if (db_->record_mac == nullptr) {
    return absl::FailedPreconditionError(
        "no record key to seal the backup directory's identity");
  }
  const std::string bytes = db_->record_mac->Seal(kIdentityTable, kIdentityKey,
                                                  identity.SerializeAsString());
  const std::string path = BackupIdentityFileName(backup_dir_);
  return exclusive ? CreateFileExclusively(path, bytes)
                   : WriteFileAtomically(path, bytes);
}

absl::StatusOr<BackupManager::Binding> BackupManager::Bind(
    const proto::RegistryMeta& meta, absl::Time now, bool take,
    bool earlier_backups) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Binding> binding =
      BindLocked(meta, now, take, earlier_backups);
  if (!binding.ok()) {
    // An unreadable directory (a mount missing, a file in its place) refuses
    // backups until the next try; it never keeps the store from opening.
    Binding refused;
    refused.dir_id = meta.backup_dir_id();
    refused.refusal = absl::FailedPreconditionError(
        absl::StrCat("Options::backup_dir ", backup_dir_,
                     " cannot be used: ", binding.status().message()));
    binding = std::move(refused);
  }
  bound_id_ = binding->dir_id;
  refusal_ = binding->refusal;
  if (enabled() && refusal_.ok() && !bound_id_.empty() && !tightened_) {
    // 0700/0600 for what an older leyser left looser; only in the store's
    // own directory.
    TightenPermissions(backup_dir_);
    tightened_ = true;
  }
  return binding;
}

absl::StatusOr<BackupManager::Binding> BackupManager::BindLocked(
    const proto::RegistryMeta& meta, absl::Time now, bool take,
    bool earlier_backups) {
  Binding binding;
  binding.dir_id = meta.backup_dir_id();
  id_floor_ = meta.generation_id_floor();
  if (!enabled()) return binding;
  absl::StatusOr<proto::BackupDirIdentity> identity = ReadIdentity();
  if (!identity.ok() && !absl::IsNotFound(identity.status()) &&
      !absl::IsDataLoss(identity.status())) {
    return identity.status();
  }
  if (!meta.backup_dir_id().empty()) {
    if (!identity.ok() || identity->dir_id() != meta.backup_dir_id()) {
      binding.refusal = CheckDirFor(meta);
    } else if (identity->format_version() == kLegacyIdentityFormatVersion) {
      // The store's own directory, named before identities were sealed and
      // named their owner: sealed now.
      proto::BackupDirIdentity sealed = *identity;
      sealed.set_format_version(kIdentityFormatVersion);
      sealed.set_owner_id(Owner(meta));
      LEYSER_RETURN_IF_ERROR(WriteSealedIdentity(sealed, /*exclusive=*/false));
    }
    return binding;
  }
  // The store has no backup directory yet.
  if (identity.ok() &&
      identity->format_version() == kLegacyIdentityFormatVersion) {
    // Unsealed: anyone could have written it. Only a store already bound to
    // the directory trusts one (and seals it).
    binding.refusal = absl::FailedPreconditionError(absl::StrCat(
        "Options::backup_dir ", backup_dir_,
        " has an identity from an older leyser that names no owner; this "
        "store has no backups there and does not take it: give it a "
        "directory of its own"));
    return binding;
  }
  if (identity.ok()) {
    if (Owner(*identity) != Owner(meta)) {
      binding.refusal = absl::FailedPreconditionError(absl::StrCat(
          "Options::backup_dir ", backup_dir_,
          " is the backup directory of another store (owner ",
          Hex(Owner(*identity)), "; this store is ", Hex(Owner(meta)),
          identity->installation_id() == meta.installation_id()
              ? ", restored from a backup of it"
              : "",
          "): give this store a directory of its own (restoring from it "
          "stays possible)"));
      return binding;
    }
    // This installation wrote it (a crash came before the meta): record it
    // when a backup is about to be taken (or a store from before backup
    // tracking learns it now).
    if (take || !meta.backups_tracked()) {
      binding.changed = true;
      binding.dir_id = identity->dir_id();
    }
    return binding;
  }
  if (absl::IsDataLoss(identity.status())) {
    binding.refusal = absl::FailedPreconditionError(
        absl::StrCat("Options::backup_dir ", backup_dir_,
                     " cannot be taken as this store's backup directory: ",
                     identity.status().message()));
    return binding;
  }
  // No identity: a new (absent or empty) directory, or one of a store from
  // before backup tracking that this store's master key opens.
  absl::StatusOr<std::vector<std::string>> entries = ListDir(backup_dir_);
  const bool fresh =
      absl::IsNotFound(entries.status()) || (entries.ok() && entries->empty());
  if (!fresh) {
    LEYSER_RETURN_IF_ERROR(entries.status());
    if (!meta.backups_tracked()) {
      LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                              ListedIds(generations_dir_));
      absl::Status adoptable =
          absl::FailedPreconditionError("it holds no backup generation");
      if (!listed.empty()) {
        absl::StatusOr<proto::GenerationFile> newest =
            ReadGeneration(generations_dir_, listed.back());
        adoptable = newest.ok() ? OpenGeneration(*newest, *keys_).status()
                                : newest.status();
      }
      if (adoptable.ok()) {
        // Its newest generation opens with this store's master key: adopted.
        LEYSER_ASSIGN_OR_RETURN(binding.dir_id, WriteIdentity(meta, now));
        binding.changed = true;
        return binding;
      }
      binding.refusal = absl::FailedPreconditionError(absl::StrCat(
          "Options::backup_dir ", backup_dir_,
          " is not empty and has no identity file, and this store cannot "
          "take it as the directory of its earlier backups (",
          adoptable.message(), ")"));
      return binding;
    }
    binding.refusal = absl::FailedPreconditionError(absl::StrCat(
        "Options::backup_dir ", backup_dir_,
        " is not empty and has no identity file: it is not a backup "
        "directory leyser made for this store; give this store an empty or "
        "new directory"));
    return binding;
  }
  if (!meta.backups_tracked()) {
    if (earlier_backups) {
      binding.refusal = absl::FailedPreconditionError(absl::StrCat(
          "this store took backups before it tracked them, and "
          "Options::backup_dir ",
          backup_dir_, " is empty: point it at the directory that holds them"));
      return binding;
    }
    binding.changed = true;  // Tracked from now on: no backups so far.
  }
  if (take) {
    LEYSER_ASSIGN_OR_RETURN(binding.dir_id, WriteIdentity(meta, now));
    binding.changed = true;
  }
  return binding;
}

absl::StatusOr<std::string> BackupManager::WriteIdentity(
    const proto::RegistryMeta& meta, absl::Time now) {
  proto::BackupDirIdentity fresh;
  fresh.set_format_version(kIdentityFormatVersion);
  std::string id(kDirIdBytes, '\0');
  RandomBytes(id.data(), id.size());
  fresh.set_dir_id(id);
  fresh.set_installation_id(meta.installation_id());
  fresh.set_owner_id(Owner(meta));
  ToProtoTime(now, fresh.mutable_created());
  LEYSER_RETURN_IF_ERROR(EnsureDir(backup_dir_));
  absl::Status created = WriteSealedIdentity(fresh, /*exclusive=*/true);
  if (absl::IsAlreadyExists(created)) {
    // Another process took the directory first.
    LEYSER_ASSIGN_OR_RETURN(proto::BackupDirIdentity other, ReadIdentity());
    if (Owner(other) != Owner(meta)) {
      return absl::FailedPreconditionError(
          absl::StrCat("another store took ", backup_dir_,
                       " as its backup directory at the same moment"));
    }
    return other.dir_id();
  }
  LEYSER_RETURN_IF_ERROR(created);
  return id;
}

absl::Status BackupManager::CheckBound() const {
  if (!refusal_.ok()) return refusal_;
  // Not bound: the store binds (Bind with `take`) before it writes; callers
  // without a binding (this module's tests) write freely.
  if (bound_id_.empty()) return absl::OkStatus();
  absl::StatusOr<proto::BackupDirIdentity> identity = ReadIdentity();
  if (!identity.ok() || identity->dir_id() != bound_id_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Options::backup_dir ", backup_dir_,
        " is no longer the directory this store took as its backup directory "
        "(",
        identity.ok() ? "its identity changed"
                      : std::string(identity.status().message()),
        "); no backup is written to it"));
  }
  return absl::OkStatus();
}

absl::Status BackupManager::CheckDirFor(const proto::RegistryMeta& meta) const {
  if (!meta.backups_tracked()) {
    return absl::FailedPreconditionError(
        "this store was created before leyser tracked its backups and does "
        "not know yet whether backups of it exist: open it once with its "
        "Options::backup_dir (an empty new directory if it never had "
        "backups)");
  }
  if (meta.backup_dir_id().empty()) {
    // Never took a backup: the directory is bound (its id recorded) just
    // before the first generation is written.
    return absl::OkStatus();
  }
  if (!enabled()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backups of this store exist (backup directory ",
        Hex(meta.backup_dir_id()),
        ") but Options::backup_dir is empty: set it to that directory"));
  }
  // Any failure to read the identity (unreadable, damaged, missing) is a
  // reason to wait, reported like the others.
  absl::StatusOr<proto::BackupDirIdentity> identity = ReadIdentity();
  if (!identity.ok() || identity->dir_id() != meta.backup_dir_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Options::backup_dir ", backup_dir_,
        " is not this store's backup directory (its generations are in the "
        "directory with id ",
        Hex(meta.backup_dir_id()), "; this one ",
        identity.ok() ? absl::StrCat("has id ", Hex(identity->dir_id()))
                      : std::string(identity.status().message()),
        "): point Options::backup_dir at it"));
  }
  return absl::OkStatus();
}

}  // namespace leyser::internal
