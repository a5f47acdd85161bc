// leyser/certificate.h: the deletion certificate a store issues when a tenant
// is shredded, and checking it without a store.
//
// Thread safety: a plain value type, and functions that are thread-safe.

#ifndef LEYSER_CERTIFICATE_H_
#define LEYSER_CERTIFICATE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "leyser/backup.h"
#include "leyser/signing_key.h"

namespace leyser {

// Proof that a tenant's data was erased: issued once, when the tenant is
// shredded, and signed with the store's Ed25519 signing key (see
// Store::ListSigningKeys). Verify it with VerifyDeletionCertificate and the
// signer's public key alone. Copyable.
struct DeletionCertificate {
  // The certificate format: 2 now (1 in earlier builds: no backup
  // directory, no domain separation). Covered by the signature.
  std::uint32_t format_version = 2;
  std::string tenant_id;
  std::uint64_t tenant_number = 0;
  absl::Time contract_end;
  // Live records deleted and compacted out of every live file, the live data
  // key destroyed and compacted out of the key store.
  absl::Time purged;
  // Every backup generation deleted or checked (below).
  absl::Time shredded;
  absl::Time issued;
  // How the data was erased, in words, as the leyser version that signed the
  // certificate describes it (covered by the signature), with the limits of
  // the claim.
  std::string method;
  // Records of the tenant when the purge began, and their stored (sealed)
  // key and value bytes.
  std::uint64_t keys_removed = 0;
  std::uint64_t bytes_removed = 0;
  // The id of the store's backup directory (its identity file); empty if the
  // store never took a backup.
  std::string backup_dir_id;
  // Backup generations that could hold the tenant's data, deleted whole.
  std::vector<BackupId> generations_deleted;
  // Every other generation of the directory: opened and authenticated with
  // the current master key, its manifest listing the tenant as purged with no
  // records (or not at all), and the tenant's wrapped data key absent from
  // its key-store copy.
  std::vector<BackupId> generations_checked;
  // Of generations_checked, those whose key-store copy still held the
  // tenant's wrapped key when the shred ran: removed, the generation sealed
  // again.
  std::vector<BackupId> generations_key_removed;
  // The backup directories (ids) of the stores this store was restored from
  // (Store::RestoreStore), oldest first. Their generations from before the
  // restore may hold the tenant's data and are not covered: they belong to
  // those stores, whose own lifecycle removes the tenant from them.
  std::vector<std::string> restored_from_backup_dir_ids;
  // The signed checkpoint note of the tenant's audit log just before the
  // certificate was issued (its PURGED entry and everything before it).
  std::string audit_chain_head;
  std::string signer_public_key;  // 32 bytes (Ed25519).
  // 64 bytes (Ed25519) over "leyser-deletion-certificate-v2" NUL and the
  // certificate's canonical encoding (format 1: the encoding alone).
  std::string signature;
};

// Checks `certificate`'s signature against `public_key` (32 bytes). Needs no
// store. Errors: InvalidArgument (malformed key); DataLoss (a field was
// changed, the signature is wrong, or the certificate was signed by another
// key).
absl::Status VerifyDeletionCertificate(const DeletionCertificate& certificate,
                                       std::string_view public_key);

// Checks `certificate` against a store's signing keys with their validity
// windows (Store::ListSigningKeys, `leyserctl public-keys --json`): it must be
// signed by the key it names, that key must be one of `keys`, and its
// `issued` time must lie inside that key's window (a retired key that leaked
// cannot sign a certificate dated after its retirement). Errors:
// InvalidArgument (no keys, or a malformed one); DataLoss (signature wrong,
// signer not among `keys`, or issued outside its window).
absl::Status VerifyDeletionCertificate(const DeletionCertificate& certificate,
                                       const std::vector<SigningKeyInfo>& keys);

// Returns the certificate as JSON (protobuf JSON mapping; bytes fields base64).
std::string DeletionCertificateToJson(const DeletionCertificate& certificate);

// Parses what DeletionCertificateToJson wrote. InvalidArgument if it is not
// such JSON. Parsing checks nothing: call VerifyDeletionCertificate.
absl::StatusOr<DeletionCertificate> DeletionCertificateFromJson(
    std::string_view json);

}  // namespace leyser

#endif  // LEYSER_CERTIFICATE_H_
