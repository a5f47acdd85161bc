// The key-file master-key provider and the function that creates key files.

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "leyser/key_provider.h"

#include "lib/crypto/sodium.h"
#include "lib/keys/key_store.h"
#include "lib/util/files.h"

namespace leyser {
namespace {

// Longest file content looked at: 64 hex characters with generous surrounding
// whitespace.
constexpr std::size_t kMaxKeyFileBytes = 256;

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
         c == '\f';
}

// True for keys no random generator gives: every byte the same (an all-zero
// key, a file of one repeated character).
bool AllBytesEqual(const unsigned char* key, std::size_t size) {
  for (std::size_t i = 1; i < size; ++i) {
    if (key[i] != key[0]) return false;
  }
  return true;
}

// True if every byte is printable ASCII or white space: text, not a raw key
// (a random 32-byte key is all printable with probability below 1e-13).
bool LooksLikeText(const unsigned char* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (!IsSpace(bytes[i]) && (bytes[i] < 0x20 || bytes[i] > 0x7e)) {
      return false;
    }
  }
  return true;
}

absl::Status NotAKey(const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat("master key file ", path,
                   " holds 32 equal bytes, not a key; make one with "
                   "CreateKeyFile (leyserctl keygen)"));
}

absl::StatusOr<SecretBytes> ReadKeyFile(const std::string& path) {
  // Non-blocking, so a FIFO or a device is refused at once instead of
  // waiting for a writer; the type is checked before anything is read.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("master key file ", path, " does not exist"));
    }
    if (err == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("master key file ", path,
                       " is a symbolic link; point to the file itself"));
    }
    return absl::UnavailableError(absl::StrCat("cannot open master key file ",
                                               path, ": ", std::strerror(err)));
  }
  internal::FdCloser closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot stat master key file ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("master key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "master key file ", path, " is accessible by group or others (mode ",
        absl::StrFormat("%03o", st.st_mode & 0777), "); run chmod 600 on it"));
  }
  // One byte more than accepted, to detect oversize files.
  absl::StatusOr<SecretBytes> content =
      SecretBytes::Allocate(kMaxKeyFileBytes + 1);
  if (!content.ok()) {
    return content.status();
  }
  std::size_t total = 0;
  while (total < content->size()) {
    ssize_t n = read(fd, content->data() + total, content->size() - total);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::UnavailableError(absl::StrCat(
          "cannot read master key file ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) {
      break;
    }
    total += static_cast<std::size_t>(n);
  }
  const std::string what = absl::StrCat(
      "master key file ", path,
      " must hold 64 hexadecimal characters or exactly 32 raw binary bytes");
  if (total > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, "; it is longer"));
  }
  if (total == kMasterKeyBytes && !LooksLikeText(content->data(), total)) {
    if (AllBytesEqual(content->data(), total)) {
      return NotAKey(path);
    }
    absl::StatusOr<SecretBytes> key = SecretBytes::Allocate(kMasterKeyBytes);
    if (key.ok()) {
      std::memcpy(key->data(), content->data(), kMasterKeyBytes);
    }
    return key;
  }
  std::size_t begin = 0;
  std::size_t end = total;
  while (begin < end && IsSpace(content->data()[begin])) ++begin;
  while (end > begin && IsSpace(content->data()[end - 1])) --end;
  if (end - begin != 2 * kMasterKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "; it holds ", total, " bytes",
                     LooksLikeText(content->data(), total)
                         ? absl::StrCat(" of text, ", end - begin,
                                        " of them not white space")
                         : ""));
  }
  absl::StatusOr<SecretBytes> key =
      internal::DecodeHexSecret(content->data() + begin, end - begin);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "; its 64 characters are not all hexadecimal"));
  }
  if (AllBytesEqual(key->data(), key->size())) {
    return NotAKey(path);
  }
  return key;
}

class FileKeyProvider final : public KeyProvider {
 public:
  explicit FileKeyProvider(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<SecretBytes> GetMasterKey() const override {
    return ReadKeyFile(path_);
  }

 private:
  const std::string path_;
};

}  // namespace

absl::StatusOr<SecretBytes> KeyProvider::GetSigningKey() const {
  return absl::UnimplementedError(
      "the key provider leaves the signing key to the store");
}

namespace internal {

absl::StatusOr<SecretBytes> LegacySigningSeed(const KeyProvider& provider) {
  absl::StatusOr<SecretBytes> master = provider.GetMasterKey();
  if (!master.ok()) {
    return master.status();
  }
  if (master->size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(
        "the key provider's master key must be 32 bytes");
  }
  return DeriveKey(*master, 1, "leyser-s");
}

}  // namespace internal

absl::StatusOr<std::shared_ptr<KeyProvider>> NewFileKeyProvider(
    const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("master key file path is empty");
  }
  // Check the file now, so a misconfiguration is reported where the provider is
  // made.
  absl::StatusOr<SecretBytes> key = ReadKeyFile(path);
  if (!key.ok()) {
    return key.status();
  }
  return std::make_shared<FileKeyProvider>(path);
}

absl::Status CreateKeyFile(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("master key file path is empty");
  }
  absl::StatusOr<SecretBytes> key = internal::RandomKey();
  if (!key.ok()) {
    return key.status();
  }
  absl::StatusOr<SecretBytes> hex = internal::EncodeHexSecret(*key);
  if (!hex.ok()) {
    return hex.status();
  }
  int fd = open(path.c_str(),
                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("master key file ", path,
                       " already exists; it is never overwritten"));
    }
    return absl::UnavailableError(absl::StrCat("cannot create master key file ",
                                               path, ": ", std::strerror(err)));
  }
  internal::FdCloser closer(fd);
  absl::Status status = internal::WriteAll(fd, hex->data(), hex->size(), path);
  if (status.ok()) {
    status = internal::WriteAll(
        fd, reinterpret_cast<const unsigned char*>("\n"), 1, path);
  }
  if (status.ok() && fchmod(fd, 0600) != 0) {
    status = absl::UnavailableError(
        absl::StrCat("cannot chmod ", path, ": ", std::strerror(errno)));
  }
  if (status.ok() && fsync(fd) != 0) {
    status = absl::UnavailableError(
        absl::StrCat("cannot sync ", path, ": ", std::strerror(errno)));
  }
  if (status.ok()) {
    status = internal::SyncParentDir(path);
  }
  if (!status.ok()) {
    unlink(path.c_str());
  }
  return status;
}

}  // namespace leyser
