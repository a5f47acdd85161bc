// Races between the calls an application server makes at once: the README's
// pattern (a background thread calling RunMaintenance while request threads
// create, open and use tenants) and the operator's calls (ending contracts,
// legal holds, rotations, backups, audit verification) on top of it. Each test
// runs a bounded number of rounds on a manual clock and checks invariants
// after; none sleeps. Run them repeatedly with --gtest_repeat=20.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "leyser/store.h"

#include "lib/backup/generation_files.h"
#include "lib/keys/key_store.h"
#include "lib/proto/backup.pb.h"
#include "lib/util/files.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

constexpr absl::Duration kDay = absl::Hours(24);

class RaceTest : public test::StoreFixture {
 protected:
  // Creates tenant `id` with keys k0..k<keys-1> (value "v") and returns a
  // handle of it (null on failure, reported).
  std::unique_ptr<Tenant> Filled(Store& store, const std::string& id,
                                 int keys) {
    EXPECT_THAT(store.CreateTenant(id), IsOk());
    auto t = store.OpenTenant(id);
    EXPECT_THAT(t, IsOk());
    if (!t.ok()) return nullptr;
    for (int i = 0; i < keys; ++i) {
      EXPECT_THAT((*t)->Put(absl::StrCat("k", i), "v"), IsOk());
    }
    return *std::move(t);
  }

  // Every BACKUP_CREATED target of the system log ("generation N").
  std::vector<std::string> CreatedGenerations(Store& store) {
    std::vector<std::string> out;
    auto entries = store.ReadAuditLog(kSystemAuditLog, 0, 1 << 20);
    EXPECT_THAT(entries, IsOk());
    if (!entries.ok()) return out;
    for (const AuditEntry& e : *entries) {
      if (e.event == AuditEvent::kBackupCreated) out.push_back(e.target);
    }
    return out;
  }
};

// Issue 22, race 1: the maintenance step wrote back a copy of the registry
// metadata taken before it held the lifecycle lock, rolling back
// next_tenant_number; creations then handed out numbers (and data keys) of
// existing tenants.
TEST_F(RaceTest, CreatingTenantsWhileMaintenanceRunsHandsOutEachNumberOnce) {
  options_.backup_dir.clear();  // Maintenance runs fast: the race is tighter.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kTenants = 200;
  std::atomic<bool> done{false};
  std::atomic<int> runs{0};
  std::thread maintenance([&] {
    while (!done.load()) {
      clock_->Advance(absl::Seconds(1));
      EXPECT_THAT(store->RunMaintenance(), IsOk());
      runs.fetch_add(1);
    }
  });
  for (int i = 0; i < kTenants; ++i) {
    const std::string id = absl::StrCat("t", i);
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    auto t = store->OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    ASSERT_THAT((*t)->Put("secret", absl::StrCat("secret of ", id)), IsOk());
  }
  done = true;
  maintenance.join();
  EXPECT_GT(runs.load(), 0);

  auto check = [&](Store& s, const std::set<std::string>& gone) {
    auto tenants = s.ListTenants();
    ASSERT_THAT(tenants, IsOk());
    std::set<std::uint64_t> numbers;
    for (const TenantInfo& info : *tenants) {
      EXPECT_TRUE(numbers.insert(info.number).second)
          << "number " << info.number << " handed out twice (" << info.id
          << ")";
      if (gone.count(info.id)) continue;
      auto t = s.OpenTenant(info.id);
      ASSERT_THAT(t, IsOk()) << info.id;
      EXPECT_THAT((*t)->Get("secret"),
                  IsOkAndHolds(absl::StrCat("secret of ", info.id)));
    }
    EXPECT_EQ(numbers.size(), static_cast<std::size_t>(kTenants));
  };
  check(*store, {});
  // Purging one tenant leaves every other readable, and the store reopens.
  ASSERT_THAT(store->EndContract("t0", clock_->Now()), IsOk());
  clock_->Advance(31 * kDay);
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  check(*store, {"t0"});
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  check(*store, {"t0"});
}

// Issue 22, race 2: a handle opened while EndContract ran was built from the
// record read before the end and kept serving after EndContract returned.
// Openers loop open -> Get -> iterate -> drop while the contract is ended and
// reinstated; `phase` is odd from the return of EndContract until Reinstate is
// called. A read that starts and ends inside one odd phase must fail.
TEST_F(RaceTest, NoHandleOrIteratorServesOnceEndContractReturns) {
  options_.backup_dir.clear();
  options_.tenant_cache_size = 0;  // Cores die with their last handle.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(Filled(*store, "t", 20), nullptr);

  std::atomic<std::uint64_t> phase{0};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  auto opener = [&] {
    while (!done.load()) {
      auto t = store->OpenTenant("t");
      ops.fetch_add(1);
      if (!t.ok()) continue;
      // A few uses per handle: a handle made stale during EndContract is
      // caught once the main thread has marked the end.
      for (int use = 0; use < 3; ++use) {
        const std::uint64_t before = phase.load();
        const bool got = (*t)->Get("k1").ok();
        std::unique_ptr<Iterator> it = (*t)->NewIterator();
        it->SeekToFirst();
        const bool iterated = it->Valid();
        const std::uint64_t after = phase.load();
        if ((got || iterated) && before == after && before % 2 == 1) {
          violations.fetch_add(1);
        }
        std::this_thread::yield();
      }
    }
  };
  // Other threads read the store's clock all the time (every handle call with
  // a scheduled end does): an opener then often waits for the clock between
  // reading the tenant's record and building its core.
  std::thread clock_reader([&] {
    while (!done.load()) (void)clock_->Advance(absl::ZeroDuration());
  });
  std::thread a(opener), b(opener);
  constexpr int kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_THAT(store->EndContract("t", clock_->Now()), IsOk());
    phase.fetch_add(1);  // Odd: ended.
    const std::uint64_t wait_for = ops.load() + 20;
    while (ops.load() < wait_for) std::this_thread::yield();
    phase.fetch_add(1);  // Even: being reinstated.
    ASSERT_THAT(store->Reinstate("t"), IsOk());
  }
  done = true;
  a.join();
  b.join();
  clock_reader.join();
  EXPECT_EQ(violations.load(), 0)
      << "reads served after EndContract returned, in " << kRounds << " rounds";
}

// A handle and an iterator opened long before the end are refused from the
// return of EndContract on (the iterator used to read on until the purge).
TEST_F(RaceTest, OpenHandlesAndIteratorsStopWhenTheContractEnds) {
  options_.backup_dir.clear();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::unique_ptr<Tenant> t = Filled(*store, "t", 10);
  ASSERT_NE(t, nullptr);
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<Iterator> it = t->NewIterator();
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    ASSERT_THAT(store->EndContract("t", clock_->Now()), IsOk());
    EXPECT_THAT(t->Get("k1"), StatusIs(absl::StatusCode::kFailedPrecondition));
    it->Next();
    EXPECT_FALSE(it->Valid());
    EXPECT_THAT(it->status(), StatusIs(absl::StatusCode::kFailedPrecondition));
    it->SeekToFirst();
    EXPECT_FALSE(it->Valid());
    ASSERT_THAT(store->Reinstate("t"), IsOk());
    EXPECT_THAT(t->Get("k1"), IsOkAndHolds("v"));
  }
}

// A scheduled end stops iterators that are already open once it passes, as it
// stops handle calls.
TEST_F(RaceTest, IteratorStopsWhenAScheduledEndPasses) {
  options_.backup_dir.clear();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::unique_ptr<Tenant> t = Filled(*store, "t", 10);
  ASSERT_NE(t, nullptr);
  ASSERT_THAT(store->EndContract("t", clock_->Now() + kDay), IsOk());
  std::unique_ptr<Iterator> it = t->NewIterator();
  it->SeekToFirst();
  ASSERT_TRUE(it->Valid());
  it->Next();
  ASSERT_TRUE(it->Valid());
  clock_->Advance(kDay);
  it->Next();
  EXPECT_FALSE(it->Valid());
  EXPECT_THAT(it->status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(t->Get("k1"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Issue 22, race 3: when a shred deleted the newest generation, the next
// backup got its id again; a later shred then deleted that new generation too.
TEST_F(RaceTest, GenerationIdsAreNeverReused) {
  options_.backup_purge_after = absl::ZeroDuration();  // Shred with the purge.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    auto t = store->OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    ASSERT_THAT((*t)->Put("k", absl::StrCat("value of ", id)), IsOk());
  }
  auto first = store->CreateBackup();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->id, 1u);
  // a ends; 30 days later one run purges it, shreds it (deleting generation 1,
  // the newest) and takes the daily backup.
  ASSERT_THAT(store->EndContract("a", clock_->Now()), IsOk());
  clock_->Advance(31 * kDay);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->shredded, std::vector<std::string>{"a"});
  ASSERT_TRUE(report->backup.has_value());
  EXPECT_EQ(report->backup->id, 2u) << "generation 1 was handed out again";
  auto certificate = store->GetDeletionCertificate("a");
  ASSERT_THAT(certificate, IsOk());
  EXPECT_EQ(certificate->generations_deleted, std::vector<std::uint32_t>{1});
  // Across a reopen too.
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  // b ends; its shred deletes generation 2 (taken before b's purge); c's
  // restore point taken after b's purge survives it.
  ASSERT_THAT(store->EndContract("b", clock_->Now()), IsOk());
  clock_->Advance(31 * kDay);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->shredded, std::vector<std::string>{"b"});
  ASSERT_TRUE(report->backup.has_value());
  EXPECT_EQ(report->backup->id, 3u);
  auto next = store->CreateBackup();
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->id, 4u);
  auto listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  std::vector<BackupId> ids;
  for (const BackupInfo& info : *listed) ids.push_back(info.id);
  EXPECT_EQ(ids, (std::vector<BackupId>{3, 4}));
  for (BackupId id : ids) EXPECT_THAT(store->VerifyBackup(id), IsOk());
  EXPECT_THAT(store->RestoreTenant("c", 3), IsOk());
  auto c = store->OpenTenant("c");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT((*c)->Get("k"), IsOkAndHolds("value of c"));
  // Each generation id appears in one BACKUP_CREATED entry.
  std::vector<std::string> created = CreatedGenerations(*store);
  std::set<std::string> unique(created.begin(), created.end());
  EXPECT_EQ(unique.size(), created.size());
  EXPECT_EQ(created.size(), 4u);
  // A whole-store restore of the newest generation holds c, and not a or b.
  Options target = options_;
  target.data_dir = tmp_.Sub("restored");
  ASSERT_THAT(Store::RestoreStore(target, 4), IsOk());
  target.backup_dir.clear();
  auto restored = OpenStore(target);
  ASSERT_NE(restored, nullptr);
  auto rc = restored->OpenTenant("c");
  ASSERT_THAT(rc, IsOk());
  EXPECT_THAT((*rc)->Get("k"), IsOkAndHolds("value of c"));
  EXPECT_THAT(restored->OpenTenant("a"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Issue 22, item 4: contract ends outside the tenant's life are refused; an
// end recorded in the past keeps the whole grace period from now.
TEST_F(RaceTest, EndContractAcceptsOnlyTimesInTheTenantsLife) {
  options_.backup_dir.clear();
  {
    Options far = options_;
    far.purge_after = kDay * 365 * 101;
    EXPECT_THAT(Store::Open(far), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  const absl::Time created = clock_->Now();
  for (absl::Time bad :
       {absl::InfinitePast(), absl::InfiniteFuture(), absl::UnixEpoch(),
        created - absl::Seconds(1), clock_->Now() + kDay * 365 * 101,
        absl::FromCivil(absl::CivilSecond(9999, 12, 31, 0, 0, 0),
                        absl::UTCTimeZone())}) {
    absl::Status s = store->EndContract("t", bad);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
    EXPECT_TRUE(absl::StrContains(s.message(), "between the tenant's creation"))
        << s;
  }
  EXPECT_EQ(store->GetTenantInfo("t")->state, TenantState::kActive);
  EXPECT_FALSE(store->GetTenantInfo("t")->contract_end.has_value());
  // Ten days later the operator records an end that was five days ago.
  auto t = store->OpenTenant("t");
  ASSERT_THAT(t, IsOk());
  ASSERT_THAT((*t)->Put("k", "v"), IsOk());
  clock_->Advance(10 * kDay);
  const absl::Time end = clock_->Now() - 5 * kDay;
  ASSERT_THAT(store->EndContract("t", end), IsOk());
  auto info = store->GetTenantInfo("t");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, TenantState::kEnded);
  EXPECT_EQ(info->contract_end, end);
  EXPECT_EQ(info->purge_due, clock_->Now() + options_.purge_after);
  // Not purged at end + 30 days: the grace runs from when the end was known.
  clock_->Advance(26 * kDay);
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  EXPECT_EQ(store->GetTenantInfo("t")->state, TenantState::kEnded);
  clock_->Advance(4 * kDay);
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  EXPECT_EQ(store->GetTenantInfo("t")->state, TenantState::kPurged);
}

// Issue 22, race 5: a backup whose key-store copy was taken under one master
// key and sealed under the next verified and could not be restored. A rotation
// thread and a backup thread run together; every generation then verifies and
// restores with the key it names.
TEST_F(RaceTest, BackupsDuringRotationsAlwaysRestore) {
  options_.backup_generations = 100;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  // Enough tenants that copying the key store takes a while: a rotation
  // then often waits for the copy and slips in before the seal.
  std::vector<std::string> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(absl::StrCat("t", i));
  ASSERT_THAT(store->CreateTenants(
                  std::vector<std::string_view>(ids.begin(), ids.end())),
              IsOk());
  {
    auto t = store->OpenTenant("t1");
    ASSERT_THAT(t, IsOk());
    ASSERT_THAT((*t)->Put("k", "v"), IsOk());
  }
  // Master-key generation g is key A when g is odd, B when even.
  std::shared_ptr<KeyProvider> keys[2] = {
      provider_, test::NewTestKeyProvider(tmp_, "second.key")};
  constexpr int kBackups = 6;
  std::atomic<bool> done{false};
  std::thread rotator([&] {
    for (int i = 0; i < 40 && !done.load(); ++i) {
      EXPECT_THAT(store->RotateMasterKey(keys[(i + 1) % 2]), IsOk());
    }
  });
  for (int i = 0; i < kBackups; ++i) {
    EXPECT_THAT(store->CreateBackup(), IsOk());
  }
  done = true;
  rotator.join();
  auto listed = store->ListBackups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), static_cast<std::size_t>(kBackups));
  for (const BackupInfo& info : *listed) {
    SCOPED_TRACE(absl::StrCat("generation ", info.id, " under master key ",
                              info.master_key_generation));
    Options target = options_;
    target.data_dir = tmp_.Sub(absl::StrCat("restored-", info.id));
    target.key_provider = keys[(info.master_key_generation + 1) % 2];
    ASSERT_THAT(Store::RestoreStore(target, info.id), IsOk());
    target.backup_dir.clear();
    auto restored = OpenStore(target);
    ASSERT_NE(restored, nullptr);
    auto t = restored->OpenTenant("t1");
    ASSERT_THAT(t, IsOk());
    EXPECT_THAT((*t)->Get("k"), IsOkAndHolds("v"));
  }
}

// VerifyBackup opens every key of the sealed key-store copy: a generation
// whose copy does not open with the key that sealed it (as the race above
// produced) fails verification. Made here by an attacker who holds the master
// key and reseals a copy with a damaged wrapped key.
TEST_F(RaceTest, VerifyBackupCatchesACopyThatDoesNotOpen) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  auto backup = store->CreateBackup();
  ASSERT_THAT(backup, IsOk());
  ASSERT_THAT(store->VerifyBackup(backup->id), IsOk());
  const std::string path =
      absl::StrCat(options_.backup_dir, "/generations/", backup->id, ".gen");
  auto bytes = internal::ReadFileToString(path);
  ASSERT_THAT(bytes, IsOk());
  proto::GenerationFile file;
  ASSERT_TRUE(file.ParseFromString(*bytes));
  // A key store of its own with the same master key seals the forgery.
  test::TempDir other;
  auto master = provider_->GetMasterKey();
  ASSERT_THAT(master, IsOk());
  auto sealer = internal::KeyStore::Open(other.Sub("keys"), *std::move(master),
                                         true, clock_->Now());
  ASSERT_THAT(sealer, IsOk());
  const std::string context = internal::GenerationContext(file);
  auto changed = (*sealer)->Reseal(
      &file, context, [](std::string* payload) -> absl::StatusOr<bool> {
        proto::BackupGeneration generation;
        if (!generation.ParseFromString(*payload)) {
          return absl::DataLossError("parse");
        }
        for (auto& entry : *generation.mutable_key_store()->mutable_entries()) {
          if (absl::StartsWith(entry.key(), "d/")) {
            std::string& value = *entry.mutable_value();
            value[value.size() - 1] ^= 1;  // The tag of the wrapped key.
          }
        }
        *payload = generation.SerializeAsString();
        return true;
      });
  ASSERT_THAT(changed, IsOkAndHolds(true));
  test::WriteFile(path, file.SerializeAsString());
  EXPECT_THAT(store->VerifyBackup(backup->id),
              StatusIs(absl::StatusCode::kDataLoss));
}

// Issue 22, race 6: VerifyAuditLog read the log's state at a snapshot but the
// kept hashes of pruned entries without one, so a verification during a prune
// reported tampering that never happened. Exports read one snapshot too.
TEST_F(RaceTest, VerifyAndExportDuringPruningNeverRaiseFalseAlarms) {
  options_.backup_dir.clear();
  options_.audit_sink = NewFileAuditSink(tmp_.Sub("anchors.jsonl")).value();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  AuditVerifyOptions keys;
  keys.public_keys = {store->GetSigningPublicKey().value()};
  std::atomic<bool> done{false};
  std::atomic<int> verified{0};
  std::atomic<int> alarms{0};
  std::thread verifier([&] {
    while (!done.load()) {
      for (std::string_view log : {std::string_view("t"), kSystemAuditLog}) {
        auto v = store->VerifyAuditLog(log, keys);
        EXPECT_THAT(v, IsOk());
        if (v.ok() && !v->intact) {
          alarms.fetch_add(1);
          ADD_FAILURE() << log << ": " << v->problem << " at "
                        << v->first_bad_seq;
        }
        auto exported = store->ExportAuditLog(log, 0, UINT64_MAX);
        if (exported.ok()) {
          auto offline = VerifyAuditExport(*exported, keys);
          EXPECT_THAT(offline, IsOk());
          if (offline.ok() && !offline->intact) {
            alarms.fetch_add(1);
            ADD_FAILURE() << "export of " << log << ": " << offline->problem;
          }
        } else {
          EXPECT_THAT(exported, StatusIs(absl::StatusCode::kInvalidArgument));
        }
        verified.fetch_add(1);
      }
    }
  });
  std::uint64_t pruned = 0;
  for (int day = 1; day <= 260; ++day) {
    clock_->Advance(kDay);
    auto report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    pruned += report->audit_entries_pruned;
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT(store->SetAccessAudit("t", i % 2 == 0 ? AccessAudit::kWrites
                                                        : AccessAudit::kOff),
                  IsOk());
    }
  }
  done = true;
  verifier.join();
  EXPECT_GT(pruned, 100u);
  EXPECT_GT(verified.load(), 0);
  EXPECT_EQ(alarms.load(), 0);
}

// Everything at once for a bounded number of operations: creations, opens and
// reads checked against each tenant's own values, contract ends and
// reinstatements, legal holds, rotations, backups and maintenance on a clock
// that moves a day per run. Then the invariants.
TEST_F(RaceTest, ManyThreadsKeepEveryInvariant) {
  const std::uint64_t seed = test::TestSeed();
  options_.backup_generations = 3;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::shared_ptr<KeyProvider> keys[2] = {
      provider_, test::NewTestKeyProvider(tmp_, "second.key")};
  constexpr int kTenants = 60;
  std::atomic<int> created{0};
  std::atomic<bool> done{false};
  std::atomic<int> foreign{0};
  std::atomic<int> current_key{0};  // Index into `keys` of the master key.
  auto own = [](const std::string& id) { return absl::StrCat("own:", id); };

  std::thread creator([&] {
    for (int i = 0; i < kTenants; ++i) {
      const std::string id = absl::StrCat("t", i);
      EXPECT_THAT(store->CreateTenant(id), IsOk());
      auto t = store->OpenTenant(id);
      EXPECT_THAT(t, IsOk());
      if (t.ok()) {
        EXPECT_THAT((*t)->Put("own", own(id)), IsOk());
      }
      created.fetch_add(1);
    }
  });
  auto user = [&](std::uint64_t user_seed) {
    std::mt19937_64 rng(user_seed);
    for (int op = 0; op < 1500 && !done.load(); ++op) {
      const int n = created.load();
      if (n == 0) {
        std::this_thread::yield();
        continue;
      }
      const std::string id = absl::StrCat("t", rng() % n);
      auto t = store->OpenTenant(id);
      if (!t.ok()) {
        EXPECT_THAT(t, StatusIs(absl::StatusCode::kFailedPrecondition)) << id;
        continue;
      }
      auto v = (*t)->Get("own");
      if (v.ok() && *v != own(id)) foreign.fetch_add(1);
      if (!v.ok() && !absl::IsFailedPrecondition(v.status()) &&
          !absl::IsNotFound(v.status())) {
        ADD_FAILURE() << id << ": " << v.status();
      }
      (void)(*t)->Put(absl::StrCat("k", rng() % 10), own(id));
      std::unique_ptr<Iterator> it = (*t)->NewIterator();
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const std::string_view value = it->value();
        if (!it->status().ok()) {
          // Stopped between Valid() and value() (a purge stops every
          // iterator, a contract end the tenant's): value() is empty then.
          // Anything else (a value that does not open) is a failure.
          if (!absl::IsAborted(it->status()) &&
              !absl::IsFailedPrecondition(it->status())) {
            ADD_FAILURE() << id << ": " << it->status();
          }
          break;
        }
        if (value != own(id)) foreign.fetch_add(1);
      }
    }
  };
  std::thread user_a(user, seed), user_b(user, seed + 1);
  std::thread operator_thread([&] {
    std::mt19937_64 rng(seed + 2);
    int rotations = 0;
    for (int op = 0; op < 300 && !done.load(); ++op) {
      const int n = created.load();
      if (n == 0) {
        std::this_thread::yield();
        continue;
      }
      const std::string id = absl::StrCat("t", rng() % n);
      switch (rng() % 5) {
        case 0:
          (void)store->EndContract(id, clock_->Now());
          break;
        case 1:
          (void)store->EndContract(id, clock_->Now() + kDay * (rng() % 3));
          break;
        case 2:
          (void)store->Reinstate(id);
          break;
        case 3:
          (void)store->SetLegalHold(id, rng() % 2 == 0);
          break;
        case 4:
          if (rotations < 4) {
            const int next = 1 - current_key.load();
            EXPECT_THAT(store->RotateMasterKey(keys[next]), IsOk());
            current_key = next;
            ++rotations;
          }
          break;
      }
    }
  });
  std::thread maintenance([&] {
    for (int run = 0; run < 60; ++run) {
      clock_->Advance(kDay);
      EXPECT_THAT(store->RunMaintenance(), IsOk());
      if (run % 7 == 0) {
        EXPECT_THAT(store->CreateBackup(), IsOk());
      }
    }
  });
  creator.join();
  maintenance.join();
  operator_thread.join();
  done = true;
  user_a.join();
  user_b.join();

  EXPECT_EQ(foreign.load(), 0) << "a tenant read another tenant's value";
  auto check = [&](Store& s) {
    auto tenants = s.ListTenants();
    ASSERT_THAT(tenants, IsOk());
    ASSERT_EQ(tenants->size(), static_cast<std::size_t>(kTenants));
    std::set<std::uint64_t> numbers;
    for (const TenantInfo& info : *tenants) {
      EXPECT_TRUE(numbers.insert(info.number).second) << info.id;
      (void)s.Reinstate(info.id);  // Whatever can be served again is.
      auto t = s.OpenTenant(info.id);
      if (info.state == TenantState::kPurged ||
          info.state == TenantState::kShredded) {
        EXPECT_THAT(t, StatusIs(absl::StatusCode::kFailedPrecondition));
        continue;
      }
      ASSERT_THAT(t, IsOk()) << info.id;
      EXPECT_THAT((*t)->Get("own"), IsOkAndHolds(own(info.id)));
    }
  };
  check(*store);
  std::vector<std::string> generations = CreatedGenerations(*store);
  std::set<std::string> unique(generations.begin(), generations.end());
  EXPECT_EQ(unique.size(), generations.size()) << "a generation id reused";
  auto backups = store->ListBackups();
  ASSERT_THAT(backups, IsOk());
  for (const BackupInfo& info : *backups) {
    // Those sealed under the current master key open and verify in full.
    if (info.manifest_readable) {
      EXPECT_THAT(store->VerifyBackup(info.id), IsOk()) << info.id;
    }
  }
  auto system = store->VerifyAuditLog(kSystemAuditLog, AuditVerifyOptions());
  ASSERT_THAT(system, IsOk());
  EXPECT_TRUE(system->intact) << system->problem;
  // The store reopens with the key it was last rotated to.
  Options reopen = options_;
  reopen.key_provider = keys[current_key.load()];
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  store = OpenStore(reopen);
  ASSERT_NE(store, nullptr);
  check(*store);
}

}  // namespace
}  // namespace leyser
