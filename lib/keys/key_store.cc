#include "lib/keys/key_store.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/crypto/sodium.h"
#include "lib/proto/keystore.pb.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/store/key_encoding.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"
#include "rocksdb/db.h"

namespace leyser::internal {
namespace {

constexpr std::uint32_t kKeyStoreFormatVersion = 1;
constexpr std::string_view kMetaKey = "m/meta";
constexpr std::string_view kKeyPrefix = "d/";
constexpr std::string_view kCheckText = "leyser master key check";

std::string KeyEntryKey(std::uint64_t number) {
  std::string out(kKeyPrefix);
  AppendBigEndian64(number, &out);
  return out;
}

std::string CheckAd(std::uint32_t generation) {
  std::string ad = "leyser.master-check.v1/";
  AppendBigEndian64(generation, &ad);
  return ad;
}

// Binds a wrapped tenant key to its tenant number, key version and master-key generation.
std::string TenantKeyAd(std::uint64_t number, std::uint32_t version, std::uint32_t generation) {
  std::string ad = "leyser.tenant-key.v1/";
  AppendBigEndian64(number, &ad);
  AppendBigEndian64(version, &ad);
  AppendBigEndian64(generation, &ad);
  return ad;
}

absl::Status PermissionDenied() {
  return absl::PermissionDeniedError(
      "the master key does not match this store; supply the key the store was created with "
      "(or last rotated to)");
}

// Reads and checks the meta record through `db`. NotFound if the store was never initialised.
absl::StatusOr<proto::KeyStoreMeta> ReadMeta(rocksdb::DB* db, const SecretBytes& master_key) {
  std::string bytes;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kMetaKey, &bytes);
  if (s.IsNotFound()) {
    return absl::NotFoundError("key store was never initialised");
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the key store"));
  proto::KeyStoreMeta meta;
  if (!meta.ParseFromString(bytes) || meta.format_version() != kKeyStoreFormatVersion) {
    return absl::DataLossError("key store metadata is damaged or of an unknown format");
  }
  if (!OpenSecret(master_key, meta.master_check(), CheckAd(meta.master_generation())).ok()) {
    return PermissionDenied();
  }
  return meta;
}

}  // namespace

bool KeyStore::Exists(const std::string& dir) { return PathExists(dir + "/CURRENT"); }

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& dir,
                                                         SecretBytes master_key, bool create,
                                                         absl::Time now) {
  if (master_key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError("the master key must be exactly 32 bytes");
  }
  const bool exists = Exists(dir);
  if (!exists && !create) {
    return absl::NotFoundError(absl::StrCat("no key store in ", dir));
  }
  bool initialised = false;
  if (exists) {
    // Check the master key without modifying anything: a read-only open writes no file.
    rocksdb::Options ro_options = KeyStoreRocksOptions();
    ro_options.info_log = NullRocksLogger();
    rocksdb::DB* ro = nullptr;
    LEYSER_RETURN_IF_ERROR(FromRocks(rocksdb::DB::OpenForReadOnly(ro_options, dir, &ro),
                                     "opening the key store"));
    std::unique_ptr<rocksdb::DB> ro_owner(ro);
    absl::StatusOr<proto::KeyStoreMeta> meta = ReadMeta(ro, master_key);
    if (meta.ok()) {
      initialised = true;
    } else if (!absl::IsNotFound(meta.status()) || !create) {
      return meta.status();
    }
  }

  rocksdb::Options options = KeyStoreRocksOptions();
  options.create_if_missing = create;
  rocksdb::DB* db = nullptr;
  LEYSER_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, dir, &db), "opening the key store"));
  std::unique_ptr<rocksdb::DB> owner(db);

  std::uint32_t generation = 1;
  if (initialised) {
    LEYSER_ASSIGN_OR_RETURN(proto::KeyStoreMeta meta, ReadMeta(db, master_key));
    generation = meta.master_generation();
  } else {
    proto::KeyStoreMeta meta;
    meta.set_format_version(kKeyStoreFormatVersion);
    meta.set_master_generation(generation);
    std::string check;
    SealAppend(master_key, kCheckText, CheckAd(generation), &check);
    meta.set_master_check(std::move(check));
    ToProtoTime(now, meta.mutable_created());
    LEYSER_RETURN_IF_ERROR(FromRocks(db->Put(SyncWrite(), kMetaKey, meta.SerializeAsString()),
                                     "initialising the key store"));
  }
  return std::unique_ptr<KeyStore>(new KeyStore(owner.release(), std::move(master_key), generation));
}

KeyStore::KeyStore(rocksdb::DB* db, SecretBytes master_key, std::uint32_t generation)
    : db_(db), master_key_(std::move(master_key)), master_generation_(generation) {}

KeyStore::~KeyStore() {
  db_->Close().PermitUncheckedError();
  delete db_;
}

absl::StatusOr<TenantKey> KeyStore::CreateTenantKey(std::uint64_t number) {
  TenantKey key;
  key.version = 1;
  LEYSER_ASSIGN_OR_RETURN(key.key, RandomKey());
  proto::WrappedKey wrapped;
  wrapped.set_master_generation(master_generation_);
  wrapped.set_key_version(key.version);
  std::string sealed;
  SealAppend(master_key_,
             std::string_view(reinterpret_cast<const char*>(key.key.data()), key.key.size()),
             TenantKeyAd(number, key.version, master_generation_), &sealed);
  wrapped.set_sealed(std::move(sealed));
  LEYSER_RETURN_IF_ERROR(FromRocks(
      db_->Put(SyncWrite(), KeyEntryKey(number), wrapped.SerializeAsString()),
      "storing a tenant key"));
  return key;
}

absl::StatusOr<TenantKey> KeyStore::GetTenantKey(std::uint64_t number) const {
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), KeyEntryKey(number), &bytes);
  if (s.IsNotFound()) {
    return absl::NotFoundError("the tenant has no data key in the key store");
  }
  LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading a tenant key"));
  proto::WrappedKey wrapped;
  if (!wrapped.ParseFromString(bytes) || wrapped.master_generation() != master_generation_) {
    return absl::DataLossError("a wrapped tenant key in the key store is damaged");
  }
  absl::StatusOr<SecretBytes> key = OpenSecret(
      master_key_, wrapped.sealed(), TenantKeyAd(number, wrapped.key_version(), master_generation_));
  if (!key.ok() || key->size() != kAeadKeyBytes) {
    return absl::DataLossError(
        "a wrapped tenant key failed authentication; the key store is damaged or tampered with");
  }
  return TenantKey{std::move(key).value(), wrapped.key_version()};
}

absl::Status KeyStore::DropKeysFrom(std::uint64_t first) {
  const std::string begin = KeyEntryKey(first);
  const std::string end = KeyEntryKey(kMaxTenantNumber + 1);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(begin);
  if (!it->Valid() || it->key().compare(end) >= 0) {
    return FromRocks(it->status(), "scanning the key store");
  }
  it.reset();
  return FromRocks(db_->DeleteRange(SyncWrite(), db_->DefaultColumnFamily(), begin, end),
                   "removing orphaned tenant keys");
}

}  // namespace leyser::internal
