// The value envelope: how a tenant value is sealed before it reaches RocksDB.
//
//   byte 0      format version (1)
//   bytes 1..4  tenant key version, big-endian
//   bytes 5..28 XChaCha20-Poly1305 nonce (24 bytes, fresh from getrandom(2)
//               per seal; see NonceSource in lib/crypto/sodium.h)
//   then        ciphertext (value length) and 16-byte tag
//
// Associated data: a record-kind byte (1 = tenant value), the 5 header bytes
// and the full RocksDB key (tenant prefix || user key). A value moved to
// another key or tenant, or sealed under another key version, fails to open.

#ifndef LEYSER_LIB_STORE_ENVELOPE_H_
#define LEYSER_LIB_STORE_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "leyser/secret.h"

namespace leyser::internal {

inline constexpr std::uint8_t kEnvelopeVersion = 1;
inline constexpr std::size_t kEnvelopeHeaderBytes = 5;
// Total bytes an envelope adds to a value.
inline constexpr std::size_t kEnvelopeOverheadBytes =
    kEnvelopeHeaderBytes + 24 + 16;

// Replaces `*out` with the envelope of `value` stored under `full_key`.
void SealValue(const SecretBytes& key, std::uint32_t key_version,
               std::string_view full_key, std::string_view value,
               std::string* out);

// Opens the envelope `sealed` stored under `full_key` into `*value`. Returns
// false (and clears
// `*value`) if the envelope is malformed, has another version or key version,
// or fails authentication.
[[nodiscard]] bool OpenValue(const SecretBytes& key, std::uint32_t key_version,
                             std::string_view full_key, std::string_view sealed,
                             std::string* value);

// The tenant key version an envelope names; nullopt if `sealed` is not an
// envelope of this format.
std::optional<std::uint32_t> EnvelopeKeyVersion(std::string_view sealed);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_STORE_ENVELOPE_H_
