// Data-key rotation (lib/store/data_keys.cc): new keys for tenants, values
// re-sealed while tenants read and write, retired keys destroyed, restores
// from generations taken before, and the attack the rotation exists for: a
// leaked earlier master key with an earlier generation and today's files.

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/sst_file_reader.h"
#include <signal.h>
#include <sys/wait.h>

#include "leyser/leyser.h"

#include "lib/db/key_layout.h"
#include "lib/keys/key_store.h"
#include "lib/store/envelope.h"
#include "tests/test/raw_db.h"
#include "tests/test/spawn.h"
#include "tests/test/store_fixture.h"

namespace leyser {
namespace {

namespace fs = std::filesystem;
using test::IsOk;
using test::StatusIs;

class DataKeysTest : public test::StoreFixture {
 protected:
  // A master key of its own in a file.
  std::shared_ptr<KeyProvider> NewProvider(const std::string& name) {
    const std::string path = tmp_.Sub(name);
    EXPECT_THAT(CreateKeyFile(path), IsOk());
    return NewFileKeyProvider(path).value();
  }

  static void Put(Store& store, const std::string& tenant,
                  const std::string& key, const std::string& value) {
    auto t = store.OpenTenant(tenant);
    ASSERT_THAT(t, IsOk());
    ASSERT_THAT((*t)->Put(key, value), IsOk());
  }

  static std::string Get(Store& store, const std::string& tenant,
                         const std::string& key) {
    auto t = store.OpenTenant(tenant);
    EXPECT_THAT(t, IsOk());
    if (!t.ok()) return "<no tenant>";
    auto v = (*t)->Get(key);
    return v.ok() ? *v : v.status().ToString();
  }

  // The envelope key versions of tenant `number`'s values in every live SST,
  // and the decrypted bytes of every SST, WAL and MANIFEST file, of the closed
  // store in `dir` (its file key unwrapped with `provider`).
  struct OnDisk {
    std::map<std::uint32_t, int> sst_versions;
    std::string bytes;
  };
  static OnDisk ReadFiles(const std::string& dir, const KeyProvider& provider,
                          std::uint64_t number) {
    OnDisk out;
    test::RawDataDb raw(dir, provider);  // Opens and closes: logs replayed.
    rocksdb::Env* env = raw.env();
    const std::string prefix = internal::TenantPrefix(number);
    for (const auto& entry : fs::directory_iterator(dir + "/db")) {
      const std::string path = entry.path().string();
      const std::string name = entry.path().filename().string();
      const bool sst =
          name.size() > 4 && name.substr(name.size() - 4) == ".sst";
      if (sst) {
        rocksdb::Options o;
        o.env = env;
        rocksdb::SstFileReader reader(o);
        EXPECT_TRUE(reader.Open(path).ok()) << path;
        std::unique_ptr<rocksdb::Iterator> it(
            reader.NewIterator(rocksdb::ReadOptions()));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
          if (!it->key().starts_with(prefix)) continue;
          auto v = internal::EnvelopeKeyVersion(
              std::string_view(it->value().data(), it->value().size()));
          ++out.sst_versions[v.value_or(0)];
        }
      }
      if (sst || (name.size() > 4 && name.substr(name.size() - 4) == ".log") ||
          name.rfind("MANIFEST", 0) == 0) {
        std::unique_ptr<rocksdb::SequentialFile> file;
        EXPECT_TRUE(
            env->NewSequentialFile(path, &file, rocksdb::EnvOptions()).ok());
        std::string scratch(1 << 16, '\0');
        while (file != nullptr) {
          rocksdb::Slice chunk;
          if (!file->Read(scratch.size(), &chunk, scratch.data()).ok() ||
              chunk.empty()) {
            break;
          }
          out.bytes.append(chunk.data(), chunk.size());
        }
      }
    }
    return out;
  }
};

// The attack of the review (H2): with the master key from before a rotation,
// a backup generation taken before it and a copy of today's db/, an attacker
// unwraps the tenant's data key from the generation and reads today's values.
// A master-key rotation alone does not stop it (control); a data-key rotation
// does: nothing written or re-sealed after it opens.
TEST_F(DataKeysTest, AnOldMasterKeyAndAnOldGenerationReadNothingAfterRotation) {
  std::uint64_t number = 0;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
    number = store->GetTenantInfo("t")->number;
    Put(*store, "t", "before", "written before");
    ASSERT_THAT(store->CreateBackup(), IsOk());  // Generation 1, under M1.
  }
  // The attacker's copy of the backup directory as it was then (the store's
  // own generations are re-sealed under the new key at the rotation).
  const std::string stolen_backups = tmp_.Sub("stolen-backups");
  fs::copy(options_.backup_dir, stolen_backups, fs::copy_options::recursive);
  std::string sealed_before;  // As stored, under data key version 1.
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    ASSERT_TRUE(raw.db()
                    ->Get(rocksdb::ReadOptions(), raw.data(),
                          internal::TenantPrefix(number) + "before",
                          &sealed_before)
                    .ok());
    ASSERT_EQ(internal::EnvelopeKeyVersion(sealed_before), 1u);
  }
  const std::shared_ptr<KeyProvider> old_master = provider_;
  const std::shared_ptr<KeyProvider> new_master = NewProvider("m2");

  // What the attacker does: the generation restored with the old master key,
  // its db/ replaced by a copy of today's, every value tried with every data
  // key of the tenant that generation holds. Returns the values that opened.
  int attacks = 0;
  std::string files_refused;  // Why today's files did not open, if not.
  auto attack = [&]() {
    const std::string loot = tmp_.Sub(absl::StrCat("loot", ++attacks));
    Options o = options_;
    o.data_dir = loot;
    o.backup_dir = stolen_backups;
    o.key_provider = old_master;
    EXPECT_THAT(Store::RestoreStore(o, 1), IsOk());
    fs::remove_all(loot + "/db");
    fs::copy(options_.data_dir + "/db", loot + "/db",
             fs::copy_options::recursive);
    auto keys = internal::KeyStore::Open(loot + "/keys",
                                         old_master->GetMasterKey().value(),
                                         false, absl::UnixEpoch());
    EXPECT_THAT(keys, IsOk());
    auto ring = (*keys)->GetTenantKeyRing(number);
    EXPECT_THAT(ring, IsOk());
    std::vector<internal::TenantKey> stolen;
    stolen.push_back(std::move(ring->current));
    for (auto& k : ring->retired) stolen.push_back(std::move(k));
    keys->reset();
    std::vector<std::string> opened;
    // With the file key from the generation's key store.
    test::RawDataDb raw(loot, *old_master, /*must_open=*/false);
    if (raw.db() == nullptr) {
      files_refused = raw.status().ToString();
      return opened;
    }
    std::unique_ptr<rocksdb::Iterator> it(
        raw.db()->NewIterator(rocksdb::ReadOptions(), raw.data()));
    const std::string prefix = internal::TenantPrefix(number);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      const std::string_view sealed(it->value().data(), it->value().size());
      for (const internal::TenantKey& k : stolen) {
        std::string value;
        if (internal::OpenValue(
                k.key, k.version,
                std::string_view(it->key().data(), it->key().size()), sealed,
                &value)) {
          opened.push_back(value);
        }
      }
    }
    return opened;
  };

  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->RotateMasterKey(new_master), IsOk());
  }
  options_.key_provider = new_master;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    Put(*store, "t", "after", "written after the master-key rotation");
  }
  // Control: the master-key rotation alone leaves everything readable.
  EXPECT_EQ(attack().size(), 2u);
  EXPECT_EQ(files_refused, "");
  // The store's own generation no longer opens with the retired key.
  Options with_old = options_;
  with_old.data_dir = tmp_.Sub("with-old-key");
  with_old.key_provider = old_master;
  EXPECT_THAT(Store::RestoreStore(with_old, 1),
              StatusIs(absl::StatusCode::kPermissionDenied));

  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->RotateDataKeys(), IsOk());
    Put(*store, "t", "later", "written after the data-key rotation");
    auto progress = store->ResealRetiredKeys(nullptr);
    ASSERT_THAT(progress, IsOk());
    EXPECT_EQ(progress->tenants_done, 1u);
    EXPECT_EQ(progress->tenants_pending, 0u);
    EXPECT_EQ(progress->values_resealed, 2u);
    EXPECT_EQ(Get(*store, "t", "before"), "written before");
    EXPECT_EQ(Get(*store, "t", "after"),
              "written after the master-key rotation");
  }
  EXPECT_TRUE(attack().empty());
  // Today's files do not even open with the generation's file key: every
  // file of db/ was rewritten under the new one.
  EXPECT_NE(files_refused.find("encrypted under another file key"),
            std::string::npos)
      << files_refused;
  for (const auto& entry : fs::directory_iterator(options_.data_dir + "/db")) {
    auto id = internal::FileKeyIdOf(entry.path().string());
    ASSERT_THAT(id, IsOk());
    if (id->has_value()) {
      EXPECT_EQ(**id, 2u) << entry.path();
    }
  }

  // No live file holds a value sealed under the retired key.
  const OnDisk files = ReadFiles(options_.data_dir, *new_master, number);
  EXPECT_EQ(files.sst_versions.count(1), 0u);
  EXPECT_GT(files.sst_versions.at(2), 0);
  EXPECT_EQ(files.bytes.find(sealed_before), std::string::npos);
}

// The node file key: RotateDataKeys replaces it, the pass rewrites every
// file of db/ under the new one, generations taken before (or during) the
// rotation keep restoring, and the retired key is destroyed once the last
// generation holding a file under it is pruned.
TEST_F(DataKeysTest, TheFileKeyIsReplacedAndRetiredWhenNoFileCarriesIt) {
  options_.backup_generations = 2;
  auto ids_under = [](const std::string& dir) {
    std::map<std::uint32_t, int> ids;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      auto id = internal::FileKeyIdOf(entry.path().string());
      EXPECT_THAT(id, IsOk());
      if (id.ok() && id->has_value()) ++ids[**id];
    }
    return ids;
  };
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  Put(*store, "t", "before", "written before");
  ASSERT_THAT(store->CreateBackup(), IsOk());  // 1: everything under key 1.
  ASSERT_THAT(store->RotateDataKeys(), IsOk());
  Put(*store, "t", "during", "written during the rotation");
  clock_->Advance(absl::Hours(1));
  ASSERT_THAT(store->CreateBackup(), IsOk());  // 2: keys 1 and 2.
  auto progress = store->ResealRetiredKeys(nullptr);
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->files_pending, 0u);
  EXPECT_GT(progress->backup_files_pending, 0u);
  EXPECT_EQ(progress->retired_file_keys, 1u);
  std::map<std::uint32_t, int> db_ids = ids_under(options_.data_dir + "/db");
  EXPECT_EQ(db_ids.count(1), 0u);
  EXPECT_GT(db_ids[2], 0);
  EXPECT_GT(ids_under(options_.backup_dir)[1], 0);

  // Both generations restore: the first with its key, the second with both.
  for (BackupId id : {1, 2}) {
    Options restored = options_;
    restored.data_dir = tmp_.Sub(absl::StrCat("restored-", id));
    ASSERT_THAT(Store::RestoreStore(restored, id), IsOk());
    restored.backup_dir.clear();
    auto copy = OpenStore(restored);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(Get(*copy, "t", "before"), "written before");
    if (id == 2) {
      EXPECT_EQ(Get(*copy, "t", "during"), "written during the rotation");
    }
  }

  // Two more generations prune the two that hold files under key 1.
  for (int i = 0; i < 2; ++i) {
    clock_->Advance(absl::Hours(1));
    ASSERT_THAT(store->CreateBackup(), IsOk());
  }
  EXPECT_EQ(ids_under(options_.backup_dir).count(1), 0u);
  progress = store->ResealRetiredKeys(nullptr);
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->backup_files_pending, 0u);
  EXPECT_EQ(progress->retired_file_keys, 0u);
  auto log = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
  ASSERT_THAT(log, IsOk());
  std::map<AuditEvent, std::map<std::string, std::string>> details;
  for (const AuditEntry& e : *log) {
    if (e.event == AuditEvent::kFileKeyRotated ||
        e.event == AuditEvent::kFileKeyRetired) {
      details[e.event] = e.details;
    }
  }
  EXPECT_EQ(details[AuditEvent::kFileKeyRotated]["id"], "2");
  EXPECT_EQ(details[AuditEvent::kFileKeyRotated]["retired"], "1");
  EXPECT_EQ(details[AuditEvent::kFileKeyRetired]["ids"], "1");
  store.reset();

  // Key 1 is gone from the key store; the store and its newest generation
  // open with key 2 alone.
  {
    auto keys = internal::KeyStore::Open(options_.data_dir + "/keys",
                                         provider_->GetMasterKey().value(),
                                         false, absl::UnixEpoch());
    ASSERT_THAT(keys, IsOk());
    auto ring = (*keys)->GetFileKeys();
    ASSERT_THAT(ring, IsOk());
    EXPECT_EQ(ring->current.version, 2u);
    EXPECT_TRUE(ring->retired.empty());
  }
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Get(*store, "t", "during"), "written during the rotation");
  auto backups = store->ListBackups();
  ASSERT_THAT(backups, IsOk());
  ASSERT_FALSE(backups->empty());
  Options restored = options_;
  restored.data_dir = tmp_.Sub("restored-newest");
  ASSERT_THAT(Store::RestoreStore(restored, backups->back().id), IsOk());
}

// Readers and writers go on while the values are re-sealed; an iterator made
// before the rotation reads its snapshot to the end, also after the retired
// key is destroyed; every value reads back.
TEST_F(DataKeysTest, TenantsReadAndWriteThroughTheRotation) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> tenants = {"a", "b", "c"};
  for (const std::string& id : tenants) {
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    auto t = store->OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < 600; ++i) {
      ASSERT_THAT((*t)->Put(absl::StrCat("k", i), absl::StrCat(id, i)), IsOk());
    }
  }
  auto a = store->OpenTenant("a");
  ASSERT_THAT(a, IsOk());
  std::unique_ptr<Iterator> before = (*a)->NewIterator();
  before->SeekToFirst();
  ASSERT_TRUE(before->Valid());

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> writes{0};
  std::vector<std::thread> threads;
  for (const std::string& id : tenants) {
    threads.emplace_back([&, id] {
      auto t = store->OpenTenant(id);
      if (!t.ok()) {
        ++failures;
        return;
      }
      // The only writer of its tenant: every read must give exactly the
      // value it last wrote (a re-sealed batch never brings an older one
      // back).
      std::vector<std::string> last(600);
      for (int i = 0; i < 600; ++i) last[i] = absl::StrCat(id, i);
      for (int i = 0, n = 0; !stop.load(); i = (i + 1) % 600, ++n) {
        const std::string key = absl::StrCat("k", i);
        auto v = (*t)->Get(key);
        if (!v.ok() || *v != last[i]) ++failures;
        last[i] = absl::StrCat(id, i, "#", n);
        if (!(*t)->Put(key, last[i]).ok()) ++failures;
        ++writes;
      }
    });
  }
  while (writes.load() < 200) std::this_thread::yield();
  ASSERT_THAT(store->RotateDataKeys(), IsOk());
  std::vector<KeyRotationProgress> seen;
  auto done = store->ResealRetiredKeys(
      [&](const KeyRotationProgress& p) { seen.push_back(p); });
  const int writes_during = writes.load();
  stop = true;
  for (std::thread& t : threads) t.join();
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(writes_during, 200);
  EXPECT_EQ(done->tenants_done, 3u);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.back().tenants_pending, 0u);

  int read = 0;
  for (; before->Valid(); before->Next()) {
    EXPECT_FALSE(before->value().empty());
    ++read;
  }
  EXPECT_THAT(before->status(), IsOk());
  EXPECT_EQ(read, 600);
  for (const std::string& id : tenants) {
    for (int i = 0; i < 600; i += 37) {
      EXPECT_EQ(Get(*store, id, absl::StrCat("k", i)).rfind(id, 0), 0u);
    }
  }
  // Nothing left to do; each tenant's log says what happened.
  auto again = store->ResealRetiredKeys(nullptr);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->tenants_done, 0u);
  auto log = store->ReadAuditLog("a", 0, 1000);
  ASSERT_THAT(log, IsOk());
  int rotated = 0;
  int retired = 0;
  for (const AuditEntry& e : *log) {
    if (e.event == AuditEvent::kDataKeyRotated) {
      ++rotated;
      EXPECT_EQ(e.details.at("version"), "2");
    }
    if (e.event == AuditEvent::kDataKeyRetired) {
      ++retired;
      EXPECT_EQ(e.details.at("versions"), "1");
    }
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(retired, 1);
}

// One tenant's key rotated; RunMaintenance does the re-sealing; a restore
// from a generation taken before re-seals what it brings back under the
// current key (the retired one is gone by then).
TEST_F(DataKeysTest, OneTenantMaintenanceAndARestoreFromBefore) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("a"), IsOk());
  ASSERT_THAT(store->CreateTenant("b"), IsOk());
  Put(*store, "a", "k", "a's value");
  Put(*store, "b", "k", "b's value");
  auto generation = store->CreateBackup();
  ASSERT_THAT(generation, IsOk());
  // A run before the rotation finds no retired key (and remembers it); the
  // rotation must not stay hidden from the next run.
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  EXPECT_THAT(store->RotateTenantDataKey("nobody"),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(store->RotateTenantDataKey("a"), IsOk());
  Put(*store, "a", "k", "a's new value");
  clock_->Advance(absl::Hours(25));
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->key_rotation.tenants_done, 1u);
  EXPECT_EQ(report->key_rotation.values_resealed, 0u);  // Rewritten by Put.
  EXPECT_EQ(Get(*store, "a", "k"), "a's new value");

  ASSERT_THAT(store->RestoreTenant("a", generation->id), IsOk());
  EXPECT_EQ(Get(*store, "a", "k"), "a's value");
  EXPECT_EQ(Get(*store, "b", "k"), "b's value");
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Get(*store, "a", "k"), "a's value");
}

// A crash at each step of a rotation (a spawned child killed at the crash
// point): the store opens, every value reads, and the next pass finishes the
// rotation with every tenant on its new key.
TEST_F(DataKeysTest, ACrashAtEveryStepLosesNothing) {
  const std::string key_path = tmp_.Sub("crash.key");
  ASSERT_THAT(CreateKeyFile(key_path), IsOk());
  options_.key_provider = NewFileKeyProvider(key_path).value();
  options_.backup_dir.clear();
  for (const char* point :
       {"datakeys.before_commit", "datakeys.after_commit", "reseal.after_batch",
        "reseal.before_destroy", "filekeys.after_compaction",
        "filekeys.before_destroy"}) {
    SCOPED_TRACE(point);
    options_.data_dir = tmp_.Sub(absl::StrCat("store-", point));
    {
      auto store = OpenStore();
      ASSERT_NE(store, nullptr);
      for (const char* id : {"a", "b"}) {
        ASSERT_THAT(store->CreateTenant(id), IsOk());
        auto t = store->OpenTenant(id);
        ASSERT_THAT(t, IsOk());
        for (int i = 0; i < 700; ++i) {
          ASSERT_THAT((*t)->Put(absl::StrCat("k", i), absl::StrCat(id, i)),
                      IsOk());
        }
      }
    }
    test::Child child({test::CrashChildPath(), "datakeys", options_.data_dir,
                       key_path, point});
    const int status = child.Wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "status " << status;
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    for (const char* id : {"a", "b"}) {
      for (int i = 0; i < 700; i += 7) {
        EXPECT_EQ(Get(*store, id, absl::StrCat("k", i)), absl::StrCat(id, i));
      }
    }
    auto done = store->ResealRetiredKeys(nullptr);
    ASSERT_THAT(done, IsOk());
    EXPECT_EQ(done->tenants_pending, 0u);
    for (const char* id : {"a", "b"}) {
      for (int i = 0; i < 700; i += 7) {
        EXPECT_EQ(Get(*store, id, absl::StrCat("k", i)), absl::StrCat(id, i));
      }
    }
  }
}

}  // namespace
}  // namespace leyser
