// Creating a store atomically, and finishing a creation that was interrupted
// (docs/architecture.md, "Creating a store").
//
// A new store is built in data_dir/CREATING: its key store, its data database
// and the registry's metadata record, every write synced and both databases
// closed. Then CREATING/keys moves to data_dir/keys and CREATING/db to
// data_dir/db (each rename synced), and the empty CREATING is removed. So
// data_dir/keys and data_dir/db only ever hold complete parts: without
// CREATING, a directory holding either of them holds a store, whole or
// damaged, never a half-made one.
//
// An Open that finds CREATING: before the first move (neither keys/ nor db/
// in data_dir) nothing in CREATING was ever served, so it removes CREATING and
// creates the store again; after the first move the parts in CREATING are
// complete, so it finishes the moves. It touches CREATING only if it holds
// nothing a creation does not write (before the first move no entry but keys/
// and db/, no table file, no tenant key; after it only db/; nothing once both
// parts are in place): a CREATING that leyser did not leave is DataLoss and
// stays as it is.

#ifndef LEYSER_LIB_STORE_CREATION_H_
#define LEYSER_LIB_STORE_CREATION_H_

#include "absl/status/status.h"

#include "leyser/options.h"
#include "leyser/secret.h"

#include "lib/db/db_core.h"

namespace leyser::internal {

// The data database's settings from the store's options (`create` off).
DataDbSettings DataDbSettingsFor(const Options& options);

// Creates a store in `options.data_dir` if it holds none and
// `options.create_if_missing` is set, or finishes or redoes an interrupted
// creation; does nothing next to an existing store (whose parts the open
// checks). A new key store is sealed with `master_key` and marked
// `plain_files` (test stores). REQUIRES: the caller holds the store's lock
// (data_dir/LOCK) and `options` are checked and absolute. Errors: NotFound
// (no store, or only an unfinished creation, and create_if_missing is off;
// nothing was changed); DataLoss (a CREATING that leyser did not leave;
// nothing was removed); Unavailable (I/O).
[[nodiscard]] absl::Status EnsureStoreCreated(const Options& options,
                                              const SecretBytes& master_key,
                                              bool plain_files);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_CREATION_H_
