// Authentication of control records (lib/crypto/record_mac.h).

#include "lib/crypto/record_mac.h"

#include <string>

#include "gtest/gtest.h"

#include "lib/crypto/sodium.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

class RecordMacTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(EnsureSodium(), IsOk()); }
  RecordMac mac_{RandomKey().value()};
};

TEST_F(RecordMacTest, OpensWhatItSealedForTheSameTableAndKey) {
  for (const std::string& payload :
       {std::string(), std::string("x"), std::string(1000, '\0')}) {
    const std::string sealed = mac_.Seal("registry", "t/a", payload);
    EXPECT_TRUE(RecordMac::HasHeader(sealed));
    EXPECT_EQ(sealed.size(), payload.size() + 34);
    absl::StatusOr<std::string_view> opened =
        mac_.Open("registry", "t/a", sealed, "record t/a");
    ASSERT_THAT(opened, IsOk());
    EXPECT_EQ(*opened, payload);
  }
}

TEST_F(RecordMacTest, RefusesAnotherTableKeyOrMacKey) {
  const std::string sealed = mac_.Seal("registry", "t/a", "payload");
  EXPECT_THAT(mac_.Open("audit", "t/a", sealed, "r"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(mac_.Open("registry", "t/b", sealed, "r"),
              StatusIs(absl::StatusCode::kDataLoss));
  // Length prefixes: the split between table and key is bound too.
  EXPECT_THAT(mac_.Open("registryt", "/a", sealed, "r"),
              StatusIs(absl::StatusCode::kDataLoss));
  RecordMac other(RandomKey().value());
  EXPECT_THAT(other.Open("registry", "t/a", sealed, "r"),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(RecordMacTest, RefusesTruncatedExtendedAndPlainRecords) {
  const std::string sealed = mac_.Seal("registry", "t/a", "payload");
  for (std::size_t n = 0; n < sealed.size(); ++n) {
    EXPECT_THAT(mac_.Open("registry", "t/a", sealed.substr(0, n), "r"),
                StatusIs(absl::StatusCode::kDataLoss))
        << n;
  }
  EXPECT_THAT(mac_.Open("registry", "t/a", sealed + "x", "r"),
              StatusIs(absl::StatusCode::kDataLoss));
  absl::Status plain =
      mac_.Open("registry", "t/a", "\x08\x01", "the record").status();
  EXPECT_THAT(plain, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_NE(plain.message().find("the record carries no authentication tag"),
            std::string::npos)
      << plain;
}

TEST_F(RecordMacTest, SealLegacySealsPlainKeepsSealedRefusesAltered) {
  absl::StatusOr<std::optional<std::string>> plain =
      mac_.SealLegacy("audit", "k", "\x08\x05", "r");
  ASSERT_THAT(plain, IsOk());
  ASSERT_TRUE(plain->has_value());
  EXPECT_THAT(mac_.Open("audit", "k", **plain, "r"),
              test::IsOkAndHolds(std::string_view("\x08\x05")));
  absl::StatusOr<std::optional<std::string>> again =
      mac_.SealLegacy("audit", "k", **plain, "r");
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->has_value());
  std::string altered = **plain;
  altered[2] = static_cast<char>(altered[2] ^ 4);
  EXPECT_THAT(mac_.SealLegacy("audit", "k", altered, "r"),
              StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace leyser::internal
