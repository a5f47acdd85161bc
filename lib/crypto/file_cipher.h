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
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "rocksdb/env.h"
#include "rocksdb/env_encryption.h"
#include "rocksdb/file_system.h"

#include "leyser/secret.h"

namespace leyser::internal {

inline constexpr std::size_t kFilePrefixBytes = 4096;
inline constexpr char kFileMagic[] = "LEYSXC20";

// An Env and the FileSystem under it. Keep both alive while a database uses the
// Env.
struct EncryptedEnv {
  std::shared_ptr<rocksdb::EncryptionProvider> provider;
  std::shared_ptr<rocksdb::FileSystem> fs;
  std::unique_ptr<rocksdb::Env> env;
};

// Returns an Env that encrypts every file under `file_key` (32 bytes), tagging
// files with `key_id`, over the owner-only file system
// (lib/rocks/owner_only_fs.h: files 0600, directories 0700). Internal error if
// RocksDB refuses the provider.
absl::StatusOr<EncryptedEnv> NewEncryptedEnv(SecretBytes file_key,
                                             std::uint32_t key_id);

// Creates the info LOG of the database in `db_dir` through `env` (so it is
// encrypted too), keeping the previous one as LOG.old. `db_dir` must exist.
absl::StatusOr<std::shared_ptr<rocksdb::Logger>> NewEncryptedInfoLog(
    rocksdb::Env* env, const std::string& db_dir);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_CRYPTO_FILE_CIPHER_H_
