// Signed checkpoints of audit logs: C2SP tlog-checkpoint notes with Ed25519
// signatures (C2SP signed-note), and the store's signer.
//
// A note is
//   <origin>\n<size>\n<base64 root>\ntime <RFC 3339 UTC>\n\n
//   — <origin> <base64(key ID || signature)>\n   (one line per signer)
// where the signature covers everything before the blank line (newline
// included), the key name is the origin (as c2sp.org/tlog-checkpoint
// recommends) and the key ID is the first 4 bytes of
// SHA-256(origin || "\n" || 0x01 || public key). Earlier notes
// used the key name "leyser-audit" for every log; they still verify.

#ifndef LEYSER_LIB_AUDIT_CHECKPOINT_H_
#define LEYSER_LIB_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "leyser/audit.h"
#include "leyser/secret.h"
#include "leyser/signing_key.h"

#include "lib/audit/merkle.h"

namespace leyser::internal {

// The one key name of earlier notes (every log signed under it).
inline constexpr std::string_view kLegacyCheckpointKeyName = "leyser-audit";

// An Ed25519 signing key (seed in secure memory) and its public key.
class CheckpointSigner {
 public:
  static absl::StatusOr<std::shared_ptr<const CheckpointSigner>> Create(
      SecretBytes seed);
  const std::string& public_key() const { return public_key_; }
  // The signature line for `body`.
  absl::StatusOr<std::string> SignatureLine(std::string_view body) const;

 private:
  CheckpointSigner() = default;
  SecretBytes secret_key_;  // Expanded Ed25519 key, secure memory.
  std::string public_key_;
};

// The signed part of a note.
std::string CheckpointBody(std::string_view origin, std::uint64_t size,
                           const merkle::Hash& root, absl::Time time);

// A note over `body` signed by every signer of `signers` (at least one).
absl::StatusOr<std::string> SignCheckpoint(
    std::string_view body,
    const std::vector<std::shared_ptr<const CheckpointSigner>>& signers);

// True if a signature line of `note` by a key of `public_keys` (key name the
// note's origin, or the legacy name) verifies and none by such a key fails
// (C2SP signed-note: a note with a failing signature of a known key is
// rejected). Lines of other keys are ignored.
bool CheckpointSignedByAny(std::string_view note,
                           const std::vector<std::string>& public_keys);
// The same with keys that count only on notes whose time lies inside their
// validity windows (a valid signature outside it is not a failing one: it
// just does not count).
bool CheckpointSignedByAny(std::string_view note,
                           const std::vector<SigningKeyInfo>& keys);
// `public_keys` as keys without a window.
std::vector<SigningKeyInfo> UnboundedKeys(
    const std::vector<std::string>& public_keys);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_AUDIT_CHECKPOINT_H_
