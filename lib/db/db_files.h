// Checks of a RocksDB database directory before it is opened, writing nothing.
//
// RocksDB, asked to open a database whose CURRENT or MANIFEST is gone, either
// fails after writing (a new info LOG; with create_if_missing also a new
// CURRENT and MANIFEST, which make the old MANIFEST obsolete at the next open)
// or, with create_if_missing and CURRENT gone, makes a new empty database and
// deletes the old one's tables and WALs. So leyser checks these pieces itself
// first, and only ever creates a database in a directory that holds nothing.

#ifndef LEYSER_LIB_DB_DB_FILES_H_
#define LEYSER_LIB_DB_DB_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/env.h"

namespace leyser::internal {

// What to do about a missing or damaged piece of a store; ends the DataLoss
// messages about them.
inline constexpr char kPutBackOrRestore[] =
    "nothing was changed; put it back (from a copy of the store's directory), "
    "or restore the store from a backup into a new directory "
    "(Store::RestoreStore)";

// True if `dir` does not exist or is an empty directory: the only places
// leyser creates a database in.
absl::StatusOr<bool> IsAbsentOrEmptyDir(const std::string& dir);

// Checks, writing nothing, that `dir` holds a whole RocksDB database: `dir`
// is a directory, its CURRENT file exists and reads (through `env`, which
// decrypts it for the data database) as the name of a MANIFEST, and that
// MANIFEST exists. `what` names the database in messages ("the data
// database"). DataLoss naming the missing or unreadable file and what to do;
// Unavailable on other I/O errors.
[[nodiscard]] absl::Status CheckDbFiles(rocksdb::Env* env,
                                        const std::string& dir,
                                        std::string_view what);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_DB_DB_FILES_H_
