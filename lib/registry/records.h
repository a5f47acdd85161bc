// The tenant registry's records in the `registry` column family of the data
// database (the live database's, or a backup's): "t/" + tenant id ->
// proto::TenantRecord; "m/meta" -> proto::RegistryMeta; each sealed under the
// store's record key (lib/crypto/record_mac.h, table "registry").

#ifndef LEYSER_LIB_REGISTRY_RECORDS_H_
#define LEYSER_LIB_REGISTRY_RECORDS_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/db.h"

#include "lib/crypto/record_mac.h"
#include "lib/proto/registry.pb.h"

namespace leyser::internal {

inline constexpr std::string_view kRegistryTenantPrefix = "t/";
inline constexpr std::string_view kRegistryMetaKey = "m/meta";
// The table name the record key binds registry records to.
inline constexpr std::string_view kRegistryTable = "registry";

// Returns "t/" + id.
std::string RegistryTenantKey(std::string_view id);

// The stored form of `record` under registry key `key`.
std::string SealRegistryRecord(const RecordMac& mac, std::string_view key,
                               const google::protobuf::MessageLite& record);

// Parses the registry record stored under `key` into `*record`. DataLoss
// naming the record if it fails authentication or does not parse.
absl::Status OpenRegistryRecord(const RecordMac& mac, std::string_view key,
                                std::string_view stored,
                                google::protobuf::MessageLite* record);

// Seals every registry record written before records were authenticated
// (lib/crypto/record_mac.h), in one synced write. DataLoss if a sealed record
// fails authentication.
absl::Status SealLegacyRegistryRecords(rocksdb::DB* db,
                                       rocksdb::ColumnFamilyHandle* cf,
                                       const RecordMac& mac);

// Calls `visit` with every tenant record in registry column family `cf` of
// `db`, in id order, stopping at the first error it returns. DataLoss if a
// record fails authentication under `mac` or does not parse.
absl::Status ForEachTenantRecord(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const RecordMac& mac,
    const std::function<absl::Status(proto::TenantRecord)>& visit);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_REGISTRY_RECORDS_H_
