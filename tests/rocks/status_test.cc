// FromRocks: every RocksDB status maps to the code docs/errors.md gives, with
// the context first in the message.

#include "lib/rocks/status.h"

#include <string>

#include "gtest/gtest.h"

#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::StatusIs;

TEST(FromRocksTest, MapsEveryCodeAndKeepsTheContext) {
  EXPECT_TRUE(FromRocks(rocksdb::Status::OK(), "x").ok());
  struct Case {
    rocksdb::Status in;
    absl::StatusCode out;
  };
  const Case cases[] = {
      {rocksdb::Status::NotFound("n"), absl::StatusCode::kNotFound},
      {rocksdb::Status::Corruption("c"), absl::StatusCode::kDataLoss},
      {rocksdb::Status::InvalidArgument("i"),
       absl::StatusCode::kInvalidArgument},
      {rocksdb::Status::NotSupported("s"), absl::StatusCode::kUnimplemented},
      {rocksdb::Status::IOError("io"), absl::StatusCode::kUnavailable},
      {rocksdb::Status::NoSpace("full"), absl::StatusCode::kResourceExhausted},
      {rocksdb::Status::Busy("b"), absl::StatusCode::kUnavailable},
      {rocksdb::Status::TimedOut("t"), absl::StatusCode::kUnavailable},
      {rocksdb::Status::TryAgain("a"), absl::StatusCode::kUnavailable},
      {rocksdb::Status::ShutdownInProgress("s"),
       absl::StatusCode::kUnavailable},
      {rocksdb::Status::Incomplete("i"), absl::StatusCode::kUnavailable},
      {rocksdb::Status::Aborted("a"), absl::StatusCode::kAborted},
      {rocksdb::Status::MergeInProgress("m"), absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    absl::Status s = FromRocks(c.in, "doing something");
    EXPECT_THAT(s, StatusIs(c.out)) << c.in.ToString();
    EXPECT_EQ(s.message().rfind("doing something: ", 0), 0u) << s;
  }
  EXPECT_NE(FromRocks(rocksdb::Status::NoSpace("full"), "w")
                .message()
                .find("free disk space"),
            std::string::npos);
}

// The file layer's refusal is DataLoss whatever code RocksDB wraps it in.
TEST(FromRocksTest, FileLayerRefusalIsDataLossUnderAnyCode) {
  const std::string text = std::string("Corruption: ") + kFileLayerRejection;
  for (const rocksdb::Status& s :
       {rocksdb::Status::InvalidArgument("options incompatible", text),
        rocksdb::Status::IOError(text), rocksdb::Status::Corruption(text)}) {
    absl::Status out = FromRocks(s, "opening");
    EXPECT_THAT(out, StatusIs(absl::StatusCode::kDataLoss)) << s.ToString();
    EXPECT_NE(out.message().find("not written under this store's file key"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace leyser::internal
