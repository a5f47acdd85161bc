#include "lib/crypto/file_cipher.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/slice.h"
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "lib/crypto/sodium.h"
#include "lib/crypto/xchacha.h"
#include "lib/rocks/owner_only_fs.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"

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

std::uint32_t DecodeKeyId(const unsigned char* p) {
  std::uint32_t id = 0;
  for (size_t i = 0; i < kKeyIdBytes; ++i) id = (id << 8) | p[i];
  return id;
}

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
      XChaChaXor(key_->data(), nonce_, block, buffer, kBlockBytes);
      std::memcpy(data, buffer + skip, take);
      sodium_memzero(buffer, sizeof(buffer));
      data += take;
      size -= take;
      ++block;
    }
    if (size > 0) {
      XChaChaXor(key_->data(), nonce_, block, data, size);
    }
  }

  const std::shared_ptr<const SecretBytes> key_;
  unsigned char nonce_[kNonceBytes];
};

class XChaChaProvider final : public rocksdb::EncryptionProvider {
 public:
  explicit XChaChaProvider(std::shared_ptr<const FileKeys> keys)
      : keys_(std::move(keys)) {}

  static const char* kClassName() { return "leyser.XChaCha20"; }
  const char* Name() const override { return kClassName(); }

  size_t GetPrefixLength() const override { return kFilePrefixBytes; }

  rocksdb::Status CreateNewPrefix(const std::string& /*fname*/, char* prefix,
                                  size_t prefix_length) const override {
    if (prefix_length < kFilePrefixBytes) {
      return rocksdb::Status::InvalidArgument(
          "encryption prefix buffer too small");
    }
    std::uint32_t key_id = 0;
    const std::shared_ptr<const SecretBytes> key = keys_->Current(&key_id);
    if (key == nullptr) {
      return rocksdb::Status::InvalidArgument("the file layer has no key");
    }
    auto* p = reinterpret_cast<unsigned char*>(prefix);
    std::memset(p, 0, prefix_length);
    std::memcpy(p, kFileMagic, kMagicBytes);
    for (size_t i = 0; i < kKeyIdBytes; ++i) {
      p[kMagicBytes + i] =
          static_cast<unsigned char>(key_id >> (8 * (kKeyIdBytes - 1 - i)));
    }
    randombytes_buf(p + kMagicBytes + kKeyIdBytes, kNonceBytes);
    ComputeCheck(*key, p, p + kMagicBytes + kKeyIdBytes + kNonceBytes);
    return rocksdb::Status::OK();
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t,
                            bool) override {
    return rocksdb::Status::NotSupported(
        "leyser's file cipher takes its keys from its FileKeys");
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
    const std::uint32_t key_id = DecodeKeyId(p + kMagicBytes);
    const std::shared_ptr<const SecretBytes> key = keys_->Get(key_id);
    unsigned char check[kCheckBytes];
    if (key != nullptr) ComputeCheck(*key, p, check);
    if (key == nullptr ||
        sodium_memcmp(check, p + kMagicBytes + kKeyIdBytes + kNonceBytes,
                      kCheckBytes) != 0) {
      return rocksdb::Status::Corruption(
          absl::StrCat(kFileLayerRejection,
                       ": encrypted under another file key"),
          fname);
    }
    *result =
        std::make_unique<XChaChaStream>(key, p + kMagicBytes + kKeyIdBytes);
    return rocksdb::Status::OK();
  }

 private:
  const std::shared_ptr<const FileKeys> keys_;
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

absl::Status FileKeys::Add(FileKey key) {
  if (key.key.size() != crypto_stream_xchacha20_KEYBYTES) {
    return absl::InvalidArgumentError("a file key must be 32 bytes");
  }
  absl::MutexLock lock(&mu_);
  keys_[key.id] = std::make_shared<const SecretBytes>(std::move(key.key));
  return absl::OkStatus();
}

absl::Status FileKeys::SetCurrent(std::uint32_t id) {
  absl::MutexLock lock(&mu_);
  if (keys_.count(id) == 0) {
    return absl::NotFoundError(absl::StrCat("no file key of id ", id));
  }
  current_ = id;
  return absl::OkStatus();
}

absl::Status FileKeys::Remove(std::uint32_t id) {
  absl::MutexLock lock(&mu_);
  if (id == current_) {
    return absl::FailedPreconditionError(
        "the current file key cannot be removed");
  }
  keys_.erase(id);
  return absl::OkStatus();
}

std::shared_ptr<const SecretBytes> FileKeys::Get(std::uint32_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : it->second;
}

std::shared_ptr<const SecretBytes> FileKeys::Current(std::uint32_t* id) const {
  absl::MutexLock lock(&mu_);
  *id = current_;
  auto it = keys_.find(current_);
  return it == keys_.end() ? nullptr : it->second;
}

absl::StatusOr<EncryptedEnv> NewEncryptedEnv(FileKey current,
                                             std::vector<FileKey> retired) {
  EncryptedEnv out;
  out.keys = std::make_shared<FileKeys>();
  const std::uint32_t current_id = current.id;
  for (FileKey& key : retired) {
    LEYSER_RETURN_IF_ERROR(out.keys->Add(std::move(key)));
  }
  LEYSER_RETURN_IF_ERROR(out.keys->Add(std::move(current)));
  LEYSER_RETURN_IF_ERROR(out.keys->SetCurrent(current_id));
  out.provider = std::make_shared<XChaChaProvider>(out.keys);
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

absl::StatusOr<EncryptedEnv> NewEncryptedEnv(SecretBytes file_key,
                                             std::uint32_t key_id) {
  return NewEncryptedEnv(FileKey{std::move(file_key), key_id});
}

absl::StatusOr<std::optional<std::uint32_t>> FileKeyIdOf(
    const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const std::string why =
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno));
    if (errno == ENOENT) return absl::NotFoundError(why);
    return absl::UnavailableError(why);
  }
  unsigned char head[kMagicBytes + kKeyIdBytes];
  std::size_t got = 0;
  while (got < sizeof(head)) {
    const ssize_t n = read(fd, head + got, sizeof(head) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(error)));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fd);
  if (got < sizeof(head) || std::memcmp(head, kFileMagic, kMagicBytes) != 0) {
    return std::nullopt;
  }
  return DecodeKeyId(head + kMagicBytes);
}

EncryptedInfoLog::~EncryptedInfoLog() {
  absl::MutexLock lock(&mu_);
  log_.reset();
}

void EncryptedInfoLog::Logv(const char* format, va_list ap) {
  absl::MutexLock lock(&mu_);
  if (log_ != nullptr) log_->Logv(format, ap);
}

void EncryptedInfoLog::Flush() {
  absl::MutexLock lock(&mu_);
  if (log_ != nullptr) log_->Flush();
}

size_t EncryptedInfoLog::GetLogFileSize() const {
  absl::MutexLock lock(&mu_);
  return log_ != nullptr ? log_->GetLogFileSize() : 0;
}

absl::Status EncryptedInfoLog::Roll() {
  const std::string log = db_dir_ + "/LOG";
  const std::string old = db_dir_ + "/LOG.old";
  absl::MutexLock lock(&mu_);
  rocksdb::Status s;
  if (log_ == nullptr) {
    // The first start: keep the previous run's LOG, as RocksDB does.
    if (env_->FileExists(log).ok()) s = env_->RenameFile(log, old);
  } else {
    log_->Flush();
    log_.reset();  // Closes LOG.
    std::string lines;
    s = rocksdb::ReadFileToString(env_, log, &lines);
    if (s.ok()) {
      s = rocksdb::WriteStringToFile(env_, lines, old, /*should_sync=*/false);
    }
  }
  rocksdb::Status created = rocksdb::NewEnvLogger(log, env_, &log_);
  if (!created.ok()) {
    log_.reset();
    return FromRocks(created, "creating the encrypted info log");
  }
  return FromRocks(s, "keeping the previous info log");
}

absl::StatusOr<std::shared_ptr<EncryptedInfoLog>> NewEncryptedInfoLog(
    rocksdb::Env* env, const std::string& db_dir) {
  auto log = std::make_shared<EncryptedInfoLog>(env, db_dir);
  LEYSER_RETURN_IF_ERROR(log->Roll());
  return log;
}

}  // namespace leyser::internal
