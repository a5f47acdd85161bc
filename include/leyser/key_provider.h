// leyser/key_provider.h: where a store gets its master key.
//
// The master key (32 bytes) wraps every other key leyser keeps: the tenant data
// keys, the node file keys and the seed of the store's signing key. leyser
// never writes it anywhere; it asks a `KeyProvider` for it when a store is
// opened. Hosts connect a KMS or HSM by implementing `KeyProvider`; leyser
// ships a provider that reads a key file.
//
// Thread safety: implementations must be thread-safe.
// Ownership: providers are shared through `std::shared_ptr`.

#ifndef LEYSER_KEY_PROVIDER_H_
#define LEYSER_KEY_PROVIDER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "leyser/secret.h"

namespace leyser {

// Size of a master key in bytes.
inline constexpr std::size_t kMasterKeyBytes = 32;

// Supplies the master key. Implementations must be thread-safe.
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;

  // Returns the 32-byte master key in secure memory (allocate it with
  // `SecretBytes::Allocate` and write the key straight into it, so no copy
  // lands in ordinary memory). Errors are passed to the caller of `Store::Open`
  // unchanged; a provider should use NotFound (no key), InvalidArgument
  // (malformed key), FailedPrecondition (unsafe key storage) or Unavailable
  // (key service unreachable).
  virtual absl::StatusOr<SecretBytes> GetMasterKey() const = 0;

  // Returns the 32-byte Ed25519 seed of the key that signs the store's audit
  // checkpoints and deletion certificates, for a host that keeps it itself
  // (for example in an HSM-backed service); it must not be any key that
  // encrypts data. The default returns Unimplemented: the store keeps signing
  // keys of its own (random, in its key store, replaced by
  // Store::RotateSigningKey and at every master-key rotation, each with its
  // validity window: Store::ListSigningKeys). A store opened with a provider
  // that returns another key than before records the change as a rotation
  // (not cross-signed: the store never held the earlier seed).
  virtual absl::StatusOr<SecretBytes> GetSigningKey() const;
};

// Returns a provider that reads the master key from the file at `path` each
// time it is asked. The file holds either 64 hexadecimal characters
// (surrounding ASCII whitespace is ignored) or exactly 32 raw binary bytes; 32
// bytes that are all printable text (31 hex digits and a newline, 32 spaces)
// are malformed, not a key, and so is a key of 32 equal bytes (all zero). It
// must be a regular file that neither group nor others can access (mode 0600
// or stricter); a FIFO or device is refused at once, never waited on. Errors
// (now, and from `GetMasterKey` later): InvalidArgument for an empty path or
// malformed content; NotFound if the file does not exist; FailedPrecondition
// if group or others can access it or it is not a regular file; Unavailable
// if it cannot be read.
absl::StatusOr<std::shared_ptr<KeyProvider>> NewFileKeyProvider(
    const std::string& path);

// Creates a new key file at `path` holding 32 random bytes as 64 hexadecimal
// characters and a newline, with mode 0600. The file is written completely and
// synced before this returns. Errors: AlreadyExists if `path` exists (an
// existing key is never overwritten); InvalidArgument for an empty path;
// Unavailable if the file cannot be written.
absl::Status CreateKeyFile(const std::string& path);

}  // namespace leyser

#endif  // LEYSER_KEY_PROVIDER_H_
