// The tenant registry's records in the `registry` column family of the data
// database (the live database's, or a backup's): "t/" + tenant id ->
// proto::TenantRecord; "m/meta" -> proto::RegistryMeta.

#ifndef LEYSER_LIB_REGISTRY_RECORDS_H_
#define LEYSER_LIB_REGISTRY_RECORDS_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/db.h"

#include "lib/proto/registry.pb.h"

namespace leyser::internal {

inline constexpr std::string_view kRegistryTenantPrefix = "t/";
inline constexpr std::string_view kRegistryMetaKey = "m/meta";

// Returns "t/" + id.
std::string RegistryTenantKey(std::string_view id);

// Calls `visit` with every tenant record in registry column family `cf` of
// `db`, in id order, stopping at the first error it returns. DataLoss if a
// record does not parse.
absl::Status ForEachTenantRecord(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
    const std::function<absl::Status(proto::TenantRecord)>& visit);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_REGISTRY_RECORDS_H_
