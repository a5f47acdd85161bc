// lib/crypto/xchacha.h: the OpenSSL-backed XChaCha20-Poly1305 and XChaCha20
// stream against the draft's published vector and against libsodium, byte
// for byte, at every size around the switch-over, in place and out of place,
// with the block counter crossing 2^32; and as an attacker: every flipped
// byte of a sealed value, a wrong key, nonce or associated data, a truncated
// tag all fail to open and hand out no plaintext.
//
// The AEAD vector is from draft-irtf-cfrg-xchacha-03, appendix A.3.1
// (https://datatracker.ietf.org/doc/html/draft-irtf-cfrg-xchacha-03),
// published by the IETF Trust under the Revised BSD License (see the draft's
// copyright notice); it is data, used unchanged.

#include "lib/crypto/xchacha.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include <sodium.h>

#include "lib/crypto/sodium.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using Bytes = std::vector<unsigned char>;

Bytes Hex(const std::string& hex) {
  const std::string raw = absl::HexStringToBytes(hex);
  return Bytes(raw.begin(), raw.end());
}

constexpr XChaChaEngine kEngines[] = {
    XChaChaEngine::kAuto, XChaChaEngine::kLibsodium, XChaChaEngine::kOpenSsl};

TEST(XChaChaTest, DraftVectorA31SealsAndOpensWithEachEngine) {
  ASSERT_TRUE(EnsureSodium().ok());
  const Bytes key =
      Hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const Bytes nonce = Hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const Bytes ad = Hex("50515253c0c1c2c3c4c5c6c7");
  const std::string text =
      "Ladies and Gentlemen of the class of '99: If I could offer you only "
      "one tip for the future, sunscreen would be it.";
  const Bytes plain(text.begin(), text.end());
  const Bytes expected =
      Hex("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
          "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
          "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
          "21f9664c97637da9768812f615c68b13b52e"
          "c0875924c1c7987947deafd8780acf49");
  for (XChaChaEngine engine : kEngines) {
    SCOPED_TRACE(static_cast<int>(engine));
    Bytes sealed(plain.size() + 16);
    XChaChaPolySeal(key.data(), nonce.data(), plain.data(), plain.size(),
                    ad.data(), ad.size(), sealed.data(), engine);
    EXPECT_EQ(sealed, expected);
    Bytes opened(plain.size());
    ASSERT_TRUE(XChaChaPolyOpen(key.data(), nonce.data(), expected.data(),
                                expected.size(), ad.data(), ad.size(),
                                opened.data(), engine));
    EXPECT_EQ(opened, plain);
  }
}

TEST(XChaChaTest, OpenSslAndLibsodiumAgreeAtEverySize) {
  ASSERT_TRUE(EnsureSodium().ok());
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  auto random = [&](std::size_t n) {
    Bytes b(n);
    for (auto& c : b) c = static_cast<unsigned char>(rng());
    return b;
  };
  std::vector<std::size_t> sizes = {0,    1,    15,   16,    63,
                                    64,   65,   511,  512,   513,
                                    1024, 4095, 4096, 16384, 65536 + 7};
  for (std::size_t n : sizes) {
    SCOPED_TRACE(n);
    const Bytes key = random(32), nonce = random(24), plain = random(n);
    const Bytes ad = random(n % 40);
    Bytes a(n + 16), b(n + 16);
    XChaChaPolySeal(key.data(), nonce.data(), plain.data(), n, ad.data(),
                    ad.size(), a.data(), XChaChaEngine::kLibsodium);
    XChaChaPolySeal(key.data(), nonce.data(), plain.data(), n, ad.data(),
                    ad.size(), b.data(), XChaChaEngine::kOpenSsl);
    EXPECT_EQ(a, b);
    // In place, opened by the other engine.
    Bytes in_place = plain;
    in_place.resize(n + 16);
    XChaChaPolySeal(key.data(), nonce.data(), in_place.data(), n, ad.data(),
                    ad.size(), in_place.data(), XChaChaEngine::kOpenSsl);
    EXPECT_EQ(in_place, a);
    ASSERT_TRUE(XChaChaPolyOpen(key.data(), nonce.data(), in_place.data(),
                                in_place.size(), ad.data(), ad.size(),
                                in_place.data(), XChaChaEngine::kOpenSsl));
    EXPECT_EQ(Bytes(in_place.begin(), in_place.begin() + n), plain);
    // The stream, from blocks around the 32-bit counter's end.
    if (n == 0) continue;  // (libsodium takes no null buffer.)
    for (std::uint64_t block :
         {std::uint64_t{0}, std::uint64_t{3}, std::uint64_t{0xFFFFFFFE},
          std::uint64_t{0x1FFFFFFFF}}) {
      Bytes x = plain, y = plain;
      crypto_stream_xchacha20_xor_ic(x.data(), x.data(), n, nonce.data(), block,
                                     key.data());
      XChaChaXor(key.data(), nonce.data(), block, y.data(), n,
                 XChaChaEngine::kOpenSsl);
      EXPECT_EQ(x, y) << "block " << block;
    }
  }
}

TEST(XChaChaTest, AnyChangeFailsToOpenAndHandsOutNothing) {
  ASSERT_TRUE(EnsureSodium().ok());
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  for (std::size_t n : {std::size_t{100}, std::size_t{2048}}) {
    for (XChaChaEngine engine : kEngines) {
      SCOPED_TRACE(testing::Message() << n << " " << static_cast<int>(engine));
      Bytes key(32), nonce(24), plain(n, 'p'), ad = {'a', 'd'};
      for (auto& c : key) c = static_cast<unsigned char>(rng());
      for (auto& c : nonce) c = static_cast<unsigned char>(rng());
      Bytes sealed(n + 16);
      XChaChaPolySeal(key.data(), nonce.data(), plain.data(), n, ad.data(),
                      ad.size(), sealed.data(), engine);
      auto opens = [&](const Bytes& k, const Bytes& iv, const Bytes& s,
                       const Bytes& a) {
        Bytes out(s.size() >= 16 ? s.size() - 16 : 0, 0xEE);
        const bool ok = XChaChaPolyOpen(k.data(), iv.data(), s.data(), s.size(),
                                        a.data(), a.size(), out.data(), engine);
        if (!ok) {
          for (unsigned char c : out) EXPECT_NE(c, 'p');
        }
        return ok;
      };
      ASSERT_TRUE(opens(key, nonce, sealed, ad));
      for (std::size_t i = 0; i < sealed.size(); i += 7) {
        Bytes bad = sealed;
        bad[i] ^= 0x01;
        EXPECT_FALSE(opens(key, nonce, bad, ad)) << "byte " << i;
      }
      Bytes other_key = key;
      other_key[0] ^= 1;
      EXPECT_FALSE(opens(other_key, nonce, sealed, ad));
      Bytes other_nonce = nonce;
      other_nonce[23] ^= 1;
      EXPECT_FALSE(opens(key, other_nonce, sealed, ad));
      EXPECT_FALSE(opens(key, nonce, sealed, Bytes{'a', 'e'}));
      EXPECT_FALSE(
          opens(key, nonce, Bytes(sealed.begin(), sealed.end() - 1), ad));
      EXPECT_FALSE(
          opens(key, nonce, Bytes(sealed.begin(), sealed.begin() + 15), ad));
    }
  }
}

}  // namespace
}  // namespace leyser::internal
