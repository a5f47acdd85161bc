#include "lib/crypto/file_cipher.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

#include "lib/crypto/sodium.h"
#include "lib/rocks/status.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;

std::unique_ptr<rocksdb::BlockAccessCipherStream> Stream(
    rocksdb::EncryptionProvider& provider, std::string* prefix) {
  prefix->assign(kFilePrefixBytes, '\0');
  EXPECT_TRUE(
      provider.CreateNewPrefix("f", prefix->data(), prefix->size()).ok());
  rocksdb::Slice slice(*prefix);
  std::unique_ptr<rocksdb::BlockAccessCipherStream> stream;
  rocksdb::Status s =
      provider.CreateCipherStream("f", rocksdb::EnvOptions(), slice, &stream);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return stream;
}

TEST(FileCipherTest, PiecewiseEncryptionEqualsOneShot) {
  auto env = NewEncryptedEnv(RandomKey().value(), 1);
  ASSERT_THAT(env, IsOk());
  std::string prefix;
  auto stream = Stream(*env->provider, &prefix);
  std::string plain(1000, '\0');
  for (std::size_t i = 0; i < plain.size(); ++i)
    plain[i] = static_cast<char>(i * 13 + 7);
  for (std::uint64_t base : {0ull, 4096ull, 4096ull + 5, 1ull << 33}) {
    std::string whole = plain;
    ASSERT_TRUE(stream->Encrypt(base, whole.data(), whole.size()).ok());
    EXPECT_NE(whole, plain);
    std::string pieces = plain;
    std::size_t offset = 0;
    for (std::size_t len : {1, 63, 64, 65, 200, 607}) {
      ASSERT_TRUE(
          stream->Encrypt(base + offset, pieces.data() + offset, len).ok());
      offset += len;
    }
    ASSERT_EQ(offset, plain.size());
    EXPECT_EQ(pieces, whole) << "base " << base;
    ASSERT_TRUE(stream->Decrypt(base, whole.data(), whole.size()).ok());
    EXPECT_EQ(whole, plain);
  }
}

TEST(FileCipherTest, PrefixNamesFormatAndRejectsOtherKeys) {
  auto env = NewEncryptedEnv(RandomKey().value(), 7);
  auto other = NewEncryptedEnv(RandomKey().value(), 7);
  ASSERT_THAT(env, IsOk());
  ASSERT_THAT(other, IsOk());
  std::string prefix;
  Stream(*env->provider, &prefix);
  EXPECT_EQ(prefix.substr(0, 8), "LEYSXC20");
  EXPECT_EQ(prefix.substr(8, 4), std::string("\0\0\0\x07", 4));
  rocksdb::Slice slice(prefix);
  std::unique_ptr<rocksdb::BlockAccessCipherStream> stream;
  EXPECT_TRUE(
      other->provider
          ->CreateCipherStream("f", rocksdb::EnvOptions(), slice, &stream)
          .IsCorruption());
  std::string plain_file(kFilePrefixBytes, 'x');
  rocksdb::Slice plain(plain_file);
  EXPECT_TRUE(
      env->provider
          ->CreateCipherStream("f", rocksdb::EnvOptions(), plain, &stream)
          .IsCorruption());
  EXPECT_FALSE(env->provider->AddCipher("d", "key", 3, true).ok());
}

TEST(FileCipherTest, TwoToTheTwentyFilePrefixesHaveDistinctNonces) {
  auto env = NewEncryptedEnv(RandomKey().value(), 1);
  ASSERT_THAT(env, IsOk());
  absl::flat_hash_set<std::string> nonces;
  nonces.reserve(1 << 20);
  std::string prefix(kFilePrefixBytes, '\0');
  for (int i = 0; i < (1 << 20); ++i) {
    ASSERT_TRUE(
        env->provider->CreateNewPrefix("f", prefix.data(), prefix.size()).ok());
    nonces.insert(prefix.substr(12, 24));
  }
  EXPECT_EQ(nonces.size(), std::size_t{1} << 20);
}

TEST(FileCipherTest, DatabaseFilesAreEncryptedAndNeedTheirKey) {
  test::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  SecretBytes key = RandomKey().value();
  SecretBytes same = SecretBytes::Allocate(32).value();
  std::memcpy(same.data(), key.data(), 32);
  const std::string marker = "FILE-LAYER-MARKER-0123456789";
  {
    auto env = NewEncryptedEnv(std::move(key), 1);
    ASSERT_THAT(env, IsOk());
    rocksdb::Options options;
    options.create_if_missing = true;
    options.env = env->env.get();
    auto log = NewEncryptedInfoLog(
        env->env.get(), (std::filesystem::create_directories(dir), dir));
    ASSERT_THAT(log, IsOk());
    options.info_log = *log;
    options.info_log_level =
        rocksdb::InfoLogLevel::DEBUG_LEVEL;  // Logs keys of compactions.
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir, &db).ok());
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(
          db->Put(rocksdb::WriteOptions(), marker + std::to_string(i), marker)
              .ok());
    }
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    ASSERT_TRUE(
        db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr)
            .ok());
    delete db;
  }
  for (const auto& [name, content] : test::SnapshotFiles(dir)) {
    if (name == "LOCK") continue;
    EXPECT_EQ(content.substr(0, 8), "LEYSXC20") << name;
    EXPECT_EQ(content.find("FILE-LAYER-MARKER"), std::string::npos) << name;
  }
  {
    // The right key reads everything back.
    auto env = NewEncryptedEnv(std::move(same), 1);
    rocksdb::Options options;
    options.env = env->env.get();
    options.info_log = nullptr;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir, &db).ok());
    std::string value;
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), marker + "42", &value).ok());
    EXPECT_EQ(value, marker);
    delete db;
  }
  {
    // Another key: a clean error, not garbage and not a crash.
    auto env = NewEncryptedEnv(RandomKey().value(), 1);
    rocksdb::Options options;
    options.env = env->env.get();
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.ToString().find(kFileLayerRejection), std::string::npos)
        << s.ToString();
    EXPECT_THAT(FromRocks(s, "opening"),
                test::StatusIs(absl::StatusCode::kDataLoss));
  }
}

// A file-key rotation: files written under the retired key still open while
// it is kept, new files carry the current one, and once the retired key is
// removed its files are refused (never read as garbage). FileKeyIdOf reads
// the id without a key.
TEST(FileCipherTest, RetiredKeysOpenOldFilesUntilRemoved) {
  test::TempDir tmp;
  const std::string dir = tmp.Sub("files");
  std::filesystem::create_directories(dir);
  auto env = NewEncryptedEnv(FileKey{RandomKey().value(), 1});
  ASSERT_THAT(env, IsOk());
  rocksdb::Env* e = env->env.get();
  ASSERT_TRUE(rocksdb::WriteStringToFile(e, "old text", dir + "/old").ok());
  ASSERT_THAT(env->keys->Add(FileKey{RandomKey().value(), 2}), IsOk());
  ASSERT_THAT(env->keys->SetCurrent(2), IsOk());
  ASSERT_TRUE(rocksdb::WriteStringToFile(e, "new text", dir + "/new").ok());
  EXPECT_EQ(*FileKeyIdOf(dir + "/old"), std::optional<std::uint32_t>(1));
  EXPECT_EQ(*FileKeyIdOf(dir + "/new"), std::optional<std::uint32_t>(2));
  std::string text;
  ASSERT_TRUE(rocksdb::ReadFileToString(e, dir + "/old", &text).ok());
  EXPECT_EQ(text, "old text");
  EXPECT_EQ(env->keys->Remove(2).code(),
            absl::StatusCode::kFailedPrecondition);  // The current key.
  ASSERT_THAT(env->keys->Remove(1), IsOk());
  rocksdb::Status refused = rocksdb::ReadFileToString(e, dir + "/old", &text);
  EXPECT_TRUE(refused.IsCorruption()) << refused.ToString();
  ASSERT_TRUE(rocksdb::ReadFileToString(e, dir + "/new", &text).ok());
  EXPECT_EQ(text, "new text");
  // A key with a forged id does not open a file of another id.
  ASSERT_THAT(env->keys->Add(FileKey{RandomKey().value(), 1}), IsOk());
  EXPECT_TRUE(rocksdb::ReadFileToString(e, dir + "/old", &text).IsCorruption());
  // Not a file of the layer; no file at all.
  {
    std::ofstream plain(dir + "/plain");
    plain << "LEYSXC2";  // Shorter than magic and id.
  }
  EXPECT_EQ(*FileKeyIdOf(dir + "/plain"), std::nullopt);
  EXPECT_EQ(FileKeyIdOf(dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(env->keys->Add(FileKey{SecretBytes(), 3}).code(),
            absl::StatusCode::kInvalidArgument);
}

// Roll starts the info LOG afresh under the current key; the lines so far
// move to LOG.old, re-written under it too.
TEST(FileCipherTest, TheInfoLogRollsUnderTheCurrentKey) {
  test::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::filesystem::create_directories(dir);
  auto env = NewEncryptedEnv(FileKey{RandomKey().value(), 1});
  ASSERT_THAT(env, IsOk());
  rocksdb::Env* e = env->env.get();
  auto log = NewEncryptedInfoLog(e, dir);
  ASSERT_THAT(log, IsOk());
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, *log, "first line %d", 1);
  ASSERT_THAT(env->keys->Add(FileKey{RandomKey().value(), 2}), IsOk());
  ASSERT_THAT(env->keys->SetCurrent(2), IsOk());
  ASSERT_THAT((*log)->Roll(), IsOk());
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, *log, "second line %d", 2);
  (*log)->Flush();
  EXPECT_EQ(*FileKeyIdOf(dir + "/LOG"), std::optional<std::uint32_t>(2));
  EXPECT_EQ(*FileKeyIdOf(dir + "/LOG.old"), std::optional<std::uint32_t>(2));
  std::string old_lines;
  std::string new_lines;
  ASSERT_TRUE(rocksdb::ReadFileToString(e, dir + "/LOG.old", &old_lines).ok());
  ASSERT_TRUE(rocksdb::ReadFileToString(e, dir + "/LOG", &new_lines).ok());
  EXPECT_NE(old_lines.find("first line 1"), std::string::npos) << old_lines;
  EXPECT_EQ(old_lines.find("second line"), std::string::npos);
  EXPECT_NE(new_lines.find("second line 2"), std::string::npos) << new_lines;
}

}  // namespace
}  // namespace leyser::internal
