// What a purge and a shred claim, checked as a careless operator and as an
// attacker would: a shred never signs while it cannot account for every backup
// generation, and a purge leaves no live file holding the tenant's records or
// its wrapped key, nothing in the scratch directory, no key in memory.

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "leyser/audit.h"
#include "leyser/store.h"

#include "lib/keys/key_store.h"
#include "lib/proto/backup.pb.h"
#include "lib/proto/registry.pb.h"
#include "lib/registry/records.h"
#include "lib/store/store_impl.h"
#include "lib/util/files.h"
#include "tests/test/raw_db.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;

constexpr absl::Duration kDay = absl::Hours(24);

class ErasureTest : public test::StoreFixture {
 protected:
  ErasureTest() {
    options_.purge_after = 2 * kDay;
    options_.backup_purge_after = 3 * kDay;
    options_.backup_generations = 10;
  }

  void Fill(Store& store, const std::string& id, int keys) {
    auto t = store.OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < keys; ++i) {
      ASSERT_THAT((*t)->Put(absl::StrCat("r", i, "-", id, "-marker"),
                            absl::StrCat(id, "-value-", i)),
                  IsOk());
    }
  }

  TenantState State(Store& store, const std::string& id) {
    auto info = store.GetTenantInfo(id);
    EXPECT_THAT(info, IsOk());
    return info.ok() ? info->state : TenantState::kActive;
  }

  // Tenants "gone" and "stay" with data, a first backup, and "gone" ended and
  // then purged by daily maintenance runs; one more daily backup after the
  // purge. Returns the store, still open.
  std::unique_ptr<Store> StoreWithPurgedTenant() {
    auto store = OpenStore();
    if (store == nullptr) return nullptr;
    for (const char* id : {"gone", "stay"}) {
      EXPECT_THAT(store->CreateTenant(id), IsOk());
      Fill(*store, id, 20);
    }
    EXPECT_THAT(store->RunMaintenance(), IsOk());
    EXPECT_THAT(store->EndContract("gone", clock_->Now()), IsOk());
    for (int day = 0; day < 10 && State(*store, "gone") != TenantState::kPurged;
         ++day) {
      clock_->Advance(kDay);
      EXPECT_THAT(store->RunMaintenance(), IsOk());
    }
    EXPECT_EQ(State(*store, "gone"), TenantState::kPurged);
    clock_->Advance(kDay);
    auto report = store->RunMaintenance();
    EXPECT_THAT(report, IsOk());
    EXPECT_TRUE(report.ok() && report->backup.has_value());  // After the purge.
    return store;
  }

  // Another store (its own key and installation) with a tenant and `backups`
  // generations in `backup_dir`; its data directory is gone afterwards.
  void OtherStoreWithBackups(const std::string& backup_dir, int backups) {
    test::TempDir other_tmp;
    Options other = test::TestOptions(
        other_tmp, test::NewTestKeyProvider(other_tmp), clock_);
    other.backup_dir = backup_dir;
    auto store = OpenStore(other);
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("theirs"), IsOk());
    for (int i = 0; i < backups; ++i) {
      clock_->Advance(absl::Minutes(1));
      ASSERT_THAT(store->CreateBackup(), IsOk());
    }
  }

  // Runs maintenance on the day the shred of "gone" is due, or later.
  absl::StatusOr<MaintenanceReport> RunAtShredDue(Store& store) {
    auto info = store.GetTenantInfo("gone");
    if (!info.ok()) return info.status();
    if (info->shred_due.has_value() && clock_->Now() < *info->shred_due) {
      clock_->Set(*info->shred_due);
    }
    return store.RunMaintenance();
  }

  // The reason the report gives for a waiting shred of "gone" ("" if none).
  static std::string ShredWait(const MaintenanceReport& report) {
    for (const MaintenanceReport::WaitingStep& w : report.waiting) {
      if (w.tenant_id == "gone" && w.step == "shred") return w.reason;
    }
    return "";
  }

  // How many LIFECYCLE_WAITING entries "gone"'s audit log holds.
  static int WaitEntries(Store& store) {
    auto entries = store.ReadAuditLog("gone", 0, 100000);
    EXPECT_THAT(entries, IsOk());
    if (!entries.ok()) return -1;
    return static_cast<int>(std::count_if(
        entries->begin(), entries->end(), [](const AuditEntry& e) {
          return e.event == AuditEvent::kLifecycleWaiting;
        }));
  }

  // Every remaining generation restored: "gone" is in none of them with data
  // or a key (its state there is PURGED, or it is absent).
  void ExpectNoGenerationYieldsGone(Store& store,
                                    std::shared_ptr<KeyProvider> provider) {
    auto list = store.ListBackups();
    ASSERT_THAT(list, IsOk());
    ASSERT_FALSE(list->empty());
    for (const BackupInfo& generation : *list) {
      SCOPED_TRACE(absl::StrCat("generation ", generation.id));
      Options target = options_;
      target.key_provider = provider;
      target.data_dir = tmp_.Sub(absl::StrCat("restored-", generation.id));
      ASSERT_THAT(Store::RestoreStore(target, generation.id), IsOk());
      target.backup_dir.clear();
      auto restored = Store::Open(target);
      ASSERT_THAT(restored, IsOk());
      auto info = (*restored)->GetTenantInfo("gone");
      if (info.ok()) {
        EXPECT_NE(info->state, TenantState::kActive);
      }
      EXPECT_FALSE((*restored)->OpenTenant("gone").ok());
      auto stay = (*restored)->OpenTenant("stay");
      ASSERT_THAT(stay, IsOk());
      EXPECT_THAT((*stay)->Get("r3-stay-marker"), IsOk());
    }
  }
};

// The shred waits, signs nothing and says why while the backup directory is
// off or another one; with the right one back it completes.
TEST_F(ErasureTest, ShredWaitsWhileTheBackupDirectoryIsOffOrAnother) {
  auto store = StoreWithPurgedTenant();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  Options off = options_;
  off.backup_dir.clear();
  store = OpenStore(off);
  ASSERT_NE(store, nullptr);
  auto report = RunAtShredDue(*store);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->shredded.empty());
  EXPECT_TRUE(
      absl::StrContains(ShredWait(*report), "Options::backup_dir is empty"))
      << ShredWait(*report);
  EXPECT_EQ(State(*store, "gone"), TenantState::kPurged);
  EXPECT_FALSE(store->GetDeletionCertificate("gone").ok());
  EXPECT_EQ(WaitEntries(*store), 1);
  // A maintenance loop does not flood the log: the same reason, once a day.
  clock_->Advance(absl::Minutes(1));
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  EXPECT_EQ(WaitEntries(*store), 1);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  Options elsewhere = options_;
  elsewhere.backup_dir = tmp_.Sub("elsewhere");
  store = OpenStore(elsewhere);
  ASSERT_NE(store, nullptr);
  clock_->Advance(kDay);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->shredded.empty());
  EXPECT_TRUE(absl::StrContains(ShredWait(*report),
                                "is not this store's backup directory"))
      << ShredWait(*report);
  EXPECT_FALSE(report->backup_refused.empty());  // Nothing written there.
  EXPECT_FALSE(report->backup.has_value());
  EXPECT_FALSE(std::filesystem::exists(elsewhere.backup_dir));
  EXPECT_EQ(State(*store, "gone"), TenantState::kPurged);
  EXPECT_FALSE(store->GetDeletionCertificate("gone").ok());
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  // Another store's directory is refused as well.
  OtherStoreWithBackups(elsewhere.backup_dir, 1);
  store = OpenStore(elsewhere);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->CreateBackup(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_NE(ShredWait(*report), "");
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  // The right directory: the shred completes and nothing of it is left.
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->shredded, std::vector<std::string>{"gone"});
  EXPECT_EQ(ShredWait(*report), "");
  auto certificate = store->GetDeletionCertificate("gone");
  ASSERT_THAT(certificate, IsOk());
  EXPECT_THAT(VerifyDeletionCertificate(*certificate,
                                        store->GetSigningPublicKey().value()),
              IsOk());
  EXPECT_FALSE(certificate->generations_deleted.empty());
  EXPECT_FALSE(certificate->generations_checked.empty());
  auto list = store->ListBackups();
  ASSERT_THAT(list, IsOk());
  std::vector<BackupId> listed;
  for (const BackupInfo& b : *list) listed.push_back(b.id);
  // Checked are exactly the generations left (taken after the purge).
  std::vector<BackupId> checked = certificate->generations_checked;
  for (BackupId id : listed) {
    EXPECT_TRUE(std::count(checked.begin(), checked.end(), id) == 1 ||
                id > *std::max_element(checked.begin(), checked.end()))
        << id;
  }
  ExpectNoGenerationYieldsGone(*store, provider_);
}

// A store that never took a backup, pointed at another store's backup
// directory from the start: it writes nothing there, and its shred (it has no
// backups) touches nothing there either.
TEST_F(ErasureTest, AStoreWithoutBackupsNeverTouchesAnotherStoresDirectory) {
  OtherStoreWithBackups(options_.backup_dir, 3);
  const auto before = test::SnapshotFiles(options_.backup_dir);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("gone"), IsOk());
  Fill(*store, "gone", 5);
  ASSERT_THAT(store->EndContract("gone", clock_->Now()), IsOk());
  for (int day = 0; day < 8; ++day) {
    clock_->Advance(kDay);
    auto report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    EXPECT_FALSE(report->backup_refused.empty());
    EXPECT_TRUE(report->waiting.empty());
  }
  EXPECT_EQ(State(*store, "gone"), TenantState::kShredded);
  auto certificate = store->GetDeletionCertificate("gone");
  ASSERT_THAT(certificate, IsOk());
  EXPECT_TRUE(certificate->backup_dir_id.empty());
  EXPECT_TRUE(certificate->generations_deleted.empty());
  EXPECT_TRUE(certificate->generations_checked.empty());
  EXPECT_TRUE(absl::StrContains(certificate->method, "never took a backup"));
  EXPECT_EQ(test::SnapshotFiles(options_.backup_dir), before);
}

// A backup directory named by mistake at an open that took no backup binds
// nothing: the directory is bound just before the first generation is
// written.
TEST_F(ErasureTest, ADirectoryNamedWithoutABackupIsNotBound) {
  Options typo = options_;
  typo.backup_dir = tmp_.Sub("backpus");
  {
    auto store = OpenStore(typo);
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
  }
  EXPECT_FALSE(std::filesystem::exists(typo.backup_dir + "/identity"));
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->backup_refused, "");
  EXPECT_TRUE(report->backup.has_value());
  EXPECT_TRUE(std::filesystem::exists(options_.backup_dir + "/identity"));
}

// A damaged generation taken after the purge cannot be checked: the shred
// waits and deletes nothing; repaired, the shred completes. An unfinished
// generation file (it holds a key-store copy) does not outlive the shred.
TEST_F(ErasureTest, ShredWaitsForADamagedGenerationAndRemovesUnfinishedOnes) {
  auto store = StoreWithPurgedTenant();
  ASSERT_NE(store, nullptr);
  auto list = store->ListBackups();
  ASSERT_THAT(list, IsOk());
  const BackupId newest = list->back().id;  // Taken after the purge.
  const std::string path =
      absl::StrCat(options_.backup_dir, "/generations/", newest, ".gen");
  const std::string original = internal::ReadFileToString(path).value();
  proto::GenerationFile damaged;
  ASSERT_TRUE(damaged.ParseFromString(original));
  (*damaged.mutable_sealed())[damaged.sealed().size() / 2] ^= 1;
  test::WriteFile(path, damaged.SerializeAsString());
  const std::string unfinished =
      options_.backup_dir + "/generations/999.gen.tmp";
  test::WriteFile(unfinished, original);
  auto report = RunAtShredDue(*store);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->shredded.empty());
  EXPECT_TRUE(absl::StrContains(ShredWait(*report), "cannot be checked"))
      << ShredWait(*report);
  EXPECT_TRUE(absl::StrContains(ShredWait(*report), "damaged"))
      << ShredWait(*report);
  auto after = store->ListBackups();
  ASSERT_THAT(after, IsOk());
  // Nothing deleted while waiting (the run may have added its daily one).
  for (const BackupInfo& b : *list) {
    EXPECT_TRUE(std::any_of(after->begin(), after->end(),
                            [&](const BackupInfo& a) { return a.id == b.id; }))
        << b.id;
  }
  test::WriteFile(path, original);
  clock_->Advance(absl::Minutes(1));
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->shredded, std::vector<std::string>{"gone"});
  EXPECT_FALSE(std::filesystem::exists(unfinished));
  ExpectNoGenerationYieldsGone(*store, provider_);
}

// A generation the store cannot open (sealed under a retired master key) is
// neither deleted nor passed as checked: the shred waits until it is gone.
TEST_F(ErasureTest, ShredWaitsForAGenerationSealedUnderARetiredKey) {
  auto store = StoreWithPurgedTenant();
  ASSERT_NE(store, nullptr);
  // The generation taken after the purge is sealed under key 1; then the key
  // is rotated by a run without the backup directory, which cannot re-seal
  // the generations.
  auto new_key = test::NewTestKeyProvider(tmp_, "new.key");
  store.reset();
  {
    Options without = options_;
    without.backup_dir.clear();
    auto s = Store::Open(without);
    ASSERT_THAT(s, IsOk());
    ASSERT_THAT((*s)->RotateMasterKey(new_key), IsOk());
  }
  options_.key_provider = new_key;
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto report = RunAtShredDue(*store);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->shredded.empty());
  EXPECT_TRUE(absl::StrContains(ShredWait(*report),
                                "sealed under master key generation 1"))
      << ShredWait(*report);
  EXPECT_EQ(State(*store, "gone"), TenantState::kPurged);
  EXPECT_FALSE(store->GetDeletionCertificate("gone").ok());
  // Nothing was deleted while it waited.
  auto before = store->ListBackups();
  ASSERT_THAT(before, IsOk());
  EXPECT_GE(before->size(), 5u);
  // Newer generations push the old ones out; then the shred completes.
  for (std::size_t i = 0; i < options_.backup_generations; ++i) {
    clock_->Advance(absl::Minutes(1));
    ASSERT_THAT(store->CreateBackup(), IsOk());
  }
  clock_->Advance(absl::Minutes(1));
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->shredded, std::vector<std::string>{"gone"});
  auto certificate = store->GetDeletionCertificate("gone");
  ASSERT_THAT(certificate, IsOk());
  EXPECT_EQ(certificate->generations_checked.size(),
            options_.backup_generations);
  ExpectNoGenerationYieldsGone(*store, new_key);
}

// A store from before backup tracking does not know whether it has backups:
// its purges wait until it is opened once with its backup directory, which it
// then adopts with the generations in it.
TEST_F(ErasureTest,
       AStoreFromBeforeBackupTrackingWaitsUntilItsDirectoryIsKnown) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("gone"), IsOk());
  Fill(*store, "gone", 5);
  ASSERT_THAT(store->RunMaintenance(), IsOk());  // A first generation.
  ASSERT_THAT(store->EndContract("gone", clock_->Now()), IsOk());
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  {
    // What an earlier build wrote: no backup directory id, not tracked, and
    // no identity file in the backup directory.
    test::RawDataDb raw(options_.data_dir, *provider_);
    auto meta =
        raw.ReadRegistry<proto::RegistryMeta>(internal::kRegistryMetaKey);
    ASSERT_FALSE(meta.backup_dir_id().empty());
    meta.clear_backup_dir_id();
    meta.clear_backups_tracked();
    raw.WriteRegistry(internal::kRegistryMetaKey, meta);
  }
  std::filesystem::remove(options_.backup_dir + "/identity");
  Options off = options_;
  off.backup_dir.clear();
  store = OpenStore(off);
  ASSERT_NE(store, nullptr);
  clock_->Advance(options_.purge_after + kDay);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->waiting.size(), 1u);
  EXPECT_EQ(report->waiting[0].step, "purge");
  EXPECT_TRUE(absl::StrContains(report->waiting[0].reason,
                                "does not know yet whether backups"))
      << report->waiting[0].reason;
  EXPECT_EQ(State(*store, "gone"), TenantState::kEnded);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  // An empty directory is refused: the system log shows it took backups.
  Options empty = options_;
  empty.backup_dir = tmp_.Sub("empty-backups");
  store = OpenStore(empty);
  ASSERT_NE(store, nullptr);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(absl::StrContains(report->backup_refused,
                                "took backups before it tracked them"))
      << report->backup_refused;
  EXPECT_EQ(State(*store, "gone"), TenantState::kEnded);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  // Another store's generations are not adopted either.
  OtherStoreWithBackups(tmp_.Sub("other-backups"), 1);
  std::filesystem::remove(tmp_.Sub("other-backups/identity"));
  Options foreign = options_;
  foreign.backup_dir = tmp_.Sub("other-backups");
  store = OpenStore(foreign);
  ASSERT_NE(store, nullptr);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(absl::StrContains(report->backup_refused,
                                "cannot take it as the directory"))
      << report->backup_refused;
  EXPECT_FALSE(std::filesystem::exists(tmp_.Sub("other-backups/identity")));
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  store = OpenStore();  // With its backup directory: adopted.
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(options_.backup_dir + "/identity"));
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->waiting.empty());
  EXPECT_EQ(report->purged, std::vector<std::string>{"gone"});
  auto system = store->ReadAuditLog(kSystemAuditLog, 0, 100000);
  ASSERT_THAT(system, IsOk());
  EXPECT_EQ(std::count_if(system->begin(), system->end(),
                          [](const AuditEntry& e) {
                            return e.event == AuditEvent::kBackupDirBound &&
                                   e.details.count("adopted") == 1;
                          }),
            1);
}

// Every file of the store's directory, recursively, holding `needle`.
std::vector<std::string> FilesHolding(const std::string& root,
                                      const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& [path, bytes] : test::SnapshotFiles(root)) {
    if (bytes.find(needle) != std::string::npos) out.push_back(path);
  }
  return out;
}

// The tenant's wrapped data key, read from the closed store's key store.
std::string WrappedKey(const Options& options, std::uint64_t number) {
  auto keys = internal::KeyStore::Open(
      options.data_dir + "/keys", options.key_provider->GetMasterKey().value(),
      false, absl::UnixEpoch(), /*plain_files=*/true);
  EXPECT_THAT(keys, IsOk());
  if (!keys.ok()) return "";
  proto::KeyStoreCopy copy;
  proto::GenerationFile unused;
  EXPECT_THAT((*keys)->SealWithCopy(
                  [&](proto::KeyStoreCopy c) -> absl::StatusOr<std::string> {
                    copy = std::move(c);
                    return std::string();
                  },
                  "test", &unused),
              IsOk());
  proto::KeyStoreCopy without = copy;
  EXPECT_FALSE(
      internal::KeyStore::RemoveTenantKeysFromCopy(&without, {number}).empty());
  for (const auto& entry : copy.entries()) {
    bool kept = false;
    for (const auto& other : without.entries()) {
      kept = kept || other.key() == entry.key();
    }
    if (!kept) return entry.value();
  }
  return "";
}

// After the purge no file under data_dir (the key store and tmp/ included)
// holds the tenant's records or its wrapped key; a handle opened before fails
// and holds no key any more. Files unencrypted, so the search sees them.
TEST_F(ErasureTest, PurgeLeavesNoLiveFileWithTheTenantOrItsKey) {
  options_.backup_dir.clear();
  auto open = [&] {
    auto store = internal::OpenWithoutFileEncryptionForTesting(options_);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(store).value() : nullptr;
  };
  auto store = open();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("gone"), IsOk());
  ASSERT_THAT(store->CreateTenant("stay"), IsOk());
  Fill(*store, "gone", 40);
  Fill(*store, "stay", 40);
  const std::uint64_t number = store->GetTenantInfo("gone").value().number;
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  const std::string wrapped = WrappedKey(options_, number);
  ASSERT_GE(wrapped.size(), 32u);
  // The search finds both before the purge (in the WAL or an SST).
  ASSERT_FALSE(FilesHolding(options_.data_dir, wrapped).empty());
  ASSERT_FALSE(FilesHolding(options_.data_dir, "-gone-marker").empty());

  store = open();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(internal::CompactAllForTesting(*store), IsOk());
  auto handle = store->OpenTenant("gone");
  ASSERT_THAT(handle, IsOk());
  ASSERT_THAT((*handle)->Get("r1-gone-marker"), IsOk());
  // An interrupted single-tenant restore left its file behind.
  std::filesystem::create_directories(options_.data_dir + "/tmp");
  const std::string leftover =
      absl::StrCat(options_.data_dir, "/tmp/restore-", number, ".sst");
  test::WriteFile(leftover, "r9-gone-marker leftover of a restore");
  ASSERT_THAT(store->EndContract("gone", clock_->Now()), IsOk());
  clock_->Advance(options_.purge_after);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->purged, std::vector<std::string>{"gone"});
  EXPECT_THAT((*handle)->Get("r1-gone-marker"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(internal::TenantKeysWipedForTesting(**handle));
  EXPECT_FALSE(std::filesystem::exists(leftover));
  ASSERT_THAT(store->Close(), IsOk());
  EXPECT_EQ(FilesHolding(options_.data_dir, wrapped),
            std::vector<std::string>{});
  EXPECT_EQ(FilesHolding(options_.data_dir, "-gone-marker"),
            std::vector<std::string>{});
  EXPECT_FALSE(FilesHolding(options_.data_dir, "-stay-marker").empty());
  handle->reset();
}

}  // namespace
}  // namespace leyser
