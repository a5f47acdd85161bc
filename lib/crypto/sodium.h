// libsodium wrappers: initialisation, authenticated encryption, nonces (from
// getrandom(2), see NonceSource). Only lib/crypto includes <sodium.h>.

#ifndef LEYSER_LIB_CRYPTO_SODIUM_H_
#define LEYSER_LIB_CRYPTO_SODIUM_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "leyser/secret.h"

namespace leyser::internal {

inline constexpr std::size_t kAeadKeyBytes = 32;
inline constexpr std::size_t kAeadNonceBytes = 24;
inline constexpr std::size_t kAeadTagBytes = 16;

// Initialises libsodium once per process and checks that getrandom(2), the
// source of nonces, works. Internal error if either fails.
absl::Status EnsureSodium();

// True once some secret memory of this process (SecretBytes) could not be
// locked into RAM, so it may be swapped to disk: the locked-memory limit
// (RLIMIT_MEMLOCK) was reached. Sticky for the life of the process.
bool SomeSecretMemoryUnlocked();

// Returns a new random 32-byte key in secure memory.
absl::StatusOr<SecretBytes> RandomKey();

// A copy of `secret` in new secure memory (empty for an empty one).
absl::StatusOr<SecretBytes> CopySecret(const SecretBytes& secret);

// Fills `out[0..size)` with random bytes from the operating system.
void RandomBytes(void* out, std::size_t size);

// Zeroes `secret`'s bytes in place (a write the compiler keeps); its size and
// buffer stay, so readers that still hold it see zeros, never freed memory.
void WipeInPlace(SecretBytes& secret);

// Makes XChaCha20-Poly1305 nonces: each one is 24 bytes drawn fresh from the
// kernel with getrandom(2), one system call per nonce. A random 192-bit nonce
// repeats under one key with probability below 2^-65 even after 2^64 seals.
//
// It deliberately keeps no state. Anything a generator keeps in process memory
// (a random prefix and a counter, a user-space CSPRNG's key, buffered random
// bytes) is copied by fork() and by a VM snapshot or clone, and every copy then
// replays the same nonces under the same keys, which for XChaCha20-Poly1305
// reveals the XOR of two plaintexts and allows forgeries. The kernel's random
// generator lives outside the process, and Linux (5.18 and later) reseeds it
// when the hypervisor changes the VM generation ID (vmgenid) on a snapshot
// restore or clone; a hypervisor without vmgenid leaves the kernel's state
// replayable too, which nothing inside the guest can fix. Copying a
// NonceSource copies nothing that matters; tests/crypto/sodium_test.cc
// restores a copied one and checks that no nonce repeats.
class NonceSource {
 public:
  // Writes a fresh kAeadNonceBytes-byte nonce to `nonce`. If getrandom(2)
  // fails, prints why and aborts the process rather than return a nonce that
  // could repeat (the callers, down to SealAppend, cannot report an error).
  // EnsureSodium has checked getrandom(2) works, so this means the kernel or
  // a seccomp filter took it away while the process ran.
  void Next(unsigned char* nonce) const;
};

// Writes a fresh nonce to `nonce` (NonceSource::Next).
void NextNonce(unsigned char* nonce);

// Appends nonce || XChaCha20-Poly1305(key, plaintext, ad) || tag to `out`
// (kAeadNonceBytes + plaintext.size() + kAeadTagBytes bytes). REQUIRES:
// key.size() == 32.
void SealAppend(const SecretBytes& key, std::string_view plaintext,
                std::string_view ad, std::string* out);

// Opens `sealed` (nonce || ciphertext || tag) into `*plaintext`. Returns false,
// leaving
// `*plaintext` empty, if `sealed` is too short or fails authentication under
// `key` and `ad`.
[[nodiscard]] bool Open(const SecretBytes& key, std::string_view sealed,
                        std::string_view ad, std::string* plaintext);

// Like Open, but writes the plaintext into secure memory (for wrapped keys).
absl::StatusOr<SecretBytes> OpenSecret(const SecretBytes& key,
                                       std::string_view sealed,
                                       std::string_view ad);

// Decodes `len` hexadecimal characters at `hex` into secure memory (len / 2
// bytes). InvalidArgument if `len` is odd or a character is not hexadecimal.
absl::StatusOr<SecretBytes> DecodeHexSecret(const unsigned char* hex,
                                            std::size_t len);

// Encodes `secret` as lowercase hexadecimal into secure memory (2 * size bytes,
// no terminator).
absl::StatusOr<SecretBytes> EncodeHexSecret(const SecretBytes& secret);

// Derives subkey `id` of `key` for `context` (exactly 8 characters), 32 bytes
// (BLAKE2b KDF).
absl::StatusOr<SecretBytes> DeriveKey(const SecretBytes& key, std::uint64_t id,
                                      std::string_view context);

inline constexpr std::size_t kSha256Bytes = 32;

// SHA-256 of the concatenation of `parts`, written to `out` (32 bytes).
void Sha256(std::initializer_list<std::string_view> parts, unsigned char* out);

// SHA-256 of the concatenation of `parts`, as 64 lowercase hex characters.
std::string Sha256Hex(std::initializer_list<std::string_view> parts);

// Keyed BLAKE2b of `data` under `key` (16..64 bytes), `out_size` (16..64)
// bytes written to `out`.
void KeyedHash(const SecretBytes& key, std::string_view data,
               unsigned char* out, std::size_t out_size);

inline constexpr std::size_t kSigningSeedBytes = 32;
inline constexpr std::size_t kSigningPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;

// Returns the Ed25519 public key of `seed` (32 bytes).
absl::StatusOr<std::string> SigningPublicKeyFromSeed(const SecretBytes& seed);

// Returns the Ed25519 signature (64 bytes) of `message` by the key with `seed`.
absl::StatusOr<std::string> SignDetached(const SecretBytes& seed,
                                         std::string_view message);

// Expands `seed` into the 64-byte Ed25519 secret key (secure memory), setting
// `*public_key`; for signers that sign often.
absl::StatusOr<SecretBytes> ExpandSigningKey(const SecretBytes& seed,
                                             std::string* public_key);

// The Ed25519 signature (64 bytes) of `message` by an expanded `secret_key`.
std::string SignWithSecretKey(const SecretBytes& secret_key,
                              std::string_view message);

// True if `signature` is a valid Ed25519 signature of `message` by
// `public_key`.
bool VerifyDetached(std::string_view public_key, std::string_view message,
                    std::string_view signature);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_CRYPTO_SODIUM_H_
