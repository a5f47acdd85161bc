// Store::RotateDataKeys, RotateTenantDataKey and ResealRetiredKeys: new data
// keys for tenants, the values re-sealed under them, the retired keys
// destroyed.
//
// Why it is safe while tenants read and write (docs/architecture.md, "Data-key
// rotation"): the key store commits every new key in one synced write; each
// live core gets the new ring under its gate, and a core built later reads it
// from the key store, so from then on no call seals under a retired version.
// A batch of values is re-sealed under the tenant's gate held exclusively, so
// no write of the tenant falls between reading a value and writing it back
// re-sealed. The retired keys go only after a full pass over the tenant found
// every value it left re-sealed; a crash anywhere leaves retired keys, and the
// next pass resumes.

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

#include "lib/db/key_layout.h"
#include "lib/rocks/status.h"
#include "lib/store/envelope.h"
#include "lib/store/store_impl.h"
#include "lib/util/crash_point.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// Values re-sealed under one hold of a tenant's gate.
constexpr std::size_t kResealBatch = 64;
// Time idle after each re-sealed batch, relative to the time it took.
constexpr double kResealIdleRatio = 3.0;

bool HasKeys(const proto::TenantRecord& record) {
  return record.state() == proto::TENANT_STATE_ACTIVE ||
         record.state() == proto::TENANT_STATE_ENDED;
}

}  // namespace

absl::Status StoreImpl::RotateDataKeys() {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock maintenance(&maintenance_mu_);
  std::vector<proto::TenantRecord> records;
  for (proto::TenantRecord& record : registry_.Records()) {
    if (HasKeys(record)) records.push_back(std::move(record));
  }
  // Every tenant's key and the node file key (when files are encrypted).
  return RotateKeysOf(records, db_->env.keys != nullptr);
}

absl::Status StoreImpl::RotateTenantDataKey(std::string_view id) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock maintenance(&maintenance_mu_);
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, registry_.Record(id));
  if (!HasKeys(record)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenant ", record.id(), " was purged: it has no data key"));
  }
  return RotateKeysOf({record}, /*new_file_key=*/false);
}

absl::Status StoreImpl::RotateKeysOf(
    const std::vector<proto::TenantRecord>& records, bool new_file_key) {
  std::vector<std::uint64_t> numbers;
  numbers.reserve(records.size());
  for (const proto::TenantRecord& record : records) {
    numbers.push_back(record.number());
  }
  LEYSER_RETURN_IF_ERROR(keys_->RotateTenantKeys(numbers, new_file_key));
  CrashPoint("datakeys.after_commit");
  // From here the rotation has happened: what fails is returned, and the
  // next ResealRetiredKeys finishes the work.
  absl::Status first_error;
  if (new_file_key) first_error = UseNewFileKey();
  for (const proto::TenantRecord& record : records) {
    absl::Status refreshed = cache_->RefreshLiveKeys(record.number());
    proto::AuditEntry entry =
        NewAuditEntry(record.number(), proto::AUDIT_EVENT_DATA_KEY_ROTATED,
                      options_.audit_actor, record.id());
    absl::StatusOr<TenantKeyRing> ring =
        keys_->GetTenantKeyRing(record.number());
    if (ring.ok()) {
      (*entry.mutable_details())["version"] =
          absl::StrCat(ring->current.version);
    }
    absl::Status recorded = audit_->Record(std::move(entry));
    for (const absl::Status& s : {refreshed, ring.status(), recorded}) {
      if (first_error.ok() && !s.ok()) first_error = s;
    }
  }
  return first_error;
}

absl::StatusOr<KeyRotationProgress> StoreImpl::ResealRetiredKeys(
    const std::function<void(const KeyRotationProgress&)>& progress) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock maintenance(&maintenance_mu_);
  KeyRotationProgress out;
  LEYSER_RETURN_IF_ERROR(ResealPending(progress, &out));
  LEYSER_RETURN_IF_ERROR(RewriteRetiredFiles(&out));
  return out;
}

absl::Status StoreImpl::ResealPending(
    const std::function<void(const KeyRotationProgress&)>& progress,
    KeyRotationProgress* out) {
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::uint64_t> pending,
                          keys_->TenantsWithRetiredKeys());
  if (pending.empty()) return absl::OkStatus();
  absl::flat_hash_map<std::uint64_t, proto::TenantRecord> records;
  for (proto::TenantRecord& record : registry_.Records()) {
    records.emplace(record.number(), std::move(record));
  }
  out->tenants_pending = pending.size();
  std::vector<std::uint64_t> done;
  std::vector<RetiredKeys> finished;  // Of registered tenants, for the log.
  absl::Status first_error;
  for (std::uint64_t number : pending) {
    // Close goes first: the rest waits for the next pass.
    if (closed_.load(std::memory_order_acquire)) break;
    auto it = records.find(number);
    absl::Status s;
    // Keys of no tenant (a purge destroys them all): nothing to re-seal.
    if (it != records.end() && HasKeys(it->second)) {
      absl::StatusOr<RetiredKeys> retired = ResealTenant(it->second, out);
      s = retired.status();
      if (retired.ok()) finished.push_back(*std::move(retired));
    }
    if (s.ok()) {
      done.push_back(number);
      ++out->tenants_done;
      --out->tenants_pending;
    } else if (first_error.ok()) {
      first_error = s;
    }
    if (progress) progress(*out);
  }
  if (done.empty()) return first_error;
  // Every value of the finished tenants is sealed under its current key (each
  // ring was refreshed before its walk, so none under a retired one came
  // after). Durable before the keys that opened the old values go (with
  // unsynced writes the re-sealed values may still be in the WAL's buffer):
  // one sync, then one synced write for every tenant's retired keys.
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->db->FlushWAL(/*sync=*/true), "syncing re-sealed values"));
  CrashPoint("reseal.before_destroy");
  LEYSER_RETURN_IF_ERROR(keys_->DestroyRetiredTenantKeys(done));
  for (const RetiredKeys& retired : finished) {
    LEYSER_RETURN_IF_ERROR(cache_->RefreshLiveKeys(retired.number));
    proto::AuditEntry entry =
        NewAuditEntry(retired.number, proto::AUDIT_EVENT_DATA_KEY_RETIRED,
                      options_.audit_actor, retired.id);
    (*entry.mutable_details())["versions"] = retired.versions;
    (*entry.mutable_details())["resealed"] = absl::StrCat(retired.resealed);
    LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  }
  // Retired wrapped keys leave the key store's files, and superseded
  // values the data files (the compaction flushes the memtables first, so
  // the WAL files holding them become obsolete too).
  LEYSER_RETURN_IF_ERROR(keys_->Scrub());
  // Every column family flushed first, so no live WAL file keeps a value
  // the memtables held.
  for (rocksdb::ColumnFamilyHandle* cf : db_->handles) {
    LEYSER_RETURN_IF_ERROR(
        FromRocks(db_->db->Flush(rocksdb::FlushOptions(), cf),
                  "flushing re-sealed values"));
  }
  // One compaction over the span of the finished tenants (`done` is
  // ascending): per tenant, files holding several would be rewritten
  // again and again.
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  const std::string lo = TenantPrefix(done.front());
  const std::string hi = TenantPrefix(done.back() + 1);
  rocksdb::Slice begin(lo);
  rocksdb::Slice end(hi);
  LEYSER_RETURN_IF_ERROR(
      FromRocks(db_->db->CompactRange(compact, db_->data_cf, &begin, &end),
                "compacting re-sealed values"));
  return first_error;
}

absl::StatusOr<StoreImpl::RetiredKeys> StoreImpl::ResealTenant(
    const proto::TenantRecord& record, KeyRotationProgress* out) {
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core,
                          cache_->Acquire(record));
  // The ring as the key store holds it now: no call of the tenant seals
  // under a retired version from here on.
  LEYSER_RETURN_IF_ERROR(cache_->RefreshKeys(*core));
  std::uint32_t current = 0;
  std::string retired_versions;
  {
    std::shared_lock<std::shared_mutex> gate(core->gate);
    current = core->keys->version;
    for (const auto& [version, key] : core->keys->retired) {
      absl::StrAppend(&retired_versions, retired_versions.empty() ? "" : ",",
                      version);
    }
  }
  const std::string lo = TenantPrefix(record.number());
  const std::string hi = TenantPrefix(record.number() + 1);
  std::uint64_t resealed = 0;
  std::string from = lo;
  while (true) {
    // The next keys whose values name a retired version, read without the
    // gate (values change meanwhile; each is read again under it).
    std::vector<std::string> stale;
    {
      rocksdb::ReadOptions ro;
      rocksdb::Slice upper(hi);
      ro.iterate_upper_bound = &upper;
      ro.fill_cache = false;
      std::unique_ptr<rocksdb::Iterator> it(
          db_->db->NewIterator(ro, db_->data_cf));
      for (it->Seek(from); it->Valid() && stale.size() < kResealBatch;
           it->Next()) {
        const rocksdb::Slice v = it->value();
        if (EnvelopeKeyVersion(std::string_view(v.data(), v.size())) !=
            current) {
          stale.push_back(it->key().ToString());
        }
      }
      LEYSER_RETURN_IF_ERROR(FromRocks(it->status(), "reading values"));
    }
    if (stale.empty()) break;
    const absl::Time batch_start = absl::Now();
    {
      std::unique_lock<std::shared_mutex> gate(core->gate);
      const KeyRing& keys = *core->keys;
      rocksdb::WriteBatch batch;
      std::string value;
      std::string sealed;
      for (const std::string& key : stale) {
        rocksdb::PinnableSlice stored;
        rocksdb::Status s =
            db_->db->Get(rocksdb::ReadOptions(), db_->data_cf, key, &stored);
        if (s.IsNotFound()) continue;  // Deleted meanwhile.
        LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading a value"));
        const std::string_view bytes(stored.data(), stored.size());
        const std::optional<std::uint32_t> version = EnvelopeKeyVersion(bytes);
        if (version == keys.version) continue;  // Rewritten meanwhile.
        if (!keys.Open(key, bytes, &value)) {
          return absl::DataLossError(absl::StrCat(
              "tenant ", record.id(),
              ": a value does not open under any of its data keys; its "
              "retired keys are kept"));
        }
        SealValue(keys.key, keys.version, key, value, &sealed);
        LEYSER_RETURN_IF_ERROR(FromRocks(batch.Put(db_->data_cf, key, sealed),
                                         "re-sealing values"));
        ++resealed;
      }
      LEYSER_RETURN_IF_ERROR(FromRocks(
          db_->db->Write(db_->write_options, &batch), "re-sealing values"));
    }
    CrashPoint("reseal.after_batch");
    // Paced: as long again idle as the batch took, so tenants' own calls
    // keep most of the machine (a rotation is not urgent once the new keys
    // are in use).
    absl::SleepFor((absl::Now() - batch_start) * kResealIdleRatio);
    from = stale.back();
    from.push_back('\0');  // The next key after it.
  }
  out->values_resealed += resealed;
  return RetiredKeys{record.number(), record.id(), retired_versions, resealed};
}

}  // namespace leyser::internal
