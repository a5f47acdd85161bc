// XChaCha20-Poly1305 (IETF) and the XChaCha20 stream, the constructions of
// draft-irtf-cfrg-xchacha: libsodium's HChaCha20 derives a subkey from the key
// and the first 16 nonce bytes, then OpenSSL 3's ChaCha20-Poly1305 (RFC 8439)
// or ChaCha20 runs under it with the last 8 nonce bytes. The output is byte
// for byte what libsodium's crypto_aead_xchacha20poly1305_ietf_* and
// crypto_stream_xchacha20_xor_ic produce (tests/crypto/xchacha_test.cc checks
// both against libsodium and the draft's test vectors), so stores written
// before read the same; OpenSSL's vectorised ChaCha20 and Poly1305 make it
// about three times faster on large messages. Short messages go to libsodium,
// which costs less per call.
//
// Key handling: the subkey lives on the stack and in OpenSSL's cipher context
// for one call; both are cleansed before it returns (EVP_CIPHER_CTX_free).
// Thread safety: every function is thread-safe. Only lib/crypto includes
// OpenSSL headers.

#ifndef LEYSER_LIB_CRYPTO_XCHACHA_H_
#define LEYSER_LIB_CRYPTO_XCHACHA_H_

#include <cstddef>
#include <cstdint>

namespace leyser::internal {

// Below this many bytes libsodium seals, opens and XORs (its per-call cost is
// lower); from it on OpenSSL.
inline constexpr std::size_t kOpenSslFromBytes = 512;

// Which implementation runs: by size (kAuto), or one of them (for tests that
// check each against the other and against published vectors).
enum class XChaChaEngine { kAuto, kLibsodium, kOpenSsl };

// Writes XChaCha20-Poly1305(key, nonce, in[0..len), ad) to out[0..len) and the
// 16-byte tag to out[len..len+16). `in` may equal `out`. REQUIRES: key 32
// bytes, nonce 24 bytes. Aborts if OpenSSL fails (it only can when out of
// memory), as a seal cannot report an error.
void XChaChaPolySeal(const unsigned char* key, const unsigned char* nonce,
                     const unsigned char* in, std::size_t len,
                     const unsigned char* ad, std::size_t ad_len,
                     unsigned char* out,
                     XChaChaEngine engine = XChaChaEngine::kAuto);

// Opens `in[0..len)` (ciphertext || 16-byte tag) into out[0..len-16). False if
// it fails authentication (out then holds no plaintext: zeroed) or is shorter
// than the tag. `in` may equal `out`.
[[nodiscard]] bool XChaChaPolyOpen(const unsigned char* key,
                                   const unsigned char* nonce,
                                   const unsigned char* in, std::size_t len,
                                   const unsigned char* ad, std::size_t ad_len,
                                   unsigned char* out,
                                   XChaChaEngine engine = XChaChaEngine::kAuto);

// XORs data[0..len) with the XChaCha20 keystream of (key, nonce) from 64-byte
// block `block` on (libsodium's crypto_stream_xchacha20_xor_ic).
void XChaChaXor(const unsigned char* key, const unsigned char* nonce,
                std::uint64_t block, unsigned char* data, std::size_t len,
                XChaChaEngine engine = XChaChaEngine::kAuto);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_CRYPTO_XCHACHA_H_
