// A test hook to put a FileSystem wrapper (for example one that fails writes
// on demand) under the data database of stores opened afterwards.

#ifndef LEYSER_LIB_ROCKS_FAULT_INJECTION_H_
#define LEYSER_LIB_ROCKS_FAULT_INJECTION_H_

#include <functional>
#include <memory>

#include "rocksdb/file_system.h"

namespace leyser::internal {

using FileSystemWrapper = std::function<std::shared_ptr<rocksdb::FileSystem>(
    std::shared_ptr<rocksdb::FileSystem>)>;

// Sets (or, with nullptr, clears) the wrapper. Tests only.
void SetDataFileSystemWrapperForTesting(FileSystemWrapper wrapper);

// The wrapper in force, or an empty function.
FileSystemWrapper DataFileSystemWrapper();

}  // namespace leyser::internal

#endif  // LEYSER_LIB_ROCKS_FAULT_INJECTION_H_
