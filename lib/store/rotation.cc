// Store::RotateMasterKey: the backup generations get twins sealed under the
// new master key, the key store re-wraps every key under it and the twins
// replace their generations; the audit logs switch to the new signing key
// with a checkpoint signed by both; the registry remembers the old
// checkpoint key.

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "lib/audit/checkpoint.h"
#include "lib/crypto/sodium.h"
#include "lib/store/store_impl.h"
#include "lib/util/crash_point.h"
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
  // The new signing key must be available before anything changes: the new
  // provider's, or a new random one of the store's own, committed with the
  // re-wrapped keys (the old seed is wrapped under the retired master key in
  // older copies of the key store, so it retires too).
  absl::StatusOr<SecretBytes> provided = new_provider->GetSigningKey();
  const bool own_key = absl::IsUnimplemented(provided.status());
  if (own_key) provided = RandomKey();
  LEYSER_RETURN_IF_ERROR(provided.status());
  SecretBytes stored_seed;  // Empty: the key store's seed stays.
  if (own_key) {
    LEYSER_ASSIGN_OR_RETURN(stored_seed, CopySecret(*provided));
  }
  LEYSER_ASSIGN_OR_RETURN(std::shared_ptr<const CheckpointSigner> signer,
                          CheckpointSigner::Create(*std::move(provided)));
  proto::AuditEntry entry =
      NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_MASTER_KEY_ROTATED,
                    options_.audit_actor, "master key");
  // No backup, shred or restore runs during a rotation: each seals or opens
  // generations with the master key it started with.
  absl::MutexLock maintenance(&maintenance_mu_);
  // The generations get twins sealed under the new key first; they take
  // their generations' places once the key store has committed.
  absl::StatusOr<BackupManager::Rekeyed> rekeyed =
      backups_.PrepareRekey(new_key, keys_->master_generation() + 1);
  absl::Status rotated = rekeyed.status();
  if (rotated.ok()) {
    rotated =
        keys_->RotateMasterKey(std::move(new_key), std::move(stored_seed));
  }
  CrashPoint("rotate.before_generations");
  const absl::Status settled = backups_.FinishRekey();
  SetAuditOutcome(rotated, &entry);
  (*entry.mutable_details())["checkpoint_key"] =
      absl::BytesToHexString(signer->public_key());
  if (!rotated.ok()) {
    audit_->Record(std::move(entry)).IgnoreError();  // The error is returned.
    return rotated;
  }
  (*entry.mutable_details())["generations_resealed"] =
      absl::StrJoin(rekeyed->resealed, ",");
  if (!rekeyed->skipped.empty()) {
    (*entry.mutable_details())["generations_skipped"] = rekeyed->skipped;
  }
  if (!rekeyed->kept.empty()) {
    // Sealed under an earlier master key than the one just retired, or
    // damaged: they still need the key that sealed them.
    (*entry.mutable_details())["generations_kept"] =
        absl::StrJoin(rekeyed->kept, ",");
  }
  {
    absl::MutexLock lock(&provider_mu_);
    provider_ = new_provider;  // Signs certificates from now on.
  }
  // The rotation happened: what fails from here is reported, nothing undone.
  absl::Status recorded = audit_->Record(std::move(entry));
  // One checkpoint signed by both keys vouches for the new one, and ends the
  // old key's validity window.
  absl::Status resigned;
  if (signer->public_key() != audit_->public_key()) {
    resigned = SwitchSigner(
        std::move(signer), "master_key",
        NewAuditEntry(kSystemLogNumber, proto::AUDIT_EVENT_SIGNING_KEY_ROTATED,
                      options_.audit_actor, "signing key"));
  }
  legacy_signer_ = false;
  for (const absl::Status& s : {settled, recorded, resigned}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace leyser::internal
