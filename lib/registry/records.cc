#include "lib/registry/records.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {

std::string RegistryTenantKey(std::string_view id) {
  return absl::StrCat(ToAbsl(kRegistryTenantPrefix), ToAbsl(id));
}

absl::Status ForEachTenantRecord(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
    const std::function<absl::Status(proto::TenantRecord)>& visit) {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(kRegistryTenantPrefix);
       it->Valid() && it->key().starts_with(kRegistryTenantPrefix);
       it->Next()) {
    proto::TenantRecord record;
    if (!record.ParseFromArray(it->value().data(),
                               static_cast<int>(it->value().size()))) {
      return absl::DataLossError("a tenant registry record is damaged");
    }
    LEYSER_RETURN_IF_ERROR(visit(std::move(record)));
  }
  return FromRocks(it->status(), "reading the tenant registry");
}

}  // namespace leyser::internal
