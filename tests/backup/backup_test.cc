// Backups through the public API: daily generations on a manual clock,
// verification against checksums, whole-store and single-tenant restore,
// crashes, bad input.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "rocksdb/utilities/backup_engine.h"
#include <signal.h>
#include <sys/wait.h>

#include "leyser/store.h"

#include "lib/backup/backup_manager.h"
#include "lib/crypto/file_cipher.h"
#include "lib/keys/key_store.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/registry.pb.h"
#include "lib/util/files.h"
#include "tests/test/backup_files.h"
#include "tests/test/parts.h"
#include "tests/test/spawn.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

bool DirIsEmptyOrAbsent(const std::string& dir) {
  return !std::filesystem::exists(dir) || std::filesystem::is_empty(dir);
}

using BackupTest = test::BackupFixture;

// Issue 4, test 1: ten simulated days, seven generations, each restoring
// exactly its day.
TEST_F(BackupTest, TenDaysKeepSevenGenerationsThatEachRestoreTheirDay) {
  auto store = OpenStore();
  for (const char* id : {"a", "ab", "b"})
    ASSERT_THAT(store->CreateTenant(id), IsOk());
  std::map<absl::Time, StoreData>
      by_day;  // Keyed by the generation's creation time.
  for (int day = 0; day < 10; ++day) {
    SCOPED_TRACE(absl::StrCat("day ", day));
    for (const char* id : {"a", "ab", "b"}) {
      auto t = store->OpenTenant(id);
      ASSERT_THAT(t, IsOk());
      ASSERT_THAT(
          (*t)->Put(absl::StrCat("k", day), absl::StrCat(id, " day ", day)),
          IsOk());
      ASSERT_THAT((*t)->Put("common", absl::StrCat("day ", day)), IsOk());
      ASSERT_THAT((*t)->Delete(absl::StrCat("k", day - 3)), IsOk());
    }
    const StoreData today = ReadAll(*store);
    auto report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    ASSERT_TRUE(report->backups_enabled);
    ASSERT_TRUE(report->backup.has_value());
    EXPECT_EQ(report->backup->created, clock_->Now());
    EXPECT_TRUE(report->backup->manifest_readable);
    EXPECT_EQ(report->backup->tenants.size(), 3u);
    EXPECT_EQ(report->pruned.size(), day >= 7 ? 1u : 0u);
    by_day[report->backup->created] = today;
    // Idempotent: nothing more is due today.
    auto again = store->RunMaintenance();
    ASSERT_THAT(again, IsOk());
    EXPECT_FALSE(again->backup.has_value());
    EXPECT_TRUE(again->pruned.empty());
    clock_->Advance(absl::Hours(24));
  }
  auto backups = store->ListBackups();
  ASSERT_THAT(backups, IsOk());
  ASSERT_EQ(backups->size(), 7u);
  for (const BackupInfo& b : *backups) {
    SCOPED_TRACE(absl::StrCat("generation ", b.id));
    EXPECT_THAT(store->VerifyBackup(b.id), IsOk());
    ASSERT_TRUE(by_day.count(b.created));
    EXPECT_EQ(Restored(b.id), by_day[b.created]);
  }
  // The oldest three days are gone.
  EXPECT_EQ(backups->front().created,
            test::SomeInstant() + absl::Hours(3) + absl::Hours(24 * 3));
}

// Relative data and backup directories work (RocksDB's backup engine wants
// absolute paths; the store makes them so), also for a restore.
TEST_F(BackupTest, RelativeDirectoriesWork) {
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(tmp_.path());
  Options relative = options_;
  relative.data_dir = "./rel-store/";
  relative.backup_dir = "rel-backups";
  {
    auto store = Store::Open(relative);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->CreateTenant("t"), IsOk());
    ASSERT_THAT((*store)->OpenTenant("t").value()->Put("k", "v"), IsOk());
    auto backup = (*store)->CreateBackup();
    ASSERT_THAT(backup, IsOk());
    EXPECT_THAT((*store)->VerifyBackup(backup->id), IsOk());
  }
  Options target = relative;
  target.data_dir = "rel-restored";
  EXPECT_THAT(Store::RestoreStore(target, 1), IsOk());
  target.create_if_missing = false;
  auto restored = Store::Open(target);
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ((*restored)->OpenTenant("t").value()->Get("k").value(), "v");
  std::filesystem::current_path(cwd);
}

TEST_F(BackupTest, CatchesUpWithOneBackupAndNeverRunsEarly) {
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  // 01:00 UTC, before today's 02:00: yesterday's due instant counts, so one
  // backup now.
  clock_->Set(test::SomeInstant() + absl::Hours(1));
  auto first = store->RunMaintenance();
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(first->backup.has_value());
  clock_->Advance(absl::Minutes(30));  // 01:30: still nothing new due.
  EXPECT_FALSE(store->RunMaintenance()->backup.has_value());
  clock_->Advance(absl::Minutes(30));  // 02:00: due.
  EXPECT_TRUE(store->RunMaintenance()->backup.has_value());
  // Three days of downtime: one backup, not three.
  clock_->Advance(absl::Hours(72));
  EXPECT_TRUE(store->RunMaintenance()->backup.has_value());
  EXPECT_FALSE(store->RunMaintenance()->backup.has_value());
  EXPECT_EQ(store->ListBackups()->size(), 3u);
  // The clock steps back a day: no backup is due again.
  clock_->Advance(-absl::Hours(24));
  EXPECT_FALSE(store->RunMaintenance()->backup.has_value());
  EXPECT_EQ(store->ListBackups()->size(), 3u);
}

TEST_F(BackupTest, LatestDueInstantIsTheLastScheduledTimeAtOrBeforeNow) {
  const absl::Time midnight = test::SomeInstant();
  EXPECT_EQ(
      internal::LatestDueInstant(midnight + absl::Hours(3), absl::Hours(2)),
      midnight + absl::Hours(2));
  EXPECT_EQ(
      internal::LatestDueInstant(midnight + absl::Hours(2), absl::Hours(2)),
      midnight + absl::Hours(2));
  EXPECT_EQ(
      internal::LatestDueInstant(midnight + absl::Hours(1), absl::Hours(2)),
      midnight - absl::Hours(22));
  EXPECT_EQ(internal::LatestDueInstant(midnight, absl::ZeroDuration()),
            midnight);
}

// Issue 4, test 2: a flipped byte is found in every generation that uses the
// file.
TEST_F(BackupTest, FlippedByteIsReportedAndRestoreLeavesTheTargetEmpty) {
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  auto t = store->OpenTenant("t");
  std::map<BackupId, StoreData> data;
  for (int day = 0; day < 4; ++day) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_THAT((*t)->Put(absl::StrCat("d", day, "-", i),
                            std::string(200, static_cast<char>('a' + day))),
                  IsOk());
    }
    auto b = store->CreateBackup();
    ASSERT_THAT(b, IsOk());
    data[b->id] = ReadAll(*store);
  }
  // A file the newest generations use but the oldest does not.
  store.reset();
  t->reset();
  const auto shared = SharedFiles(options_);
  store = OpenStore();
  const BackupId oldest = data.begin()->first, newest = data.rbegin()->first;
  std::set<std::string> candidates = shared.at(newest);
  for (const std::string& f : shared.at(oldest)) candidates.erase(f);
  ASSERT_FALSE(candidates.empty());
  const std::string victim = *candidates.begin();
  FlipAByte(options_.backup_dir + "/engine/" + victim);
  int affected = 0;
  for (const auto& [id, expected] : data) {
    SCOPED_TRACE(absl::StrCat("generation ", id));
    const bool uses = shared.at(id).count(victim) > 0;
    if (uses) {
      ++affected;
      EXPECT_THAT(store->VerifyBackup(id),
                  StatusIs(absl::StatusCode::kDataLoss));
      Options target = options_;
      target.data_dir = tmp_.Sub(absl::StrCat("bad-restore-", id));
      EXPECT_THAT(Store::RestoreStore(target, id),
                  StatusIs(absl::StatusCode::kDataLoss));
      EXPECT_TRUE(DirIsEmptyOrAbsent(target.data_dir));
      // An existing empty target stays, and stays empty.
      std::filesystem::create_directories(target.data_dir);
      EXPECT_THAT(Store::RestoreStore(target, id),
                  StatusIs(absl::StatusCode::kDataLoss));
      EXPECT_TRUE(DirIsEmptyOrAbsent(target.data_dir));
      for (const auto& e :
           std::filesystem::recursive_directory_iterator(target.data_dir)) {
        ADD_FAILURE() << "left behind: " << e.path();
      }
    } else {
      EXPECT_THAT(store->VerifyBackup(id), IsOk());
      EXPECT_EQ(Restored(id), expected);
    }
  }
  EXPECT_GE(affected, 1);
  EXPECT_LT(affected, static_cast<int>(data.size()));
}

// Issue 4, test 3: one tenant restored while the others keep writing.
TEST_F(BackupTest, SingleTenantRestoreLeavesEveryOtherTenantAlone) {
  auto store = OpenStore();
  for (const char* id : {"a", "ab", "b"})
    ASSERT_THAT(store->CreateTenant(id), IsOk());
  auto a = store->OpenTenant("a").value();
  auto ab = store->OpenTenant("ab").value();
  auto b = store->OpenTenant("b").value();
  for (int i = 0; i < 300; ++i) {
    ASSERT_THAT(a->Put(absl::StrCat("k", i), absl::StrCat("a-old-", i)),
                IsOk());
    ASSERT_THAT(ab->Put(absl::StrCat("k", i), absl::StrCat("ab-", i)), IsOk());
    ASSERT_THAT(b->Put(absl::StrCat("k", i), absl::StrCat("b-", i)), IsOk());
  }
  auto generation = store->CreateBackup();
  ASSERT_THAT(generation, IsOk());
  const TenantData a_at_backup = ReadAll(*store)["a"];
  // After the backup: a changes in every way; ab and b change too.
  for (int i = 0; i < 300; i += 3)
    ASSERT_THAT(a->Delete(absl::StrCat("k", i)), IsOk());
  for (int i = 1; i < 300; i += 3)
    ASSERT_THAT(a->Put(absl::StrCat("k", i), "a-new"), IsOk());
  for (int i = 0; i < 100; ++i)
    ASSERT_THAT(a->Put(absl::StrCat("added", i), "x"), IsOk());
  ASSERT_THAT(ab->Put("after-backup", "kept"), IsOk());
  StoreData before = ReadAll(*store);

  // Writers on the other tenants during the restore.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  std::vector<int> written(2, 0);
  Tenant* others[2] = {ab.get(), b.get()};
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      int i = 0;
      for (; !stop.load() || i < 50; ++i) {
        if (!others[w]->Put(absl::StrCat("during", i), "d").ok()) ++failures;
      }
      written[w] = i;
    });
  }
  ASSERT_THAT(store->RestoreTenant("a", generation->id), IsOk());
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < written[w]; ++i)
      before[w == 0 ? "ab" : "b"][absl::StrCat("during", i)] = "d";
  }
  StoreData after = ReadAll(*store);
  EXPECT_EQ(after["a"], a_at_backup);
  EXPECT_EQ(after["ab"], before["ab"]);
  EXPECT_EQ(after["b"], before["b"]);
  // The open handle of a reads the restored data, and writes go on.
  EXPECT_THAT(a->Get("k0"), IsOkAndHolds(std::string("a-old-0")));
  EXPECT_THAT(a->Get("added0"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(a->Put("after-restore", "y"), IsOk());
  // Also after a reopen.
  a.reset();
  ab.reset();
  b.reset();
  store.reset();
  store = OpenStore();
  StoreData reopened = ReadAll(*store);
  after["a"]["after-restore"] = "y";
  EXPECT_EQ(reopened, after);
}

TEST_F(BackupTest, RestoringATenantThatHadNoDataEmptiesIt) {
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("a"), IsOk());
  auto generation = store->CreateBackup();
  ASSERT_THAT(generation, IsOk());
  auto a = store->OpenTenant("a").value();
  ASSERT_THAT(a->Put("k", "v"), IsOk());
  ASSERT_THAT(store->RestoreTenant("a", generation->id), IsOk());
  EXPECT_THAT(a->Get("k"), StatusIs(absl::StatusCode::kNotFound));
}

// Issue 4, test 5: bad input gets clear codes.
TEST_F(BackupTest, BadInputGetsClearCodes) {
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("a"), IsOk());
  auto generation = store->CreateBackup();
  ASSERT_THAT(generation, IsOk());
  ASSERT_THAT(store->CreateTenant("late"), IsOk());
  const BackupId unknown = generation->id + 100;
  EXPECT_THAT(store->VerifyBackup(unknown),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->RestoreTenant("a", unknown),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->RestoreTenant("nobody", generation->id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->RestoreTenant("late", generation->id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->RestoreTenant("bad id", generation->id),
              StatusIs(absl::StatusCode::kInvalidArgument));

  Options target = options_;
  target.data_dir = tmp_.Sub("target");
  EXPECT_THAT(Store::RestoreStore(target, unknown),
              StatusIs(absl::StatusCode::kNotFound));
  std::filesystem::create_directories(target.data_dir);
  test::WriteFile(target.data_dir + "/something", "x");
  EXPECT_THAT(Store::RestoreStore(target, generation->id),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(std::filesystem::exists(target.data_dir +
                                      "/something"));  // Nothing lost.
  target.data_dir = tmp_.Sub("target2");
  target.key_provider = test::NewTestKeyProvider(tmp_, "other.key");
  EXPECT_THAT(Store::RestoreStore(target, generation->id),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(DirIsEmptyOrAbsent(target.data_dir));
  target.backup_dir = "";
  EXPECT_THAT(Store::RestoreStore(target, generation->id),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  Options bad = options_;
  bad.backup_dir = options_.data_dir + "/backups";
  EXPECT_THAT(Store::Open(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = options_;
  bad.backup_generations = 0;
  EXPECT_THAT(Store::Open(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = options_;
  bad.backup_time_of_day = absl::Hours(24);
  EXPECT_THAT(Store::Open(bad), StatusIs(absl::StatusCode::kInvalidArgument));

  // Backups off.
  store.reset();
  Options off = options_;
  off.backup_dir = "";
  auto plain = Store::Open(off);
  ASSERT_THAT(plain, IsOk());
  EXPECT_THAT((*plain)->CreateBackup(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*plain)->ListBackups(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto report = (*plain)->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->backups_enabled);
  EXPECT_FALSE(report->backup.has_value());
}

TEST_F(BackupTest, BackupFilesAreEncryptedAndSealed) {
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("tenant-name-marker"), IsOk());
  auto t = store->OpenTenant("tenant-name-marker").value();
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(
        t->Put(absl::StrCat("KEYMARKER", i), absl::StrCat("VALUEMARKER", i)),
        IsOk());
  }
  ASSERT_THAT(store->CreateBackup(), IsOk());
  for (const auto& [name, content] : test::SnapshotFiles(options_.backup_dir)) {
    for (const char* marker :
         {"KEYMARKER", "VALUEMARKER", "tenant-name-marker"}) {
      EXPECT_EQ(content.find(marker), std::string::npos)
          << marker << " in " << name;
    }
  }
}

// A master-key rotation re-seals the generations under the new key: they
// verify and restore with it, and the retired key no longer opens them.
// Opened without its backup directory, the rotation cannot reach them: they
// keep needing the key that sealed them, and the audit entry says so.
TEST_F(BackupTest, ARotationReSealsTheGenerationsUnderTheNewKey) {
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("a"), IsOk());
  ASSERT_THAT(store->OpenTenant("a").value()->Put("k", "before"), IsOk());
  auto old_generation = store->CreateBackup();
  ASSERT_THAT(old_generation, IsOk());
  auto new_key = test::NewTestKeyProvider(tmp_, "new.key");
  ASSERT_THAT(store->RotateMasterKey(new_key), IsOk());
  ASSERT_THAT(store->OpenTenant("a").value()->Put("k", "after"), IsOk());
  auto new_generation = store->CreateBackup();
  ASSERT_THAT(new_generation, IsOk());
  auto list = store->ListBackups();
  ASSERT_THAT(list, IsOk());
  ASSERT_EQ(list->size(), 2u);
  for (const BackupInfo& info : *list) {
    EXPECT_TRUE(info.manifest_readable) << info.id;
    EXPECT_EQ(info.master_key_generation,
              old_generation->master_key_generation + 1);
  }
  EXPECT_THAT(store->VerifyBackup(old_generation->id), IsOk());
  EXPECT_THAT(store->VerifyBackup(new_generation->id), IsOk());
  auto log = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
  ASSERT_THAT(log, IsOk());
  bool recorded = false;
  for (const AuditEntry& e : *log) {
    if (e.event != AuditEvent::kMasterKeyRotated) continue;
    recorded = true;
    EXPECT_EQ(e.details.at("generations_resealed"),
              absl::StrCat(old_generation->id));
  }
  EXPECT_TRUE(recorded);
  for (const auto& [name, content] :
       test::SnapshotFiles(options_.backup_dir + "/generations")) {
    EXPECT_EQ(name.find(".next"), std::string::npos) << name;
  }

  Options target = options_;
  target.data_dir = tmp_.Sub("old-with-old-key");
  target.key_provider = provider_;
  EXPECT_THAT(Store::RestoreStore(target, old_generation->id),
              StatusIs(absl::StatusCode::kPermissionDenied));
  target.data_dir = tmp_.Sub("old-with-new-key");
  target.key_provider = new_key;
  ASSERT_THAT(Store::RestoreStore(target, old_generation->id), IsOk());
  auto restored = Store::Open(target);
  ASSERT_THAT(restored, IsOk());
  EXPECT_THAT((*restored)->OpenTenant("a").value()->Get("k"),
              IsOkAndHolds(std::string("before")));
  restored->reset();

  // Without the backup directory at the next rotation: not reached.
  store.reset();
  Options no_backups = options_;
  no_backups.key_provider = new_key;
  no_backups.backup_dir.clear();
  auto third_key = test::NewTestKeyProvider(tmp_, "third.key");
  {
    auto s = Store::Open(no_backups);
    ASSERT_THAT(s, IsOk());
    ASSERT_THAT((*s)->RotateMasterKey(third_key), IsOk());
    auto entries = (*s)->ReadAuditLog(kSystemAuditLog, 0, 1000);
    ASSERT_THAT(entries, IsOk());
    // The rotation's entry, then the signing key's.
    ASSERT_GE(entries->size(), 2u);
    const AuditEntry& rotated = (*entries)[entries->size() - 2];
    EXPECT_EQ(rotated.event, AuditEvent::kMasterKeyRotated);
    EXPECT_EQ(entries->back().event, AuditEvent::kSigningKeyRotated);
    EXPECT_TRUE(absl::StrContains(rotated.details.at("generations_skipped"),
                                  "backups are off"));
  }
  Options with_backups = options_;
  with_backups.key_provider = third_key;
  auto s = Store::Open(with_backups);
  ASSERT_THAT(s, IsOk());
  EXPECT_THAT((*s)->VerifyBackup(old_generation->id),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  target.data_dir = tmp_.Sub("needs-the-second-key");
  target.key_provider = new_key;
  EXPECT_THAT(Store::RestoreStore(target, old_generation->id), IsOk());
}

// A crash after the key store committed, before the re-sealed twins took
// their generations' places: the next backup (or maintenance) puts them in
// place. A crash before the commit: the twins are removed, the generations
// stay under the key in force.
TEST_F(BackupTest, AKilledRotationSettlesTheReSealedGenerations) {
  const std::string old_path = tmp_.Sub("old.key");
  const std::string new_path = tmp_.Sub("new.key");
  ASSERT_THAT(CreateKeyFile(old_path), IsOk());
  ASSERT_THAT(CreateKeyFile(new_path), IsOk());
  for (const auto& [point, committed] :
       std::vector<std::pair<std::string, bool>>{
           {"rotate.before_commit", false},
           {"rotate.before_generations", true}}) {
    SCOPED_TRACE(point);
    Options o = options_;
    o.data_dir = tmp_.Sub("store-" + point);
    o.backup_dir = tmp_.Sub("backups-" + point);
    o.key_provider = NewFileKeyProvider(old_path).value();
    {
      auto store = Store::Open(o);
      ASSERT_THAT(store, IsOk());
      ASSERT_THAT((*store)->CreateTenant("a"), IsOk());
      ASSERT_THAT((*store)->CreateBackup(), IsOk());
    }
    test::Child child({test::CrashChildPath(), "rotate-with-backups",
                       o.data_dir, old_path, new_path, o.backup_dir, point});
    const int status = child.Wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "status " << status;
    bool twin = false;
    for (const auto& [name, content] :
         test::SnapshotFiles(o.backup_dir + "/generations")) {
      twin = twin || name.find(".next") != std::string::npos;
    }
    EXPECT_TRUE(twin);
    o.key_provider =
        NewFileKeyProvider(committed ? new_path : old_path).value();
    auto store = Store::Open(o);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->CreateBackup(), IsOk());  // Repairs first.
    for (const auto& [name, content] :
         test::SnapshotFiles(o.backup_dir + "/generations")) {
      EXPECT_EQ(name.find(".next"), std::string::npos) << name;
    }
    auto list = (*store)->ListBackups();
    ASSERT_THAT(list, IsOk());
    ASSERT_EQ(list->size(), 2u);
    for (const BackupInfo& info : *list) {
      EXPECT_TRUE(info.manifest_readable) << info.id;
      EXPECT_THAT((*store)->VerifyBackup(info.id), IsOk());
    }
  }
}

// Issue 4, test 4: a backup killed midway leaves no listed partial generation
// and no orphan.
TEST_F(BackupTest, KilledBackupLeavesNothingPartialAfterTheNextRun) {
  const std::string key_path = tmp_.Sub("crash.key");
  ASSERT_THAT(CreateKeyFile(key_path), IsOk());
  struct Case {
    const char* point;
    std::size_t listed_after_kill;  // Generations listed right after the kill.
  } cases[] = {
      {"backup.after_engine", 2},  // The new backup has no generation file yet.
      {"backup.after_generation", 3},  // Complete, not yet pruned.
      {"prune.after_unlist",
       2},          // The oldest is unlisted, its engine backup still there.
      {"none", 0},  // Killed at a random moment (or finished).
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.point);
    Options o = options_;
    o.data_dir = tmp_.Sub(absl::StrCat("store-", c.point));
    o.backup_dir = tmp_.Sub(absl::StrCat("backups-", c.point));
    o.key_provider = NewFileKeyProvider(key_path).value();
    o.backup_generations = 2;
    o.clock = SystemClock();
    std::size_t before = 0;
    {
      auto store = Store::Open(o);
      ASSERT_THAT(store, IsOk());
      ASSERT_THAT((*store)->CreateTenant("t"), IsOk());
      auto t = (*store)->OpenTenant("t").value();
      for (int i = 0; i < 2000; ++i) {
        ASSERT_THAT(t->Put(absl::StrCat("k", i), std::string(500, 'v')),
                    IsOk());
      }
      ASSERT_THAT((*store)->CreateBackup(), IsOk());
      ASSERT_THAT((*store)->CreateBackup(), IsOk());
      before = (*store)->ListBackups()->size();
      ASSERT_EQ(before, 2u);
    }
    test::Child child({test::CrashChildPath(), "backup", o.data_dir, key_path,
                       o.backup_dir, c.point});
    std::string line;
    ASSERT_TRUE(child.ReadLine(&line));
    ASSERT_EQ(line, "READY");
    if (std::string(c.point) == "none") {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(5));  // Kill while it works.
      child.Kill();
    } else {
      const int status = child.Wait();
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    }
    auto store = Store::Open(o);
    ASSERT_THAT(store, IsOk());
    auto listed = (*store)->ListBackups();
    ASSERT_THAT(listed, IsOk());
    for (const BackupInfo& b : *listed)
      EXPECT_THAT((*store)->VerifyBackup(b.id), IsOk()) << b.id;
    if (std::string(c.point) != "none") {
      EXPECT_EQ(listed->size(), c.listed_after_kill);
    }
    // The next run succeeds, repairs, and leaves exactly the listed
    // generations.
    auto backup = (*store)->CreateBackup();
    ASSERT_THAT(backup, IsOk());
    listed = (*store)->ListBackups();
    ASSERT_EQ(listed->size(), 2u);
    for (const BackupInfo& b : *listed)
      EXPECT_THAT((*store)->VerifyBackup(b.id), IsOk());
    store->reset();
    std::set<std::string> metas;
    for (const auto& e :
         std::filesystem::directory_iterator(o.backup_dir + "/engine/meta")) {
      metas.insert(e.path().filename().string());
    }
    std::set<std::string> listed_ids;
    std::set<std::string> referenced;
    const auto shared = SharedFiles(o);
    for (const BackupInfo& b : *listed) {
      listed_ids.insert(absl::StrCat(b.id));
      ASSERT_TRUE(shared.count(b.id)) << b.id;
      referenced.insert(shared.at(b.id).begin(), shared.at(b.id).end());
    }
    EXPECT_EQ(metas, listed_ids)
        << "engine backups without a generation remain";
    for (const auto& e : std::filesystem::directory_iterator(
             o.backup_dir + "/engine/shared_checksum")) {
      const std::string name =
          "shared_checksum/" + e.path().filename().string();
      EXPECT_TRUE(referenced.count(name)) << "orphan file " << name;
    }
    for (const auto& e :
         std::filesystem::directory_iterator(o.backup_dir + "/generations")) {
      EXPECT_TRUE(absl::EndsWith(e.path().string(), ".gen") ||
                  e.path().filename() == "counter")
          << e.path();
    }
    // And a restore of the newest works.
    Options target = o;
    target.data_dir = tmp_.Sub(absl::StrCat("restored-", c.point));
    ASSERT_THAT(Store::RestoreStore(target, listed->back().id), IsOk());
    auto restored = Store::Open(target);
    ASSERT_THAT(restored, IsOk());
    EXPECT_THAT((*restored)->OpenTenant("t").value()->Get("k1999"), IsOk());
  }
}

// Issue 12: every clear field of a generation file is authenticated. One bit
// flipped in any of them is DataLoss at verification, and a creation time
// moved into the future never makes the next daily backup look taken.
TEST_F(BackupTest, AFlippedClearFieldIsDataLossNeverASkippedBackup) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("a"), IsOk());
  ASSERT_THAT(store->OpenTenant("a").value()->Put("k", "v"), IsOk());
  auto generation = store->CreateBackup();
  ASSERT_THAT(generation, IsOk());
  const std::string path = absl::StrCat(options_.backup_dir, "/generations/",
                                        generation->id, ".gen");
  const std::string original = internal::ReadFileToString(path).value();
  proto::GenerationFile file;
  ASSERT_TRUE(file.ParseFromString(original));
  ASSERT_EQ(file.format_version(), 2u);
  std::vector<
      std::pair<const char*, std::function<void(proto::GenerationFile&)>>>
      flips = {
          {"format_version",
           [](proto::GenerationFile& f) {
             f.set_format_version(f.format_version() ^ 1);
           }},
          {"format_version to 3",
           [](proto::GenerationFile& f) {
             f.set_format_version(f.format_version() ^ 1 ^ 2);
           }},
          {"id", [](proto::GenerationFile& f) { f.set_id(f.id() ^ 2); }},
          {"created seconds",
           [](proto::GenerationFile& f) {
             f.mutable_created()->set_seconds(f.created().seconds() ^
                                              (1 << 20));
           }},
          {"created nanos",
           [](proto::GenerationFile& f) {
             f.mutable_created()->set_nanos(f.created().nanos() ^ 1);
           }},
          {"master_generation up",
           [](proto::GenerationFile& f) {
             f.set_master_generation(f.master_generation() ^ 2);
           }},
          {"master_generation down",
           [](proto::GenerationFile& f) {
             f.set_master_generation(f.master_generation() ^ 1);
           }},
          {"master_check",
           [](proto::GenerationFile& f) {
             (*f.mutable_master_check())[5] ^= 1;
           }},
          {"engine_backup_id",
           [](proto::GenerationFile& f) {
             f.set_engine_backup_id(f.engine_backup_id() ^ 4);
           }},
          {"sealed",
           [](proto::GenerationFile& f) { (*f.mutable_sealed())[40] ^= 1; }},
      };
  for (auto& [name, flip] : flips) {
    SCOPED_TRACE(name);
    proto::GenerationFile changed = file;
    flip(changed);
    test::WriteFile(path, changed.SerializeAsString());
    EXPECT_THAT(store->VerifyBackup(generation->id),
                StatusIs(absl::StatusCode::kDataLoss));
  }
  // A creation time in the future: the next day's backup is still taken.
  proto::GenerationFile future = file;
  future.mutable_created()->set_seconds(file.created().seconds() +
                                        400LL * 24 * 3600);
  test::WriteFile(path, future.SerializeAsString());
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  store = OpenStore();  // Reads the generations afresh.
  ASSERT_NE(store, nullptr);
  clock_->Advance(absl::Hours(24));
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->backup.has_value());
  test::WriteFile(path, original);
  EXPECT_THAT(store->VerifyBackup(generation->id), IsOk());
}

// Which generations a shred deletes and which it keeps, on real parts: every
// generation up to the last one before the purge, and any later one whose
// manifest still lists the tenant unpurged, go whole; the others keep
// everything but the tenant's key. Idempotent.
TEST(ShredDecisionTest, DeletesWhatCanHoldTheTenantAndScrubsTheRest) {
  test::TempDir tmp;
  test::Parts parts(tmp);
  const auto records = parts.AddTenants({"gone", "stays"});
  const std::uint64_t gone = records[0].number();
  Options options;
  options.backup_dir = tmp.Sub("backups");
  options.backup_generations = 10;
  internal::BackupManager backups(options, parts.db, parts.keys.get());
  auto set_state = [&](proto::TenantState s) {
    proto::TenantRecord r = parts.registry->Record("gone").value();
    r.set_state(s);
    absl::MutexLock lock(&parts.registry->lifecycle_mu());
    ASSERT_THAT(parts.registry->WriteRecord(r, nullptr), IsOk());
  };
  auto backup = [&] {
    parts.clock->Advance(absl::Hours(1));
    auto info = backups.CreateBackup(parts.clock->Now(), nullptr);
    EXPECT_THAT(info, IsOk());
    return info.ok() ? info->id : 0;
  };
  const BackupId g1 = backup();  // ACTIVE.
  set_state(proto::TENANT_STATE_ENDED);
  const BackupId g2 = backup();  // ENDED: still holds the data.
  set_state(proto::TENANT_STATE_PURGED);
  const BackupId g3 = backup();  // PURGED, its key still in the copy.
  ASSERT_THAT(parts.keys->DestroyTenantKey(gone), IsOk());
  const BackupId g4 = backup();  // PURGED, no key.
  std::vector<BackupId> announced;
  auto shreds = backups.ShredTenants({{gone, g1}}, [&](BackupId id) {
    announced.push_back(id);
    return absl::OkStatus();
  });
  ASSERT_THAT(shreds, IsOk());
  ASSERT_EQ(shreds->size(), 1u);
  const internal::BackupManager::ShredResult* shred = &shreds->front();
  EXPECT_EQ(shred->deleted, (std::vector<BackupId>{g1, g2}));
  EXPECT_EQ(shred->checked, (std::vector<BackupId>{g3, g4}));
  EXPECT_EQ(shred->key_removed, (std::vector<BackupId>{g3}));
  EXPECT_EQ(announced, shred->deleted);
  auto listed = backups.List();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 2u);
  // g3's copy lost the tenant's key (verified as a whole); the other tenant
  // keeps its own.
  for (BackupId id : {g3, g4}) EXPECT_THAT(backups.Verify(id), IsOk());
  const std::string sst = tmp.Sub("stays.sst");
  EXPECT_THAT(
      backups.ExportTenant(
          g3, records[1].number(), sst,
          [](const std::vector<internal::TenantKey>& keys, std::string_view,
             std::string_view sealed) -> absl::StatusOr<std::string> {
            EXPECT_FALSE(keys.empty());  // The tenant's key stays.
            return std::string(sealed);
          }),
      IsOk());
  auto agains = backups.ShredTenants({{gone, g1}}, [&](BackupId) {
    ADD_FAILURE() << "nothing left to delete";
    return absl::OkStatus();
  });
  ASSERT_THAT(agains, IsOk());
  ASSERT_EQ(agains->size(), 1u);
  const internal::BackupManager::ShredResult* again = &agains->front();
  EXPECT_TRUE(again->deleted.empty());
  EXPECT_EQ(again->checked, (std::vector<BackupId>{g3, g4}));
  EXPECT_TRUE(again->key_removed.empty());
}

}  // namespace
}  // namespace leyser
