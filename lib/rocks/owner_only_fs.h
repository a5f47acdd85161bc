// Owner-only files under RocksDB: a FileSystem (and an Env over it) that
// creates every file 0600 and every directory 0700, whatever the process umask.
// Every database and backup engine leyser opens runs on it, directly (the key
// store, test stores without the file layer) or under the file-encryption layer
// (lib/crypto/file_cipher.h).
//
// RocksDB 7.8.3's POSIX file system creates files 0644 and directories 0755
// (less the umask), and its `allow_non_owner_access` switch cannot be reached:
// PosixFileSystem keeps it true, and Env::SetAllowNonOwnerAccess sets a flag
// that only the PosixEnv itself holds. So this wrapper creates each file with
// mode 0600 (and each directory 0700) itself just before RocksDB opens it, and
// RocksDB then opens an existing file, whose mode it does not change. A file
// that exists already is set to 0600 when RocksDB opens it for writing.
//
// Thread safety: thread-safe, as RocksDB requires.

#ifndef LEYSER_LIB_ROCKS_OWNER_ONLY_FS_H_
#define LEYSER_LIB_ROCKS_OWNER_ONLY_FS_H_

#include <memory>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace leyser::internal {

// The process-wide owner-only wrapper of rocksdb::FileSystem::Default().
const std::shared_ptr<rocksdb::FileSystem>& OwnerOnlyFileSystem();

// An Env over OwnerOnlyFileSystem() sharing Env::Default()'s threads. Never
// destroyed.
rocksdb::Env* OwnerOnlyEnv();

}  // namespace leyser::internal

#endif  // LEYSER_LIB_ROCKS_OWNER_ONLY_FS_H_
