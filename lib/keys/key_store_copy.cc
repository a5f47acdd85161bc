// KeyStore's side of backup generations: the copy a generation holds, sealing
// and opening generation files, checking and editing copies, and creating a
// key store from a copy (restore).

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

#include "lib/crypto/sodium.h"
#include "lib/keys/key_records.h"
#include "lib/keys/key_store.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/keystore.pb.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/coding.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {

absl::StatusOr<proto::KeyStoreCopy> KeyStore::CopyLocked() const {
  proto::KeyStoreCopy copy;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    proto::KeyStoreCopy::Entry* entry = copy.add_entries();
    entry->set_key(it->key().ToString());
    entry->set_value(it->value().ToString());
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "copying the key store"));
  return copy;
}

namespace {

// The associated data of `file`'s sealed part: the caller's `context` and,
// from format version 2 on, the master-key generation in the clear field.
std::string SealedAd(const proto::GenerationFile& file,
                     std::string_view context) {
  if (file.format_version() < 2) return std::string(context);
  return absl::StrCat(ToAbsl(context), "/master=", file.master_generation());
}

void Seal(const SecretBytes& master, std::uint32_t generation,
          const std::string& payload, std::string_view context,
          proto::GenerationFile* file) {
  file->set_master_generation(generation);
  file->set_master_check(SealCheck(master, generation));
  std::string sealed;
  SealAppend(master, payload, SealedAd(*file, context), &sealed);
  file->set_sealed(std::move(sealed));
}

}  // namespace

absl::Status KeyStore::SealWithCopy(
    const std::function<absl::StatusOr<std::string>(proto::KeyStoreCopy)>&
        payload,
    std::string_view context, proto::GenerationFile* file) const {
  absl::ReaderMutexLock lock(&mu_);
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreCopy copy, CopyLocked());
  LEYSER_ASSIGN_OR_RETURN(std::string bytes, payload(std::move(copy)));
  Seal(master_key_, master_generation_, bytes, context, file);
  return absl::OkStatus();
}

absl::StatusOr<bool> KeyStore::Reseal(
    proto::GenerationFile* file, std::string_view context,
    const std::function<absl::StatusOr<bool>(std::string* payload)>& edit)
    const {
  absl::ReaderMutexLock lock(&mu_);
  LEYSER_ASSIGN_OR_RETURN(std::string payload,
                          OpenWithMasterKey(*file, master_key_, context));
  LEYSER_ASSIGN_OR_RETURN(bool changed, edit(&payload));
  // Sealed again as the generation it was (a rotation back to an earlier key
  // opens files of that key's earlier generation): its copy's wrapped keys
  // name that generation.
  if (changed) {
    Seal(master_key_, file->master_generation(), payload, context, file);
  }
  return changed;
}

absl::Status KeyStore::CheckCopy(const proto::KeyStoreCopy& copy,
                                 std::uint32_t sealed_generation) const {
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta, MetaFromCopy(copy));
  absl::ReaderMutexLock lock(&mu_);
  if (meta.master_generation() != sealed_generation ||
      !OpenSecret(master_key_, meta.master_check(),
                  CheckAd(meta.master_generation()))
           .ok()) {
    return absl::DataLossError(absl::StrCat(
        "the key-store copy belongs to master key generation ",
        meta.master_generation(), ", not to the key that sealed it (",
        sealed_generation, "); its keys cannot be opened"));
  }
  LEYSER_RETURN_IF_ERROR(
      CheckMetaFields(master_key_, meta, "a backup's key-store copy"));
  bool file_key = false;
  for (const proto::KeyStoreCopy::Entry& e : copy.entries()) {
    if (e.key() == kMetaKey) continue;
    file_key = file_key || e.key() == kFileKeyEntry;
    absl::StatusOr<TenantKey> key =
        UnwrapWith(master_key_, sealed_generation, e.key(), e.value());
    if (!key.ok()) {
      return absl::DataLossError(absl::StrCat(
          "a wrapped key in the key-store copy does not open with the master "
          "key that sealed it: ",
          key.status().message()));
    }
  }
  if (!file_key) {
    return absl::DataLossError("the key-store copy has no file key");
  }
  return absl::OkStatus();
}

absl::flat_hash_set<std::uint64_t> KeyStore::RemoveTenantKeysFromCopy(
    proto::KeyStoreCopy* copy,
    const absl::flat_hash_set<std::uint64_t>& numbers) {
  absl::flat_hash_set<std::uint64_t> removed;
  auto* entries = copy->mutable_entries();
  // One pass: each entry's tenant number (TenantKeyEntry: the prefix, then 8
  // bytes big-endian) looked up; kept entries move forward in order.
  int kept = 0;
  for (int i = 0; i < entries->size(); ++i) {
    const std::string& key = entries->Get(i).key();
    if (key.size() >= kTenantKeyPrefix.size() + 8 &&
        std::string_view(key).substr(0, kTenantKeyPrefix.size()) ==
            kTenantKeyPrefix) {
      const std::uint64_t number = DecodeBigEndian64(
          std::string_view(key).substr(kTenantKeyPrefix.size(), 8));
      if (numbers.contains(number)) {
        removed.insert(number);
        continue;
      }
    }
    if (kept != i) entries->SwapElements(kept, i);
    ++kept;
  }
  entries->DeleteSubrange(kept, entries->size() - kept);
  return removed;
}

void KeyStore::SealGeneration(const SecretBytes& master,
                              std::uint32_t generation,
                              const std::string& payload,
                              std::string_view context,
                              proto::GenerationFile* file) {
  Seal(master, generation, payload, context, file);
}

absl::StatusOr<proto::KeyStoreCopy> KeyStore::RewrapCopy(
    const proto::KeyStoreCopy& copy, std::uint32_t sealed_generation,
    const SecretBytes& new_master, std::uint32_t new_generation) const {
  if (new_master.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError("the new master key must be 32 bytes");
  }
  LEYSER_RETURN_IF_ERROR(CheckCopy(copy, sealed_generation));
  absl::ReaderMutexLock lock(&mu_);
  proto::KeyStoreCopy out;
  for (const proto::KeyStoreCopy::Entry& e : copy.entries()) {
    proto::KeyStoreCopy::Entry* rewrapped = out.add_entries();
    rewrapped->set_key(e.key());
    if (e.key() == kMetaKey) {
      proto::KeyStoreMeta meta;
      if (!meta.ParseFromString(e.value())) {
        return absl::DataLossError("a backup's key-store metadata is damaged");
      }
      meta.set_master_generation(new_generation);
      meta.set_master_check(SealCheck(new_master, new_generation));
      if (meta.format_version() == kKeyStoreFormatVersion) {
        SealMetaFields(new_master, &meta);
      }
      rewrapped->set_value(meta.SerializeAsString());
      continue;
    }
    LEYSER_ASSIGN_OR_RETURN(
        TenantKey key,
        UnwrapWith(master_key_, sealed_generation, e.key(), e.value()));
    rewrapped->set_value(
        Wrap(new_master, new_generation, e.key(), key.key, key.version));
  }
  return out;
}

absl::StatusOr<std::vector<TenantKey>> KeyStore::TenantKeysFromCopy(
    const proto::KeyStoreCopy& copy, std::uint64_t number) const {
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta, MetaFromCopy(copy));
  absl::ReaderMutexLock lock(&mu_);
  if (meta.master_generation() != master_generation_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the backup's keys are wrapped under master-key generation ",
        meta.master_generation(), ", the store's under ", master_generation_));
  }
  const std::string prefix = TenantKeyEntry(number);
  std::vector<TenantKey> out;
  for (const proto::KeyStoreCopy::Entry& e : copy.entries()) {
    if (e.key().compare(0, prefix.size(), prefix) != 0) continue;
    LEYSER_ASSIGN_OR_RETURN(TenantKey key, Unwrap(e.key(), e.value()));
    out.push_back(std::move(key));
  }
  if (out.empty()) {
    return absl::NotFoundError("the backup holds no data key of the tenant");
  }
  std::sort(out.begin(), out.end(), [](const TenantKey& a, const TenantKey& b) {
    return a.version < b.version;
  });
  return out;
}

absl::StatusOr<std::string> KeyStore::OpenWithMasterKey(
    const proto::GenerationFile& file, const SecretBytes& master_key,
    std::string_view context) {
  if (!OpenSecret(master_key, file.master_check(),
                  CheckAd(file.master_generation()))
           .ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "backup generation ", file.id(),
        " was sealed with master key generation ", file.master_generation(),
        "; the supplied key is not that key (after a rotation, "
        "restore older generations with the key that was current when they "
        "were taken)"));
  }
  std::string payload;
  if (!::leyser::internal::Open(master_key, file.sealed(),
                                SealedAd(file, context), &payload)) {
    return absl::DataLossError(
        absl::StrCat("backup generation ", file.id(),
                     " failed authentication; it is damaged"));
  }
  return payload;
}

absl::StatusOr<std::string> KeyStore::OpenWithCurrentMasterKey(
    const proto::GenerationFile& file, std::string_view context) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<std::string> payload =
      OpenWithMasterKey(file, master_key_, context);
  if (payload.status().code() != absl::StatusCode::kPermissionDenied) {
    return payload;
  }
  // The key check did not open with the current key. A file naming the
  // current generation, or whose check is the current key's under another
  // generation number, was changed: not a retired key's.
  if (file.master_generation() == master_generation_ ||
      OpenSecret(master_key_, file.master_check(), CheckAd(master_generation_))
          .ok()) {
    return absl::DataLossError(absl::StrCat(
        "backup generation ", file.id(), " names master key generation ",
        file.master_generation(),
        " but its key check does not open with the "
        "current key (generation ",
        master_generation_, "); the file is damaged or was altered"));
  }
  if (file.master_generation() > master_generation_) {
    // A later state of this store sealed it (the store was restored from an
    // older generation since), or the number was changed.
    return absl::FailedPreconditionError(absl::StrCat(
        "backup generation ", file.id(),
        " is sealed under master key "
        "generation ",
        file.master_generation(), ", later than this store's (",
        master_generation_,
        "; was the store restored from an older "
        "generation?); it cannot be checked with this store's key"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("backup generation ", file.id(),
                   " is sealed under master key "
                   "generation ",
                   file.master_generation(),
                   ", which this store no longer "
                   "holds (generation ",
                   master_generation_, " is current)"));
}

absl::StatusOr<proto::KeyStoreMeta> KeyStore::MetaFromCopy(
    const proto::KeyStoreCopy& copy) {
  for (const proto::KeyStoreCopy::Entry& e : copy.entries()) {
    proto::KeyStoreMeta meta;
    if (e.key() == kMetaKey && meta.ParseFromString(e.value()) &&
        (meta.format_version() == kKeyStoreFormatVersion ||
         meta.format_version() == kLegacyKeyStoreFormatVersion)) {
      return meta;
    }
  }
  return absl::DataLossError(
      "the key-store copy of a backup has no valid metadata record");
}

absl::Status KeyStore::CreateFromCopy(const std::string& dir,
                                      const proto::KeyStoreCopy& copy) {
  if (Exists(dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " already holds a key store"));
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db,
                          OpenKeyStoreDb(dir, true, /*must_be_new=*/true));
  rocksdb::WriteBatch batch;
  for (const proto::KeyStoreCopy::Entry& e : copy.entries()) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(e.key(), e.value()), "restoring the key store"));
  }
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db->Write(SyncWrite(), &batch), "restoring the key store"));
  return FromRocks(db->Close(), "closing the restored key store");
}

}  // namespace leyser::internal
