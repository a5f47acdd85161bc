#include "lib/crypto/xchacha.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/evp.h>
#include <sodium.h>

namespace leyser::internal {
namespace {

constexpr std::size_t kSubkeyBytes = 32;
constexpr std::size_t kTagBytes = 16;

// The ciphers, fetched once (an implicit fetch per call costs a lookup).
const EVP_CIPHER* Cipher(bool aead) {
  static const EVP_CIPHER* const kAead =
      EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  static const EVP_CIPHER* const kStream =
      EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  const EVP_CIPHER* cipher = aead ? kAead : kStream;
  if (cipher == nullptr) {
    std::fprintf(stderr, "leyser: OpenSSL has no %s cipher\n",
                 aead ? "ChaCha20-Poly1305" : "ChaCha20");
    std::abort();
  }
  return cipher;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "leyser: OpenSSL failed to %s (out of memory?)\n", what);
  std::abort();
}

bool UseSodium(XChaChaEngine engine, std::size_t len) {
  return engine == XChaChaEngine::kLibsodium ||
         (engine == XChaChaEngine::kAuto && len < kOpenSslFromBytes);
}

// HChaCha20(key, nonce[0..16)): the subkey, wiped when it goes.
class Subkey {
 public:
  Subkey(const unsigned char* key, const unsigned char* nonce) {
    crypto_core_hchacha20(bytes_, nonce, key, nullptr);
  }
  ~Subkey() { sodium_memzero(bytes_, sizeof(bytes_)); }
  Subkey(const Subkey&) = delete;
  Subkey& operator=(const Subkey&) = delete;
  const unsigned char* data() const { return bytes_; }

 private:
  unsigned char bytes_[kSubkeyBytes];
};

// An OpenSSL cipher context, freed (and its key cleansed) when it goes.
class Context {
 public:
  Context() : ctx_(EVP_CIPHER_CTX_new()) {
    if (ctx_ == nullptr) Fail("allocate a cipher context");
  }
  ~Context() { EVP_CIPHER_CTX_free(ctx_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  EVP_CIPHER_CTX* get() const { return ctx_; }

 private:
  EVP_CIPHER_CTX* const ctx_;
};

// Feeds `len` bytes through EVP_CipherUpdate in int-sized pieces.
bool Update(EVP_CIPHER_CTX* ctx, const unsigned char* in, std::size_t len,
            unsigned char* out) {
  while (len > 0) {
    const int piece = static_cast<int>(len > INT_MAX / 2 ? INT_MAX / 2 : len);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, in, piece) != 1) return false;
    in += piece;
    out += piece;
    len -= static_cast<std::size_t>(piece);
  }
  return true;
}

// Keys `ctx` for ChaCha20-Poly1305 under the HChaCha20 subkey of (key,
// nonce[0..16)) with the RFC 8439 nonce 4 zero bytes || nonce[16..24), to
// seal (`encrypt`) or open, and feeds it the associated data. The subkey is
// wiped when this returns; the context keeps its own copy.
bool StartAead(EVP_CIPHER_CTX* ctx, const unsigned char* key,
               const unsigned char* nonce, const unsigned char* ad,
               std::size_t ad_len, bool encrypt) {
  const Subkey subkey(key, nonce);
  unsigned char iv[12] = {0};
  std::memcpy(iv + 4, nonce + 16, 8);
  return EVP_CipherInit_ex2(ctx, Cipher(true), subkey.data(), iv,
                            encrypt ? 1 : 0, nullptr) == 1 &&
         (ad_len == 0 || Update(ctx, ad, ad_len, nullptr));
}

}  // namespace

void XChaChaPolySeal(const unsigned char* key, const unsigned char* nonce,
                     const unsigned char* in, std::size_t len,
                     const unsigned char* ad, std::size_t ad_len,
                     unsigned char* out, XChaChaEngine engine) {
  if (UseSodium(engine, len)) {
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
        out, out + len, &written, in, len, ad, ad_len, nullptr, nonce, key);
    return;
  }
  Context ctx;
  int written = 0;
  if (!StartAead(ctx.get(), key, nonce, ad, ad_len, /*encrypt=*/true) ||
      !Update(ctx.get(), in, len, out) ||
      EVP_EncryptFinal_ex(ctx.get(), out + len, &written) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG,
                          static_cast<int>(kTagBytes), out + len) != 1) {
    Fail("seal");
  }
}

bool XChaChaPolyOpen(const unsigned char* key, const unsigned char* nonce,
                     const unsigned char* in, std::size_t len,
                     const unsigned char* ad, std::size_t ad_len,
                     unsigned char* out, XChaChaEngine engine) {
  if (len < kTagBytes) return false;
  const std::size_t plain_len = len - kTagBytes;
  if (UseSodium(engine, plain_len)) {
    return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
               out, nullptr, in, plain_len, in + plain_len, ad, ad_len, nonce,
               key) == 0;
  }
  // The tag, copied first: `in` may be `out`, and the decryption overwrites
  // the ciphertext before the tag is checked.
  unsigned char tag[kTagBytes];
  std::memcpy(tag, in + plain_len, kTagBytes);
  Context ctx;
  int written = 0;
  if (!StartAead(ctx.get(), key, nonce, ad, ad_len, /*encrypt=*/false) ||
      !Update(ctx.get(), in, plain_len, out) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG,
                          static_cast<int>(kTagBytes), tag) != 1) {
    Fail("open");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out + plain_len, &written) != 1) {
    sodium_memzero(out, plain_len);  // Unauthenticated: never handed out.
    return false;
  }
  return true;
}

void XChaChaXor(const unsigned char* key, const unsigned char* nonce,
                std::uint64_t block, unsigned char* data, std::size_t len,
                XChaChaEngine engine) {
  if (len == 0) return;
  if (UseSodium(engine, len)) {
    crypto_stream_xchacha20_xor_ic(data, data, len, nonce, block, key);
    return;
  }
  const Subkey subkey(key, nonce);
  // OpenSSL's ChaCha20 IV: the 64-bit block counter (little-endian; it
  // carries from the low word into the high one, as the original ChaCha20
  // that libsodium's XChaCha20 stream uses), then nonce[16..24).
  unsigned char iv[16];
  for (int i = 0; i < 8; ++i) {
    iv[i] = static_cast<unsigned char>(block >> (8 * i));
  }
  std::memcpy(iv + 8, nonce + 16, 8);
  Context ctx;
  if (EVP_EncryptInit_ex2(ctx.get(), Cipher(false), subkey.data(), iv,
                          nullptr) != 1 ||
      !Update(ctx.get(), data, len, data)) {
    Fail("encrypt a file block");
  }
}

}  // namespace leyser::internal
