#include "lib/keys/key_store.h"

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"

#include "lib/crypto/sodium.h"
#include "lib/db/db_files.h"
#include "lib/db/filename.h"
#include "lib/db/key_layout.h"
#include "lib/keys/key_records.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/keystore.pb.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/coding.h"
#include "lib/util/crash_point.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

constexpr std::string_view kCheckText = "leyser master key check";
constexpr std::uint32_t kFirstFileKeyId = 1;

}  // namespace

std::string TenantKeyEntry(std::uint64_t number) {
  std::string out(kTenantKeyPrefix);
  AppendBigEndian64(number, &out);
  return out;
}

std::string RetiredTenantKeyEntry(std::uint64_t number, std::uint32_t version) {
  std::string out = TenantKeyEntry(number);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((version >> shift) & 0xff));
  }
  return out;
}

std::string CheckAd(std::uint32_t generation) {
  std::string ad = "leyser.master-check.v1/";
  AppendBigEndian64(generation, &ad);
  return ad;
}

namespace {

// Binds a wrapped key to its slot in the key store, its version and the
// master-key generation, so a wrapped key moved to another tenant or slot fails
// to open.
std::string WrapAd(std::string_view entry_key, std::uint32_t version,
                   std::uint32_t generation) {
  std::string ad = "leyser.wrapped-key.v1/";
  ad.append(entry_key);
  AppendBigEndian64(version, &ad);
  AppendBigEndian64(generation, &ad);
  return ad;
}

}  // namespace

std::string Wrap(const SecretBytes& master, std::uint32_t generation,
                 std::string_view entry_key, const SecretBytes& key,
                 std::uint32_t version) {
  proto::WrappedKey wrapped;
  wrapped.set_master_generation(generation);
  wrapped.set_key_version(version);
  std::string sealed;
  SealAppend(
      master,
      std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
      WrapAd(entry_key, version, generation), &sealed);
  wrapped.set_sealed(std::move(sealed));
  return wrapped.SerializeAsString();
}

std::string SealCheck(const SecretBytes& master, std::uint32_t generation) {
  std::string check;
  SealAppend(master, kCheckText, CheckAd(generation), &check);
  return check;
}

namespace {

// The associated data of a format-2 metadata record's fields check.
std::string FieldsAd(const proto::KeyStoreMeta& meta) {
  std::string ad = "leyser.key-store-meta.v2/";
  AppendBigEndian64(meta.format_version(), &ad);
  AppendBigEndian64(meta.master_generation(), &ad);
  ad.push_back(meta.plain_files() ? '\x01' : '\x00');
  AppendBigEndian64(static_cast<std::uint64_t>(meta.created().seconds()), &ad);
  AppendBigEndian64(static_cast<std::uint64_t>(meta.created().nanos()), &ad);
  ad.push_back(meta.legacy_records_pending() ? '\x01' : '\x00');
  return ad;
}

}  // namespace

void SealMetaFields(const SecretBytes& master, proto::KeyStoreMeta* meta) {
  meta->clear_fields_check();
  std::string sealed;
  SealAppend(master, "", FieldsAd(*meta), &sealed);
  meta->set_fields_check(std::move(sealed));
}

absl::Status CheckMetaFields(const SecretBytes& master,
                             const proto::KeyStoreMeta& meta,
                             std::string_view where) {
  if (meta.format_version() == kLegacyKeyStoreFormatVersion &&
      meta.fields_check().empty()) {
    return absl::OkStatus();
  }
  std::string empty;
  if (meta.format_version() != kKeyStoreFormatVersion ||
      !Open(master, meta.fields_check(), FieldsAd(meta), &empty)) {
    return absl::DataLossError(absl::StrCat(
        "the metadata record of ", ToAbsl(where),
        " (its format, master-key generation, created time or plain_files "
        "flag) failed authentication: it was altered or damaged outside "
        "leyser"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status WrongMasterKey() {
  return absl::PermissionDeniedError(
      "the master key does not match this store; supply the key the store was "
      "created with "
      "(or last rotated to)");
}

absl::Status DowngradedMeta() {
  return absl::DataLossError(
      "the key store's metadata says it is from before control records were "
      "authenticated (format 1), but the key store holds a record key, which "
      "only later formats have: its metadata record was put back from an "
      "older copy");
}

// Reads and checks the meta record through `db`. NotFound if the store was
// never initialised.
absl::StatusOr<proto::KeyStoreMeta> ReadMeta(rocksdb::DB* db,
                                             const SecretBytes& master_key) {
  std::string bytes;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kMetaKey, &bytes);
  if (s.IsNotFound()) {
    return absl::NotFoundError("key store was never initialised");
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the key store"));
  proto::KeyStoreMeta meta;
  if (!meta.ParseFromString(bytes) ||
      (meta.format_version() != kKeyStoreFormatVersion &&
       meta.format_version() != kLegacyKeyStoreFormatVersion)) {
    return absl::DataLossError(
        "key store metadata is damaged or of an unknown format");
  }
  if (!OpenSecret(master_key, meta.master_check(),
                  CheckAd(meta.master_generation()))
           .ok()) {
    return WrongMasterKey();
  }
  LEYSER_RETURN_IF_ERROR(CheckMetaFields(master_key, meta, "the key store"));
  return meta;
}

}  // namespace

absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenKeyStoreDb(
    const std::string& dir, bool create, bool must_be_new) {
  if (!must_be_new && PathExists(CurrentFileName(dir))) {
    LEYSER_RETURN_IF_ERROR(RemoveEmptyWals(dir, 0).status());
  }
  rocksdb::Options options = KeyStoreRocksOptions();
  options.create_if_missing = create;
  options.error_if_exists = must_be_new;
  rocksdb::DB* db = nullptr;
  LEYSER_RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::Open(options, dir, &db),
      must_be_new ? "creating a key store" : "opening the key store"));
  return std::unique_ptr<rocksdb::DB>(db);
}

absl::StatusOr<TenantKey> UnwrapWith(const SecretBytes& master,
                                     std::uint32_t generation,
                                     std::string_view entry_key,
                                     std::string_view bytes) {
  proto::WrappedKey wrapped;
  if (!wrapped.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      wrapped.master_generation() != generation) {
    return absl::DataLossError("a wrapped key in the key store is damaged");
  }
  absl::StatusOr<SecretBytes> key = OpenSecret(
      master, wrapped.sealed(),
      WrapAd(entry_key, wrapped.key_version(), wrapped.master_generation()));
  if (!key.ok() || key->size() != kAeadKeyBytes) {
    return absl::DataLossError(
        "a wrapped key failed authentication; the key store is damaged or "
        "tampered with");
  }
  return TenantKey{std::move(key).value(), wrapped.key_version()};
}

namespace {

// Opens the key store in `dir` read-only, writing no file (not even a LOG).
absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenReadOnly(
    const std::string& dir) {
  LEYSER_RETURN_IF_ERROR(
      CheckDbFiles(rocksdb::Env::Default(), dir, "the key store"));
  rocksdb::Options options = KeyStoreRocksOptions();
  options.info_log = NullRocksLogger();
  // Not -1: OpenForReadOnly then first tries to open the key store as a
  // fully compacted database and, when it is not, opens it a second time.
  options.max_open_files = 256;
  rocksdb::DB* db = nullptr;
  LEYSER_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::OpenForReadOnly(options, dir, &db),
                absl::StrCat("opening the key store ", dir)));
  return std::unique_ptr<rocksdb::DB>(db);
}

// ReadMeta for an existing key store in `dir`: a missing record is DataLoss.
absl::StatusOr<proto::KeyStoreMeta> ReadExistingMeta(
    rocksdb::DB* db, const std::string& dir, const SecretBytes& master_key) {
  absl::StatusOr<proto::KeyStoreMeta> meta = ReadMeta(db, master_key);
  if (absl::IsNotFound(meta.status())) {
    return absl::DataLossError(absl::StrCat(
        dir,
        " (the key store) has no metadata record (the master key's check "
        "value), so no master key can be checked against it; ",
        kPutBackOrRestore));
  }
  return meta;
}

}  // namespace

bool KeyStore::Exists(const std::string& dir) {
  return PathExists(dir + "/CURRENT");
}

absl::Status KeyStore::Create(const std::string& dir,
                              const SecretBytes& master_key, absl::Time now,
                              bool plain_files) {
  if (master_key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError(
        "the master key must be exactly 32 bytes");
  }
  LEYSER_ASSIGN_OR_RETURN(const bool fresh, IsAbsentOrEmptyDir(dir));
  if (!fresh) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir,
                     " is not empty; a key store is only created in an empty "
                     "directory"));
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db,
                          OpenKeyStoreDb(dir, true, /*must_be_new=*/true));
  // The check value and a random node file key, in one synced write.
  const std::uint32_t generation = 1;
  proto::KeyStoreMeta meta;
  meta.set_format_version(kKeyStoreFormatVersion);
  meta.set_master_generation(generation);
  meta.set_master_check(SealCheck(master_key, generation));
  meta.set_plain_files(plain_files);
  ToProtoTime(now, meta.mutable_created());
  SealMetaFields(master_key, &meta);
  LEYSER_ASSIGN_OR_RETURN(SecretBytes file_key, RandomKey());
  LEYSER_ASSIGN_OR_RETURN(SecretBytes record_key, RandomKey());
  LEYSER_ASSIGN_OR_RETURN(SecretBytes signing_seed, RandomKey());
  rocksdb::WriteBatch batch;
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch.Put(kSigningSeedEntry, Wrap(master_key, generation,
                                        kSigningSeedEntry, signing_seed, 1)),
      "initialising the key store"));
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch.Put(kFileKeyEntry, Wrap(master_key, generation, kFileKeyEntry,
                                    file_key, kFirstFileKeyId)),
      "initialising the key store"));
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch.Put(kRecordKeyEntry, Wrap(master_key, generation, kRecordKeyEntry,
                                      record_key, /*version=*/1)),
      "initialising the key store"));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(batch.Put(kMetaKey, meta.SerializeAsString()),
                "initialising the key store"));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db->Write(SyncWrite(), &batch), "initialising the key store"));
  return FromRocks(db->Close(), "closing the new key store");
}

absl::StatusOr<KeyStoreInfo> KeyStore::Inspect(const std::string& dir,
                                               const SecretBytes& master_key) {
  if (master_key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError(
        "the master key must be exactly 32 bytes");
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenReadOnly(dir));
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta,
                          ReadExistingMeta(db.get(), dir, master_key));
  std::string bytes;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kFileKeyEntry, &bytes);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat(
        dir, " (the key store) has no file key; ", kPutBackOrRestore));
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the file key"));
  KeyStoreInfo info;
  info.plain_files = meta.plain_files();
  LEYSER_ASSIGN_OR_RETURN(
      info.file_key,
      UnwrapWith(master_key, meta.master_generation(), kFileKeyEntry, bytes));
  {
    const std::string prefix = std::string(kFileKeyEntry) + "/";
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      LEYSER_ASSIGN_OR_RETURN(
          TenantKey retired,
          UnwrapWith(master_key, meta.master_generation(), it->key().ToString(),
                     std::string_view(it->value().data(), it->value().size())));
      info.retired_file_keys.push_back(std::move(retired));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the file keys"));
  }
  info.records_authenticated = meta.format_version() == kKeyStoreFormatVersion;
  info.records_pending = meta.legacy_records_pending();
  s = db->Get(rocksdb::ReadOptions(), kRecordKeyEntry, &bytes);
  if (s.IsNotFound() && !info.records_authenticated) return info;
  if (s.ok() && !info.records_authenticated) return DowngradedMeta();
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat(
        dir, " (the key store) has no record key; ", kPutBackOrRestore));
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the record key"));
  LEYSER_ASSIGN_OR_RETURN(
      info.record_key,
      UnwrapWith(master_key, meta.master_generation(), kRecordKeyEntry, bytes));
  return info;
}

absl::StatusOr<bool> KeyStore::HoldsTenantKeys(const std::string& dir) {
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenReadOnly(dir));
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  it->Seek(kTenantKeyPrefix);
  const bool holds = it->Valid() && it->key().starts_with(kTenantKeyPrefix);
  LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the key store"));
  return holds;
}

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& dir,
                                                         SecretBytes master_key,
                                                         bool create,
                                                         absl::Time now,
                                                         bool plain_files) {
  LEYSER_ASSIGN_OR_RETURN(const bool fresh, IsAbsentOrEmptyDir(dir));
  if (fresh) {
    if (!create) {
      return absl::NotFoundError(absl::StrCat("no key store in ", dir));
    }
    LEYSER_RETURN_IF_ERROR(Create(dir, master_key, now, plain_files));
  }
  // Check the master key and the key store without modifying anything.
  LEYSER_RETURN_IF_ERROR(Inspect(dir, master_key).status());
  return OpenInspected(dir, std::move(master_key));
}

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::OpenInspected(
    const std::string& dir, SecretBytes master_key) {
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> owner,
                          OpenKeyStoreDb(dir, false, /*must_be_new=*/false));
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta,
                          ReadExistingMeta(owner.get(), dir, master_key));
  return std::unique_ptr<KeyStore>(
      new KeyStore(owner.release(), std::move(master_key),
                   meta.master_generation(), meta.plain_files()));
}

KeyStore::KeyStore(rocksdb::DB* db, SecretBytes master_key,
                   std::uint32_t generation, bool plain_files)
    : db_(db),
      plain_files_(plain_files),
      master_key_(std::move(master_key)),
      master_generation_(generation) {}

KeyStore::~KeyStore() {
  db_->Close().PermitUncheckedError();
  delete db_;
}

std::uint32_t KeyStore::master_generation() const {
  absl::ReaderMutexLock lock(&mu_);
  return master_generation_;
}

absl::StatusOr<TenantKey> KeyStore::Unwrap(const std::string& entry_key,
                                           std::string_view bytes) const {
  return UnwrapWith(master_key_, master_generation_, entry_key, bytes);
}

absl::StatusOr<TenantKey> KeyStore::GetRecordKey() const {
  absl::ReaderMutexLock lock(&mu_);
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kRecordKeyEntry, &bytes);
  if (s.IsNotFound()) {
    return absl::DataLossError(
        "the key store has no record key; it is damaged");
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the record key"));
  return Unwrap(std::string(kRecordKeyEntry), bytes);
}

absl::Status KeyStore::BeginRecordAuthentication() {
  absl::WriterMutexLock lock(&mu_);
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta, ReadMeta(db_, master_key_));
  if (meta.format_version() != kLegacyKeyStoreFormatVersion) {
    return absl::OkStatus();
  }
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kRecordKeyEntry, &bytes);
  if (!s.IsNotFound()) {
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the record key"));
    return DowngradedMeta();
  }
  LEYSER_ASSIGN_OR_RETURN(SecretBytes key, RandomKey());
  meta.set_format_version(kKeyStoreFormatVersion);
  meta.set_legacy_records_pending(true);
  SealMetaFields(master_key_, &meta);
  rocksdb::WriteBatch batch;
  LEYSER_RETURN_IF_ERROR(FromRocks(
      batch.Put(kRecordKeyEntry, Wrap(master_key_, master_generation_,
                                      kRecordKeyEntry, key, /*version=*/1)),
      "upgrading the key store"));
  LEYSER_RETURN_IF_ERROR(
      FromRocks(batch.Put(kMetaKey, meta.SerializeAsString()),
                "upgrading the key store"));
  return FromRocks(db_->Write(SyncWrite(), &batch), "upgrading the key store");
}

absl::Status KeyStore::FinishRecordAuthentication() {
  absl::WriterMutexLock lock(&mu_);
  LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta, ReadMeta(db_, master_key_));
  if (!meta.legacy_records_pending()) return absl::OkStatus();
  meta.set_legacy_records_pending(false);
  SealMetaFields(master_key_, &meta);
  return FromRocks(db_->Put(SyncWrite(), kMetaKey, meta.SerializeAsString()),
                   "upgrading the key store");
}

absl::Status KeyStore::CreateTenantKeys(std::uint64_t first,
                                        std::uint64_t count) {
  absl::ReaderMutexLock lock(&mu_);
  rocksdb::WriteBatch batch;
  for (std::uint64_t number = first; number < first + count; ++number) {
    LEYSER_ASSIGN_OR_RETURN(SecretBytes key, RandomKey());
    const std::string entry = TenantKeyEntry(number);
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(entry, Wrap(master_key_, master_generation_, entry,
                                        key, /*version=*/1)),
                  "storing tenant keys"));
  }
  return FromRocks(db_->Write(SyncWrite(), &batch), "storing tenant keys");
}

absl::StatusOr<TenantKey> KeyStore::GetTenantKey(std::uint64_t number) const {
  absl::ReaderMutexLock lock(&mu_);
  const std::string entry = TenantKeyEntry(number);
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), entry, &bytes);
  if (s.IsNotFound()) {
    return absl::NotFoundError("the tenant has no data key in the key store");
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading a tenant key"));
  return Unwrap(entry, bytes);
}

absl::StatusOr<TenantKeyRing> KeyStore::GetTenantKeyRing(
    std::uint64_t number) const {
  absl::ReaderMutexLock lock(&mu_);
  LEYSER_ASSIGN_OR_RETURN(
      std::optional<TenantKeyRing> ring,
      RingLocked(TenantKeyEntry(number), TenantKeyEntry(number + 1)));
  if (!ring.has_value()) {
    return absl::NotFoundError("the tenant has no data key in the key store");
  }
  return *std::move(ring);
}

absl::Status KeyStore::DropKeysFrom(std::uint64_t first) {
  absl::ReaderMutexLock lock(&mu_);
  const std::string begin = TenantKeyEntry(first);
  const std::string end = TenantKeyEntry(kMaxTenantNumber + 1);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(begin);
  if (!it->Valid() || it->key().compare(end) >= 0) {
    return FromRocks(it->status(), "scanning the key store");
  }
  it.reset();
  return FromRocks(
      db_->DeleteRange(SyncWrite(), db_->DefaultColumnFamily(), begin, end),
      "removing orphaned tenant keys");
}

absl::Status KeyStore::Scrub() {
  CrashPoint("scrub.before");
  rocksdb::Status s = db_->Flush(rocksdb::FlushOptions());
  if (s.ok()) {
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForce;
    s = db_->CompactRange(compact, nullptr, nullptr);
  }
  return FromRocks(s, "compacting the key store");
}

absl::Status KeyStore::DestroyTenantKey(std::uint64_t number) {
  return DestroyTenantKeys({number});
}

absl::Status KeyStore::DestroyTenantKeys(
    const std::vector<std::uint64_t>& numbers) {
  absl::WriterMutexLock lock(&mu_);
  rocksdb::WriteBatch batch;
  for (std::uint64_t number : numbers) {
    LEYSER_RETURN_IF_ERROR(FromRocks(
        batch.DeleteRange(db_->DefaultColumnFamily(), TenantKeyEntry(number),
                          TenantKeyEntry(number + 1)),
        "destroying a tenant key"));
  }
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->Write(SyncWrite(), &batch), "destroying tenant keys"));
  CrashPoint("purge.after_key_delete");
  return absl::OkStatus();
}

absl::Status KeyStore::RotateMasterKey(SecretBytes new_master_key,
                                       SecretBytes new_signing_seed) {
  if (new_master_key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError(
        "the new master key must be exactly 32 bytes");
  }
  absl::WriterMutexLock lock(&mu_);
  if (new_master_key.Equals(master_key_)) {
    return absl::InvalidArgumentError(
        "the new master key equals the current one");
  }
  const std::uint32_t next_generation = master_generation_ + 1;
  rocksdb::WriteBatch batch;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string entry = it->key().ToString();
      if (entry == kMetaKey) {
        proto::KeyStoreMeta meta;
        if (!meta.ParseFromArray(it->value().data(),
                                 static_cast<int>(it->value().size()))) {
          return absl::DataLossError("key store metadata is damaged");
        }
        meta.set_master_generation(next_generation);
        meta.set_master_check(SealCheck(new_master_key, next_generation));
        if (meta.format_version() == kKeyStoreFormatVersion) {
          SealMetaFields(new_master_key, &meta);
        }
        LEYSER_RETURN_IF_ERROR(
            FromRocks(batch.Put(entry, meta.SerializeAsString()), "rotating"));
        continue;
      }
      // Every other entry is a wrapped key: re-wrap it (the signing seed
      // replaced by the new one, if given).
      LEYSER_ASSIGN_OR_RETURN(
          TenantKey key, Unwrap(entry, std::string_view(it->value().data(),
                                                        it->value().size())));
      if (entry == kSigningSeedEntry && !new_signing_seed.empty()) {
        key.key = std::move(new_signing_seed);
        ++key.version;
        new_signing_seed = SecretBytes();  // Used.
      }
      LEYSER_RETURN_IF_ERROR(
          FromRocks(batch.Put(entry, Wrap(new_master_key, next_generation,
                                          entry, key.key, key.version)),
                    "rotating the master key"));
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading the key store"));
  }
  if (!new_signing_seed.empty()) {
    // A store from before signing keys of its own gets its first one.
    LEYSER_RETURN_IF_ERROR(FromRocks(
        batch.Put(kSigningSeedEntry,
                  Wrap(new_master_key, next_generation, kSigningSeedEntry,
                       new_signing_seed, /*version=*/1)),
        "rotating the master key"));
  }
  CrashPoint("rotate.before_commit");
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->Write(SyncWrite(), &batch), "rotating the master key"));
  master_key_ = std::move(new_master_key);
  master_generation_ = next_generation;
  CrashPoint("rotate.after_commit");

  // Scrub: keys wrapped under the old master key must not stay in live files
  // (old SSTs and the WAL). The rotation itself is already committed.
  if (absl::Status s = Scrub(); !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("the rotation is committed, but compacting away the "
                     "old wrapped keys failed (the next rotation or "
                     "purge retries): ",
                     s.message()));
  }
  CrashPoint("rotate.after_compact");
  return absl::OkStatus();
}

}  // namespace leyser::internal
