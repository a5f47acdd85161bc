#include "lib/store/tenant_impl.h"

#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

#include "leyser/options.h"

#include "lib/audit/audit_log.h"
#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "lib/rocks/status.h"
#include "lib/store/envelope.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {
bool TenantKeysWipedForTesting(const Tenant& tenant);  // store_impl.h

namespace {

absl::Status ValueAuthFailure() {
  return absl::DataLossError(
      "a stored value failed authentication (damaged, or copied from another "
      "key or tenant); "
      "restore the tenant from a backup");
}

// `write`: a Put, held to Options::max_key_bytes. Reads and deletes take any
// key up to kKeyBytesLimit, so keys written before the limit was lowered can
// still be read and erased.
absl::Status CheckKey(const DbCore& db, std::string_view key, bool write) {
  if (key.empty()) {
    return absl::InvalidArgumentError(
        "key is empty; keys must be 1 or more bytes");
  }
  if (!write) {
    if (key.size() <= kKeyBytesLimit) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("key is ", key.size(), " bytes; no key is longer than ",
                     kKeyBytesLimit));
  }
  if (key.size() > db.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key is ", key.size(), " bytes; the limit (Options::max_key_bytes) is ",
        db.max_key_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckValue(const DbCore& db, std::string_view value) {
  if (value.size() > db.max_value_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("value is ", value.size(),
                     " bytes; the limit (Options::max_value_bytes) is ",
                     db.max_value_bytes));
  }
  return absl::OkStatus();
}

std::string KeyHash(const KeyRing& keys, std::string_view key) {
  std::string out(16, '\0');
  KeyedHash(keys.audit_key, key, reinterpret_cast<unsigned char*>(out.data()),
            out.size());
  return out;
}

// Records that a DataLoss error about `key` is being returned (best effort:
// the caller returns the DataLoss either way).
void RecordDataLoss(const TenantCore& core, const KeyRing& keys,
                    const std::string& actor, std::string_view key,
                    const absl::Status& status) {
  proto::AuditEntry entry =
      NewAuditEntry(core.number, proto::AUDIT_EVENT_DATA_LOSS, actor, core.id);
  entry.add_key_hashes(KeyHash(keys, key));
  SetAuditOutcome(status, &entry);
  core.audit->Record(std::move(entry)).IgnoreError();
}

absl::Status CheckServed(const TenantCore& core);

class IteratorImpl final : public Iterator, public KillableIterator {
 public:
  // Constructed under the core's gate (shared): the keys and the iterator's
  // snapshot are taken together.
  IteratorImpl(std::shared_ptr<const TenantCore> core, std::string actor)
      : core_(std::move(core)), keys_(core_->keys), actor_(std::move(actor)) {
    lower_ = core_->prefix;
    upper_ = core_->next_prefix;
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_;
    ro.iterate_upper_bound = &upper_;
    ro.prefix_same_as_start = true;
    iter_.reset(core_->db->db->NewIterator(ro, core_->db->data_cf));
    core_->db->Register(this);
  }

  ~IteratorImpl() override {
    core_->db->Unregister(this);
    std::lock_guard<std::mutex> lock(mu_);
    iter_.reset();
  }

  std::uint64_t tenant_number() const override { return core_->number; }

  void Kill(const absl::Status& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    iter_.reset();  // Releases the pinned files. key_ and value_ stay valid for
                    // held views.
    keys_.reset();  // A purge wipes only the core's current keys.
    if (status_.ok()) status_ = reason;
    valid_ = false;
  }

  bool Valid() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return valid_;
  }

  void SeekToFirst() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (iter_ == nullptr) return;
    if (!StillServed()) return;
    iter_->Seek(lower_);
    Moved();
  }

  void Seek(std::string_view target) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (iter_ == nullptr) return;
    if (!StillServed()) return;
    seek_key_.assign(core_->prefix);
    seek_key_.append(target);
    iter_->Seek(seek_key_);
    Moved();
  }

  void Next() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!valid_) return;
    if (!StillServed()) return;
    iter_->Next();
    Moved();
  }

  std::string_view key() const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!valid_) return {};
    return std::string_view(key_).substr(kTenantPrefixBytes);
  }

  std::string_view value() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!valid_) return {};
    if (!value_ready_) {
      rocksdb::Slice v = iter_->value();
      if (!keys_->Open(key_, std::string_view(v.data(), v.size()), &value_)) {
        status_ = ValueAuthFailure();
        valid_ = false;
        RecordDataLoss(*core_, *keys_, actor_,
                       std::string_view(key_).substr(kTenantPrefixBytes),
                       status_);
        return {};
      }
      value_ready_ = true;
    }
    return value_;
  }

  absl::Status status() const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status_.ok() || iter_ == nullptr) return status_;
    return FromRocks(iter_->status(), "iterating over a tenant");
  }

 private:
  // Before every move: once the tenant is no longer served (its contract
  // ended, or a scheduled end passed), the iterator stops as if killed.
  bool StillServed() {
    absl::Status served = CheckServed(*core_);
    if (served.ok()) return true;
    iter_.reset();
    if (status_.ok()) status_ = std::move(served);
    valid_ = false;
    value_.clear();
    return false;
  }

  // After every move: copy the key (views of it outlive a Kill), forget the
  // value.
  void Moved() {
    value_ready_ = false;
    value_.clear();
    valid_ = status_.ok() && iter_->Valid();
    if (valid_) {
      rocksdb::Slice k = iter_->key();
      key_.assign(k.data(), k.size());
    }
  }

  // Declared first so it is destroyed last: the RocksDB iterator must go before
  // the database.
  const std::shared_ptr<const TenantCore> core_;
  // The keys when the iterator was made (reset by Kill; guarded by mu_ then).
  std::shared_ptr<const KeyRing> keys_;
  const std::string actor_;
  rocksdb::Slice lower_;
  rocksdb::Slice upper_;
  // A purge may Kill the iterator from another thread; every call takes the
  // lock (uncontended otherwise: an iterator is used from one thread at a
  // time). A std::mutex: absl::Mutex's deadlock detection (on in Debian's
  // build) costs more than the rest of a Next().
  mutable std::mutex mu_;
  std::unique_ptr<rocksdb::Iterator> iter_;
  bool valid_ = false;
  std::string seek_key_;
  std::string key_;  // Full RocksDB key of the current entry.
  std::string value_;
  bool value_ready_ = false;
  absl::Status status_;
};

// OK while the tenant is served: not ENDED or PURGED, and its scheduled
// contract end (if any) not yet reached by the store's clock.
absl::Status CheckServed(const TenantCore& core) {
  if (!core.served.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenant ", core.id,
        " is no longer served: its contract ended (or its data was purged)"));
  }
  const std::int64_t end = core.end_unix_nanos.load(std::memory_order_acquire);
  if (end != TenantCore::kNoEnd &&
      absl::ToUnixNanos(core.db->clock->Now()) >= end) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenant ", core.id, " is no longer served: its contract ended"));
  }
  return absl::OkStatus();
}

class TenantImpl final : public Tenant {
 public:
  TenantImpl(std::shared_ptr<const TenantCore> core, std::string actor)
      : core_(std::move(core)), actor_(std::move(actor)) {}

  const std::string& id() const override { return core_->id; }
  std::uint64_t number() const override { return core_->number; }

  absl::Status Put(std::string_view key, std::string_view value) override {
    std::shared_lock<std::shared_mutex> gate(core_->gate);
    LEYSER_RETURN_IF_ERROR(CheckServed(*core_));
    const DbCore& db = *core_->db;
    LEYSER_RETURN_IF_ERROR(CheckKey(db, key, /*write=*/true));
    LEYSER_RETURN_IF_ERROR(CheckValue(db, value));
    std::string full_key = FullKey(key);
    std::string sealed;
    const KeyRing& keys = *core_->keys;
    SealValue(keys.key, keys.version, full_key, value, &sealed);
    if (WritesAudited()) {
      rocksdb::WriteBatch batch;
      LEYSER_RETURN_IF_ERROR(FromRocks(batch.Put(db.data_cf, full_key, sealed),
                                       "writing a value"));
      return Audited(&batch, AccessEntry(proto::AUDIT_EVENT_DATA_PUT, key));
    }
    return FromRocks(db.db->Put(db.write_options, db.data_cf, full_key, sealed),
                     "writing a value");
  }

  absl::StatusOr<std::string> Get(std::string_view key) const override {
    std::shared_lock<std::shared_mutex> gate(core_->gate);
    LEYSER_RETURN_IF_ERROR(CheckServed(*core_));
    const DbCore& db = *core_->db;
    LEYSER_RETURN_IF_ERROR(CheckKey(db, key, /*write=*/false));
    absl::StatusOr<std::string> value = Read(db, key);
    if (value.status().code() == absl::StatusCode::kDataLoss) {
      RecordDataLoss(*core_, *core_->keys, actor_, key, value.status());
    } else if (ReadsAudited()) {
      proto::AuditEntry entry = AccessEntry(proto::AUDIT_EVENT_DATA_GET, key);
      SetAuditOutcome(value.status(), &entry);
      rocksdb::WriteBatch batch;
      LEYSER_RETURN_IF_ERROR(Audited(&batch, std::move(entry)));
    }
    return value;
  }

  absl::Status Delete(std::string_view key) override {
    std::shared_lock<std::shared_mutex> gate(core_->gate);
    LEYSER_RETURN_IF_ERROR(CheckServed(*core_));
    const DbCore& db = *core_->db;
    LEYSER_RETURN_IF_ERROR(CheckKey(db, key, /*write=*/false));
    if (WritesAudited()) {
      rocksdb::WriteBatch batch;
      LEYSER_RETURN_IF_ERROR(
          FromRocks(batch.Delete(db.data_cf, FullKey(key)), "deleting a key"));
      return Audited(&batch, AccessEntry(proto::AUDIT_EVENT_DATA_DELETE, key));
    }
    return FromRocks(db.db->Delete(db.write_options, db.data_cf, FullKey(key)),
                     "deleting a key");
  }

  absl::Status Write(const WriteBatch& batch) override {
    std::shared_lock<std::shared_mutex> gate(core_->gate);
    LEYSER_RETURN_IF_ERROR(CheckServed(*core_));
    const DbCore& db = *core_->db;
    const std::size_t count = WriteBatchAccess::Count(batch);
    for (std::size_t i = 0; i < count; ++i) {
      WriteBatchAccess::OpView op = WriteBatchAccess::Get(batch, i);
      absl::Status s = CheckKey(db, op.key, /*write=*/!op.is_delete);
      if (s.ok() && !op.is_delete) {
        s = CheckValue(db, op.value);
      }
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("write batch operation ", i,
                         " rejected, nothing written: ", s.message()));
      }
    }
    rocksdb::WriteBatch rocks_batch;
    std::string full_key;
    std::string sealed;
    for (std::size_t i = 0; i < count; ++i) {
      WriteBatchAccess::OpView op = WriteBatchAccess::Get(batch, i);
      full_key = FullKey(op.key);
      rocksdb::Status s;
      if (op.is_delete) {
        s = rocks_batch.Delete(db.data_cf, full_key);
      } else {
        SealValue(core_->keys->key, core_->keys->version, full_key, op.value,
                  &sealed);
        s = rocks_batch.Put(db.data_cf, full_key, sealed);
      }
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "building a write batch"));
    }
    if (WritesAudited()) {
      proto::AuditEntry entry = NewAuditEntry(
          core_->number, proto::AUDIT_EVENT_DATA_BATCH, actor_, core_->id);
      for (std::size_t i = 0; i < count; ++i) {
        entry.add_key_hashes(
            KeyHash(*core_->keys, WriteBatchAccess::Get(batch, i).key));
      }
      entry.set_count(count);
      return Audited(&rocks_batch, std::move(entry));
    }
    return FromRocks(db.db->Write(db.write_options, &rocks_batch),
                     "writing a batch");
  }

  std::unique_ptr<Iterator> NewIterator() const override {
    std::shared_lock<std::shared_mutex> gate(core_->gate);
    auto it = std::make_unique<IteratorImpl>(core_, actor_);
    if (absl::Status served = CheckServed(*core_); !served.ok()) {
      it->Kill(served);
    } else if (ReadsAudited()) {
      rocksdb::WriteBatch batch;
      proto::AuditEntry entry = NewAuditEntry(
          core_->number, proto::AUDIT_EVENT_DATA_SCAN, actor_, core_->id);
      if (absl::Status s = Audited(&batch, std::move(entry)); !s.ok()) {
        it->Kill(s);
      }
    }
    return it;
  }

  std::string AuditKeyHash(std::string_view key) const override {
    std::shared_lock<std::shared_mutex> gate(core_->gate);
    return KeyHash(*core_->keys, key);
  }

 private:
  bool WritesAudited() const {
    return core_->access_audit.load(std::memory_order_acquire) >= 1;
  }
  bool ReadsAudited() const {
    return core_->access_audit.load(std::memory_order_acquire) >= 2;
  }

  proto::AuditEntry AccessEntry(proto::AuditEventType event,
                                std::string_view key) const {
    proto::AuditEntry entry =
        NewAuditEntry(core_->number, event, actor_, core_->id);
    entry.add_key_hashes(KeyHash(*core_->keys, key));
    return entry;
  }

  // Writes `batch` with `entry` in the tenant's audit log, atomically.
  absl::Status Audited(rocksdb::WriteBatch* batch,
                       proto::AuditEntry entry) const {
    std::vector<proto::AuditEntry> entries;
    entries.push_back(std::move(entry));
    return core_->audit->Commit(batch, std::move(entries),
                                core_->db->write_options);
  }

  absl::StatusOr<std::string> Read(const DbCore& db,
                                   std::string_view key) const {
    std::string full_key = FullKey(key);
    rocksdb::PinnableSlice sealed;
    rocksdb::Status s =
        db.db->Get(rocksdb::ReadOptions(), db.data_cf, full_key, &sealed);
    if (s.IsNotFound()) {
      return absl::NotFoundError("no such key in this tenant");
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading a value"));
    std::string value;
    if (!core_->keys->Open(
            full_key, std::string_view(sealed.data(), sealed.size()), &value)) {
      return ValueAuthFailure();
    }
    return value;
  }

  std::string FullKey(std::string_view key) const {
    std::string out;
    out.reserve(kTenantPrefixBytes + key.size());
    out.append(core_->prefix);
    out.append(key);
    return out;
  }

  const std::shared_ptr<const TenantCore> core_;
  const std::string actor_;

  friend bool ::leyser::internal::TenantKeysWipedForTesting(
      const Tenant& tenant);
};

}  // namespace

bool TenantKeysWipedForTesting(const Tenant& tenant) {
  const TenantCore& core = *static_cast<const TenantImpl&>(tenant).core_;
  for (const SecretBytes* secret : {&core.keys->key, &core.keys->audit_key}) {
    for (std::size_t i = 0; i < secret->size(); ++i) {
      if (secret->data()[i] != 0) return false;
    }
  }
  return true;
}

std::unique_ptr<Tenant> NewTenantHandle(std::shared_ptr<const TenantCore> core,
                                        std::string actor) {
  return std::make_unique<TenantImpl>(std::move(core), std::move(actor));
}

}  // namespace leyser::internal
