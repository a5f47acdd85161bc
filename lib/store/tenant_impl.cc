#include "lib/store/tenant_impl.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/rocks/status.h"
#include "lib/store/envelope.h"
#include "lib/store/key_encoding.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

absl::Status ValueAuthFailure() {
  return absl::DataLossError(
      "a stored value failed authentication (damaged, or copied from another key or tenant); "
      "restore the tenant from a backup");
}

absl::Status CheckKey(const DbCore& db, std::string_view key) {
  if (key.empty()) {
    return absl::InvalidArgumentError("key is empty; keys must be 1 or more bytes");
  }
  if (key.size() > db.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("key is ", key.size(),
                                                   " bytes; the limit (Options::max_key_bytes) is ",
                                                   db.max_key_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckValue(const DbCore& db, std::string_view value) {
  if (value.size() > db.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value is ", value.size(), " bytes; the limit (Options::max_value_bytes) is ",
        db.max_value_bytes));
  }
  return absl::OkStatus();
}

class IteratorImpl final : public Iterator {
 public:
  explicit IteratorImpl(std::shared_ptr<const TenantCore> core) : core_(std::move(core)) {
    lower_ = core_->prefix;
    upper_ = core_->next_prefix;
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_;
    ro.iterate_upper_bound = &upper_;
    ro.prefix_same_as_start = true;
    iter_.reset(core_->db->db->NewIterator(ro, core_->db->data_cf));
  }

  bool Valid() const override { return status_.ok() && iter_->Valid(); }

  void SeekToFirst() override {
    iter_->Seek(lower_);
    Moved();
  }

  void Seek(std::string_view target) override {
    seek_key_.assign(core_->prefix);
    seek_key_.append(target);
    iter_->Seek(seek_key_);
    Moved();
  }

  void Next() override {
    if (!Valid()) {
      return;
    }
    iter_->Next();
    Moved();
  }

  std::string_view key() const override {
    if (!Valid()) {
      return {};
    }
    rocksdb::Slice k = iter_->key();
    return std::string_view(k.data() + kTenantPrefixBytes, k.size() - kTenantPrefixBytes);
  }

  std::string_view value() override {
    if (!Valid()) {
      return {};
    }
    if (!value_ready_) {
      rocksdb::Slice k = iter_->key();
      rocksdb::Slice v = iter_->value();
      if (!OpenValue(core_->key, core_->key_version, std::string_view(k.data(), k.size()),
                     std::string_view(v.data(), v.size()), &value_)) {
        status_ = ValueAuthFailure();
        return {};
      }
      value_ready_ = true;
    }
    return value_;
  }

  absl::Status status() const override {
    if (!status_.ok()) {
      return status_;
    }
    return FromRocks(iter_->status(), "iterating over a tenant");
  }

 private:
  void Moved() {
    value_ready_ = false;
    value_.clear();
  }

  // Declared first so it is destroyed last: the RocksDB iterator must go before the database.
  const std::shared_ptr<const TenantCore> core_;
  rocksdb::Slice lower_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> iter_;
  std::string seek_key_;
  std::string value_;
  bool value_ready_ = false;
  absl::Status status_;
};

class TenantImpl final : public Tenant {
 public:
  explicit TenantImpl(std::shared_ptr<const TenantCore> core) : core_(std::move(core)) {}

  const std::string& id() const override { return core_->id; }
  std::uint64_t number() const override { return core_->number; }

  absl::Status Put(std::string_view key, std::string_view value) override {
    absl::ReaderMutexLock gate(&core_->gate);
    const DbCore& db = *core_->db;
    LEYSER_RETURN_IF_ERROR(CheckKey(db, key));
    LEYSER_RETURN_IF_ERROR(CheckValue(db, value));
    std::string full_key = FullKey(key);
    std::string sealed;
    SealValue(core_->key, core_->key_version, full_key, value, &sealed);
    return FromRocks(db.db->Put(db.write_options, db.data_cf, full_key, sealed), "writing a value");
  }

  absl::StatusOr<std::string> Get(std::string_view key) const override {
    absl::ReaderMutexLock gate(&core_->gate);
    const DbCore& db = *core_->db;
    LEYSER_RETURN_IF_ERROR(CheckKey(db, key));
    std::string full_key = FullKey(key);
    rocksdb::PinnableSlice sealed;
    rocksdb::Status s = db.db->Get(rocksdb::ReadOptions(), db.data_cf, full_key, &sealed);
    if (s.IsNotFound()) {
      return absl::NotFoundError("no such key in this tenant");
    }
    LEYSER_RETURN_IF_ERROR(FromRocks(s, "reading a value"));
    std::string value;
    if (!OpenValue(core_->key, core_->key_version, full_key,
                   std::string_view(sealed.data(), sealed.size()), &value)) {
      return ValueAuthFailure();
    }
    return value;
  }

  absl::Status Delete(std::string_view key) override {
    absl::ReaderMutexLock gate(&core_->gate);
    const DbCore& db = *core_->db;
    LEYSER_RETURN_IF_ERROR(CheckKey(db, key));
    return FromRocks(db.db->Delete(db.write_options, db.data_cf, FullKey(key)), "deleting a key");
  }

  absl::Status Write(const WriteBatch& batch) override {
    absl::ReaderMutexLock gate(&core_->gate);
    const DbCore& db = *core_->db;
    const std::size_t count = WriteBatchAccess::Count(batch);
    for (std::size_t i = 0; i < count; ++i) {
      WriteBatchAccess::OpView op = WriteBatchAccess::Get(batch, i);
      absl::Status s = CheckKey(db, op.key);
      if (s.ok() && !op.is_delete) {
        s = CheckValue(db, op.value);
      }
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("write batch operation ", i, " rejected, nothing written: ", s.message()));
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
        SealValue(core_->key, core_->key_version, full_key, op.value, &sealed);
        s = rocks_batch.Put(db.data_cf, full_key, sealed);
      }
      LEYSER_RETURN_IF_ERROR(FromRocks(s, "building a write batch"));
    }
    return FromRocks(db.db->Write(db.write_options, &rocks_batch), "writing a batch");
  }

  std::unique_ptr<Iterator> NewIterator() const override {
    absl::ReaderMutexLock gate(&core_->gate);
    return std::make_unique<IteratorImpl>(core_);
  }

 private:
  std::string FullKey(std::string_view key) const {
    std::string out;
    out.reserve(kTenantPrefixBytes + key.size());
    out.append(core_->prefix);
    out.append(key);
    return out;
  }

  const std::shared_ptr<const TenantCore> core_;
};

}  // namespace

std::unique_ptr<Tenant> NewTenantHandle(std::shared_ptr<const TenantCore> core) {
  return std::make_unique<TenantImpl>(std::move(core));
}

}  // namespace leyser::internal
