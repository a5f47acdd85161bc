// Encryption at rest through the store: no marker in any file, wrong keys
// refused without a file changing, online master-key rotation (concurrent
// writers, crashes at every step).

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include <signal.h>
#include <sys/wait.h>

#include "leyser/store.h"

#include "lib/crypto/file_cipher.h"
#include "lib/proto/keystore.pb.h"
#include "lib/store/store_impl.h"
#include "tests/test/raw_db.h"
#include "tests/test/spawn.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

// A key file holding 32 known raw bytes, so tests can derive related wrong
// keys.
std::string RawKeyFile(const test::TempDir& tmp, const std::string& name,
                       const std::string& raw) {
  const std::string path = tmp.Sub(name);
  test::WriteFile(path, raw, 0600);
  return path;
}

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string RandomLetters(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>('A' + rng() % 26);
  return s;
}

std::shared_ptr<KeyProvider> FileProvider(const std::string& path) {
  auto p = NewFileKeyProvider(path);
  EXPECT_THAT(p, IsOk());
  return p.ok() ? *p : nullptr;
}

// A provider returning whatever bytes it was given (possibly of a wrong size).
class FixedKeyProvider final : public KeyProvider {
 public:
  explicit FixedKeyProvider(std::string bytes) : bytes_(std::move(bytes)) {}
  absl::StatusOr<SecretBytes> GetMasterKey() const override {
    if (bytes_.empty()) return SecretBytes();
    auto s = SecretBytes::Allocate(bytes_.size());
    if (s.ok()) std::memcpy(s->data(), bytes_.data(), bytes_.size());
    return s;
  }

 private:
  std::string bytes_;
};

// Every form in which a marker might leak: raw, hex (both cases), base64.
std::vector<std::string> Forms(const std::string& marker) {
  const std::string hex = absl::BytesToHexString(marker);
  return {marker, hex, absl::AsciiStrToUpper(hex), absl::Base64Escape(marker)};
}

// Counts marker hits in every file under `root` (data directory and key store).
int CountHits(const std::string& root, const std::vector<std::string>& markers,
              std::string* where) {
  int hits = 0;
  for (const auto& [name, content] : test::SnapshotFiles(root)) {
    for (const std::string& m : markers) {
      for (const std::string& form : Forms(m)) {
        if (content.find(form) != std::string::npos) {
          ++hits;
          *where = name;
        }
      }
    }
  }
  return hits;
}

class AtRestTest : public testing::Test {
 protected:
  AtRestTest() : rng_(test::TestSeed()) {
    key_a_ = RandomBytes(rng_, 32);
    key_b_ = RandomBytes(rng_, 32);
    path_a_ = RawKeyFile(tmp_, "a.key", key_a_);
    path_b_ = RawKeyFile(tmp_, "b.key", key_b_);
    options_ = test::TestOptions(tmp_, FileProvider(path_a_));
  }

  absl::StatusOr<std::unique_ptr<Store>> OpenWith(
      std::shared_ptr<KeyProvider> provider) {
    Options o = options_;
    o.key_provider = std::move(provider);
    return Store::Open(o);
  }

  test::TempDir tmp_;
  std::mt19937_64 rng_;
  std::string key_a_, key_b_, path_a_, path_b_;
  Options options_;
};

// Issue 3, tests 1 and 2: raw scan and decoded check, before and after a reopen
// and a rotation.
TEST_F(AtRestTest, NoKeyOrValueMarkerInAnyFileAndEverythingReadsBack) {
  std::vector<std::string> markers;
  std::map<std::string, std::map<std::string, std::string>> expected;
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    for (int t = 0; t < 20; ++t) {
      const std::string id = absl::StrCat("tenant", t);
      ASSERT_THAT((*store)->CreateTenant(id), IsOk());
      auto tenant = (*store)->OpenTenant(id);
      ASSERT_THAT(tenant, IsOk());
      for (int i = 0; i < 50; ++i) {
        const std::string key = "KEYMARK" + RandomLetters(rng_, 16);
        const std::string value = "VALMARK" + RandomLetters(rng_, 16);
        markers.push_back(key);
        markers.push_back(value);
        ASSERT_THAT((*tenant)->Put(key, value + std::string(64, '.') + value),
                    IsOk());
        expected[id][key] = value + std::string(64, '.') + value;
      }
    }
  }
  {
    // Flush and compact through the file layer, so markers passed through SST,
    // WAL, MANIFEST.
    test::RawDataDb raw(options_.data_dir, *FileProvider(path_a_));
    ASSERT_TRUE(raw.db()->Flush(rocksdb::FlushOptions(), raw.data()).ok());
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForce;
    ASSERT_TRUE(
        raw.db()->CompactRange(compact, raw.data(), nullptr, nullptr).ok());
  }
  auto check_files = [&](const char* when) {
    SCOPED_TRACE(when);
    std::string where;
    EXPECT_EQ(CountHits(options_.data_dir, markers, &where), 0)
        << "a marker is in " << where;
    int sst = 0;
    for (const auto& [name, content] :
         test::SnapshotFiles(options_.data_dir + "/db")) {
      if (name == "LOCK") continue;  // Empty lock file.
      if (name.size() > 4 && name.substr(name.size() - 4) == ".sst") ++sst;
      EXPECT_EQ(content.substr(0, 8), "LEYSXC20")
          << name << " is not encrypted";
    }
    EXPECT_GE(sst, 1);
  };
  auto check_reads = [&](Store& store) {
    for (const auto& [id, entries] : expected) {
      auto tenant = store.OpenTenant(id);
      ASSERT_THAT(tenant, IsOk());
      for (const auto& [k, v] : entries)
        EXPECT_THAT((*tenant)->Get(k), IsOkAndHolds(v));
    }
  };
  check_files("after flush and compaction");
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    check_reads(**store);
  }
  check_files("after a reopen");
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->RotateMasterKey(FileProvider(path_b_)), IsOk());
    check_reads(**store);
  }
  check_files("after a rotation");
  auto store = OpenWith(FileProvider(path_b_));
  ASSERT_THAT(store, IsOk());
  check_reads(**store);
}

// Issue 3, test 3: wrong keys are refused, no file changes, no key bytes in
// messages.
TEST_F(AtRestTest, WrongKeysAreRefusedAndChangeNoFile) {
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->CreateTenant("t"), IsOk());
    auto t = (*store)->OpenTenant("t");
    ASSERT_THAT((*t)->Put("k", "v"), IsOk());
    ASSERT_THAT((*store)->RotateMasterKey(FileProvider(path_b_)), IsOk());
  }
  const auto before = test::SnapshotFiles(options_.data_dir);
  std::string flipped = key_b_;
  flipped[rng_() % 32] ^= static_cast<char>(1 << (rng_() % 8));
  struct Case {
    const char* name;
    std::string key;
    absl::StatusCode code;
  } cases[] = {
      {"random", RandomBytes(rng_, 32), absl::StatusCode::kPermissionDenied},
      {"one bit flipped", flipped, absl::StatusCode::kPermissionDenied},
      {"31 bytes", key_b_.substr(0, 31), absl::StatusCode::kInvalidArgument},
      {"empty", "", absl::StatusCode::kInvalidArgument},
      {"pre-rotation key", key_a_, absl::StatusCode::kPermissionDenied},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (bool create : {false, true}) {
      Options o = options_;
      o.create_if_missing = create;
      o.key_provider = std::make_shared<FixedKeyProvider>(c.key);
      auto store = Store::Open(o);
      EXPECT_THAT(store, StatusIs(c.code));
      const std::string message(store.status().message());
      for (const std::string& secret : {key_a_, key_b_, c.key}) {
        if (secret.empty()) continue;
        for (const std::string& form : Forms(secret)) {
          EXPECT_EQ(message.find(form), std::string::npos);
        }
      }
    }
  }
  // Key files of wrong sizes are refused by the provider already.
  test::WriteFile(tmp_.Sub("short.key"), key_b_.substr(0, 31));
  EXPECT_THAT(NewFileKeyProvider(tmp_.Sub("short.key")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Only the note of the attempts for the audit log was added.
  auto after = test::SnapshotFiles(options_.data_dir);
  EXPECT_EQ(after.erase("audit-pending"), 1u);
  EXPECT_EQ(after, before);
  EXPECT_THAT(OpenWith(FileProvider(path_b_)), IsOk());
}

// Issue 3, test 4: rotation under concurrent writers on several tenants.
TEST_F(AtRestTest, RotationUnderConcurrentWritersLosesNothing) {
  std::vector<std::string> key_paths = {path_a_, path_b_};
  for (int i = 0; i < 4; ++i) {
    key_paths.push_back(
        RawKeyFile(tmp_, absl::StrCat("k", i, ".key"), RandomBytes(rng_, 32)));
  }
  constexpr int kTenants = 4;
  std::vector<int> written(kTenants, 0);
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    std::vector<std::unique_ptr<Tenant>> tenants;
    for (int t = 0; t < kTenants; ++t) {
      ASSERT_THAT((*store)->CreateTenant(absl::StrCat("t", t)), IsOk());
      tenants.push_back((*store)->OpenTenant(absl::StrCat("t", t)).value());
    }
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < kTenants; ++t) {
      writers.emplace_back([&, t] {
        int i = 0;
        for (; !stop.load() || i < 200; ++i) {
          if (!tenants[t]->Put(absl::StrCat("k", i), absl::StrCat("v", i)).ok())
            ++failures;
          if (i % 50 == 0 && !tenants[t]->Get(absl::StrCat("k", i)).ok())
            ++failures;
        }
        written[t] = i;
      });
    }
    for (std::size_t r = 1; r < key_paths.size(); ++r) {
      ASSERT_THAT((*store)->RotateMasterKey(FileProvider(key_paths[r])),
                  IsOk());
      // Tenant creation and opening interleave with rotations too.
      ASSERT_THAT((*store)->CreateTenant(absl::StrCat("late", r)), IsOk());
      ASSERT_THAT((*store)->OpenTenant(absl::StrCat("late", r)), IsOk());
    }
    stop = true;
    for (auto& w : writers) w.join();
    EXPECT_EQ(failures.load(), 0);
  }
  for (std::size_t r = 0; r + 1 < key_paths.size(); ++r) {
    EXPECT_THAT(OpenWith(FileProvider(key_paths[r])),
                StatusIs(absl::StatusCode::kPermissionDenied))
        << "old key " << r;
  }
  auto store = OpenWith(FileProvider(key_paths.back()));
  ASSERT_THAT(store, IsOk());
  for (int t = 0; t < kTenants; ++t) {
    auto tenant = (*store)->OpenTenant(absl::StrCat("t", t));
    ASSERT_THAT(tenant, IsOk());
    for (int i = 0; i < written[t]; ++i) {
      ASSERT_THAT((*tenant)->Get(absl::StrCat("k", i)),
                  IsOkAndHolds(absl::StrCat("v", i)));
    }
  }
}

TEST_F(AtRestTest, RotationLeavesNoOldWrapInTheKeyStore) {
  std::string old_wrapped;
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->CreateTenant("t"), IsOk());
  }
  auto read_wrapped = [&](std::map<std::string, proto::WrappedKey>* out) {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    ASSERT_TRUE(
        rocksdb::DB::OpenForReadOnly(o, options_.data_dir + "/keys", &raw)
            .ok());
    std::unique_ptr<rocksdb::DB> owner(raw);
    std::unique_ptr<rocksdb::Iterator> it(
        raw->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().starts_with("m/")) continue;
      ASSERT_TRUE(
          (*out)[it->key().ToString()].ParseFromString(it->value().ToString()));
    }
  };
  std::map<std::string, proto::WrappedKey> before, after;
  read_wrapped(&before);
  // The file key, the record key, the signing seed, t's key.
  ASSERT_EQ(before.size(), 4u);
  {
    auto store = Store::Open(options_);
    ASSERT_THAT(store, IsOk());
    EXPECT_THAT((*store)->RotateMasterKey(nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT((*store)->RotateMasterKey(FileProvider(path_a_)),
                StatusIs(absl::StatusCode::kInvalidArgument));  // Same key.
    EXPECT_THAT(
        (*store)->RotateMasterKey(std::make_shared<FixedKeyProvider>("short")),
        StatusIs(absl::StatusCode::kInvalidArgument));
    ASSERT_THAT((*store)->RotateMasterKey(FileProvider(path_b_)), IsOk());
  }
  read_wrapped(&after);
  ASSERT_EQ(after.size(), 4u);
  const auto files = test::SnapshotFiles(options_.data_dir + "/keys");
  for (const auto& [entry, wrapped] : after) {
    EXPECT_EQ(wrapped.master_generation(), 2u) << entry;
    const std::string& old_sealed = before[entry].sealed();
    for (const auto& [name, content] : files) {
      EXPECT_EQ(content.find(old_sealed), std::string::npos)
          << "old wrap of " << absl::CEscape(entry) << " still in " << name;
    }
  }
}

TEST_F(AtRestTest, StoresWithAndWithoutTheFileLayerDoNotMix) {
  {
    auto plain = internal::OpenWithoutFileEncryptionForTesting(options_);
    ASSERT_THAT(plain, IsOk());
    ASSERT_THAT((*plain)->CreateTenant("t"), IsOk());
  }
  EXPECT_THAT(Store::Open(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  Options other = options_;
  other.data_dir = tmp_.Sub("encrypted");
  ASSERT_THAT(Store::Open(other), IsOk());
  EXPECT_THAT(internal::OpenWithoutFileEncryptionForTesting(other),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Issue 3, test 5: a child killed at each step of a rotation; the store opens
// with the documented key, the other key is refused, all data intact.
TEST_F(AtRestTest, CrashAtEachRotationStepLeavesExactlyOneWorkingKey) {
  struct Case {
    const char* point;
    bool new_key_expected;
  } cases[] = {
      {"rotate.before_commit", false},
      {"rotate.after_commit", true},
      {"rotate.after_compact", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.point);
    Options o = options_;
    o.data_dir = tmp_.Sub(c.point);
    o.sync_writes = true;
    {
      auto store = Store::Open(o);
      ASSERT_THAT(store, IsOk());
      for (int t = 0; t < 3; ++t) {
        ASSERT_THAT((*store)->CreateTenant(absl::StrCat("t", t)), IsOk());
        auto tenant = (*store)->OpenTenant(absl::StrCat("t", t));
        for (int i = 0; i < 100; ++i)
          ASSERT_THAT((*tenant)->Put(absl::StrCat("k", i), "v"), IsOk());
      }
    }
    test::Child child({test::CrashChildPath(), "rotate", o.data_dir, path_a_,
                       path_b_, c.point});
    const int status = child.Wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "status " << status;
    const std::string good = c.new_key_expected ? path_b_ : path_a_;
    const std::string bad = c.new_key_expected ? path_a_ : path_b_;
    Options with_bad = o;
    with_bad.key_provider = FileProvider(bad);
    EXPECT_THAT(Store::Open(with_bad),
                StatusIs(absl::StatusCode::kPermissionDenied));
    Options with_good = o;
    with_good.key_provider = FileProvider(good);
    auto store = Store::Open(with_good);
    ASSERT_THAT(store, IsOk());
    for (int t = 0; t < 3; ++t) {
      auto tenant = (*store)->OpenTenant(absl::StrCat("t", t));
      ASSERT_THAT(tenant, IsOk());
      for (int i = 0; i < 100; ++i) {
        ASSERT_THAT((*tenant)->Get(absl::StrCat("k", i)),
                    IsOkAndHolds(std::string("v")));
      }
    }
  }
}

// Blackbox variant: a child rotating back and forth while writing, killed at
// random moments.
TEST_F(AtRestTest, KilledWhileRotatingAndWritingLosesNoAcknowledgedWrite) {
  const std::string dir = tmp_.Sub("loop");
  options_.data_dir = dir;
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    test::Child child(
        {test::CrashChildPath(), "rotate-loop", dir, path_a_, path_b_});
    std::string line;
    ASSERT_TRUE(child.ReadLine(&line)) << "child did not start";
    ASSERT_EQ(line, "READY");
    int last_write = -1, rotations = 0;
    const absl::Time kill_at =
        absl::Now() + absl::Milliseconds(20 + rng_() % 300);
    while (absl::Now() < kill_at &&
           child.ReadLine(&line, kill_at - absl::Now())) {
      if (line.rfind("W ", 0) == 0) last_write = std::stoi(line.substr(2));
      if (line.rfind("R ", 0) == 0) rotations = std::stoi(line.substr(2));
    }
    child.Kill();
    while (child.ReadLine(
        &line, absl::Milliseconds(100))) {  // Acks flushed before the kill.
      if (line.rfind("W ", 0) == 0) last_write = std::stoi(line.substr(2));
      if (line.rfind("R ", 0) == 0) rotations = std::stoi(line.substr(2));
    }
    // Exactly one of the two keys opens the store.
    auto with_a = OpenWith(FileProvider(path_a_));
    std::unique_ptr<Store> store;
    if (with_a.ok()) {
      store = std::move(with_a).value();
      EXPECT_THAT(OpenWith(FileProvider(path_b_)),
                  StatusIs(absl::StatusCode::kFailedPrecondition))
          << "store is open; the lock answers first";
    } else {
      EXPECT_THAT(with_a, StatusIs(absl::StatusCode::kPermissionDenied));
      auto with_b = OpenWith(FileProvider(path_b_));
      ASSERT_THAT(with_b, IsOk());
      store = std::move(with_b).value();
    }
    auto tenant = store->OpenTenant("w");
    ASSERT_THAT(tenant, IsOk());
    for (int i = 0; i <= last_write; ++i) {
      ASSERT_THAT((*tenant)->Get(absl::StrCat("k", i)),
                  IsOkAndHolds(absl::StrCat("v", i)));
    }
    // The next round's child opens with path_a_: make it name the key that
    // works now.
    tenant->reset();
    store.reset();
    if (!OpenWith(FileProvider(path_a_)).ok()) std::swap(path_a_, path_b_);
    std::cout << "round " << round << ": " << last_write + 1 << " writes, "
              << rotations << " rotations acknowledged\n";
  }
}

}  // namespace
}  // namespace leyser
