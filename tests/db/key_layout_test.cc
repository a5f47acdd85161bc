#include "lib/db/key_layout.h"

#include "gtest/gtest.h"

#include "lib/util/coding.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;
using test::StatusIs;

TEST(KeyLayoutTest, PrefixesAreBigEndianAndOrdered) {
  EXPECT_EQ(TenantPrefix(1), std::string("\0\0\0\0\0\0\0\1", 8));
  EXPECT_EQ(TenantPrefix(0x0102030405060708),
            "\x01\x02\x03\x04\x05\x06\x07\x08");
  for (std::uint64_t n : {1ull, 255ull, 256ull, 65535ull, 1ull << 40}) {
    EXPECT_LT(TenantPrefix(n), TenantPrefix(n + 1));
    EXPECT_EQ(DecodeBigEndian64(TenantPrefix(n)), n);
    // Every key of tenant n sorts before the next tenant's prefix.
    EXPECT_LT(DataKey(n, std::string(100, '\xff')), TenantPrefix(n + 1));
    EXPECT_GE(DataKey(n, "\0"), TenantPrefix(n));
  }
  EXPECT_EQ(DataKey(7, "k"), TenantPrefix(7) + "k");
}

TEST(KeyLayoutTest, ValidatesTenantIds) {
  for (const std::string& good : {std::string("a"), std::string("A.b_c-9"),
                                  std::string(128, 'x'), std::string("...")}) {
    EXPECT_THAT(ValidateTenantId(good), IsOk()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string(129, 'x'), std::string("a b"),
        std::string("a/b"), std::string("a\0b", 3), std::string("é"),
        std::string("a:b"), std::string("\n"), std::string("a*")}) {
    EXPECT_THAT(ValidateTenantId(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

}  // namespace
}  // namespace leyser::internal
