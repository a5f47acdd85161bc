// Internal entry points of the store implementation.

#ifndef LEYSER_LIB_STORE_STORE_IMPL_H_
#define LEYSER_LIB_STORE_STORE_IMPL_H_

#include <memory>

#include "absl/status/statusor.h"

#include "leyser/store.h"

namespace leyser::internal {

// Like Store::Open, but the data database's files are NOT encrypted by the file
// layer (values are still sealed). For benchmarks that measure the file layer's
// cost, and tests. A store created this way is marked in its key store and
// refuses to open through Store::Open, and vice versa.
absl::StatusOr<std::unique_ptr<Store>> OpenWithoutFileEncryptionForTesting(
    const Options& options);

// Compacts the whole tenant data column family into its bottommost level and
// waits for it: the settled state of a store at rest. For benchmarks and tests.
// `store` must come from Store::Open or OpenWithoutFileEncryptionForTesting.
absl::Status CompactAllForTesting(Store& store);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_STORE_IMPL_H_
