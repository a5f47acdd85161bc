#include "tests/test/test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/time/civil_time.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace leyser::test {

TempDir::TempDir() {
  const char* base = std::getenv("LEYSER_TEST_TMPDIR");
  std::string root = base != nullptr && *base != '\0' ? base : "/tmp";
  std::filesystem::create_directories(root);
  std::string pattern = root + "/leyser-test-XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed under " << root;
    std::abort();
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::Time SomeInstant() {
  return absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0),
                         absl::UTCTimeZone());
}

std::shared_ptr<KeyProvider> NewTestKeyProvider(const TempDir& dir,
                                                const std::string& name) {
  const std::string path = dir.Sub(name);
  absl::Status created = CreateKeyFile(path);
  EXPECT_TRUE(created.ok()) << created;
  absl::StatusOr<std::shared_ptr<KeyProvider>> provider =
      NewFileKeyProvider(path);
  EXPECT_TRUE(provider.ok()) << provider.status();
  return provider.ok() ? *provider : nullptr;
}

Options TestOptions(const TempDir& dir, std::shared_ptr<KeyProvider> provider,
                    std::shared_ptr<const Clock> clock) {
  Options options;
  options.data_dir = dir.Sub("store");
  options.key_provider = std::move(provider);
  if (clock != nullptr) {
    options.clock = std::move(clock);
  }
  options.create_if_missing = true;
  options.sync_writes = false;
  options.block_cache_bytes = 8 << 20;
  return options;
}

std::map<std::string, std::string> SnapshotFiles(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    out[std::filesystem::relative(entry.path(), root).string()] = content.str();
  }
  return out;
}

std::uint64_t TestSeed() {
  std::uint64_t seed;
  if (const char* env = std::getenv("LEYSER_TEST_SEED");
      env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = std::random_device{}();
    seed = (seed << 32) ^ std::random_device{}();
  }
  testing::Test::RecordProperty("seed", std::to_string(seed));
  std::cout << "[ seed     ] " << seed
            << " (rerun with LEYSER_TEST_SEED=" << seed << ")\n";
  return seed;
}

void WriteFile(const std::string& path, const std::string& bytes,
               unsigned mode) {
  unlink(path.c_str());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  fchmod(fd, mode);
  close(fd);
}

}  // namespace leyser::test
