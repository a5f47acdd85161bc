#include "lib/store/envelope.h"

#include "gtest/gtest.h"

#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

TEST(EnvelopeTest, RoundTripsWithFixedOverhead) {
  SecretBytes key = RandomKey().value();
  const std::string full_key = DataKey(3, "user-key");
  for (std::size_t len : {0, 1, 100, 1024, 16384}) {
    const std::string value(len, 'v');
    std::string sealed;
    SealValue(key, 1, full_key, value, &sealed);
    EXPECT_EQ(sealed.size(), len + kEnvelopeOverheadBytes);
    EXPECT_EQ(sealed[0], 1);
    std::string out;
    ASSERT_TRUE(OpenValue(key, 1, full_key, sealed, &out));
    EXPECT_EQ(out, value);
  }
}

TEST(EnvelopeTest, IsBoundToKeyTenantVersionAndContent) {
  SecretBytes key = RandomKey().value();
  const std::string full_key = DataKey(3, "user-key");
  std::string sealed;
  SealValue(key, 1, full_key, "secret value", &sealed);
  std::string out;
  EXPECT_FALSE(OpenValue(key, 1, DataKey(3, "other-key"), sealed, &out));
  EXPECT_FALSE(OpenValue(key, 1, DataKey(4, "user-key"), sealed, &out));
  EXPECT_FALSE(OpenValue(key, 2, full_key, sealed, &out));
  EXPECT_FALSE(OpenValue(RandomKey().value(), 1, full_key, sealed, &out));
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x40;
    EXPECT_FALSE(OpenValue(key, 1, full_key, bad, &out)) << "byte " << i;
    EXPECT_TRUE(out.empty());
  }
  for (std::size_t len = 0; len < sealed.size(); ++len) {
    EXPECT_FALSE(OpenValue(key, 1, full_key, sealed.substr(0, len), &out))
        << "length " << len;
  }
  // A forged header claiming version 2 does not open either.
  std::string forged = sealed;
  forged[4] = 2;
  EXPECT_FALSE(OpenValue(key, 2, full_key, forged, &out));
}

}  // namespace
}  // namespace leyser::internal
