#include <chrono>
#include <future>
#include <string>

#include "gtest/gtest.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "leyser/key_provider.h"

#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;
using ::testing::HasSubstr;

std::string Raw32() {
  std::string raw(32, '\0');
  for (int i = 0; i < 32; ++i) raw[i] = static_cast<char>(i * 7 + 1);
  return raw;
}

std::string AsString(const SecretBytes& s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

TEST(FileKeyProviderTest, CreatedKeyFileIsPrivateHexAndReadable) {
  test::TempDir dir;
  const std::string path = dir.Sub("k");
  ASSERT_THAT(CreateKeyFile(path), IsOk());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 65);
  auto provider = NewFileKeyProvider(path);
  ASSERT_THAT(provider, IsOk());
  absl::StatusOr<SecretBytes> key = (*provider)->GetMasterKey();
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->size(), kMasterKeyBytes);

  ASSERT_THAT(CreateKeyFile(dir.Sub("k2")), IsOk());
  absl::StatusOr<SecretBytes> other =
      (*NewFileKeyProvider(dir.Sub("k2")))->GetMasterKey();
  ASSERT_THAT(other, IsOk());
  EXPECT_FALSE(key->Equals(*other));
}

TEST(FileKeyProviderTest, NeverOverwritesAKeyFile) {
  test::TempDir dir;
  const std::string path = dir.Sub("k");
  ASSERT_THAT(CreateKeyFile(path), IsOk());
  auto before = (*NewFileKeyProvider(path))->GetMasterKey();
  EXPECT_THAT(CreateKeyFile(path), StatusIs(absl::StatusCode::kAlreadyExists));
  auto after = (*NewFileKeyProvider(path))->GetMasterKey();
  ASSERT_THAT(after, IsOk());
  EXPECT_TRUE(before->Equals(*after));
  EXPECT_THAT(CreateKeyFile(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreateKeyFile(dir.Sub("no/such/dir/k")),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(FileKeyProviderTest, AcceptsRawAndHexForms) {
  test::TempDir dir;
  const std::string raw = Raw32();
  test::WriteFile(dir.Sub("raw"), raw);
  auto raw_key = (*NewFileKeyProvider(dir.Sub("raw")))->GetMasterKey();
  ASSERT_THAT(raw_key, IsOk());
  EXPECT_EQ(AsString(*raw_key), raw);

  std::string hex;
  for (unsigned char c : raw) {
    const char* digits = "0123456789ABCDEF";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  test::WriteFile(dir.Sub("hex"), "  \n" + hex + "\r\n");
  auto hex_key = (*NewFileKeyProvider(dir.Sub("hex")))->GetMasterKey();
  ASSERT_THAT(hex_key, IsOk());
  EXPECT_EQ(AsString(*hex_key), raw);
}

TEST(FileKeyProviderTest, RejectsMalformedContent) {
  test::TempDir dir;
  const std::string hex64(64, 'a');
  struct Case {
    const char* name;
    std::string content;
  } cases[] = {
      {"empty", ""},
      {"31 bytes", std::string(31, 'k')},
      {"33 bytes", std::string(33, 'k')},
      {"63 hex", hex64.substr(0, 63)},
      {"65 hex", hex64 + "a"},
      {"non-hex", std::string(63, 'a') + "z"},
      {"oversize", std::string(4096, 'a')},
      // Issue 21: 32 bytes that are text, or no key at all, were taken as raw
      // keys.
      {"32 spaces", std::string(32, ' ')},
      {"31 hex digits and a newline", hex64.substr(0, 31) + "\n"},
      {"32 printable characters",
       std::string("correct horse battery staple!!!!")},
      {"32 zero bytes", std::string(32, '\0')},
      {"32 equal bytes", std::string(32, '\xff')},
      {"64 zero hex digits", std::string(64, '0')},
      {"64 equal hex pairs", hex64},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.Sub("bad");
    test::WriteFile(path, c.content);
    auto provider = NewFileKeyProvider(path);
    EXPECT_THAT(provider, StatusIs(absl::StatusCode::kInvalidArgument));
    // No key bytes in the message.
    EXPECT_EQ(std::string(provider.status().message())
                  .find(c.content.empty() ? "\x01" : c.content),
              std::string::npos);
  }
}

TEST(FileKeyProviderTest, RefusesUnsafeOrMissingFiles) {
  test::TempDir dir;
  test::WriteFile(dir.Sub("group"), Raw32(), 0640);
  EXPECT_THAT(NewFileKeyProvider(dir.Sub("group")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  test::WriteFile(dir.Sub("world"), Raw32(), 0604);
  EXPECT_THAT(NewFileKeyProvider(dir.Sub("world")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(NewFileKeyProvider(dir.Sub("missing")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(NewFileKeyProvider(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NewFileKeyProvider(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  test::WriteFile(dir.Sub("target"), Raw32(), 0600);
  ASSERT_EQ(symlink(dir.Sub("target").c_str(), dir.Sub("link").c_str()), 0);
  EXPECT_THAT(NewFileKeyProvider(dir.Sub("link")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Issue 21: a FIFO as the key file hung NewFileKeyProvider (and Store::Open)
// until a writer came; it must be refused at once.
TEST(FileKeyProviderTest, AFifoIsRefusedWithinASecond) {
  test::TempDir dir;
  const std::string path = dir.Sub("fifo");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  auto answer = std::async(std::launch::async,
                           [&] { return NewFileKeyProvider(path).status(); });
  if (answer.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
    // Let the blocked open finish so the test ends.
    const int fd = open(path.c_str(), O_WRONLY);
    if (fd >= 0) close(fd);
    ADD_FAILURE() << "NewFileKeyProvider waited on a FIFO";
    answer.wait();
    return;
  }
  EXPECT_THAT(answer.get(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(FileKeyProviderTest, RechecksTheFileOnEveryRequest) {
  test::TempDir dir;
  const std::string path = dir.Sub("k");
  ASSERT_THAT(CreateKeyFile(path), IsOk());
  auto provider = NewFileKeyProvider(path);
  ASSERT_THAT(provider, IsOk());
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  // The mode is named as chmod takes it (octal).
  const absl::StatusOr<SecretBytes> loose = (*provider)->GetMasterKey();
  EXPECT_THAT(loose, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(loose.status().message(), HasSubstr("(mode 644)"));
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_THAT((*provider)->GetMasterKey(),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace leyser
