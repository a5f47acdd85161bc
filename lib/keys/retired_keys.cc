// Keys a rotation retires, in the key store: the tenants' data keys (the
// current version under "d/" + number, retired versions after it) and the
// node's file keys (the current one "f/file", the retired ones a file-key
// rotation keeps while files carry their ids, "f/file/" + 4-byte big-endian
// id).

#include <optional>
#include <string>
#include <utility>
#include <vector>

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
#include "lib/util/crash_point.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

std::string RetiredFileKeyPrefix() { return std::string(kFileKeyEntry) + "/"; }

std::uint32_t IdOfRetiredEntry(std::string_view entry) {
  std::uint32_t id = 0;
  for (char c : entry.substr(RetiredFileKeyPrefix().size())) {
    id = (id << 8) | static_cast<unsigned char>(c);
  }
  return id;
}

}  // namespace

FileKey ToFileKey(TenantKey key) {
  return FileKey{std::move(key.key), key.version};
}

std::vector<FileKey> ToFileKeys(std::vector<TenantKey> keys) {
  std::vector<FileKey> out;
  out.reserve(keys.size());
  for (TenantKey& key : keys) out.push_back(ToFileKey(std::move(key)));
  return out;
}

std::string RetiredFileKeyEntry(std::uint32_t id) {
  std::string out = RetiredFileKeyPrefix();
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((id >> shift) & 0xff));
  }
  return out;
}

absl::StatusOr<std::optional<TenantKeyRing>> KeyStore::RingLocked(
    const std::string& current, const std::string& end) const {
  TenantKeyRing ring;
  bool found = false;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(current); it->Valid() && it->key().compare(end) < 0;
       it->Next()) {
    const std::string entry = it->key().ToString();
    LEYSER_ASSIGN_OR_RETURN(
        TenantKey key, Unwrap(entry, std::string_view(it->value().data(),
                                                      it->value().size())));
    if (entry == current) {
      ring.current = std::move(key);
      found = true;
    } else {
      ring.retired.push_back(std::move(key));  // Ascending: the key order.
    }
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the key store"));
  if (!found) return std::nullopt;
  return ring;
}

absl::StatusOr<TenantKeyRing> KeyStore::GetFileKeys() const {
  absl::ReaderMutexLock lock(&mu_);
  // "f/file", then its retired keys "f/file/<id>"; '0' follows '/'.
  LEYSER_ASSIGN_OR_RETURN(
      std::optional<TenantKeyRing> ring,
      RingLocked(std::string(kFileKeyEntry), std::string(kFileKeyEntry) + "0"));
  if (!ring.has_value()) {
    return absl::DataLossError("the key store has no file key; it is damaged");
  }
  return *std::move(ring);
}

absl::StatusOr<std::vector<std::uint32_t>> KeyStore::RetiredFileKeyIds() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::uint32_t> ids;
  const std::string prefix = RetiredFileKeyPrefix();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    ids.push_back(
        IdOfRetiredEntry(std::string_view(it->key().data(), it->key().size())));
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the file keys"));
  return ids;
}

absl::Status KeyStore::DestroyRetiredFileKeys(
    const std::vector<std::uint32_t>& ids) {
  absl::ReaderMutexLock lock(&mu_);
  rocksdb::WriteBatch batch;
  for (std::uint32_t id : ids) {
    LEYSER_RETURN_IF_ERROR(FromRocks(batch.Delete(RetiredFileKeyEntry(id)),
                                     "destroying retired file keys"));
  }
  return FromRocks(db_->Write(SyncWrite(), &batch),
                   "destroying retired file keys");
}

absl::Status KeyStore::AddFileKeyRotation(rocksdb::WriteBatch* batch) const {
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kFileKeyEntry, &bytes);
  if (s.IsNotFound()) {
    return absl::DataLossError("the key store has no file key; it is damaged");
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the file key"));
  LEYSER_ASSIGN_OR_RETURN(TenantKey old,
                          Unwrap(std::string(kFileKeyEntry), bytes));
  if (old.version == UINT32_MAX) {
    return absl::FailedPreconditionError(
        "the file key has reached the last id");
  }
  const std::string retired = RetiredFileKeyEntry(old.version);
  LEYSER_ASSIGN_OR_RETURN(SecretBytes fresh, RandomKey());
  LEYSER_RETURN_IF_ERROR(
      FromRocks(batch->Put(retired, Wrap(master_key_, master_generation_,
                                         retired, old.key, old.version)),
                "rotating the file key"));
  return FromRocks(
      batch->Put(kFileKeyEntry, Wrap(master_key_, master_generation_,
                                     kFileKeyEntry, fresh, old.version + 1)),
      "rotating the file key");
}

absl::StatusOr<TenantKeyRing> KeyStore::FileKeysFromCopy(
    const proto::KeyStoreCopy& copy, const SecretBytes& master_key) {
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta, MetaFromCopy(copy));
  const std::string prefix = RetiredFileKeyPrefix();
  TenantKeyRing ring;
  bool found = false;
  for (const proto::KeyStoreCopy::Entry& e : copy.entries()) {
    const bool current = e.key() == kFileKeyEntry;
    if (!current && e.key().compare(0, prefix.size(), prefix) != 0) continue;
    absl::StatusOr<TenantKey> key =
        UnwrapWith(master_key, meta.master_generation(), e.key(), e.value());
    if (!key.ok()) {
      return absl::DataLossError(absl::StrCat(
          "a file key in a backup's key-store copy does not open: ",
          key.status().message()));
    }
    if (current) {
      ring.current = *std::move(key);
      found = true;
    } else {
      ring.retired.push_back(*std::move(key));
    }
  }
  if (!found) {
    return absl::DataLossError(
        "the key-store copy of a backup is incomplete or damaged: it has no "
        "file key");
  }
  return ring;
}

absl::Status KeyStore::RotateTenantKeys(
    const std::vector<std::uint64_t>& numbers, bool new_file_key) {
  absl::ReaderMutexLock lock(&mu_);
  rocksdb::WriteBatch batch;
  if (new_file_key) LEYSER_RETURN_IF_ERROR(AddFileKeyRotation(&batch));
  for (std::uint64_t number : numbers) {
    const std::string entry = TenantKeyEntry(number);
    std::string bytes;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), entry, &bytes);
    if (s.IsNotFound()) {
      return absl::NotFoundError(absl::StrCat(
          "tenant number ", number, " has no data key in the key store"));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading a tenant key"));
    LEYSER_ASSIGN_OR_RETURN(TenantKey old, Unwrap(entry, bytes));
    if (old.version == UINT32_MAX) {
      return absl::FailedPreconditionError(
          "a tenant key has reached the last version");
    }
    const std::string retired = RetiredTenantKeyEntry(number, old.version);
    LEYSER_ASSIGN_OR_RETURN(SecretBytes fresh, RandomKey());
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(retired, Wrap(master_key_, master_generation_,
                                          retired, old.key, old.version)),
                  "rotating tenant keys"));
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(entry, Wrap(master_key_, master_generation_, entry,
                                        fresh, old.version + 1)),
                  "rotating tenant keys"));
  }
  CrashPoint("datakeys.before_commit");
  const absl::Status written =
      FromRocks(db_->Write(SyncWrite(), &batch), "rotating tenant keys");
  retired_added_.fetch_add(1);  // After the write: see TenantsWithRetiredKeys.
  return written;
}

absl::StatusOr<std::vector<std::uint64_t>> KeyStore::TenantsWithRetiredKeys()
    const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::uint64_t> out;
  // Read before the scan's snapshot: a rotation committed after the snapshot
  // has bumped it by the time the answer is recorded.
  const std::uint64_t added = retired_added_.load();
  if (none_retired_at_.load() == added) return out;
  const std::size_t current_size = TenantKeyEntry(0).size();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kTenantKeyPrefix);
       it->Valid() && it->key().starts_with(kTenantKeyPrefix); it->Next()) {
    if (it->key().size() <= current_size) continue;
    const std::uint64_t number = DecodeBigEndian64(
        std::string_view(it->key().data() + kTenantKeyPrefix.size(), 8));
    if (out.empty() || out.back() != number) out.push_back(number);
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "scanning the key store"));
  if (out.empty()) none_retired_at_.store(added);
  return out;
}

absl::Status KeyStore::DestroyRetiredTenantKeys(
    const std::vector<std::uint64_t>& numbers) {
  absl::ReaderMutexLock lock(&mu_);
  rocksdb::WriteBatch batch;
  for (std::uint64_t number : numbers) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.DeleteRange(RetiredTenantKeyEntry(number, 0),
                                    TenantKeyEntry(number + 1)),
                  "destroying retired tenant keys"));
  }
  return FromRocks(db_->Write(SyncWrite(), &batch),
                   "destroying retired tenant keys");
}

}  // namespace leyser::internal
