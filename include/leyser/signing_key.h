// leyser/signing_key.h: a public key that signs a store's audit checkpoints
// and deletion certificates, with the time it was valid.
//
// Thread safety: a plain value type.

#ifndef LEYSER_SIGNING_KEY_H_
#define LEYSER_SIGNING_KEY_H_

#include <string>

#include "absl/time/time.h"

namespace leyser {

// An Ed25519 public key and its validity window. A store's signing key is
// valid from the moment it was made current until the rotation that retired
// it (both inclusive: the rotation's checkpoint carries both signatures). A
// verifier given windows accepts a key's signature only on a checkpoint or
// certificate dated inside its window, so a retired key that leaks cannot
// sign anything that claims to be newer. Store::ListSigningKeys lists them
// (`leyserctl public-keys`). Copyable.
struct SigningKeyInfo {
  std::string public_key;  // 32 bytes.
  absl::Time valid_from = absl::InfinitePast();
  // InfiniteFuture for the current key.
  absl::Time valid_until = absl::InfiniteFuture();

  bool ValidAt(absl::Time t) const {
    return valid_from <= t && t <= valid_until;
  }
};

}  // namespace leyser

#endif  // LEYSER_SIGNING_KEY_H_
