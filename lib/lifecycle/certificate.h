// Deletion certificates: building, signing (Ed25519), decoding, verifying.

#ifndef LEYSER_LIB_LIFECYCLE_CERTIFICATE_H_
#define LEYSER_LIB_LIFECYCLE_CERTIFICATE_H_

#include <string>

#include "absl/status/statusor.h"

#include "leyser/certificate.h"
#include "leyser/secret.h"

namespace leyser::internal {

// The method statement every certificate carries.
inline constexpr char kDeletionMethod[] =
    "logical delete (range deletion and forced compaction of the tenant's "
    "keyspace) + "
    "cryptographic erase (tenant data key destroyed in the live key store and "
    "in every backup "
    "generation); NIST SP 800-88 Rev. 1 Clear/Purge";

// Signs `certificate` (its signer_public_key and signature are filled in) with
// the Ed25519 key of `seed`, and returns the stored form (a serialized
// SignedDeletionCertificate).
absl::StatusOr<std::string> SignCertificate(DeletionCertificate* certificate,
                                            const SecretBytes& seed);

// Decodes the stored form. DataLoss if damaged.
absl::StatusOr<DeletionCertificate> DecodeCertificate(
    const std::string& stored);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_LIFECYCLE_CERTIFICATE_H_
