// The store's signing keys: a random seed of its own in the key store (or the
// key provider's, for a host that keeps it in an HSM), never derived from a
// key that encrypts data; each key with its validity window in the registry
// (RegistryMeta::signing_keys) and every change in the system log
// (SIGNING_KEY_ROTATED). A rotation's checkpoint is signed by both keys, and
// its time ends the old key's window and starts the new one's, so a verifier
// given the windows accepts a retired key only on what is dated before its
// retirement (docs/architecture.md, "Signing keys").

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "lib/audit/checkpoint.h"
#include "lib/crypto/sodium.h"
#include "lib/store/store_impl.h"
#include "lib/util/crash_point.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {
namespace {

void AddWindow(const std::string& public_key, absl::Time from,
               proto::RegistryMeta* meta) {
  proto::SigningKeyWindow* w = meta->add_signing_keys();
  w->set_public_key(public_key);
  if (from != absl::InfinitePast()) ToProtoTime(from, w->mutable_valid_from());
}

// Ends every open window at `until`.
void CloseWindows(absl::Time until, proto::RegistryMeta* meta) {
  for (proto::SigningKeyWindow& w : *meta->mutable_signing_keys()) {
    if (!w.has_valid_until()) ToProtoTime(until, w.mutable_valid_until());
  }
}

bool IsCurrent(const proto::RegistryMeta& meta, const std::string& key) {
  for (const proto::SigningKeyWindow& w : meta.signing_keys()) {
    if (w.public_key() == key && !w.has_valid_until()) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<SecretBytes> StoreImpl::SigningSeed() const {
  absl::StatusOr<SecretBytes> provided = provider()->GetSigningKey();
  if (!absl::IsUnimplemented(provided.status())) return provided;
  LEYSER_ASSIGN_OR_RETURN(std::optional<TenantKey> stored,
                          keys_->GetSigningSeed());
  if (!stored.has_value()) {
    return absl::NotFoundError(
        "the store has no signing key of its own yet (made from before "
        "signing keys had windows)");
  }
  return std::move(stored->key);
}

std::vector<SigningKeyInfo> StoreImpl::SigningKeys(
    const proto::RegistryMeta& meta) const {
  std::vector<SigningKeyInfo> out;
  for (const proto::SigningKeyWindow& w : meta.signing_keys()) {
    SigningKeyInfo info;
    info.public_key = w.public_key();
    if (w.has_valid_from()) info.valid_from = FromProtoTime(w.valid_from());
    if (w.has_valid_until()) info.valid_until = FromProtoTime(w.valid_until());
    out.push_back(std::move(info));
  }
  if (out.empty()) {
    // A store from before windows: the keys it signed with, at any time.
    out = UnboundedKeys(
        {meta.checkpoint_keys().begin(), meta.checkpoint_keys().end()});
  }
  return out;
}

absl::StatusOr<std::vector<SigningKeyInfo>> StoreImpl::ListSigningKeys() const {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  return SigningKeys(registry_.Meta());
}

absl::Status StoreImpl::SettleSigningKey(bool legacy) {
  const std::string current = audit_->public_key();
  if (legacy) {
    // Made before signing keys of their own: every key it signed with so
    // far (derived from its master keys) is valid from its creation until
    // now; a random key of its own takes over, vouched for by the derived
    // one on the rotation checkpoint.
    absl::MutexLock maintenance(&maintenance_mu_);
    return CommitNewSigningKey(/*serial=*/1, "upgrade");
  }
  absl::MutexLock lifecycle(&registry_.lifecycle_mu());
  proto::RegistryMeta meta = registry_.Meta();
  if (IsCurrent(meta, current)) return absl::OkStatus();
  if (meta.signing_keys_size() == 0 && meta.checkpoint_keys_size() == 0) {
    // A new store's first key: valid from its creation.
    AddWindow(current,
              meta.has_created() ? FromProtoTime(meta.created())
                                 : options_.clock->Now(),
              &meta);
    return registry_.WriteMeta(meta);
  }
  // The key changed without its window: the key provider supplies another
  // key than before, or a rotation stopped between committing its seed and
  // recording it. The old seed is gone: not cross-signed.
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_SIGNING_KEY_ROTATED,
                    options_.audit_actor, "signing key");
  const absl::Time now = options_.clock->Now();
  if (meta.signing_keys_size() == 0) {
    for (const std::string& key : meta.checkpoint_keys()) {
      if (key == current) continue;
      AddWindow(key,
                meta.has_created() ? FromProtoTime(meta.created())
                                   : absl::InfinitePast(),
                &meta);
    }
  }
  std::string previous;
  for (const proto::SigningKeyWindow& w : meta.signing_keys()) {
    if (!w.has_valid_until()) previous = w.public_key();
  }
  CloseWindows(now, &meta);
  AddWindow(current, now, &meta);
  auto& details = *entry.mutable_details();
  details["public_key"] = absl::BytesToHexString(current);
  details["previous"] = absl::BytesToHexString(previous);
  details["reason"] =
      provider()->GetSigningKey().ok() ? "provider" : "recovered";
  details["cross_signed"] = "false";
  // The windows and their entry in one synced batch.
  LEYSER_RETURN_IF_ERROR(registry_.WriteMeta(meta, {std::move(entry)}));
  audit_->SetKnownKeys(SigningKeys(meta));
  return absl::OkStatus();
}

absl::Status StoreImpl::RotateSigningKey() {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  if (provider()->GetSigningKey().ok()) {
    return absl::FailedPreconditionError(
        "the key provider supplies the signing key: rotate it there (the "
        "store records the change at its next open)");
  }
  absl::MutexLock maintenance(&maintenance_mu_);
  LEYSER_ASSIGN_OR_RETURN(std::optional<TenantKey> stored,
                          keys_->GetSigningSeed());
  return CommitNewSigningKey(stored.has_value() ? stored->version + 1 : 1,
                             "rotation");
}

absl::Status StoreImpl::CommitNewSigningKey(std::uint32_t serial,
                                            std::string_view reason) {
  LEYSER_ASSIGN_OR_RETURN(SecretBytes seed, RandomKey());
  LEYSER_ASSIGN_OR_RETURN(SecretBytes copy, CopySecret(seed));
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const CheckpointSigner> signer,
                          CheckpointSigner::Create(std::move(copy)));
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_SIGNING_KEY_ROTATED,
                    options_.audit_actor, "signing key");
  // The commit: from here the old seed is gone.
  if (absl::Status s = keys_->SetSigningSeed(seed, serial); !s.ok()) {
    SetAuditOutcome(s, &entry);
    audit_->Record(std::move(entry)).IgnoreError();  // The error is returned.
    return s;
  }
  CrashPoint("signing.committed");
  legacy_signer_ = false;
  return SwitchSigner(std::move(signer), reason, std::move(entry));
}

absl::Status StoreImpl::SwitchSigner(
    std::shared_ptr<const CheckpointSigner> new_signer, std::string_view reason,
    proto::AuditEntry entry) {
  const std::string previous = audit_->public_key();
  const std::string next = new_signer->public_key();
  auto& details = *entry.mutable_details();
  details["public_key"] = absl::BytesToHexString(next);
  details["previous"] = absl::BytesToHexString(previous);
  details["reason"] = std::string(reason);
  details["cross_signed"] = "true";
  // Covered by the rotation checkpoint, which both keys sign.
  LEYSER_RETURN_IF_ERROR(audit_->Record(std::move(entry)));
  LEYSER_ASSIGN_OR_RETURN(const absl::Time at,
                          audit_->RotateSigner(std::move(new_signer)));
  // Read and written under the lifecycle lock: a tenant created meanwhile
  // changes the metadata too.
  absl::MutexLock lifecycle(&registry_.lifecycle_mu());
  proto::RegistryMeta meta = registry_.Meta();
  if (meta.signing_keys_size() == 0) {
    // Until now without windows: every key it signed with was valid from its
    // creation.
    const absl::Time created = meta.has_created()
                                   ? FromProtoTime(meta.created())
                                   : absl::InfinitePast();
    for (const std::string& key : meta.checkpoint_keys()) {
      if (key != previous) AddWindow(key, created, &meta);
    }
    AddWindow(previous, created, &meta);
  }
  CloseWindows(at, &meta);
  AddWindow(next, at, &meta);
  LEYSER_RETURN_IF_ERROR(registry_.WriteMeta(meta));
  audit_->SetKnownKeys(SigningKeys(meta));
  return absl::OkStatus();
}

}  // namespace leyser::internal
