#include "lib/store/tenant_cache.h"

#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>

#include "absl/strings/str_cat.h"

#include "leyser/store_types.h"

#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "lib/store/envelope.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {

TenantCache::TenantCache(Config config, std::shared_ptr<DbCore> db,
                         std::shared_ptr<AuditLogs> audit,
                         const Registry* registry, const KeyStore* keys)
    : config_(std::move(config)),
      db_(std::move(db)),
      audit_(std::move(audit)),
      registry_(registry),
      keys_(keys) {}

std::shared_ptr<const TenantCore> TenantCache::Live(std::uint64_t number) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(number);
  return it == slots_.end() ? nullptr : it->second.weak.lock();
}

void TenantCache::Apply(const proto::TenantRecord& record) {
  std::shared_ptr<const TenantCore> core = Live(record.number());
  if (core == nullptr) return;
  core->end_unix_nanos.store(
      record.has_contract_end()
          ? absl::ToUnixNanos(FromProtoTime(record.contract_end()))
          : TenantCore::kNoEnd,
      std::memory_order_release);
  core->access_audit.store(record.access_audit(), std::memory_order_release);
  core->served.store(record.state() == proto::TENANT_STATE_ACTIVE,
                     std::memory_order_release);
  if (!Served(record, config_.clock->Now())) {
    // From the return on no handle or iterator of the tenant reads or writes:
    // the calls in flight finish first, its iterators stop.
    { std::unique_lock<std::shared_mutex> gate(core->gate); }
    db_->KillIterators(absl::FailedPreconditionError(absl::StrCat(
                           "tenant ", record.id(),
                           " is no longer served: its contract ended")),
                       record.number());
  }
}

const SecretBytes* KeyRing::For(std::uint32_t v) const {
  if (v == version) return &key;
  for (const auto& [retired_version, retired_key] : retired) {
    if (retired_version == v) return &retired_key;
  }
  return nullptr;
}

bool KeyRing::Open(std::string_view full_key, std::string_view sealed,
                   std::string* value) const {
  const std::optional<std::uint32_t> v = EnvelopeKeyVersion(sealed);
  const SecretBytes* k = v ? For(*v) : nullptr;
  if (k == nullptr) {
    value->clear();
    return false;
  }
  return OpenValue(*k, *v, full_key, sealed, value);
}

void KeyRing::Wipe() const {
  WipeInPlace(key);
  WipeInPlace(audit_key);
  for (auto& entry : retired) WipeInPlace(entry.second);
}

absl::StatusOr<std::shared_ptr<const KeyRing>> MakeKeyRing(TenantKeyRing keys) {
  auto ring = std::make_shared<KeyRing>();
  LEYSER_ASSIGN_OR_RETURN(ring->audit_key,
                          DeriveKey(keys.current.key, 0, "leyser-a"));
  ring->key = std::move(keys.current.key);
  ring->version = keys.current.version;
  for (TenantKey& k : keys.retired) {
    ring->retired.emplace_back(k.version, std::move(k.key));
  }
  return std::shared_ptr<const KeyRing>(std::move(ring));
}

void TenantCore::WipeKeys() const {
  served.store(false, std::memory_order_release);
  std::unique_lock<std::shared_mutex> lock(gate);
  keys->Wipe();
}

void TenantCache::Forget(std::uint64_t number) {
  std::shared_ptr<const TenantCore> core;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = slots_.find(number); it != slots_.end()) {
      core = it->second.weak.lock();
      if (it->second.cached != nullptr) recent_.erase(it->second.recent);
      slots_.erase(it);
    }
  }
  // Handles still open keep the core alive: its keys go now, not with the
  // last handle (outside mu_: the gate comes first in the lock order).
  if (core != nullptr) core->WipeKeys();
}

absl::StatusOr<std::shared_ptr<const TenantCore>> TenantCache::LiveOrBuild(
    const proto::TenantRecord& record, Slot& slot) {
  std::shared_ptr<const TenantCore> core = slot.weak.lock();
  if (core == nullptr) {
    absl::StatusOr<TenantKeyRing> unwrapped =
        keys_->GetTenantKeyRing(record.number());
    audit_->NoteDataLoss(unwrapped.status(), record.number(), config_.actor,
                         record.id(), "tenant data key");
    if (!unwrapped.ok()) {
      if (slot.cached == nullptr) slots_.erase(record.number());
      return unwrapped.status();
    }
    LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const KeyRing> ring,
                            MakeKeyRing(*std::move(unwrapped)));
    auto fresh = std::make_shared<TenantCore>();
    fresh->keys = std::move(ring);
    fresh->access_audit = record.access_audit();
    fresh->db = db_;
    fresh->audit = audit_;
    fresh->id = record.id();
    fresh->number = record.number();
    fresh->prefix = TenantPrefix(record.number());
    fresh->next_prefix = TenantPrefix(record.number() + 1);
    fresh->served = Served(record, config_.clock->Now());
    if (record.has_contract_end()) {
      fresh->end_unix_nanos =
          absl::ToUnixNanos(FromProtoTime(record.contract_end()));
    }
    core = std::move(fresh);
    slot.weak = core;
  }
  return core;
}

absl::StatusOr<std::shared_ptr<const TenantCore>> TenantCache::Acquire(
    const proto::TenantRecord& record) {
  absl::MutexLock lock(&mu_);
  // Read again under mu_, as Open does: the caller's copy may be older than
  // a lifecycle change that found no live core to update.
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord current,
                          registry_->Record(record.id()));
  return LiveOrBuild(current, slots_[current.number()]);
}

absl::Status TenantCache::RefreshKeys(const TenantCore& core) {
  LEYSER_ASSIGN_OR_RETURN(TenantKeyRing keys,
                          keys_->GetTenantKeyRing(core.number));
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const KeyRing> ring,
                          MakeKeyRing(std::move(keys)));
  std::unique_lock<std::shared_mutex> gate(core.gate);
  core.keys = std::move(ring);
  return absl::OkStatus();
}

absl::Status TenantCache::RefreshLiveKeys(std::uint64_t number) {
  std::shared_ptr<const TenantCore> core = Live(number);
  return core == nullptr ? absl::OkStatus() : RefreshKeys(*core);
}

absl::StatusOr<std::shared_ptr<const TenantCore>> TenantCache::Open(
    std::string_view id) {
  LEYSER_RETURN_IF_ERROR(ValidateTenantId(id));
  absl::MutexLock lock(&mu_);
  // The record is read under mu_: a lifecycle change updates the memory
  // registry first and then takes mu_ to update the live core (Apply), so
  // either this read sees the change, or the change sees the core made here.
  // A core is never built from a record the change has already replaced.
  LEYSER_ASSIGN_OR_RETURN(proto::TenantRecord record, registry_->Record(id));
  if (!Served(record, config_.clock->Now())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenant ", record.id(), " is not served: ",
        std::string(TenantStateName(static_cast<TenantState>(record.state()))),
        record.state() == proto::TENANT_STATE_ACTIVE
            ? " with its contract end passed"
            : ""));
  }
  Slot& slot = slots_[record.number()];
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const TenantCore> core,
                          LiveOrBuild(record, slot));
  KeepRecent(record.number(), slot, core);
  return core;
}

void TenantCache::KeepRecent(std::uint64_t number, Slot& slot,
                             const std::shared_ptr<const TenantCore>& core) {
  if (config_.capacity == 0) return;
  if (slot.cached != nullptr) {
    recent_.splice(recent_.begin(), recent_, slot.recent);
    return;
  }
  recent_.push_front(number);
  slot.recent = recent_.begin();
  slot.cached = core;
  if (recent_.size() > config_.capacity) {
    const std::uint64_t victim = recent_.back();
    recent_.pop_back();
    Slot& old = slots_[victim];
    old.cached.reset();
    if (old.weak.expired()) slots_.erase(victim);
  }
}

}  // namespace leyser::internal
