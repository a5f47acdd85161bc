#include "lib/crypto/sodium.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include <sodium.h>
#include <sys/random.h>

#include "lib/crypto/xchacha.h"

namespace leyser::internal {
namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kAeadNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);

// Fills `buf[0..size)` from the kernel's random generator with getrandom(2),
// retrying interrupted and short reads. Flags 0: it blocks only until the
// generator is first seeded at boot. Returns 0, or the errno of a failure
// that retrying cannot fix (ENOSYS, or EPERM from a seccomp filter).
//
// Not randombytes_buf: libsodium 1.0.18's default ("sysrandom") is one
// getrandom call per buffer too, but randombytes_set_implementation can swap
// in a user-space generator for the whole process, whose state a snapshot
// would copy.
int KernelRandom(unsigned char* buf, std::size_t size) {
  while (size > 0) {
    const ssize_t n = getrandom(buf, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    buf += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

absl::Status EnsureSodium() {
  static const absl::Status* const status = [] {
    if (sodium_init() < 0) {
      return new absl::Status(
          absl::InternalError("libsodium could not be initialised"));
    }
    // Nonces come from getrandom(2), and a failure there aborts the process:
    // refuse here, where an error can be returned, if it does not work.
    unsigned char probe[kAeadNonceBytes];
    if (const int err = KernelRandom(probe, sizeof(probe)); err != 0) {
      return new absl::Status(absl::InternalError(
          absl::StrCat("getrandom(2) failed (", std::strerror(err),
                       "); it is needed for nonces")));
    }
    return new absl::Status();
  }();
  return *status;
}

void RandomBytes(void* out, std::size_t size) { randombytes_buf(out, size); }

void WipeInPlace(SecretBytes& secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
}

absl::StatusOr<SecretBytes> CopySecret(const SecretBytes& secret) {
  if (secret.empty()) return SecretBytes();
  absl::StatusOr<SecretBytes> copy = SecretBytes::Allocate(secret.size());
  if (copy.ok()) std::memcpy(copy->data(), secret.data(), secret.size());
  return copy;
}

absl::StatusOr<SecretBytes> RandomKey() {
  absl::StatusOr<SecretBytes> key = SecretBytes::Allocate(kAeadKeyBytes);
  if (key.ok()) {
    randombytes_buf(key->data(), key->size());
  }
  return key;
}

void NonceSource::Next(unsigned char* nonce) const {
  if (const int err = KernelRandom(nonce, kAeadNonceBytes); err != 0) {
    std::fprintf(stderr,
                 "leyser: getrandom(2) failed (%s); aborting rather than "
                 "sealing with a nonce that could repeat\n",
                 std::strerror(err));
    std::abort();
  }
}

void NextNonce(unsigned char* nonce) { NonceSource().Next(nonce); }

void SealAppend(const SecretBytes& key, std::string_view plaintext,
                std::string_view ad, std::string* out) {
  const std::size_t start = out->size();
  out->resize(start + kAeadNonceBytes + plaintext.size() + kAeadTagBytes);
  auto* nonce = reinterpret_cast<unsigned char*>(out->data() + start);
  NextNonce(nonce);
  XChaChaPolySeal(key.data(), nonce, Bytes(plaintext), plaintext.size(),
                  Bytes(ad), ad.size(), nonce + kAeadNonceBytes);
}

bool Open(const SecretBytes& key, std::string_view sealed, std::string_view ad,
          std::string* plaintext) {
  plaintext->clear();
  if (key.size() != kAeadKeyBytes ||
      sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return false;
  }
  const auto* nonce = Bytes(sealed);
  const std::size_t cipher_len = sealed.size() - kAeadNonceBytes;
  plaintext->resize(cipher_len - kAeadTagBytes);
  if (!XChaChaPolyOpen(key.data(), nonce, nonce + kAeadNonceBytes, cipher_len,
                       Bytes(ad), ad.size(),
                       reinterpret_cast<unsigned char*>(plaintext->data()))) {
    plaintext->clear();
    return false;
  }
  return true;
}

absl::StatusOr<SecretBytes> OpenSecret(const SecretBytes& key,
                                       std::string_view sealed,
                                       std::string_view ad) {
  if (key.size() != kAeadKeyBytes ||
      sealed.size() <= kAeadNonceBytes + kAeadTagBytes) {
    return absl::DataLossError("sealed key failed authentication");
  }
  const std::size_t cipher_len = sealed.size() - kAeadNonceBytes;
  absl::StatusOr<SecretBytes> out =
      SecretBytes::Allocate(cipher_len - kAeadTagBytes);
  if (!out.ok()) {
    return out.status();
  }
  const auto* nonce = Bytes(sealed);
  if (!XChaChaPolyOpen(key.data(), nonce, nonce + kAeadNonceBytes, cipher_len,
                       Bytes(ad), ad.size(), out->data())) {
    return absl::DataLossError("sealed key failed authentication");
  }
  return out;
}

absl::StatusOr<SecretBytes> DecodeHexSecret(const unsigned char* hex,
                                            std::size_t len) {
  if (len == 0 || len % 2 != 0) {
    return absl::InvalidArgumentError(
        "hexadecimal key must have an even, non-zero length");
  }
  absl::StatusOr<SecretBytes> out = SecretBytes::Allocate(len / 2);
  if (!out.ok()) {
    return out.status();
  }
  std::size_t decoded = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out->data(), out->size(),
                     reinterpret_cast<const char*>(hex), len, nullptr, &decoded,
                     &end) != 0 ||
      decoded != out->size()) {
    return absl::InvalidArgumentError("key is not valid hexadecimal");
  }
  return out;
}

absl::StatusOr<SecretBytes> EncodeHexSecret(const SecretBytes& secret) {
  // sodium_bin2hex writes a terminating NUL, so encode into a buffer one byte
  // longer.
  absl::StatusOr<SecretBytes> buffer =
      SecretBytes::Allocate(2 * secret.size() + 1);
  if (!buffer.ok()) {
    return buffer.status();
  }
  sodium_bin2hex(reinterpret_cast<char*>(buffer->data()), buffer->size(),
                 secret.data(), secret.size());
  absl::StatusOr<SecretBytes> out = SecretBytes::Allocate(2 * secret.size());
  if (!out.ok()) {
    return out.status();
  }
  std::memcpy(out->data(), buffer->data(), out->size());
  return out;
}

void Sha256(std::initializer_list<std::string_view> parts, unsigned char* out) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  for (std::string_view part : parts) {
    crypto_hash_sha256_update(&state, Bytes(part), part.size());
  }
  crypto_hash_sha256_final(&state, out);
}

std::string Sha256Hex(std::initializer_list<std::string_view> parts) {
  unsigned char digest[kSha256Bytes];
  Sha256(parts, digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * kSha256Bytes);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

void KeyedHash(const SecretBytes& key, std::string_view data,
               unsigned char* out, std::size_t out_size) {
  crypto_generichash(out, out_size, Bytes(data), data.size(), key.data(),
                     key.size());
}

absl::StatusOr<SecretBytes> DeriveKey(const SecretBytes& key, std::uint64_t id,
                                      std::string_view context) {
  static_assert(crypto_kdf_KEYBYTES == 32 && crypto_kdf_CONTEXTBYTES == 8);
  if (key.size() != crypto_kdf_KEYBYTES ||
      context.size() != crypto_kdf_CONTEXTBYTES) {
    return absl::InternalError(
        "key derivation needs a 32-byte key and an 8-byte context");
  }
  absl::StatusOr<SecretBytes> out = SecretBytes::Allocate(32);
  if (!out.ok()) {
    return out.status();
  }
  char ctx[crypto_kdf_CONTEXTBYTES];
  std::memcpy(ctx, context.data(), sizeof(ctx));
  crypto_kdf_derive_from_key(out->data(), out->size(), id, ctx, key.data());
  return out;
}

namespace {

// Expands `seed` into an Ed25519 secret key in secure memory, with its public
// key.
absl::StatusOr<SecretBytes> SigningKeyPair(const SecretBytes& seed,
                                           unsigned char* public_key) {
  static_assert(crypto_sign_SEEDBYTES == kSigningSeedBytes);
  static_assert(crypto_sign_PUBLICKEYBYTES == kSigningPublicKeyBytes);
  static_assert(crypto_sign_BYTES == kSignatureBytes);
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(
        "the signing key must be a 32-byte Ed25519 seed");
  }
  absl::StatusOr<SecretBytes> secret =
      SecretBytes::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!secret.ok()) {
    return secret.status();
  }
  crypto_sign_seed_keypair(public_key, secret->data(), seed.data());
  return secret;
}

}  // namespace

absl::StatusOr<std::string> SigningPublicKeyFromSeed(const SecretBytes& seed) {
  std::string public_key(kSigningPublicKeyBytes, '\0');
  absl::StatusOr<SecretBytes> secret =
      SigningKeyPair(seed, reinterpret_cast<unsigned char*>(public_key.data()));
  if (!secret.ok()) {
    return secret.status();
  }
  return public_key;
}

absl::StatusOr<std::string> SignDetached(const SecretBytes& seed,
                                         std::string_view message) {
  unsigned char public_key[kSigningPublicKeyBytes];
  absl::StatusOr<SecretBytes> secret = SigningKeyPair(seed, public_key);
  if (!secret.ok()) {
    return secret.status();
  }
  std::string signature(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()),
                       nullptr, Bytes(message), message.size(), secret->data());
  return signature;
}

absl::StatusOr<SecretBytes> ExpandSigningKey(const SecretBytes& seed,
                                             std::string* public_key) {
  public_key->assign(kSigningPublicKeyBytes, '\0');
  return SigningKeyPair(seed,
                        reinterpret_cast<unsigned char*>(public_key->data()));
}

std::string SignWithSecretKey(const SecretBytes& secret_key,
                              std::string_view message) {
  std::string signature(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()),
                       nullptr, Bytes(message), message.size(),
                       secret_key.data());
  return signature;
}

bool VerifyDetached(std::string_view public_key, std::string_view message,
                    std::string_view signature) {
  if (public_key.size() != kSigningPublicKeyBytes ||
      signature.size() != kSignatureBytes) {
    return false;
  }
  return crypto_sign_verify_detached(Bytes(signature), Bytes(message),
                                     message.size(), Bytes(public_key)) == 0;
}

}  // namespace leyser::internal
