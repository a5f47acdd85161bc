#include "lib/registry/records.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/write_batch.h"

#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {

std::string RegistryTenantKey(std::string_view id) {
  return absl::StrCat(ToAbsl(kRegistryTenantPrefix), ToAbsl(id));
}

namespace {

std::string RecordName(std::string_view key) {
  if (key == kRegistryMetaKey) {
    return absl::StrCat("the tenant registry's metadata record (", ToAbsl(key),
                        ")");
  }
  if (key.substr(0, kRegistryTenantPrefix.size()) == kRegistryTenantPrefix) {
    return absl::StrCat("the registry record of tenant '",
                        ToAbsl(key.substr(kRegistryTenantPrefix.size())), "'");
  }
  return absl::StrCat("the registry record ", absl::CEscape(ToAbsl(key)));
}

}  // namespace

std::string SealRegistryRecord(const RecordMac& mac, std::string_view key,
                               const google::protobuf::MessageLite& record) {
  return mac.Seal(kRegistryTable, key, record.SerializeAsString());
}

absl::Status OpenRegistryRecord(const RecordMac& mac, std::string_view key,
                                std::string_view stored,
                                google::protobuf::MessageLite* record) {
  const std::string name = RecordName(key);
  LEYSER_ASSIGN_OR_RETURN(std::string_view payload,
                          mac.Open(kRegistryTable, key, stored, name));
  if (!record->ParseFromArray(payload.data(),
                              static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat(name, " does not parse"));
  }
  return absl::OkStatus();
}

absl::Status SealLegacyRegistryRecords(rocksdb::DB* db,
                                       rocksdb::ColumnFamilyHandle* cf,
                                       const RecordMac& mac) {
  rocksdb::WriteBatch batch;
  {
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key(it->key().data(), it->key().size());
      LEYSER_ASSIGN_OR_RETURN(
          std::optional<std::string> sealed,
          mac.SealLegacy(
              kRegistryTable, key,
              std::string_view(it->value().data(), it->value().size()),
              RecordName(key)));
      if (sealed.has_value()) {
        LEYSER_RETURN_IF_ERROR(FromRocks(batch.Put(cf, it->key(), *sealed),
                                         "sealing the tenant registry"));
      }
    }
    LEYSER_RETURN_IF_ERROR(
        FromRocks(it->status(), "reading the tenant registry"));
  }
  return FromRocks(db->Write(SyncWrite(), &batch),
                   "sealing the tenant registry");
}

absl::Status ForEachTenantRecord(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const RecordMac& mac,
    const std::function<absl::Status(proto::TenantRecord)>& visit) {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(kRegistryTenantPrefix);
       it->Valid() && it->key().starts_with(kRegistryTenantPrefix);
       it->Next()) {
    proto::TenantRecord record;
    LEYSER_RETURN_IF_ERROR(OpenRegistryRecord(
        mac, std::string_view(it->key().data(), it->key().size()),
        std::string_view(it->value().data(), it->value().size()), &record));
    if (record.id() != std::string_view(it->key().data(), it->key().size())
                           .substr(kRegistryTenantPrefix.size())) {
      return absl::DataLossError(absl::StrCat(
          "the registry record under ", absl::CEscape(it->key().ToString()),
          " names another tenant"));
    }
    LEYSER_RETURN_IF_ERROR(visit(std::move(record)));
  }
  return FromRocks(it->status(), "reading the tenant registry");
}

}  // namespace leyser::internal
