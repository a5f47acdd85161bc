// leyser/store_types.h: value types describing tenants and their deletion
// certificates.
//
// Thread safety: plain value types. Copyable.

#ifndef LEYSER_STORE_TYPES_H_
#define LEYSER_STORE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace leyser {

// Where a tenant is in its life. Values are persisted; never renumbered.
enum class TenantState {
  kActive = 1,  // Readable and writable.
  kEnded = 2,   // Contract ended: data kept, not served.
  kPurged =
      3,  // Data and live data key destroyed; older backups may still hold it.
  kShredded = 4,  // Gone from every backup too.
};

// Returns "ACTIVE", "ENDED", "PURGED" or "SHREDDED".
std::string_view TenantStateName(TenantState state);

// What the store knows about a tenant. Copyable. All times are UTC, from the
// store's clock; a time that does not apply (yet) is std::nullopt.
struct TenantInfo {
  std::string id;
  std::uint64_t number =
      0;  // Internal number: the tenant's key prefix. Never reused.
  TenantState state = TenantState::kActive;
  absl::Time created;
  std::optional<absl::Time>
      contract_end;  // Set by EndContract; may lie in the future.
  std::optional<absl::Time> purge_due;  // contract_end + Options::purge_after.
  bool legal_hold = false;  // While set, neither purge nor shred runs.
  // Per-tenant access auditing (Store::SetAccessAudit): 0 off, 1 writes, 2
  // reads and writes (leyser::AccessAudit).
  int access_audit = 0;
  std::optional<absl::Time> purged;
  std::optional<absl::Time> shred_due;  // purged + Options::backup_purge_after.
  std::optional<absl::Time> shredded;
};

// Proof that a tenant's data was erased: issued once, when the tenant is
// shredded, and signed with the store's Ed25519 signing key (see
// KeyProvider::GetSigningKey). Verify it with VerifyDeletionCertificate and the
// signer's public key alone. Copyable.
struct DeletionCertificate {
  std::string tenant_id;
  std::uint64_t tenant_number = 0;
  absl::Time contract_end;
  absl::Time
      purged;  // Live data deleted and compacted away, live data key destroyed.
  absl::Time shredded;  // Data key gone from every backup; pre-purge
                        // generations deleted.
  absl::Time issued;
  // "logical delete (range deletion and forced compaction) + cryptographic
  // erase (data key destroyed); NIST SP 800-88 Rev. 1 Clear/Purge", verbatim.
  std::string method;
  std::uint64_t keys_removed =
      0;  // Records of the tenant when the purge began.
  std::uint64_t bytes_removed =
      0;  // Their stored (sealed) key and value bytes.
  std::vector<std::uint32_t>
      generations_deleted;  // Backup generations that held its data.
  std::vector<std::uint32_t>
      generations_kept;  // Generations checked: taken after the purge.
  // The signed checkpoint note of the tenant's audit log just before the
  // certificate was issued (its PURGED entry and everything before it).
  std::string audit_chain_head;
  std::string signer_public_key;  // 32 bytes (Ed25519).
  std::string signature;  // 64 bytes (Ed25519) over the certificate's canonical
                          // encoding.
};

// Checks `certificate`'s signature against `public_key` (32 bytes). Needs no
// store. Errors: InvalidArgument (malformed key); DataLoss (a field was
// changed, the signature is wrong, or the certificate was signed by another
// key).
absl::Status VerifyDeletionCertificate(const DeletionCertificate& certificate,
                                       std::string_view public_key);

// Returns the certificate as JSON (protobuf JSON mapping; bytes fields base64).
std::string DeletionCertificateToJson(const DeletionCertificate& certificate);

// Parses what DeletionCertificateToJson wrote. InvalidArgument if it is not
// such JSON. Parsing checks nothing: call VerifyDeletionCertificate.
absl::StatusOr<DeletionCertificate> DeletionCertificateFromJson(
    std::string_view json);

}  // namespace leyser

#endif  // LEYSER_STORE_TYPES_H_
