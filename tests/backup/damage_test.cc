// Backups under damage and mistakes (issue 21), through the public API: a
// damaged or missing file of the backup directory never stops the next daily
// backup nor destroys other generations; two stores never share a backup
// directory; a failed backup stops no other maintenance step.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/file_system.h"

#include "leyser/store.h"

#include "lib/proto/backup.pb.h"
#include "lib/rocks/fault_injection.h"
#include "lib/util/files.h"
#include "tests/test/backup_files.h"
#include "tests/test/test_util.h"

namespace leyser {

namespace internal {
absl::Status CompactAllForTesting(Store& store);
}  // namespace internal

namespace {

using test::IsOk;
using test::StatusIs;

class DamageTest : public test::BackupFixture {
 protected:
  // Writes `n` values of 300 bytes to tenant "t" (created if missing).
  void Write(Store& store, const std::string& prefix, int n) {
    if (!store.GetTenantInfo("t").ok()) {
      ASSERT_THAT(store.CreateTenant("t"), IsOk());
    }
    auto t = store.OpenTenant("t");
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < n; ++i) {
      ASSERT_THAT((*t)->Put(absl::StrCat(prefix, "-", i),
                            std::string(300, static_cast<char>('a' + i % 26))),
                  IsOk());
    }
  }

  // The first maintenance run (its backup is due at once); its generation's
  // id (0 if none).
  BackupId FirstBackup(Store& store) {
    auto r = store.RunMaintenance();
    EXPECT_THAT(r, IsOk());
    if (!r.ok() || !r->backup.has_value()) return 0;
    return r->backup->id;
  }

  // The next day's maintenance run; its generation's id (0 if none).
  BackupId NextDay(Store& store, MaintenanceReport* report = nullptr) {
    clock_->Advance(absl::Hours(24));
    auto r = store.RunMaintenance();
    EXPECT_THAT(r, IsOk());
    if (!r.ok()) return 0;
    if (report != nullptr) *report = *r;
    EXPECT_TRUE(r->backup.has_value());
    return r->backup.has_value() ? r->backup->id : 0;
  }

  // Day 0 and day 1 (200 values each) backed up, the live database compacted
  // (its older files stay only in the backups), day 2 backed up: the three
  // generations, and what each holds into `data`.
  std::vector<BackupId> ThreeDays(Store& store,
                                  std::map<BackupId, StoreData>* data) {
    std::vector<BackupId> ids;
    Write(store, "day0", 200);
    ids.push_back(FirstBackup(store));
    (*data)[ids.back()] = ReadAll(store);
    Write(store, "day1", 200);
    ids.push_back(NextDay(store));
    (*data)[ids.back()] = ReadAll(store);
    EXPECT_THAT(internal::CompactAllForTesting(store), IsOk());
    ids.push_back(NextDay(store));
    (*data)[ids.back()] = ReadAll(store);
    return ids;
  }

  std::vector<AuditEntry> Events(Store& store, AuditEvent event) {
    std::vector<AuditEntry> out;
    auto log = store.ReadAuditLog(kSystemAuditLog, 0, 100000);
    EXPECT_THAT(log, IsOk());
    if (!log.ok()) return out;
    for (const AuditEntry& e : *log) {
      if (e.event == event) out.push_back(e);
    }
    return out;
  }

  std::string EngineFile(const std::string& relative) const {
    return options_.backup_dir + "/engine/" + relative;
  }
};

enum class Damage { kFlippedByte, kTruncated, kMissing };

class DamagedFileTest : public DamageTest,
                        public testing::WithParamInterface<Damage> {};

// A damaged or missing shared file that the live database still has: the next
// daily backup copies it again (before, every backup failed with "the new
// backup failed verification" until a compaction rewrote the file), and the
// generations that used the damaged copy are whole again.
TEST_P(DamagedFileTest, TheNextBackupsSucceedAndEveryGenerationRestores) {
  std::map<BackupId, StoreData> data;
  auto store = OpenStore();
  Write(*store, "day0", 200);
  const BackupId oldest = FirstBackup(*store);
  ASSERT_NE(oldest, 0u);
  data[oldest] = ReadAll(*store);
  store.reset();

  const auto shared = SharedFiles(options_);
  ASSERT_FALSE(shared.at(oldest).empty());
  // The largest file: the tenant's data.
  std::string victim;
  std::uintmax_t largest = 0;
  for (const std::string& f : shared.at(oldest)) {
    const std::uintmax_t size = std::filesystem::file_size(EngineFile(f));
    if (size > largest) {
      largest = size;
      victim = f;
    }
  }
  const std::string path = EngineFile(victim);
  switch (GetParam()) {
    case Damage::kFlippedByte:
      FlipAByte(path);
      break;
    case Damage::kTruncated:
      std::filesystem::resize_file(path, largest / 2);
      break;
    case Damage::kMissing:
      std::filesystem::rename(path, tmp_.Sub("moved-away"));
      break;
  }

  store = OpenStore();
  // VerifyBackup names the file and every generation using it.
  const absl::Status verified = store->VerifyBackup(oldest);
  EXPECT_THAT(verified, StatusIs(absl::StatusCode::kDataLoss));
  if (GetParam() != Damage::kMissing) {
    EXPECT_TRUE(absl::StrContains(
        verified.message(),
        absl::StrCat("generations ", oldest, " use ", victim)))
        << verified;
  }
  for (int day = 1; day <= 3; ++day) {
    SCOPED_TRACE(absl::StrCat("day ", day));
    Write(*store, absl::StrCat("day", day), 10);
    MaintenanceReport report;
    const BackupId id = NextDay(*store, &report);
    ASSERT_NE(id, 0u);
    data[id] = ReadAll(*store);
    EXPECT_THAT(store->VerifyBackup(id), IsOk());
    if (day == 1) {
      // Reported by file and generation, as repaired.
      ASSERT_EQ(report.backup_damage.size(), 1u);
      const BackupDamage& damage = report.backup_damage[0];
      EXPECT_TRUE(damage.repaired);
      EXPECT_EQ(damage.generations, std::vector<BackupId>{oldest});
      EXPECT_TRUE(absl::StrContains(damage.problem, victim)) << damage.problem;
      auto repaired = Events(*store, AuditEvent::kBackupRepaired);
      ASSERT_EQ(repaired.size(), 1u);
      EXPECT_EQ(repaired[0].details.at("generations"), absl::StrCat(oldest));
    } else {
      EXPECT_TRUE(report.backup_damage.empty());
    }
  }
  auto listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), data.size());
  for (const BackupInfo& info : *listed) EXPECT_EQ(info.damage, "");
  EXPECT_FALSE(std::filesystem::exists(options_.backup_dir + "/damaged"));
  for (const auto& [id, expected] : data) {
    SCOPED_TRACE(absl::StrCat("generation ", id));
    EXPECT_THAT(store->VerifyBackup(id), IsOk());
    EXPECT_EQ(Restored(id), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedFileTest,
                         testing::Values(Damage::kFlippedByte,
                                         Damage::kTruncated, Damage::kMissing),
                         [](const testing::TestParamInfo<Damage>& param) {
                           switch (param.param) {
                             case Damage::kFlippedByte:
                               return "FlippedByte";
                             case Damage::kTruncated:
                               return "Truncated";
                             case Damage::kMissing:
                               return "Missing";
                           }
                           return "Unknown";
                         });

// A shared file the live database no longer has, moved out of the backup
// directory for one run: before, that run answered OK while its repair
// garbage-collected CURRENT, MANIFEST and OPTIONS of every generation using the
// file, which never restored again. Now the run takes its backup, reports the
// generations as damaged and keeps them whole but for the file; once the file
// is back, every generation verifies and restores.
TEST_F(DamageTest, AFileMovedAwayForOneRunCostsNothingOnceItIsBack) {
  std::map<BackupId, StoreData> data;
  auto store = OpenStore();
  const std::vector<BackupId> days = ThreeDays(*store, &data);
  ASSERT_TRUE(!HasFailure());
  const BackupId first = days[0], third = days[2];
  store.reset();

  const auto shared = SharedFiles(options_);
  std::string victim;
  for (const std::string& f : shared.at(first)) {
    if (shared.at(third).count(f) == 0) victim = f;
  }
  ASSERT_FALSE(victim.empty());
  std::set<BackupId> users;
  for (const auto& [id, files] : shared) {
    if (files.count(victim) > 0) users.insert(id);
  }
  ASSERT_EQ(users.count(third), 0u);
  std::filesystem::rename(EngineFile(victim), tmp_.Sub("moved-away"));

  store = OpenStore();
  MaintenanceReport report;
  const BackupId fourth = NextDay(*store, &report);
  ASSERT_NE(fourth, 0u);
  data[fourth] = ReadAll(*store);
  std::set<BackupId> reported;
  for (const BackupDamage& damage : report.backup_damage) {
    EXPECT_FALSE(damage.repaired);
    EXPECT_TRUE(absl::StrContains(damage.problem, victim)) << damage.problem;
    reported.insert(damage.generations.begin(), damage.generations.end());
  }
  EXPECT_EQ(reported, users);
  EXPECT_EQ(Events(*store, AuditEvent::kBackupDamaged).size(), users.size());
  auto listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  for (const BackupInfo& info : *listed) {
    SCOPED_TRACE(absl::StrCat("generation ", info.id));
    EXPECT_EQ(info.damage.empty(), users.count(info.id) == 0) << info.damage;
    if (users.count(info.id) > 0) {
      EXPECT_THAT(store->VerifyBackup(info.id),
                  StatusIs(absl::StatusCode::kDataLoss));
    }
  }
  // A whole generation is not removed by hand.
  EXPECT_THAT(store->RemoveDamagedBackup(fourth),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->RemoveDamagedBackup(999),
              StatusIs(absl::StatusCode::kNotFound));

  // Another run while the file is away destroys nothing either.
  store.reset();
  store = OpenStore();
  clock_->Advance(absl::Hours(1));
  ASSERT_THAT(store->RunMaintenance(), IsOk());

  std::filesystem::rename(tmp_.Sub("moved-away"), EngineFile(victim));
  const BackupId fifth = NextDay(*store);
  data[fifth] = ReadAll(*store);
  listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), data.size());
  for (const auto& [id, expected] : data) {
    SCOPED_TRACE(absl::StrCat("generation ", id));
    EXPECT_THAT(store->VerifyBackup(id), IsOk());
    EXPECT_EQ(Restored(id), expected);
  }
}

// An operator gives up on a damaged generation: RemoveDamagedBackup removes
// it, recorded, and leaves every other generation whole. Damaged generations
// never count towards Options::backup_generations.
TEST_F(DamageTest, ADamagedGenerationIsRemovedOnlyByHandAndRecorded) {
  options_.backup_generations = 3;
  std::map<BackupId, StoreData> data;
  auto store = OpenStore();
  const std::vector<BackupId> days = ThreeDays(*store, &data);
  ASSERT_TRUE(!HasFailure());
  const BackupId first = days[0], damaged = days[1], third = days[2];
  data.erase(damaged);
  store.reset();
  const auto shared = SharedFiles(options_);
  std::string victim;
  for (const std::string& f : shared.at(damaged)) {
    if (shared.at(first).count(f) == 0 && shared.at(third).count(f) == 0) {
      victim = f;
    }
  }
  ASSERT_FALSE(victim.empty());
  ASSERT_TRUE(std::filesystem::remove(EngineFile(victim)));

  store = OpenStore();
  // Three whole generations are kept besides the damaged one.
  const BackupId fourth = NextDay(*store);
  data[fourth] = ReadAll(*store);
  auto listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 4u);
  for (const BackupInfo& info : *listed) {
    EXPECT_EQ(info.damage.empty(), info.id != damaged) << info.damage;
  }

  ASSERT_THAT(store->RemoveDamagedBackup(damaged), IsOk());
  auto removed = Events(*store, AuditEvent::kBackupRemoved);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_TRUE(absl::StrContains(removed[0].details.at("damage"), victim));
  EXPECT_THAT(store->RemoveDamagedBackup(damaged),
              StatusIs(absl::StatusCode::kNotFound));
  listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 3u);
  for (const auto& [id, expected] : data) {
    SCOPED_TRACE(absl::StrCat("generation ", id));
    EXPECT_THAT(store->VerifyBackup(id), IsOk());
    EXPECT_EQ(Restored(id), expected);
  }
}

// A store restored from a backup directory and opened with that same
// directory (the README's restore example did) wrote its generations into
// the original's: both answered OK for the same generation id, and each
// listed, pruned and shredded the other's. Now the directory has one owner.
TEST_F(DamageTest, TwoStoresNeverShareABackupDirectory) {
  auto a = OpenStore();
  Write(*a, "a", 20);
  const BackupId restored_from = FirstBackup(*a);
  ASSERT_NE(restored_from, 0u);

  Options b_options = options_;
  b_options.data_dir = tmp_.Sub("b");
  ASSERT_THAT(Store::RestoreStore(b_options, restored_from), IsOk());
  auto b = OpenStore(b_options);
  ASSERT_NE(b, nullptr);
  auto refused = b->CreateBackup();
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "another store"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "this store is"))
      << refused.status();
  auto b_report = b->RunMaintenance();
  ASSERT_THAT(b_report, IsOk());
  EXPECT_FALSE(b_report->backup_refused.empty());
  EXPECT_FALSE(b_report->backup.has_value());

  // The original keeps its directory to itself.
  auto b_tenant = b->OpenTenant("t");
  ASSERT_THAT(b_tenant, IsOk());
  ASSERT_THAT((*b_tenant)->Put("only-in-b", "b"), IsOk());
  Write(*a, "a-later", 5);
  const BackupId second = NextDay(*a);
  ASSERT_NE(second, 0u);
  auto b_late = b->RunMaintenance();
  ASSERT_THAT(b_late, IsOk());
  EXPECT_FALSE(b_late->backup.has_value());
  auto listed = a->ListBackups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(Restored(second), ReadAll(*a));

  // With a directory of its own, the restored store backs up, with ids above
  // the generation it came from.
  b.reset();
  b_tenant->reset();
  b_options.backup_dir = tmp_.Sub("b-backups");
  b = OpenStore(b_options);
  ASSERT_NE(b, nullptr);
  auto own = b->CreateBackup();
  ASSERT_THAT(own, IsOk());
  EXPECT_GT(own->id, restored_from);
  EXPECT_EQ(Restored(own->id, b_options), ReadAll(*b));
  EXPECT_EQ(Restored(own->id, b_options)["t"]["only-in-b"], "b");
  // The original's directory still holds exactly its own two generations.
  listed = a->ListBackups();
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->size(), 2u);

  // The restored store's certificates cover its own backups, and say that
  // the original's directory (which may hold the tenant from before the
  // restore) is not covered.
  auto restored_entries = Events(*b, AuditEvent::kStoreRestored);
  ASSERT_EQ(restored_entries.size(), 1u);
  const std::string original_dir =
      restored_entries[0].details.at("backup_dir_id");
  ASSERT_FALSE(original_dir.empty());
  ASSERT_THAT(b->EndContract("t", clock_->Now()), IsOk());
  for (int day = 0; day < 40; ++day) {
    clock_->Advance(absl::Hours(24));
    ASSERT_THAT(b->RunMaintenance(), IsOk());
  }
  auto certificate = b->GetDeletionCertificate("t");
  ASSERT_THAT(certificate, IsOk());
  ASSERT_EQ(certificate->restored_from_backup_dir_ids.size(), 1u);
  EXPECT_EQ(
      absl::BytesToHexString(certificate->restored_from_backup_dir_ids[0]),
      original_dir);
  EXPECT_FALSE(certificate->backup_dir_id.empty());
  EXPECT_TRUE(absl::StrContains(certificate->method, "Not covered either"))
      << certificate->method;
  EXPECT_THAT(VerifyDeletionCertificate(*certificate, *b->ListSigningKeys()),
              IsOk());
}

// The identity naming a backup directory's owner is sealed with the owner's
// record key: another store's identity copied in, or a flipped byte, makes
// the directory another's (no backup written, FailedPrecondition); an
// identity from before owners (format 1, plain) is read and sealed.
TEST_F(DamageTest, TheBackupDirectoryIdentityIsSealed) {
  const std::string identity = options_.backup_dir + "/identity";
  Options other = options_;
  other.data_dir = tmp_.Sub("other");
  other.backup_dir = tmp_.Sub("other-backups");
  other.key_provider = test::NewTestKeyProvider(tmp_, "other-key");
  {
    auto b = OpenStore(other);
    ASSERT_THAT(b->CreateBackup(), IsOk());
  }
  auto store = OpenStore();
  Write(*store, "day0", 5);
  ASSERT_THAT(store->CreateBackup(), IsOk());
  const std::string own = internal::ReadFileToString(identity).value();
  ASSERT_EQ(own.substr(0, 2), std::string("\x00\x01", 2));

  // A forged identity: the plain format of older versions, naming the
  // directory and a store without backups as its installation. That store
  // does not take it (only a store already bound trusts an unsealed one).
  {
    Options c_here = other;
    c_here.data_dir = tmp_.Sub("c");
    c_here.backup_dir = options_.backup_dir;
    c_here.key_provider = test::NewTestKeyProvider(tmp_, "c-key");
    auto c = OpenStore(c_here);
    const std::string origin = c->GetAuditLogInfo(kSystemAuditLog)->origin;
    const std::string installation =
        origin.substr(7, origin.find('/', 7) - 7);  // "leyser/<hex>/..."
    proto::BackupDirIdentity sealed;
    ASSERT_TRUE(sealed.ParseFromString(own.substr(2, own.size() - 2 - 32)));
    proto::BackupDirIdentity forged;
    forged.set_format_version(1);
    forged.set_dir_id(sealed.dir_id());
    forged.set_installation_id(absl::HexStringToBytes(installation));
    test::WriteFile(identity, forged.SerializeAsString());
    c.reset();
    c = OpenStore(c_here);
    auto taken = c->CreateBackup();
    EXPECT_THAT(taken, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_TRUE(absl::StrContains(taken.status().message(), "names no owner"))
        << taken.status();
  }
  // Another store's identity (sealed under its own record key) in its place.
  std::filesystem::copy_file(tmp_.Sub("other-backups/identity"), identity,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_THAT(store->CreateBackup(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A flipped byte in its own.
  std::string flipped = own;
  flipped[flipped.size() / 2] ^= 0x01;
  test::WriteFile(identity, flipped);
  EXPECT_THAT(store->CreateBackup(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  test::WriteFile(identity, own);
  ASSERT_THAT(store->CreateBackup(), IsOk());

  // Format 1: the plain record of the same directory and installation.
  proto::BackupDirIdentity legacy;
  {
    const std::string payload = own.substr(2, own.size() - 2 - 32);
    proto::BackupDirIdentity sealed;
    ASSERT_TRUE(sealed.ParseFromString(payload));
    legacy = sealed;
    legacy.set_format_version(1);
    legacy.clear_owner_id();
  }
  store.reset();
  test::WriteFile(identity, legacy.SerializeAsString());
  store = OpenStore();
  EXPECT_EQ(internal::ReadFileToString(identity).value().substr(0, 2),
            std::string("\x00\x01", 2));
  ASSERT_THAT(store->CreateBackup(), IsOk());
}

// A file system that fails every new file under the backup directory's
// engine (a full or failing backup disk), while `failing` is set.
class FailingBackupFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FailingBackupFs(std::shared_ptr<rocksdb::FileSystem> target)
      : FileSystemWrapper(std::move(target)) {}
  const char* Name() const override { return "FailingBackupFs"; }
  rocksdb::IOStatus NewWritableFile(
      const std::string& name, const rocksdb::FileOptions& o,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* d) override {
    if (failing && absl::StrContains(name, "/backups/engine/")) {
      return rocksdb::IOStatus::NoSpace("injected: backup disk full");
    }
    return target()->NewWritableFile(name, o, result, d);
  }
  static std::atomic<bool> failing;
};
std::atomic<bool> FailingBackupFs::failing{false};

// A failed backup used to end RunMaintenance before its audit checkpoints
// and retention; now they run, and the failure is returned and recorded.
TEST_F(DamageTest, AFailedBackupStopsNoOtherMaintenanceStep) {
  struct Unwrap {
    ~Unwrap() { internal::SetDataFileSystemWrapperForTesting(nullptr); }
  } unwrap;
  internal::SetDataFileSystemWrapperForTesting(
      [](std::shared_ptr<rocksdb::FileSystem> fs) {
        return std::make_shared<FailingBackupFs>(std::move(fs));
      });
  auto store = OpenStore();
  Write(*store, "day0", 20);
  ASSERT_NE(FirstBackup(*store), 0u);
  Write(*store, "day1", 20);
  ASSERT_THAT(store->CreateTenant("later"), IsOk());
  auto before = store->GetAuditLogInfo("later");
  ASSERT_THAT(before, IsOk());
  ASSERT_LT(before->checkpoint_size, before->size);

  FailingBackupFs::failing = true;
  clock_->Advance(absl::Hours(24));
  auto failed = store->RunMaintenance();
  FailingBackupFs::failing = false;
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(absl::StartsWith(failed.status().message(), "backup: "))
      << failed.status();
  // The audit checkpoint step ran all the same.
  auto after = store->GetAuditLogInfo("later");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->checkpoint_size, after->size);
  EXPECT_GE(Events(*store, AuditEvent::kBackupFailed).size(), 1u);
  // Once the disk has room, the next run backs up without any manual step.
  clock_->Advance(absl::Hours(1));
  auto next = store->RunMaintenance();
  ASSERT_THAT(next, IsOk());
  EXPECT_TRUE(next->backup.has_value());
}

}  // namespace
}  // namespace leyser
