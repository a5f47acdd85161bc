// The file-encryption layer: a RocksDB Env whose every file (SST, WAL,
// MANIFEST, OPTIONS, CURRENT, IDENTITY, the info LOG, temporary and ingested
// files, backups) is encrypted with XChaCha20 under the node file key.
//
// File layout: a 4096-byte prefix, then the data XORed with the XChaCha20
// keystream at the file's physical offset (random access by 64-byte block
// counter). The prefix holds
//   magic "LEYSXC20" (8) | key id (4, big-endian) | nonce (24, random per file)
//   | check (16) = BLAKE2b-128 keyed with the file key over magic, key id and
//   nonce | zeros.
// A file written under another key (or not by leyser) fails the check:
// Corruption, never garbage. XChaCha20 alone does not authenticate file
// contents; RocksDB's block checksums catch accidental damage, and every tenant
// value is additionally sealed with an AEAD.
//
// RocksDB 7.8.3's encrypted file system appends a second prefix when a
// non-empty file is reopened for writing; leyser's Env refuses such reopens
// (NotSupported) rather than corrupt the file, so ingest files with
// IngestExternalFileOptions::move_files = false.
//
// Thread safety: the Env is thread-safe, as RocksDB requires.

#ifndef LEYSER_LIB_CRYPTO_FILE_CIPHER_H_
#define LEYSER_LIB_CRYPTO_FILE_CIPHER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/env.h"
#include "rocksdb/env_encryption.h"
#include "rocksdb/file_system.h"

#include "leyser/secret.h"

namespace leyser::internal {

inline constexpr std::size_t kFilePrefixBytes = 4096;
inline constexpr char kFileMagic[] = "LEYSXC20";

// A file key (32 bytes) and the id the files written under it carry.
struct FileKey {
  SecretBytes key;
  std::uint32_t id = 0;
};

// The file keys an Env opens files with, by id, and the one it writes new
// files under. A file-key rotation adds a key and makes it current; the
// retired key stays until no file carries its id. Thread-safe.
class FileKeys {
 public:
  // Adds `key` (replacing a key of the same id). InvalidArgument unless the
  // key is 32 bytes.
  [[nodiscard]] absl::Status Add(FileKey key);
  // New files are written under key `id` from now on. NotFound if it was not
  // added.
  [[nodiscard]] absl::Status SetCurrent(std::uint32_t id);
  // Forgets key `id` (files carrying it no longer open). Never the current
  // key: FailedPrecondition.
  [[nodiscard]] absl::Status Remove(std::uint32_t id);
  // The key of id `id`, or null.
  std::shared_ptr<const SecretBytes> Get(std::uint32_t id) const;
  // The current key and its id.
  std::shared_ptr<const SecretBytes> Current(std::uint32_t* id) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::uint32_t, std::shared_ptr<const SecretBytes>> keys_
      ABSL_GUARDED_BY(mu_);
  std::uint32_t current_ ABSL_GUARDED_BY(mu_) = 0;
};

// An Env and the FileSystem under it. Keep both alive while a database uses the
// Env.
struct EncryptedEnv {
  std::shared_ptr<FileKeys> keys;
  std::shared_ptr<rocksdb::EncryptionProvider> provider;
  std::shared_ptr<rocksdb::FileSystem> fs;
  std::unique_ptr<rocksdb::Env> env;
};

// Returns an Env that encrypts every new file under `current` (tagging it
// with the key's id) and opens files written under it or under one of
// `retired`, over the owner-only file system (lib/rocks/owner_only_fs.h:
// files 0600, directories 0700). InvalidArgument for a key that is not 32
// bytes; Internal error if RocksDB refuses the provider.
absl::StatusOr<EncryptedEnv> NewEncryptedEnv(FileKey current,
                                             std::vector<FileKey> retired = {});
// The same with one key.
absl::StatusOr<EncryptedEnv> NewEncryptedEnv(SecretBytes file_key,
                                             std::uint32_t key_id);

// The id of the file key the file at `path` was written under, read from its
// prefix without any key; nullopt for a file the file layer did not write
// (too short, or without the magic: a LOCK file, a backup's sealed
// generation file). NotFound if there is no such file; Unavailable if it
// cannot be read.
absl::StatusOr<std::optional<std::uint32_t>> FileKeyIdOf(
    const std::string& path);

// The info LOG of a database, written through an encrypting Env, that can
// start over under the Env's current file key (a file-key rotation rewrites
// every file). Thread-safe.
class EncryptedInfoLog final : public rocksdb::Logger {
 public:
  EncryptedInfoLog(rocksdb::Env* env, std::string db_dir)
      : env_(env), db_dir_(std::move(db_dir)) {}
  ~EncryptedInfoLog() override;

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  void Flush() override;
  size_t GetLogFileSize() const override;

  // Starts LOG afresh (the first call: LOG becomes LOG.old). Later calls,
  // under the Env's current key: LOG's lines so far are re-written as LOG.old
  // (replacing the one before) and a new LOG begins. Unavailable on I/O
  // errors (logging goes on in a new LOG either way).
  [[nodiscard]] absl::Status Roll();

 private:
  rocksdb::Env* const env_;
  const std::string db_dir_;
  mutable absl::Mutex mu_;
  std::shared_ptr<rocksdb::Logger> log_ ABSL_GUARDED_BY(mu_);
};

// Creates the info LOG of the database in `db_dir` through `env` (so it is
// encrypted too), keeping the previous one as LOG.old. `db_dir` must exist.
absl::StatusOr<std::shared_ptr<EncryptedInfoLog>> NewEncryptedInfoLog(
    rocksdb::Env* env, const std::string& db_dir);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_CRYPTO_FILE_CIPHER_H_
