#include "lib/registry/registry.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/write_batch.h"

#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "lib/registry/records.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser {

std::string_view TenantStateName(TenantState state) {
  switch (state) {
    case TenantState::kActive:
      return "ACTIVE";
    case TenantState::kEnded:
      return "ENDED";
    case TenantState::kPurged:
      return "PURGED";
    case TenantState::kShredded:
      return "SHREDDED";
  }
  return "UNKNOWN";
}

namespace internal {
namespace {

constexpr std::uint32_t kRegistryFormatVersion = 1;
constexpr std::size_t kInstallationIdBytes = 16;

std::string NewInstallationId() {
  std::string id(kInstallationIdBytes, '\0');
  RandomBytes(id.data(), id.size());
  return id;
}

}  // namespace

absl::StatusOr<TenantInfo> InfoFromRecord(const proto::TenantRecord& record) {
  if (record.state() < proto::TENANT_STATE_ACTIVE ||
      record.state() > proto::TENANT_STATE_SHREDDED ||
      record.number() < kFirstTenantNumber ||
      record.number() > kMaxTenantNumber) {
    return absl::DataLossError("a tenant registry record is damaged");
  }
  TenantInfo info;
  info.id = record.id();
  info.number = record.number();
  info.state = static_cast<TenantState>(record.state());
  info.created = FromProtoTime(record.created());
  auto optional_time = [](bool has, const google::protobuf::Timestamp& t) {
    return has ? std::optional<absl::Time>(FromProtoTime(t)) : std::nullopt;
  };
  info.contract_end =
      optional_time(record.has_contract_end(), record.contract_end());
  info.purge_due = optional_time(record.has_purge_due(), record.purge_due());
  info.legal_hold = record.legal_hold();
  info.access_audit =
      static_cast<AccessAudit>(std::clamp(record.access_audit(), 0, 2));
  info.purged = optional_time(record.has_purged(), record.purged());
  info.shred_due = optional_time(record.has_shred_due(), record.shred_due());
  info.shredded = optional_time(record.has_shredded(), record.shredded());
  return info;
}

bool Served(const proto::TenantRecord& record, absl::Time now) {
  return record.state() == proto::TENANT_STATE_ACTIVE &&
         (!record.has_contract_end() ||
          now < FromProtoTime(record.contract_end()));
}

Registry::Registry(std::shared_ptr<DbCore> db) : db_(std::move(db)) {}

absl::Status Registry::Load(bool created, absl::Time now) {
  std::string meta_bytes;
  rocksdb::Status s = db_->db->Get(rocksdb::ReadOptions(), db_->registry_cf,
                                   kRegistryMetaKey, &meta_bytes);
  proto::RegistryMeta meta;
  if (s.IsNotFound()) {
    if (!created) {
      return absl::DataLossError(
          "the tenant registry has no metadata record; the database is "
          "damaged");
    }
    meta.set_format_version(kRegistryFormatVersion);
    meta.set_next_tenant_number(kFirstTenantNumber);
    ToProtoTime(now, meta.mutable_created());
    meta.set_installation_id(NewInstallationId());
    meta.set_backups_tracked(true);  // A new store has no backups yet.
    meta.set_revision(1);
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->db->Put(SyncWrite(), db_->registry_cf, kRegistryMetaKey,
                               Sealed(kRegistryMetaKey, meta)),
                  "initialising the tenant registry"));
  } else {
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading the tenant registry"));
    LEYSER_RETURN_IF_ERROR(OpenRegistryRecord(
        *db_->record_mac, kRegistryMetaKey, meta_bytes, &meta));
    if (meta.format_version() != kRegistryFormatVersion ||
        meta.next_tenant_number() < kFirstTenantNumber) {
      return absl::DataLossError(
          "the tenant registry metadata is damaged or of an unknown format");
    }
    // A store from before the audit log gets its installation id now.
    if (meta.installation_id().empty()) {
      meta.set_installation_id(NewInstallationId());
      meta.set_revision(meta.revision() + 1);
      LEYSER_RETURN_IF_ERROR(FromRocks(
          db_->db->Put(SyncWrite(), db_->registry_cf, kRegistryMetaKey,
                       Sealed(kRegistryMetaKey, meta)),
          "updating the tenant registry"));
    }
  }
  absl::flat_hash_map<std::string, proto::TenantRecord> tenants;
  LEYSER_RETURN_IF_ERROR(ForEachTenantRecord(
      db_->db, db_->registry_cf, *db_->record_mac,
      [&](proto::TenantRecord record) -> absl::Status {
        LEYSER_RETURN_IF_ERROR(InfoFromRecord(record).status());
        if (record.number() >= meta.next_tenant_number()) {
          return absl::DataLossError(
              "a tenant registry record has a number not yet assigned");
        }
        std::string id = record.id();
        tenants.emplace(std::move(id), std::move(record));
        return absl::OkStatus();
      }));
  absl::MutexLock lock(&mu_);
  meta_ = std::move(meta);
  tenants_ = std::move(tenants);
  earliest_due_.reset();
  return absl::OkStatus();
}

proto::RegistryMeta Registry::Meta() const {
  absl::ReaderMutexLock lock(&mu_);
  return meta_;
}

absl::StatusOr<proto::TenantRecord> Registry::Record(
    std::string_view id) const {
  LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
  absl::ReaderMutexLock lock(&mu_);
  auto it = tenants_.find(ToAbsl(id));
  if (it == tenants_.end()) {
    return absl::NotFoundError(absl::StrCat("no tenant ", ToAbsl(id)));
  }
  return it->second;
}

std::optional<absl::Time> NextDue(const proto::TenantRecord& record) {
  switch (record.state()) {
    case proto::TENANT_STATE_ACTIVE:
      if (!record.has_contract_end()) return std::nullopt;
      return FromProtoTime(record.contract_end());
    case proto::TENANT_STATE_ENDED:
      return FromProtoTime(record.purge_due());
    case proto::TENANT_STATE_PURGED:
      return FromProtoTime(record.shred_due());
    default:
      return std::nullopt;
  }
}

absl::Time Registry::EarliestDue() const {
  absl::MutexLock lock(&mu_);
  if (!earliest_due_.has_value()) {
    absl::Time earliest = absl::InfiniteFuture();
    for (const auto& [id, record] : tenants_) {
      if (std::optional<absl::Time> due = NextDue(record); due.has_value()) {
        earliest = std::min(earliest, *due);
      }
    }
    earliest_due_ = earliest;
  }
  return *earliest_due_;
}

std::vector<proto::TenantRecord> Registry::Records() const {
  std::vector<proto::TenantRecord> out;
  {
    absl::ReaderMutexLock lock(&mu_);
    out.reserve(tenants_.size());
    for (const auto& [id, record] : tenants_) out.push_back(record);
  }
  std::sort(out.begin(), out.end(),
            [](const proto::TenantRecord& a, const proto::TenantRecord& b) {
              return a.number() < b.number();
            });
  return out;
}

absl::StatusOr<std::uint64_t> Registry::NextNumbers(
    const std::vector<std::string>& ids) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const std::string& id : ids) {
    if (tenants_.contains(id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("tenant ", id, " already exists"));
    }
  }
  const std::uint64_t first = meta_.next_tenant_number();
  if (ids.empty() || first + ids.size() - 1 > kMaxTenantNumber) {
    return absl::ResourceExhaustedError("no tenant numbers are left");
  }
  return first;
}

absl::StatusOr<std::vector<proto::TenantRecord>> Registry::AddTenants(
    const std::vector<std::string>& ids, std::uint64_t first, absl::Time now,
    std::string_view actor) {
  // The caller checked `ids` with NextNumbers under the same hold of the
  // write lock; only the numbers are checked again here.
  if (Meta().next_tenant_number() != first || ids.empty()) {
    return absl::InternalError(
        "tenant numbers were handed out meanwhile; nothing was changed");
  }
  std::vector<proto::TenantRecord> records(ids.size());
  rocksdb::WriteBatch batch;
  std::vector<proto::AuditEntry> entries;
  entries.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    proto::TenantRecord& record = records[i];
    record.set_id(ids[i]);
    record.set_number(first + i);
    record.set_state(proto::TENANT_STATE_ACTIVE);
    record.set_revision(1);
    ToProtoTime(now, record.mutable_created());
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(db_->registry_cf, RegistryTenantKey(ids[i]),
                            Sealed(RegistryTenantKey(ids[i]), record)),
                  "creating tenants"));
    entries.push_back(NewAuditEntry(
        first + i, proto::AUDIT_EVENT_TENANT_CREATED, actor, ids[i]));
    entries.back().set_record_revision(1);
  }
  proto::RegistryMeta meta = Meta();
  meta.set_next_tenant_number(first + ids.size());
  meta.set_revision(meta.revision() + 1);
  LEYSER_RETURN_IF_ERROR(CheckMetaSuccessor(meta));
  LEYSER_RETURN_IF_ERROR(FromRocks(batch.Put(db_->registry_cf, kRegistryMetaKey,
                                             Sealed(kRegistryMetaKey, meta)),
                                   "creating tenants"));
  LEYSER_RETURN_IF_ERROR(audit_->Commit(&batch, std::move(entries), SyncWrite(),
                                        /*new_logs=*/true));
  absl::MutexLock lock(&mu_);
  meta_ = std::move(meta);
  for (const proto::TenantRecord& record : records) {
    tenants_.emplace(record.id(), record);
  }
  earliest_due_.reset();
  return records;
}

absl::Status Registry::WriteRecord(const proto::TenantRecord& given,
                                   const proto::RegistryMeta* given_meta,
                                   std::vector<proto::AuditEntry> entries) {
  return WriteRecords({given}, given_meta, std::move(entries));
}

absl::Status Registry::WriteRecords(
    const std::vector<proto::TenantRecord>& given,
    const proto::RegistryMeta* given_meta,
    std::vector<proto::AuditEntry> entries) {
  std::vector<proto::TenantRecord> records = given;
  absl::flat_hash_map<std::uint64_t, std::uint64_t> revisions;
  for (proto::TenantRecord& record : records) {
    record.set_revision(NextRevision(record));
    if (!revisions.emplace(record.number(), record.revision()).second) {
      return absl::InternalError(absl::StrCat("a registry write names tenant ",
                                              record.id(), " twice"));
    }
  }
  std::optional<proto::RegistryMeta> meta;
  if (given_meta != nullptr) {
    meta = *given_meta;
    meta->set_revision(Meta().revision() + 1);
  }
  for (proto::AuditEntry& e : entries) {
    auto it = revisions.find(e.log());
    if (it != revisions.end()) e.set_record_revision(it->second);
    if (e.log() == kSystemLogNumber && meta.has_value()) {
      e.set_record_revision(meta->revision());
    }
  }
  rocksdb::WriteBatch batch;
  for (const proto::TenantRecord& record : records) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(db_->registry_cf, RegistryTenantKey(record.id()),
                            Sealed(RegistryTenantKey(record.id()), record)),
                  "updating the tenant registry"));
  }
  if (meta.has_value()) {
    LEYSER_RETURN_IF_ERROR(CheckMetaSuccessor(*meta));
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(db_->registry_cf, kRegistryMetaKey,
                            Sealed(kRegistryMetaKey, *meta)),
                  "updating the tenant registry"));
  }
  LEYSER_RETURN_IF_ERROR(
      audit_->Commit(&batch, std::move(entries), SyncWrite()));
  absl::MutexLock lock(&mu_);
  for (proto::TenantRecord& record : records) {
    std::string id = record.id();
    tenants_[std::move(id)] = std::move(record);
  }
  earliest_due_.reset();
  if (meta.has_value()) meta_ = *std::move(meta);
  return absl::OkStatus();
}

absl::Status Registry::WriteMeta(const proto::RegistryMeta& given,
                                 std::vector<proto::AuditEntry> entries) {
  proto::RegistryMeta meta = given;
  // A caller may raise it (an accepted rollback catching up with the log).
  meta.set_revision(std::max(Meta().revision() + 1, given.revision()));
  for (proto::AuditEntry& e : entries) {
    if (e.log() == kSystemLogNumber) e.set_record_revision(meta.revision());
  }
  LEYSER_RETURN_IF_ERROR(CheckMetaSuccessor(meta));
  if (entries.empty()) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->db->Put(SyncWrite(), db_->registry_cf, kRegistryMetaKey,
                               Sealed(kRegistryMetaKey, meta)),
                  "updating the tenant registry"));
  } else {
    rocksdb::WriteBatch batch;
    LEYSER_RETURN_IF_ERROR(
        FromRocks(batch.Put(db_->registry_cf, kRegistryMetaKey,
                            Sealed(kRegistryMetaKey, meta)),
                  "updating the tenant registry"));
    LEYSER_RETURN_IF_ERROR(
        audit_->Commit(&batch, std::move(entries), SyncWrite()));
  }
  absl::MutexLock lock(&mu_);
  meta_ = meta;
  return absl::OkStatus();
}

std::uint64_t Registry::NextRevision(const proto::TenantRecord& record) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = tenants_.find(record.id());
  const std::uint64_t current =
      it != tenants_.end() ? it->second.revision() : 0;
  // A caller may raise it (an accepted rollback catching up with the log).
  return std::max(current + 1, record.revision());
}

std::string Registry::Sealed(
    std::string_view key, const google::protobuf::MessageLite& record) const {
  return SealRegistryRecord(*db_->record_mac, key, record);
}

absl::Status Registry::CheckMetaSuccessor(
    const proto::RegistryMeta& meta) const {
  absl::ReaderMutexLock lock(&mu_);
  if (meta.next_tenant_number() < meta_.next_tenant_number() ||
      meta.checkpoint_keys_size() < meta_.checkpoint_keys_size() ||
      meta.earlier_anchor_series_size() < meta_.earlier_anchor_series_size() ||
      meta.accepted_damaged_logs_size() < meta_.accepted_damaged_logs_size() ||
      meta.restored_from_backup_dir_ids_size() <
          meta_.restored_from_backup_dir_ids_size() ||
      // The backup directory changes only with the owner (a restored store
      // gets an owner of its own, and later its own directory).
      (!meta_.backup_dir_id().empty() &&
       meta.backup_dir_id() != meta_.backup_dir_id() &&
       meta.backup_owner_id() == meta_.backup_owner_id()) ||
      (meta_.backups_tracked() && !meta.backups_tracked())) {
    return absl::InternalError(
        "refusing to write stale tenant registry metadata (a tenant number, "
        "a checkpoint key, an anchor series or the backup directory would be "
        "lost); nothing was changed");
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace leyser
