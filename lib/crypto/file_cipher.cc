#include "lib/crypto/file_cipher.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/slice.h"
#include <sodium.h>

#include "lib/crypto/sodium.h"
#include "lib/rocks/owner_only_fs.h"
#include "lib/rocks/status.h"

namespace leyser::internal {
namespace {

constexpr std::size_t kMagicBytes = 8;
constexpr std::size_t kKeyIdBytes = 4;
constexpr std::size_t kNonceBytes = crypto_stream_xchacha20_NONCEBYTES;
constexpr std::size_t kCheckBytes = 16;
constexpr std::size_t kHeaderBytes =
    kMagicBytes + kKeyIdBytes + kNonceBytes + kCheckBytes;
constexpr std::size_t kBlockBytes = 64;
static_assert(kNonceBytes == 24);
static_assert(kHeaderBytes <= kFilePrefixBytes);

// Keyed BLAKE2b over the header fields before the check.
void ComputeCheck(const SecretBytes& key, const unsigned char* header,
                  unsigned char* check) {
  crypto_generichash(check, kCheckBytes, header,
                     kMagicBytes + kKeyIdBytes + kNonceBytes, key.data(),
                     key.size());
}

class XChaChaStream final : public rocksdb::BlockAccessCipherStream {
 public:
  XChaChaStream(std::shared_ptr<const SecretBytes> key,
                const unsigned char* nonce)
      : key_(std::move(key)) {
    std::memcpy(nonce_, nonce, kNonceBytes);
  }

  size_t BlockSize() override { return kBlockBytes; }

  rocksdb::Status Encrypt(uint64_t file_offset, char* data,
                          size_t size) override {
    Xor(file_offset, reinterpret_cast<unsigned char*>(data), size);
    return rocksdb::Status::OK();
  }

  rocksdb::Status Decrypt(uint64_t file_offset, char* data,
                          size_t size) override {
    Xor(file_offset, reinterpret_cast<unsigned char*>(data), size);
    return rocksdb::Status::OK();
  }

 protected:
  void AllocateScratch(std::string&) override {}

  rocksdb::Status EncryptBlock(uint64_t block_index, char* data,
                               char*) override {
    Xor(block_index * kBlockBytes, reinterpret_cast<unsigned char*>(data),
        kBlockBytes);
    return rocksdb::Status::OK();
  }

  rocksdb::Status DecryptBlock(uint64_t block_index, char* data,
                               char*) override {
    return EncryptBlock(block_index, data, nullptr);
  }

 private:
  // XORs `data` with the keystream starting at byte `offset` of the file.
  void Xor(uint64_t offset, unsigned char* data, size_t size) const {
    uint64_t block = offset / kBlockBytes;
    const size_t skip = static_cast<size_t>(offset % kBlockBytes);
    if (skip != 0 && size > 0) {
      unsigned char buffer[kBlockBytes] = {0};
      const size_t take = std::min(size, kBlockBytes - skip);
      std::memcpy(buffer + skip, data, take);
      crypto_stream_xchacha20_xor_ic(buffer, buffer, kBlockBytes, nonce_, block,
                                     key_->data());
      std::memcpy(data, buffer + skip, take);
      sodium_memzero(buffer, sizeof(buffer));
      data += take;
      size -= take;
      ++block;
    }
    if (size > 0) {
      crypto_stream_xchacha20_xor_ic(data, data, size, nonce_, block,
                                     key_->data());
    }
  }

  const std::shared_ptr<const SecretBytes> key_;
  unsigned char nonce_[kNonceBytes];
};

class XChaChaProvider final : public rocksdb::EncryptionProvider {
 public:
  XChaChaProvider(SecretBytes key, std::uint32_t key_id)
      : key_(std::make_shared<const SecretBytes>(std::move(key))),
        key_id_(key_id) {}

  static const char* kClassName() { return "leyser.XChaCha20"; }
  const char* Name() const override { return kClassName(); }

  size_t GetPrefixLength() const override { return kFilePrefixBytes; }

  rocksdb::Status CreateNewPrefix(const std::string& /*fname*/, char* prefix,
                                  size_t prefix_length) const override {
    if (prefix_length < kFilePrefixBytes) {
      return rocksdb::Status::InvalidArgument(
          "encryption prefix buffer too small");
    }
    auto* p = reinterpret_cast<unsigned char*>(prefix);
    std::memset(p, 0, prefix_length);
    std::memcpy(p, kFileMagic, kMagicBytes);
    for (size_t i = 0; i < kKeyIdBytes; ++i) {
      p[kMagicBytes + i] =
          static_cast<unsigned char>(key_id_ >> (8 * (kKeyIdBytes - 1 - i)));
    }
    randombytes_buf(p + kMagicBytes + kKeyIdBytes, kNonceBytes);
    ComputeCheck(*key_, p, p + kMagicBytes + kKeyIdBytes + kNonceBytes);
    return rocksdb::Status::OK();
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t,
                            bool) override {
    return rocksdb::Status::NotSupported(
        "leyser's file cipher takes its key at construction");
  }

  rocksdb::Status CreateCipherStream(
      const std::string& fname, const rocksdb::EnvOptions& /*options*/,
      rocksdb::Slice& prefix,
      std::unique_ptr<rocksdb::BlockAccessCipherStream>* result) override {
    const auto* p = reinterpret_cast<const unsigned char*>(prefix.data());
    if (prefix.size() < kFilePrefixBytes ||
        std::memcmp(p, kFileMagic, kMagicBytes) != 0) {
      return rocksdb::Status::Corruption(
          absl::StrCat(kFileLayerRejection, ": not encrypted by leyser"),
          fname);
    }
    unsigned char check[kCheckBytes];
    ComputeCheck(*key_, p, check);
    if (sodium_memcmp(check, p + kMagicBytes + kKeyIdBytes + kNonceBytes,
                      kCheckBytes) != 0) {
      return rocksdb::Status::Corruption(
          absl::StrCat(kFileLayerRejection,
                       ": encrypted under another file key"),
          fname);
    }
    *result =
        std::make_unique<XChaChaStream>(key_, p + kMagicBytes + kKeyIdBytes);
    return rocksdb::Status::OK();
  }

 private:
  const std::shared_ptr<const SecretBytes> key_;
  const std::uint32_t key_id_;
};

// RocksDB 7.8.3's encrypted file system treats ReopenWritableFile like a new
// file: it appends a fresh prefix to the existing one, silently corrupting the
// file (IngestExternalFile with move_files=true does this to sync the linked
// file). Refuse it for non-empty files instead.
class ReopenGuard final : public rocksdb::FileSystemWrapper {
 public:
  explicit ReopenGuard(const std::shared_ptr<rocksdb::FileSystem>& target)
      : rocksdb::FileSystemWrapper(target) {}

  static const char* kClassName() { return "leyser.ReopenGuard"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    uint64_t size = 0;
    rocksdb::IOStatus s =
        target()->GetFileSize(fname, options.io_options, &size, dbg);
    if (s.ok() && size > 0) {
      return rocksdb::IOStatus::NotSupported(
          "leyser's file layer cannot reopen a non-empty file for appending",
          fname);
    }
    return target()->ReopenWritableFile(fname, options, result, dbg);
  }
};

}  // namespace

absl::StatusOr<EncryptedEnv> NewEncryptedEnv(SecretBytes file_key,
                                             std::uint32_t key_id) {
  if (file_key.size() != crypto_stream_xchacha20_KEYBYTES) {
    return absl::InternalError("the file key must be 32 bytes");
  }
  EncryptedEnv out;
  out.provider = std::make_shared<XChaChaProvider>(std::move(file_key), key_id);
  std::shared_ptr<rocksdb::FileSystem> encrypted =
      rocksdb::NewEncryptedFS(OwnerOnlyFileSystem(), out.provider);
  if (encrypted == nullptr) {
    return absl::InternalError(
        "RocksDB refused leyser's file encryption provider");
  }
  out.fs = std::make_shared<ReopenGuard>(encrypted);
  out.env = rocksdb::NewCompositeEnv(out.fs);
  return out;
}

absl::StatusOr<std::shared_ptr<rocksdb::Logger>> NewEncryptedInfoLog(
    rocksdb::Env* env, const std::string& db_dir) {
  const std::string log = db_dir + "/LOG";
  if (env->FileExists(log).ok()) {
    rocksdb::Status s = env->RenameFile(log, db_dir + "/LOG.old");
    if (!s.ok()) {
      return FromRocks(s, "keeping the previous info log");
    }
  }
  std::shared_ptr<rocksdb::Logger> logger;
  rocksdb::Status s = rocksdb::NewEnvLogger(log, env, &logger);
  if (!s.ok()) {
    return FromRocks(s, "creating the encrypted info log");
  }
  return logger;
}

}  // namespace leyser::internal
