// Reading the tenant registry column family (the live database's, or a
// backup's).

#ifndef LEYSER_LIB_STORE_REGISTRY_H_
#define LEYSER_LIB_STORE_REGISTRY_H_

#include <functional>

#include "absl/status/status.h"
#include "rocksdb/db.h"

#include "lib/proto/registry.pb.h"

namespace leyser::internal {

// Calls `visit` with every tenant record in registry column family `cf` of
// `db`, in id order, stopping at the first error it returns. DataLoss if a
// record does not parse.
absl::Status ForEachTenantRecord(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
    const std::function<absl::Status(proto::TenantRecord)>& visit);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_REGISTRY_H_
