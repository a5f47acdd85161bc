// Store::RotateMasterKey: the key store re-wraps every key under the new
// master key; the audit logs switch to the new signing key with a checkpoint
// signed by both; the registry remembers the old checkpoint key.

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "lib/audit/checkpoint.h"
#include "lib/store/store_impl.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

absl::Status StoreImpl::RotateMasterKey(
    std::shared_ptr<KeyProvider> new_provider) {
  LEYSER_RETURN_IF_ERROR(CheckOpen());
  if (new_provider == nullptr) {
    return absl::InvalidArgumentError(
        "RotateMasterKey: the new key provider is null");
  }
  LEYSER_ASSIGN_OR_RETURN(SecretBytes new_key, new_provider->GetMasterKey());
  if (new_key.size() != kMasterKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the new key provider returned a ", new_key.size(),
                     "-byte master key; it must be 32 bytes"));
  }
  // The new signing key must be available before anything changes.
  LEYSER_ASSIGN_OR_RETURN(SecretBytes new_seed, new_provider->GetSigningKey());
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const CheckpointSigner> signer,
                          CheckpointSigner::Create(std::move(new_seed)));
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_MASTER_KEY_ROTATED,
                    options_.audit_actor, "master key");
  // No backup, shred or restore runs during a rotation: each seals or opens
  // generations with the master key it started with.
  absl::MutexLock maintenance(&maintenance_mu_);
  const absl::Status rotated = keys_->RotateMasterKey(std::move(new_key));
  SetAuditOutcome(rotated, &entry);
  (*entry.mutable_details())["checkpoint_key"] =
      absl::BytesToHexString(signer->public_key());
  if (!rotated.ok()) {
    audit_->Record(std::move(entry)).IgnoreError();  // The error is returned.
    return rotated;
  }
  {
    absl::MutexLock lock(&provider_mu_);
    provider_ = new_provider;  // Signs certificates from now on.
  }
  // The rotation happened: what fails from here is reported, nothing undone.
  absl::Status recorded = audit_->Record(std::move(entry));
  {
    absl::MutexLock lifecycle(&registry_.lifecycle_mu());
    proto::RegistryMeta meta = registry_.Meta();
    meta.add_checkpoint_keys(audit_->public_key());
    meta.add_checkpoint_keys(signer->public_key());
    LEYSER_RETURN_IF_ERROR(registry_.WriteMeta(meta));
  }
  audit_->AddKnownKey(audit_->public_key());
  audit_->AddKnownKey(signer->public_key());
  // One checkpoint signed by both keys vouches for the new one.
  absl::Status resigned = audit_->RotateSigner(std::move(signer));
  return recorded.ok() ? resigned : recorded;
}

}  // namespace leyser::internal
