// Backups from tests: a store's data as the API reads it, which files each
// engine backup uses, and damaging one of them.

#ifndef LEYSER_TESTS_TEST_BACKUP_FILES_H_
#define LEYSER_TESTS_TEST_BACKUP_FILES_H_

#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rocksdb/utilities/backup_engine.h"

#include "leyser/options.h"
#include "leyser/store.h"

#include "lib/crypto/file_cipher.h"
#include "lib/keys/key_store.h"
#include "tests/test/test_util.h"

namespace leyser {

using TenantData = std::map<std::string, std::string>;
using StoreData = std::map<std::string, TenantData>;

// Everything readable through the API, per active tenant.
inline StoreData ReadAll(Store& store) {
  StoreData out;
  auto list = store.ListTenants();
  EXPECT_THAT(list, test::IsOk());
  if (!list.ok()) return out;
  for (const TenantInfo& info : *list) {
    if (info.state != TenantState::kActive) continue;
    auto t = store.OpenTenant(info.id);
    EXPECT_THAT(t, test::IsOk());
    if (!t.ok()) continue;
    auto it = (*t)->NewIterator();
    TenantData& data = out[info.id];
    for (it->SeekToFirst(); it->Valid(); it->Next())
      data[std::string(it->key())] = it->value();
    EXPECT_THAT(it->status(), test::IsOk());
  }
  return out;
}

// The shared files each engine backup uses, read through the store's file layer
// (the store must be closed: the key store is opened to unwrap the file key).
inline std::map<BackupId, std::set<std::string>> SharedFiles(const Options& o) {
  std::map<BackupId, std::set<std::string>> out;
  auto keys = internal::KeyStore::Open(o.data_dir + "/keys",
                                       o.key_provider->GetMasterKey().value(),
                                       false, absl::UnixEpoch());
  EXPECT_THAT(keys, test::IsOk());
  auto file_keys = (*keys)->GetFileKeys();
  EXPECT_THAT(file_keys, test::IsOk());
  auto env = internal::NewEncryptedEnv(
      internal::ToFileKey(std::move(file_keys->current)),
      internal::ToFileKeys(std::move(file_keys->retired)));
  EXPECT_THAT(env, test::IsOk());
  rocksdb::BackupEngineReadOnly* engine = nullptr;
  rocksdb::BackupEngineOptions beo(o.backup_dir + "/engine", env->env.get());
  EXPECT_TRUE(
      rocksdb::BackupEngineReadOnly::Open(beo, env->env.get(), &engine).ok());
  std::unique_ptr<rocksdb::BackupEngineReadOnly> owner(engine);
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos, /*include_file_details=*/true);
  for (const rocksdb::BackupInfo& info : infos) {
    std::set<std::string>& files = out[info.backup_id];
    for (const rocksdb::BackupFileInfo& f : info.file_details) {
      if (absl::StartsWith(f.relative_filename, "shared_checksum/"))
        files.insert(f.relative_filename);
    }
  }
  return out;
}

// Flips one byte in the middle of `path` (past the file layer's header).
inline void FlipAByte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  ASSERT_GT(size, 4096 + 100);
  f.seekg(4096 + (size - 4096) / 2);
  char c;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(4096 + (size - 4096) / 2);
  f.write(&c, 1);
}

namespace test {

// A store with daily backups at 02:00 UTC on a manual clock starting at 03:00
// (the first backup is due at once).
class BackupFixture : public testing::Test {
 protected:
  BackupFixture()
      : clock_(std::make_shared<ManualClock>(SomeInstant() + absl::Hours(3))),
        provider_(NewTestKeyProvider(tmp_)),
        options_(TestOptions(tmp_, provider_, clock_)) {
    options_.backup_dir = tmp_.Sub("backups");
    options_.backup_time_of_day = absl::Hours(2);
  }

  std::unique_ptr<Store> OpenStore() { return OpenStore(options_); }
  std::unique_ptr<Store> OpenStore(const Options& options) {
    auto store = Store::Open(options);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Restores generation `id` of `from`'s backup directory (the fixture's by
  // default) into a fresh directory and returns its data.
  StoreData Restored(BackupId id) { return Restored(id, options_); }
  StoreData Restored(BackupId id, const Options& from) {
    Options target = from;
    target.data_dir = tmp_.Sub(absl::StrCat("restore-", id, "-", restores_++));
    EXPECT_THAT(Store::RestoreStore(target, id), IsOk());
    target.create_if_missing = false;
    auto store = Store::Open(target);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? ReadAll(**store) : StoreData();
  }

  TempDir tmp_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<KeyProvider> provider_;
  Options options_;
  int restores_ = 0;
};

}  // namespace test
}  // namespace leyser

#endif  // LEYSER_TESTS_TEST_BACKUP_FILES_H_
