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

// How many threads RocksDB should open the table files of the database in
// `dir` with (DBOptions::max_file_opening_threads): one per 8 table files,
// 1..16. RocksDB starts that many threads at every open however few files
// there are, and on a small machine starting 15 threads cost more than the
// rest of a small store's open.
int TableOpeningThreads(const std::string& dir);

// Removes the write-ahead logs (*.log) in the closed database in `dir` that
// hold no record: those exactly `empty_bytes` long (0 for plain files, the
// file layer's prefix for encrypted ones). RocksDB 7.8.3 keeps the empty WAL
// every open leaves until a flush advances the oldest WAL it keeps, so a store
// opened often without being written (a CLI, a restarting service) gathered
// one per open, each read at every later open (RocksDB 8.3 removes them
// itself: facebook/rocksdb#11409). A WAL with no record is one recovery would
// skip, and RocksDB tracks in its MANIFEST only WALs synced with data, so
// removing one changes nothing it would recover. REQUIRES: the store's lock is
// held and the database is not open. Returns how many were removed;
// Unavailable if the directory cannot be listed or a file removed.
absl::StatusOr<int> RemoveEmptyWals(const std::string& dir,
                                    std::uint64_t empty_bytes);

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
