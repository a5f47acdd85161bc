// Deletion certificates: building, signing (Ed25519), decoding, verifying.

#ifndef LEYSER_LIB_LIFECYCLE_CERTIFICATE_H_
#define LEYSER_LIB_LIFECYCLE_CERTIFICATE_H_

#include <string>

#include "absl/status/statusor.h"

#include "leyser/certificate.h"
#include "leyser/secret.h"

namespace leyser::internal {

// The method statement a certificate carries: what the purge and the shred
// did, exactly, and what they do not cover. `had_backups`: the store has a
// backup directory; `restored`: it was restored from another store's backups
// (RegistryMeta::restored_from_backup_dir_ids), which it does not cover.
std::string DeletionMethod(bool had_backups, bool restored);

// Signs `certificate` as format 2 (its format_version, signer_public_key and
// signature are filled in) with the Ed25519 key of `seed`, and returns the
// stored form (a serialized SignedDeletionCertificate).
absl::StatusOr<std::string> SignCertificate(DeletionCertificate* certificate,
                                            const SecretBytes& seed);

// Decodes the stored form. DataLoss if damaged.
absl::StatusOr<DeletionCertificate> DecodeCertificate(
    const std::string& stored);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_LIFECYCLE_CERTIFICATE_H_
