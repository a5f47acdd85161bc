#include "lib/crypto/sodium.h"

#include <string>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

#include "leyser/secret.h"

#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

SecretBytes Key() {
  absl::StatusOr<SecretBytes> key = RandomKey();
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

TEST(SecretBytesTest, AllocatesZeroedAndMoves) {
  absl::StatusOr<SecretBytes> a = SecretBytes::Allocate(32);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->size(), 32u);
  for (std::size_t i = 0; i < a->size(); ++i) EXPECT_EQ(a->data()[i], 0);
  a->data()[0] = 7;
  SecretBytes b = std::move(a).value();
  EXPECT_EQ(b.size(), 32u);
  EXPECT_EQ(b.data()[0], 7);
  SecretBytes c;
  EXPECT_TRUE(c.empty());
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): moved-from is
                           // specified empty.
  EXPECT_EQ(c.data()[0], 7);
}

TEST(SecretBytesTest, RejectsZeroSize) {
  EXPECT_THAT(SecretBytes::Allocate(0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SecretBytesTest, EqualsComparesContent) {
  SecretBytes a = Key();
  SecretBytes b = Key();
  EXPECT_TRUE(a.Equals(a));
  EXPECT_FALSE(a.Equals(b));
  absl::StatusOr<SecretBytes> short_key = SecretBytes::Allocate(16);
  ASSERT_THAT(short_key, IsOk());
  EXPECT_FALSE(a.Equals(*short_key));
}

TEST(AeadTest, RoundTripsAndBindsAssociatedData) {
  SecretBytes key = Key();
  for (std::size_t len : {0, 1, 63, 64, 65, 1000, 100000}) {
    std::string plain(len, 'x');
    for (std::size_t i = 0; i < len; ++i) plain[i] = static_cast<char>(i * 31);
    std::string sealed;
    SealAppend(key, plain, "ad", &sealed);
    ASSERT_EQ(sealed.size(), kAeadNonceBytes + len + kAeadTagBytes);
    std::string out;
    ASSERT_TRUE(Open(key, sealed, "ad", &out));
    EXPECT_EQ(out, plain);
    EXPECT_FALSE(Open(key, sealed, "ae", &out));
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(Open(Key(), sealed, "ad", &out));
  }
}

TEST(AeadTest, EveryFlippedBitAndEveryTruncationFails) {
  SecretBytes key = Key();
  std::string sealed;
  SealAppend(key, "tenant value", "ad", &sealed);
  std::string out;
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(Open(key, bad, "ad", &out))
          << "byte " << i << " bit " << bit;
    }
  }
  for (std::size_t len = 0; len < sealed.size(); ++len) {
    EXPECT_FALSE(Open(key, sealed.substr(0, len), "ad", &out))
        << "length " << len;
  }
  EXPECT_FALSE(Open(key, sealed + '\0', "ad", &out));
}

TEST(AeadTest, OpenSecretUnwrapsIntoSecureMemory) {
  SecretBytes key = Key();
  SecretBytes inner = Key();
  std::string sealed;
  SealAppend(key,
             std::string_view(reinterpret_cast<const char*>(inner.data()),
                              inner.size()),
             "w", &sealed);
  absl::StatusOr<SecretBytes> out = OpenSecret(key, sealed, "w");
  ASSERT_THAT(out, IsOk());
  EXPECT_TRUE(out->Equals(inner));
  EXPECT_THAT(OpenSecret(key, sealed, "v"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(OpenSecret(Key(), sealed, "w"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(OpenSecret(key, "short", "w"),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(NonceTest, TwoToTheTwentyNoncesAreDistinct) {
  absl::flat_hash_set<std::string> seen;
  seen.reserve(1 << 20);
  unsigned char nonce[kAeadNonceBytes];
  for (int i = 0; i < (1 << 20); ++i) {
    NextNonce(nonce);
    seen.insert(std::string(reinterpret_cast<char*>(nonce), sizeof(nonce)));
  }
  EXPECT_EQ(seen.size(), std::size_t{1} << 20);
}

TEST(NonceTest, ThreadsDrawDifferentPrefixes) {
  unsigned char a[kAeadNonceBytes];
  unsigned char b[kAeadNonceBytes];
  NextNonce(a);
  std::thread([&b] { NextNonce(b); }).join();
  EXPECT_NE(std::string(reinterpret_cast<char*>(a), 16),
            std::string(reinterpret_cast<char*>(b), 16));
}

TEST(HexTest, DecodesAndEncodes) {
  const std::string hex = "00ff10abCD";
  absl::StatusOr<SecretBytes> bin = DecodeHexSecret(
      reinterpret_cast<const unsigned char*>(hex.data()), hex.size());
  ASSERT_THAT(bin, IsOk());
  ASSERT_EQ(bin->size(), 5u);
  EXPECT_EQ(bin->data()[1], 0xff);
  absl::StatusOr<SecretBytes> back = EncodeHexSecret(*bin);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(back->data()), back->size()),
      "00ff10abcd");
  const std::string bad = "0g";
  EXPECT_THAT(
      DecodeHexSecret(reinterpret_cast<const unsigned char*>(bad.data()),
                      bad.size()),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      DecodeHexSecret(reinterpret_cast<const unsigned char*>(hex.data()), 3),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace leyser::internal
