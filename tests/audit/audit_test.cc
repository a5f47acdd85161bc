// The audit log through the public API, on real RocksDB and libsodium with a
// manual clock: event coverage, the tamper matrix, atomicity across kills,
// fail-closed writes, retention over 400 days, no secrets, exports.

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "rocksdb/file_system.h"

#include "leyser/leyser.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/audit/merkle.h"
#include "lib/crypto/sodium.h"
#include "lib/db/key_layout.h"
#include "lib/proto/audit.pb.h"
#include "lib/proto/registry.pb.h"
#include "lib/rocks/fault_injection.h"
#include "lib/util/coding.h"
#include "tests/test/raw_db.h"
#include "tests/test/spawn.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;

constexpr absl::Duration kDay = absl::Hours(24);

using Counts = std::map<AuditEvent, int>;

class AuditTest : public test::StoreFixture {
 protected:
  AuditTest() { options_.audit_sink = NewFileAuditSink(anchors()).value(); }

  std::string anchors() const { return tmp_.Sub("anchors.jsonl"); }

  std::unique_ptr<Store> OpenAccepting() {
    Options accepting = options_;
    accepting.accept_rollback = true;
    return OpenStore(accepting);
  }

  std::vector<AuditEntry> Entries(Store& store, std::string_view log) {
    auto entries = store.ReadAuditLog(log, 0, 1 << 30);
    if (absl::IsNotFound(entries.status())) return {};  // No such tenant yet.
    EXPECT_THAT(entries, IsOk());
    return entries.ok() ? *entries : std::vector<AuditEntry>{};
  }

  Counts Count(Store& store, std::string_view log) {
    Counts counts;
    for (const AuditEntry& e : Entries(store, log)) ++counts[e.event];
    return counts;
  }

  // Runs `action` and checks that it added exactly `want` to `log`.
  void ExpectAdds(Store& store, std::string_view log,
                  const std::function<void()>& action, const Counts& want) {
    const Counts before = Count(store, log);
    action();
    const Counts after = Count(store, log);
    std::set<AuditEvent> events;
    for (const auto& [e, n] : before) events.insert(e);
    for (const auto& [e, n] : after) events.insert(e);
    for (const auto& [e, n] : want) events.insert(e);
    for (AuditEvent e : events) {
      const int added = (after.count(e) ? after.at(e) : 0) -
                        (before.count(e) ? before.at(e) : 0);
      const int wanted = want.count(e) ? want.at(e) : 0;
      EXPECT_EQ(added, wanted)
          << "log " << log << ", event " << AuditEventName(e);
    }
  }

  // Creates tenant `id` with write auditing on and puts keys k0..k<puts-1>.
  std::unique_ptr<Tenant> AuditedTenant(Store& store, const std::string& id,
                                        int puts) {
    EXPECT_THAT(store.CreateTenant(id), IsOk());
    EXPECT_THAT(store.SetAccessAudit(id, AccessAudit::kWrites), IsOk());
    auto t = store.OpenTenant(id);
    EXPECT_THAT(t, IsOk());
    if (!t.ok()) return nullptr;
    for (int i = 0; i < puts; ++i) {
      EXPECT_THAT((*t)->Put(absl::StrCat("k", i), "v"), IsOk());
    }
    return std::move(t).value();
  }

  // Opens a store anchoring to `sink` (no backups) with tenant "a" created
  // and every checkpoint so far anchored; null (and a failure) otherwise.
  std::unique_ptr<Store> OpenWithTenantAnchoredTo(
      std::shared_ptr<AuditSink> sink) {
    options_.audit_sink = std::move(sink);
    options_.backup_dir.clear();
    auto store = OpenStore();
    if (store == nullptr) return nullptr;
    EXPECT_THAT(store->CreateTenant("a"), IsOk());
    EXPECT_THAT(store->AnchorAuditLogs(), IsOk());
    return testing::Test::HasFailure() ? nullptr : std::move(store);
  }

  AuditVerifyOptions Trusted(Store& store) {
    AuditVerifyOptions v;
    auto notes = ReadAuditCheckpointFiles({anchors()});
    if (notes.ok()) v.trusted_checkpoints = notes->notes;
    v.public_keys = {store.GetSigningPublicKey().value()};
    return v;
  }

  void ExpectIntact(Store& store, std::string_view log) {
    auto v = store.VerifyAuditLog(log, Trusted(store));
    ASSERT_THAT(v, IsOk());
    EXPECT_TRUE(v->intact) << log << ": " << v->problem << " at "
                           << v->first_bad_seq;
  }
};

// A sink that fails while `failing` is set.
class FlakySink final : public AuditSink {
 public:
  absl::Status Publish(const AuditCheckpoint& cp) override {
    if (failing) return absl::UnavailableError("sink down");
    if (!refuse_suffix.empty() && absl::EndsWith(cp.origin, refuse_suffix)) {
      return absl::UnavailableError("sink refuses this log");
    }
    std::lock_guard<std::mutex> lock(mu_);
    received_.push_back(cp);
    return absl::OkStatus();
  }
  std::vector<AuditCheckpoint> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::atomic<bool> failing{false};
  std::string refuse_suffix;  // Set before the store opens.

 private:
  std::mutex mu_;
  std::vector<AuditCheckpoint> received_;
};

// Test 1: every event, triggered through the public API, gives exactly one
// entry of its type.
TEST_F(AuditTest, EveryEventThroughThePublicApiGivesExactlyOneEntry) {
  options_.backup_generations = 2;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Store& s = *store;
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.CreateTenant("t"), IsOk()); },
             {{AuditEvent::kTenantCreated, 1}});
  ExpectAdds(
      s, "t",
      [&] { ASSERT_THAT(s.EndContract("t", clock_->Now() + kDay), IsOk()); },
      {{AuditEvent::kContractEndScheduled, 1}});
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.Reinstate("t"), IsOk()); },
             {{AuditEvent::kReinstated, 1}});
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.SetLegalHold("t", true), IsOk()); },
             {{AuditEvent::kLegalHoldSet, 1}});
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.SetLegalHold("t", false), IsOk()); },
             {{AuditEvent::kLegalHoldReleased, 1}});
  ExpectAdds(s, "t",
             [&] {
               ASSERT_THAT(s.SetAccessAudit("t", AccessAudit::kReadsAndWrites),
                           IsOk());
             },
             {{AuditEvent::kAccessAuditChanged, 1}});
  auto t = s.OpenTenantAs("t", "alice");
  ASSERT_THAT(t, IsOk());
  Tenant& tenant = **t;
  ExpectAdds(s, "t", [&] { ASSERT_THAT(tenant.Put("k1", "v1"), IsOk()); },
             {{AuditEvent::kDataPut, 1}});
  ExpectAdds(s, "t", [&] { ASSERT_THAT(tenant.Delete("k1"), IsOk()); },
             {{AuditEvent::kDataDelete, 1}});
  ExpectAdds(s, "t",
             [&] {
               WriteBatch batch;
               batch.Put("a", "1");
               batch.Put("b", "2");
               batch.Delete("c");
               ASSERT_THAT(tenant.Write(batch), IsOk());
             },
             {{AuditEvent::kDataBatch, 1}});
  ExpectAdds(s, "t", [&] { ASSERT_THAT(tenant.Get("a"), IsOk()); },
             {{AuditEvent::kDataGet, 1}});
  ExpectAdds(s, "t", [&] { ASSERT_NE(tenant.NewIterator(), nullptr); },
             {{AuditEvent::kDataScan, 1}});
  {
    // The entries name the actor and the keyed hashes, never the keys.
    std::vector<AuditEntry> entries = Entries(s, "t");
    const AuditEntry& batch = entries[entries.size() - 3];
    EXPECT_EQ(batch.event, AuditEvent::kDataBatch);
    EXPECT_EQ(batch.actor, "alice");
    EXPECT_EQ(batch.count, 3u);
    EXPECT_EQ(batch.key_hashes,
              (std::vector<std::string>{tenant.AuditKeyHash("a"),
                                        tenant.AuditKeyHash("b"),
                                        tenant.AuditKeyHash("c")}));
    EXPECT_NE(tenant.AuditKeyHash("a"), tenant.AuditKeyHash("b"));
    // Keyed per tenant: the same key hashes differently in another tenant.
    ASSERT_THAT(s.CreateTenant("other"), IsOk());
    EXPECT_NE(tenant.AuditKeyHash("a"),
              s.OpenTenant("other").value()->AuditKeyHash("a"));
    EXPECT_EQ(entries.back().actor, "alice");
    EXPECT_EQ(entries.front().actor, "host");
  }

  BackupId first = 0;
  ExpectAdds(
      s, kSystemAuditLog,
      [&] {
        auto b = s.CreateBackup();
        ASSERT_THAT(b, IsOk());
        first = b->id;
      },
      // The first backup binds the backup directory.
      {{AuditEvent::kBackupCreated, 1}, {AuditEvent::kBackupDirBound, 1}});
  ExpectAdds(s, kSystemAuditLog,
             [&] { ASSERT_THAT(s.VerifyBackup(first), IsOk()); },
             {{AuditEvent::kBackupVerified, 1}});
  ExpectAdds(s, kSystemAuditLog,
             [&] {
               EXPECT_THAT(s.VerifyBackup(999),
                           StatusIs(absl::StatusCode::kNotFound));
             },
             {{AuditEvent::kBackupFailed, 1}});
  ExpectAdds(s, kSystemAuditLog, [&] { ASSERT_THAT(s.CreateBackup(), IsOk()); },
             {{AuditEvent::kBackupCreated, 1}});
  ExpectAdds(s, kSystemAuditLog, [&] { ASSERT_THAT(s.CreateBackup(), IsOk()); },
             {{AuditEvent::kBackupCreated, 1}, {AuditEvent::kBackupPruned, 1}});
  auto backups = s.ListBackups();
  ASSERT_THAT(backups, IsOk());
  const BackupId newest = backups->back().id;
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.RestoreTenant("t", newest), IsOk()); },
             {{AuditEvent::kTenantRestored, 1}});

  // A clock stepping back, once per step.
  clock_->Advance(-absl::Hours(1));
  ExpectAdds(s, kSystemAuditLog,
             [&] {
               ASSERT_THAT(s.RunMaintenance(), IsOk());
               ASSERT_THAT(s.RunMaintenance(), IsOk());
             },
             {{AuditEvent::kClockSkew, 1}});
  clock_->Advance(absl::Hours(1));

  // Contract end, purge, shred and certificate.
  ExpectAdds(s, "t",
             [&] { ASSERT_THAT(s.EndContract("t", clock_->Now()), IsOk()); },
             {{AuditEvent::kContractEnded, 1}});
  clock_->Advance(options_.purge_after);
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.RunMaintenance(), IsOk()); },
             {{AuditEvent::kPurged, 1}});
  clock_->Advance(options_.backup_purge_after);
  ExpectAdds(s, "t", [&] { ASSERT_THAT(s.RunMaintenance(), IsOk()); },
             {{AuditEvent::kShredded, 1}, {AuditEvent::kCertificateIssued, 1}});
  auto certificate = s.GetDeletionCertificate("t");
  ASSERT_THAT(certificate, IsOk());
  auto head = ParseAuditCheckpoint(certificate->audit_chain_head);
  ASSERT_THAT(head, IsOk());
  std::vector<AuditEntry> t_entries = Entries(s, "t");
  ASSERT_GE(t_entries.size(), 3u);
  // The head covers everything up to and including PURGED.
  EXPECT_EQ(head->size, t_entries.size() - 2);
  EXPECT_EQ(t_entries[head->size - 1].event, AuditEvent::kPurged);
  EXPECT_TRUE(internal::CheckpointSignedByAny(
      certificate->audit_chain_head, {s.GetSigningPublicKey().value()}));
  // The log of the shredded tenant is kept and verifies.
  ExpectIntact(s, "t");

  // A DataLoss returned by a read is recorded.
  auto d_info = s.CreateTenant("d");
  ASSERT_THAT(d_info, IsOk());
  const std::uint64_t d_number = d_info->number;
  auto e_info = s.CreateTenant("e");  // Its audit log gets damaged.
  ASSERT_THAT(e_info, IsOk());
  ASSERT_THAT((*s.OpenTenant("d"))->Put("k", "value"), IsOk());
  t->reset();
  store.reset();
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    std::string key = internal::DataKey(d_number, "k");
    std::string v = raw.Get(key);
    v[v.size() / 2] ^= 1;
    raw.Put(key, v);
    ASSERT_TRUE(raw.db()
                    ->Put(rocksdb::WriteOptions(), raw.audit(),
                          internal::AuditEntryKey(e_info->number, 0), "xx")
                    .ok());
  }
  // A damaged log cannot be compared with the checkpoint anchored of it: the
  // open is refused, until the damage is accepted (recorded).
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
  store = OpenAccepting();
  ASSERT_NE(store, nullptr);
  ExpectAdds(*store, "d",
             [&] {
               EXPECT_THAT((*store->OpenTenant("d"))->Get("k"),
                           StatusIs(absl::StatusCode::kDataLoss));
             },
             {{AuditEvent::kDataLoss, 1}});
  // So is one from reading a damaged audit log (in the system log).
  ExpectAdds(*store, kSystemAuditLog,
             [&] {
               EXPECT_THAT(store->ReadAuditLog("e", 0, 10),
                           StatusIs(absl::StatusCode::kDataLoss));
             },
             {{AuditEvent::kDataLoss, 1}});
  auto damaged = store->VerifyAuditLog("e", {});
  ASSERT_THAT(damaged, IsOk());
  EXPECT_FALSE(damaged->intact);
  EXPECT_EQ(damaged->first_bad_seq, 0u);

  // A wrong master key, recorded at the next successful open.
  const Counts system_before = Count(*store, kSystemAuditLog);
  store.reset();
  Options wrong = options_;
  wrong.key_provider = test::NewTestKeyProvider(tmp_, "wrong.key");
  EXPECT_THAT(Store::Open(wrong),
              StatusIs(absl::StatusCode::kPermissionDenied));
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  Counts system_after = Count(*store, kSystemAuditLog);
  EXPECT_EQ(system_before.count(AuditEvent::kWrongMasterKey), 0u);
  EXPECT_EQ(system_after[AuditEvent::kWrongMasterKey], 1);

  // Whole-store restore: the restored store's system log records it.
  Options restored = options_;
  restored.data_dir = tmp_.Sub("restored");
  restored.audit_sink = nullptr;
  auto generation = store->CreateBackup();
  ASSERT_THAT(generation, IsOk());
  ASSERT_THAT(Store::RestoreStore(restored, generation->id), IsOk());
  {
    auto r = OpenStore(restored);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(Count(*r, kSystemAuditLog)[AuditEvent::kStoreRestored], 1);
  }

  // Master-key rotation (the new key signs from now on).
  ExpectAdds(*store, kSystemAuditLog,
             [&] {
               ASSERT_THAT(store->RotateMasterKey(
                               test::NewTestKeyProvider(tmp_, "next.key")),
                           IsOk());
             },
             {{AuditEvent::kMasterKeyRotated, 1},
              {AuditEvent::kSigningKeyRotated, 1}});
  // Both keys verify; the stored checkpoints of either key are accepted.
  auto v = store->VerifyAuditLog(kSystemAuditLog, {});
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
}

TEST_F(AuditTest, MaintenanceErrorsAndSinkFailuresAreRecorded) {
  // The store's own backup directory, then the engine's place taken by a
  // file: the next backup fails. (A backup directory that is not the store's
  // is refused instead: MaintenanceReport::backup_refused.)
  options_.backup_dir = tmp_.Sub("broken-backups");
  auto sink = std::make_shared<FlakySink>();
  options_.audit_sink = sink;
  options_.audit_checkpoint_entries = 1;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateBackup(), IsOk());
  std::filesystem::remove_all(tmp_.Sub("broken-backups/engine"));
  test::WriteFile(tmp_.Sub("broken-backups/engine"), "x");
  clock_->Advance(absl::Hours(24));
  ExpectAdds(
      *store, kSystemAuditLog,
      [&] { EXPECT_FALSE(store->RunMaintenance().ok()); },
      {{AuditEvent::kBackupFailed, 1}, {AuditEvent::kMaintenanceError, 1}});
  sink->failing = true;
  ExpectAdds(*store, kSystemAuditLog,
             [&] {
               for (int i = 0; i < 3; ++i) {
                 ASSERT_THAT(store->CreateTenant(absl::StrCat("s", i)), IsOk());
               }
               // Hands over what is pending (the background thread may have
               // tried already): one entry for the failing streak, and the
               // refusal is reported.
               EXPECT_THAT(store->AnchorAuditLogs(),
                           StatusIs(absl::StatusCode::kUnavailable));
             },
             {{AuditEvent::kAnchorFailure, 1}});
  sink->failing = false;
  ASSERT_THAT(store->CreateTenant("after"), IsOk());
  ASSERT_THAT(store->AnchorAuditLogs(), IsOk());
  // Everything pending reached the sink, in order.
  for (const std::string log : {"s0", "s1", "s2", "after"}) {
    auto info = store->GetAuditLogInfo(log);
    ASSERT_THAT(info, IsOk());
    EXPECT_EQ(info->anchored_size, info->checkpoint_size) << log;
    EXPECT_EQ(info->checkpoint_size, info->size) << log;
  }
  auto system = store->GetAuditLogInfo(kSystemAuditLog);
  ASSERT_THAT(system, IsOk());
  EXPECT_EQ(system->anchored_size, system->checkpoint_size);
  std::map<std::string, std::uint64_t> last;
  for (const AuditCheckpoint& cp : sink->received()) {
    EXPECT_GT(cp.size, last[cp.origin]) << cp.origin;
    last[cp.origin] = cp.size;
  }
}

// A failing sink is reported, not just recorded: RunMaintenance's report
// carries the error and the logs waiting, AnchorAuditLogs and Close return
// it, GetAnchorStatus shows it until the sink takes the checkpoints.
TEST_F(AuditTest, AFailingSinkIsReportedByMaintenanceAnchorAndClose) {
  auto sink = std::make_shared<FlakySink>();
  auto store = OpenWithTenantAnchoredTo(sink);
  ASSERT_NE(store, nullptr);
  auto status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_TRUE(status->sink);
  EXPECT_THAT(status->last_error, IsOk());
  EXPECT_EQ(status->logs_pending, 0u);

  sink->failing = true;
  const absl::Time failing_from = clock_->Now();
  ASSERT_THAT(store->CreateTenant("b"), IsOk());
  clock_->Advance(options_.audit_checkpoint_interval + absl::Seconds(1));
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());  // The run itself went fine.
  EXPECT_TRUE(report->anchors.sink);
  EXPECT_THAT(report->anchors.last_error,
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(
      absl::StrContains(report->anchors.last_error.message(), "sink down"))
      << report->anchors.last_error;
  EXPECT_GE(report->anchors.logs_pending, 1u);
  ASSERT_TRUE(report->anchors.failing_since.has_value());
  EXPECT_GE(*report->anchors.failing_since, failing_from);
  const absl::Status anchored = store->AnchorAuditLogs();
  EXPECT_THAT(anchored, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(absl::StrContains(anchored.message(), "stay pending"))
      << anchored;
  ASSERT_THAT(store->CreateTenant("c"), IsOk());
  const absl::Status closed = store->Close();
  EXPECT_THAT(closed, StatusIs(absl::StatusCode::kUnavailable));
  store.reset();

  // The next open with a working sink hands everything over.
  sink->failing = false;
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->AnchorAuditLogs(), IsOk());
  status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(status->last_error, IsOk());
  EXPECT_FALSE(status->failing_since.has_value());
  EXPECT_EQ(status->logs_pending, 0u);
  for (const char* log : {"a", "b", "c", "@system"}) {
    auto info = store->GetAuditLogInfo(log);
    ASSERT_THAT(info, IsOk());
    EXPECT_EQ(info->anchored_size, info->size) << log;
  }
}

// The sink is failing while any log's checkpoints are refused, even when
// another log's are taken after them.
TEST_F(AuditTest, OneRefusedLogKeepsTheSinkFailing) {
  auto sink = std::make_shared<FlakySink>();
  sink->refuse_suffix = "/tenant/1";
  options_.audit_sink = sink;
  options_.backup_dir.clear();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("refused"), IsOk());  // Number 1.
  ASSERT_THAT(store->CreateTenant("taken"), IsOk());
  EXPECT_THAT(store->AnchorAuditLogs(),
              StatusIs(absl::StatusCode::kUnavailable));
  auto status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(status->last_error, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_GE(status->logs_pending, 1u);
  EXPECT_EQ(store->GetAuditLogInfo("taken")->anchored_size,
            store->GetAuditLogInfo("taken")->size);
  // Still one failing streak: one ANCHOR_FAILURE entry.
  EXPECT_THAT(store->AnchorAuditLogs(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(Count(*store, kSystemAuditLog)[AuditEvent::kAnchorFailure], 1);
  EXPECT_FALSE(store->Close().ok());
}

// Trusted checkpoints count once however often given; one without the
// store's signature (a damaged or forged line) is rejected, not applied, and
// no longer an error.
TEST_F(AuditTest, TrustedCheckpointsCountOnceAndUnsignedOnesAreRejected) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(AuditedTenant(*store, "t", 5), nullptr);
  AuditVerifyOptions trusted = Trusted(*store);
  auto once = store->VerifyAuditLog("t", trusted);
  ASSERT_THAT(once, IsOk());
  ASSERT_GT(once->trusted_checkpoints_applied, 0u);
  EXPECT_EQ(once->trusted_checkpoints_rejected, 0u);
  const std::vector<std::string> notes = trusted.trusted_checkpoints;
  trusted.trusted_checkpoints.insert(trusted.trusted_checkpoints.end(),
                                     notes.begin(), notes.end());
  auto twice = store->VerifyAuditLog("t", trusted);
  ASSERT_THAT(twice, IsOk());
  EXPECT_EQ(twice->trusted_checkpoints_given, once->trusted_checkpoints_given);
  EXPECT_EQ(twice->trusted_checkpoints_applied,
            once->trusted_checkpoints_applied);
  // A note of t's with a changed root: the signature no longer holds.
  const std::string origin = store->GetAuditLogInfo("t")->origin;
  std::string forged;
  for (const std::string& note : notes) {
    if (absl::StartsWith(note, origin + "\n")) forged = note;
  }
  ASSERT_FALSE(forged.empty());
  const std::size_t root = forged.find('\n', origin.size() + 1) + 1;
  forged[root] = forged[root] == 'A' ? 'B' : 'A';
  trusted.trusted_checkpoints = {forged};
  auto rejected = store->VerifyAuditLog("t", trusted);
  ASSERT_THAT(rejected, IsOk());
  EXPECT_TRUE(rejected->intact);
  EXPECT_EQ(rejected->trusted_checkpoints_rejected, 1u);
  EXPECT_EQ(rejected->trusted_checkpoints_given, 0u);
  EXPECT_EQ(rejected->trusted_checkpoints_applied, 0u);
}

// Checkpoints signed by a run without the sink (of a store that anchors) stay
// pending: the next run with the sink is offered every one of them, in
// order, also the one covering an ANCHOR_FAILURE entry.
TEST_F(AuditTest, ARunWithoutTheSinkLeavesItsCheckpointsPending) {
  auto sink = std::make_shared<FlakySink>();
  auto store = OpenWithTenantAnchoredTo(sink);
  ASSERT_NE(store, nullptr);
  sink->failing = true;  // An ANCHOR_FAILURE entry in the system log.
  EXPECT_FALSE(store->SetLegalHold("a", true).ok());
  EXPECT_FALSE(store->Close().ok());
  store.reset();

  // A run without a sink: its checkpoints are signed, and wait.
  Options without = options_;
  without.audit_sink = nullptr;
  store = OpenStore(without);
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->SetLegalHold("a", false), IsOk());
  ASSERT_THAT(store->CreateTenant("b"), IsOk());
  auto status = store->GetAnchorStatus();
  ASSERT_THAT(status, IsOk());
  EXPECT_FALSE(status->sink);
  EXPECT_GE(status->logs_pending, 3u);  // a, b and the system log.
  ASSERT_THAT(store->Close(), IsOk());  // Nothing to hand to.
  store.reset();
  std::map<std::string, std::uint64_t> signed_sizes;  // log -> newest size.
  store = OpenStore(without);
  ASSERT_NE(store, nullptr);
  for (const char* log : {"a", "b", "@system"}) {
    auto info = store->GetAuditLogInfo(log);
    ASSERT_THAT(info, IsOk());
    EXPECT_EQ(info->checkpoint_size, info->size) << log;
    EXPECT_LT(info->anchored_size, info->checkpoint_size) << log;
    signed_sizes[info->origin] = info->checkpoint_size;
  }
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();

  // With the sink again: every pending checkpoint reaches it at close.
  sink->failing = false;
  const std::size_t received_before = sink->received().size();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  std::map<std::string, std::uint64_t> newest;
  const std::vector<AuditCheckpoint> received = sink->received();
  for (std::size_t i = received_before; i < received.size(); ++i) {
    EXPECT_GT(received[i].size, newest[received[i].origin]);
    newest[received[i].origin] = received[i].size;
  }
  for (const auto& [origin, size] : signed_sizes) {
    EXPECT_EQ(newest[origin], size) << origin;
  }
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto system = store->GetAuditLogInfo(kSystemAuditLog);
  ASSERT_THAT(system, IsOk());
  EXPECT_EQ(system->anchored_size, system->size);
  auto entries = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
  ASSERT_THAT(entries, IsOk());
  bool failure_recorded = false;
  for (const AuditEntry& e : *entries) {
    failure_recorded |=
        e.event == AuditEvent::kAnchorFailure && e.seq < system->anchored_size;
  }
  EXPECT_TRUE(failure_recorded);
}

TEST_F(AuditTest, CheckpointsEveryNEntriesAfterTheIntervalAndAtClose) {
  auto sink = std::make_shared<FlakySink>();
  options_.audit_sink = sink;
  options_.backup_dir.clear();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto t = AuditedTenant(*store, "t", 2500);
  ASSERT_NE(t, nullptr);
  auto count_for = [&](const std::string& suffix) {
    int n = 0;
    for (const AuditCheckpoint& cp : sink->received()) {
      if (absl::EndsWith(cp.origin, suffix)) ++n;
    }
    return n;
  };
  ASSERT_THAT(store->RunMaintenance(), IsOk());  // Hands over what is pending.
  // The access-audit change (anchored before it returned), then 1000 and 2000
  // entries later.
  EXPECT_EQ(count_for("/tenant/1"), 3);
  // One more entry, then 61 s without activity: RunMaintenance signs one.
  ASSERT_THAT(t->Put("late", "v"), IsOk());
  clock_->Advance(absl::Seconds(61));
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  EXPECT_EQ(count_for("/tenant/1"), 4);
  for (const AuditCheckpoint& cp : sink->received()) {
    EXPECT_TRUE(internal::CheckpointSignedByAny(
        cp.note, {store->GetSigningPublicKey().value()}));
  }
  ASSERT_THAT(t->Put("last", "v"), IsOk());
  store.reset();  // Close covers the rest.
  EXPECT_EQ(count_for("/tenant/1"), 5);
  EXPECT_EQ(sink->received().back().size, 2504u);
  EXPECT_THAT(ParseAuditCheckpoint("not a note"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Test 4: if the audit entry cannot be written, the change fails and nothing
// changes.
// A file system whose write-ahead logs accept `budget` more appends and then
// fail (-1: no limit).
class FailingWalFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FailingWalFs(std::shared_ptr<rocksdb::FileSystem> target)
      : FileSystemWrapper(std::move(target)) {}
  static const char* kClassName() { return "FailingWalFs"; }
  const char* Name() const override { return kClassName(); }

  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    explicit File(std::unique_ptr<rocksdb::FSWritableFile> f)
        : FSWritableFileOwnerWrapper(std::move(f)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      int left = budget.load();
      while (left > 0 && !budget.compare_exchange_weak(left, left - 1)) {
      }
      if (left == 0) return rocksdb::IOStatus::IOError("injected WAL failure");
      return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
  };

  rocksdb::IOStatus NewWritableFile(
      const std::string& name, const rocksdb::FileOptions& o,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, o, result, d);
    if (s.ok() && absl::EndsWith(name, ".log")) {
      *result = std::make_unique<File>(std::move(*result));
    }
    return s;
  }

  static std::atomic<int> budget;
};
std::atomic<int> FailingWalFs::budget{-1};

void UseFailingWalFs(bool on) {
  internal::SetDataFileSystemWrapperForTesting(
      on ? internal::FileSystemWrapper(
               [](std::shared_ptr<rocksdb::FileSystem> fs) {
                 return std::make_shared<FailingWalFs>(std::move(fs));
               })
         : nullptr);
}

TEST_F(AuditTest, FailedAuditWritesFailTheChangeAndChangeNothing) {
  UseFailingWalFs(true);
  options_.sync_writes = true;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
    ASSERT_THAT(store->SetAccessAudit("t", AccessAudit::kWrites), IsOk());
    auto t = store->OpenTenant("t");
    ASSERT_THAT((*t)->Put("k", "old"), IsOk());
    const std::uint64_t size = store->GetAuditLogInfo("t")->size;
    FailingWalFs::budget = 0;
    EXPECT_FALSE((*t)->Put("k", "new").ok());
    EXPECT_FALSE(store->EndContract("t", clock_->Now()).ok());
    FailingWalFs::budget = -1;
    EXPECT_EQ(store->GetAuditLogInfo("t")->size, size);
  }
  UseFailingWalFs(false);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto t = store->OpenTenant("t");
  ASSERT_THAT(t, IsOk());  // Still active: the contract end failed.
  EXPECT_EQ((*t)->Get("k").value(), "old");
  Counts counts = Count(*store, "t");
  EXPECT_EQ(counts[AuditEvent::kDataPut], 1);
  EXPECT_EQ(counts[AuditEvent::kContractEnded], 0);
  ExpectIntact(*store, "t");

  // A damaged log refuses audited changes (DataLoss) and they change nothing.
  t->reset();
  store.reset();
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    // The record holding tree node 1/0, part of the log's frontier.
    ASSERT_TRUE(raw.db()
                    ->Put(rocksdb::WriteOptions(), raw.audit(),
                          internal::AuditEntryKey(1, 1), "xx")
                    .ok());
  }
  // A damaged log cannot be compared with the checkpoint anchored of it: the
  // open is refused, until the damage is accepted (recorded).
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
  store = OpenAccepting();
  ASSERT_NE(store, nullptr);
  t = store->OpenTenant("t");
  ASSERT_THAT(t, IsOk());
  EXPECT_THAT((*t)->Put("k", "newer"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(store->EndContract("t", clock_->Now()),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ((*t)->Get("k").value(), "old");
  EXPECT_EQ(store->GetTenantInfo("t")->state, TenantState::kActive);
}

// Test 5: retention over 400 simulated days.
// A write that fails part-way (after 0, 1 or 2 WAL appends of the process)
// leaves the change and its entry together, or neither.
TEST_F(AuditTest, AWriteFailingPartWayLeavesChangeAndEntryTogether) {
  options_.sync_writes = true;
  options_.backup_dir.clear();
  for (int budget = 0; budget <= 2; ++budget) {
    SCOPED_TRACE(absl::StrCat("budget ", budget));
    UseFailingWalFs(true);
    options_.data_dir = tmp_.Sub(absl::StrCat("data-", budget));
    {
      auto store = OpenStore();
      ASSERT_NE(store, nullptr);
      auto t = AuditedTenant(*store, "t", 0);
      ASSERT_NE(t, nullptr);
      ASSERT_THAT(t->Put("k", "old"), IsOk());
      FailingWalFs::budget = budget;
      (void)t->Put("k", "new");
      FailingWalFs::budget = -1;
    }
    UseFailingWalFs(false);
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    auto t = store->OpenTenant("t");
    ASSERT_THAT(t, IsOk());
    const bool changed = (*t)->Get("k").value() == "new";
    EXPECT_EQ(Count(*store, "t")[AuditEvent::kDataPut], changed ? 2 : 1);
  }
}

// Retention never prunes past what the sink holds: with the sink down,
// entries stay however old they get.
TEST_F(AuditTest, RetentionNeverPrunesPastTheAnchoredCheckpoint) {
  auto sink = std::make_shared<FlakySink>();
  options_.audit_sink = sink;
  options_.backup_dir.clear();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  std::uint64_t anchored_before_failure = 0;
  for (int day = 1; day <= 220; ++day) {
    if (day == 10) {
      sink->failing = true;
      anchored_before_failure = store->GetAuditLogInfo("t")->anchored_size;
    }
    clock_->Advance(kDay);
    EXPECT_THAT(store->RunMaintenance(), IsOk()) << "day " << day;
    // With the sink down a hold is set, but not anchored: the call says so.
    ASSERT_THAT(store->SetLegalHold("t", day % 2 == 1),
                StatusIs(sink->failing ? absl::StatusCode::kUnavailable
                                       : absl::StatusCode::kOk));
    EXPECT_EQ(store->GetTenantInfo("t")->legal_hold, day % 2 == 1);
    auto info = store->GetAuditLogInfo("t");
    ASSERT_THAT(info, IsOk());
    EXPECT_LE(info->first_retained, info->anchored_size) << "day " << day;
    if (HasFailure()) break;
  }
  // Entries of days 1..35 are older than 184 days by now; only those the sink
  // held before it failed were pruned.
  const std::uint64_t first = store->GetAuditLogInfo("t")->first_retained;
  EXPECT_GT(first, 0u);
  EXPECT_LE(first, anchored_before_failure);
}

TEST_F(AuditTest, RetentionKeeps184DaysPrunesOlderAndStaysVerifiable) {
  options_.backup_dir.clear();
  {
    Options short_retention = options_;
    short_retention.audit_retention = kDay * 183;
    EXPECT_THAT(Store::Open(short_retention),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  // A tenant under legal hold keeps its whole audit log.
  ASSERT_THAT(store->CreateTenant("held"), IsOk());
  ASSERT_THAT(store->SetLegalHold("held", true), IsOk());
  std::map<std::uint64_t, absl::Time> written;  // seq -> time, tenant log
  std::uint64_t total_pruned = 0;
  for (int day = 1; day <= 400; ++day) {
    clock_->Advance(kDay);
    auto report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    total_pruned += report->audit_entries_pruned;
    const absl::Time now = clock_->Now();
    const absl::Time cutoff = now - kDay * 184;
    std::vector<AuditEntry> kept = Entries(*store, "t");
    ASSERT_FALSE(kept.empty());
    for (const AuditEntry& e : kept) written[e.seq] = e.time;
    const std::uint64_t first = kept.front().seq;
    for (const auto& [seq, time] : written) {
      if (time >= cutoff) {
        EXPECT_GE(seq, first) << "day " << day << ": entry " << seq
                              << " younger than 184 days is gone";
      }
    }
    for (const AuditEntry& e : kept) {
      if (e.event != AuditEvent::kRetention) {
        EXPECT_GE(e.time, cutoff) << "day " << day << ": entry " << e.seq
                                  << " older than 184 days is kept";
      }
    }
    // One audited change a day (not a legal hold: that keeps the log whole).
    ASSERT_THAT(store->SetAccessAudit("t", day % 2 == 1 ? AccessAudit::kWrites
                                                        : AccessAudit::kOff),
                IsOk());
    if (day % 50 == 0 || day == 185 || day == 186) {
      ExpectIntact(*store, "t");
      ExpectIntact(*store, kSystemAuditLog);
    }
  }
  EXPECT_GT(total_pruned, 200u);
  EXPECT_EQ(store->GetAuditLogInfo("held")->first_retained, 0u);
  EXPECT_EQ(Entries(*store, "held").size(), 2u);
  auto info = store->GetAuditLogInfo("t");
  ASSERT_THAT(info, IsOk());
  EXPECT_GT(info->first_retained, 0u);
  // An export of what is kept verifies offline with the public key alone.
  auto exported = store->ExportAuditLog("t", 0, info->size);
  ASSERT_THAT(exported, IsOk());
  AuditVerifyOptions offline = Trusted(*store);
  auto v = VerifyAuditExport(*exported, offline);
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
  store.reset();
  // Deleting the newest entry instead is truncation, not retention.
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    ASSERT_TRUE(raw.db()
                    ->Delete(rocksdb::WriteOptions(), raw.audit(),
                             internal::AuditEntryKey(1, info->size - 1))
                    .ok());
  }
  // A damaged log cannot be compared with the checkpoint anchored of it: the
  // open is refused, until the damage is accepted (recorded).
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
  store = OpenAccepting();
  ASSERT_NE(store, nullptr);
  auto truncated = store->VerifyAuditLog("t", Trusted(*store));
  ASSERT_THAT(truncated, IsOk());
  EXPECT_FALSE(truncated->intact);
  EXPECT_EQ(truncated->first_bad_seq, info->size - 1);
}

// Test 6: no key bytes, values or raw user keys in entries, exports or
// anchors; user-controlled strings stay on one line.
TEST_F(AuditTest, NoSecretsOrValuesAndOneLinePerEntry) {
  const std::string canary_value = "CANARY-VALUE-7f3a9c";
  const std::string canary_key = "CANARY-USER-KEY-51be02";
  const std::string actor = "mallory\r\n\x1b[31m{\"forged\":1}";
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  ASSERT_THAT(store->SetAccessAudit("t", AccessAudit::kReadsAndWrites), IsOk());
  auto t = store->OpenTenantAs("t", actor);
  ASSERT_THAT(t, IsOk());
  ASSERT_THAT((*t)->Put(canary_key, canary_value), IsOk());
  ASSERT_THAT((*t)->Get(canary_key), IsOk());
  WriteBatch batch;
  batch.Put(canary_key + "2", canary_value);
  ASSERT_THAT((*t)->Write(batch), IsOk());
  ASSERT_THAT(store->CreateBackup(), IsOk());
  ASSERT_THAT(store->RotateMasterKey(test::NewTestKeyProvider(tmp_, "b.key")),
              IsOk());
  std::string everything;
  for (std::string_view log : {std::string_view("t"), kSystemAuditLog}) {
    for (const AuditEntry& e : Entries(*store, log)) {
      everything += AuditEntryToJson(e) + "\n";
    }
    auto exported = store->ExportAuditLog(log, 0, 1 << 30);
    ASSERT_THAT(exported, IsOk());
    everything += *exported;
    for (absl::string_view line : absl::StrSplit(*exported, '\n')) {
      EXPECT_EQ(line.find('\r'), std::string::npos);
      EXPECT_EQ(line.find('\x1b'), std::string::npos);
    }
    // Each record is exactly one line: header + one per entry.
    const std::vector<std::string> lines =
        absl::StrSplit(*exported, '\n', absl::SkipEmpty());
    EXPECT_EQ(lines.size(), Entries(*store, log).size() + 1);
  }
  store.reset();
  everything += test::SnapshotFiles(tmp_.path()).count("anchors.jsonl")
                    ? test::SnapshotFiles(tmp_.path())["anchors.jsonl"]
                    : "";
  std::vector<std::string> secrets = {canary_value, canary_key};
  for (const char* name : {"master.key", "b.key"}) {
    std::string hex = test::SnapshotFiles(tmp_.path())[name];
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) {
      hex.pop_back();
    }
    std::string raw = absl::HexStringToBytes(hex);
    secrets.push_back(raw);
  }
  {
    // The signing key's seed (the store's own, in its key store).
    auto p = NewFileKeyProvider(tmp_.Sub("b.key"));
    ASSERT_THAT(p, IsOk());
    const SecretBytes seed = test::StoreSigningSeed(options_.data_dir, **p);
    secrets.emplace_back(reinterpret_cast<const char*>(seed.data()),
                         seed.size());
  }
  for (const std::string& secret : secrets) {
    for (const std::string& form :
         {secret, absl::BytesToHexString(secret), absl::Base64Escape(secret)}) {
      EXPECT_EQ(everything.find(form), std::string::npos);
    }
  }
  EXPECT_NE(everything.find("mallory"), std::string::npos);
}

// Exports: offline verification with the public key alone, and what it
// catches.
TEST_F(AuditTest, ExportsVerifyOfflineAndNameTheFirstBadEntry) {
  options_.audit_checkpoint_entries = 7;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(AuditedTenant(*store, "t", 40), nullptr);
  auto exported = store->ExportAuditLog("t", 5, 30);
  ASSERT_THAT(exported, IsOk());
  AuditVerifyOptions keys;
  keys.public_keys = {store->GetSigningPublicKey().value()};
  auto v = VerifyAuditExport(*exported, keys);
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->entries_checked, 25u);
  // With trusted checkpoints inside the range.
  EXPECT_EQ(v->checkpoints_checked, 1u);  // The export's own.
  EXPECT_EQ(v->trusted_checkpoints_applied, 0u);
  v = VerifyAuditExport(*exported, Trusted(*store));
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->checkpoints_checked, 1u);
  // Those inside the range are recomputed, the others checked by the
  // export's consistency proofs.
  EXPECT_GT(v->trusted_checkpoints_given, 2u);
  EXPECT_EQ(v->trusted_checkpoints_applied, v->trusted_checkpoints_given);

  std::vector<std::string> lines = absl::StrSplit(*exported, '\n');
  auto join = [](const std::vector<std::string>& l) {
    return absl::StrJoin(l, "\n");
  };
  {  // An edited readable field.
    std::vector<std::string> edited = lines;
    absl::StrReplaceAll({{"\"host\"", "\"nobody\""}}, &edited[10]);
    auto r = VerifyAuditExport(join(edited), keys);
    ASSERT_THAT(r, IsOk());
    EXPECT_FALSE(r->intact);
    EXPECT_EQ(r->first_bad_seq, 5u + 9u);
  }
  {  // A line removed.
    std::vector<std::string> cut = lines;
    cut.erase(cut.begin() + 4);
    auto r = VerifyAuditExport(join(cut), keys);
    ASSERT_THAT(r, IsOk());
    EXPECT_FALSE(r->intact);
    EXPECT_EQ(r->first_bad_seq, 5u + 3u);
  }
  {  // Another key.
    AuditVerifyOptions other;
    other.public_keys = {std::string(32, 'x')};
    auto r = VerifyAuditExport(*exported, other);
    ASSERT_THAT(r, IsOk());
    EXPECT_FALSE(r->intact);
  }
  EXPECT_THAT(VerifyAuditExport(*exported, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyAuditExport("{}", keys),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->ExportAuditLog("t", 50, 60),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->ReadAuditLog("no-such", 0, 1),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->ReadAuditLog("bad id!", 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->OpenTenantAs("t", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// A copy of the store that went on by itself (a fork, run without the sink
// so it keeps its origin) exports a range before the fork point: the entries
// are genuine, but its checkpoint disagrees with the original's anchors
// after that point, and the export's consistency proof from their size fails.
TEST_F(AuditTest, AForksPartialExportFailsAgainstTheOriginalsAnchors) {
  options_.audit_checkpoint_entries = 7;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(AuditedTenant(*store, "t", 10), nullptr);
  ASSERT_THAT(store->Close(), IsOk());
  store.reset();
  const std::string fork_dir = tmp_.Sub("fork");
  std::filesystem::copy(options_.data_dir, fork_dir,
                        std::filesystem::copy_options::recursive);
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  {
    auto t = store->OpenTenant("t");
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < 20; ++i)
      ASSERT_THAT((*t)->Put("original", "v"), IsOk());
  }
  ASSERT_THAT(store->AnchorAuditLogs(), IsOk());
  const AuditVerifyOptions trusted = Trusted(*store);
  store.reset();

  Options fork = options_;
  fork.data_dir = fork_dir;
  fork.audit_sink = nullptr;
  auto forked = OpenStore(fork);
  ASSERT_NE(forked, nullptr);
  {
    auto t = forked->OpenTenant("t");
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < 9; ++i) ASSERT_THAT((*t)->Put("forked", "v"), IsOk());
  }
  auto exported = forked->ExportAuditLog("t", 0, 5);
  ASSERT_THAT(exported, IsOk());
  {  // No anchor of the export's size: only a consistency proof can tell.
    proto::AuditExportHeader header;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                    exported->substr(0, exported->find('\n')), &header)
                    .ok());
    const std::uint64_t size =
        ParseAuditCheckpoint(header.checkpoint()).value().size;
    for (const std::string& note : trusted.trusted_checkpoints) {
      ASSERT_NE(ParseAuditCheckpoint(note).value().size, size);
    }
  }
  auto v = VerifyAuditExport(*exported, trusted);
  ASSERT_THAT(v, IsOk());
  EXPECT_FALSE(v->intact);
  EXPECT_TRUE(absl::StrContains(v->problem, "not consistent")) << v->problem;

  // The original's own partial export of the same range agrees with them.
  forked.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  exported = store->ExportAuditLog("t", 0, 5);
  ASSERT_THAT(exported, IsOk());
  v = VerifyAuditExport(*exported, trusted);
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_GT(v->trusted_checkpoints_applied, 2u);
}

// One audit log of a closed store, opened raw to tamper with it, and checked
// with the store's own verifier (internal::AuditLogs over the raw database).
class RawAuditLog {
 public:
  RawAuditLog(const std::string& dir, const KeyProvider& provider,
              std::uint64_t log)
      : raw_(dir, provider), log_(log) {
    const auto meta = raw_.ReadRegistry<proto::RegistryMeta>("m/meta");
    internal::AuditConfig config;
    config.installation_id = absl::BytesToHexString(meta.installation_id());
    config.record_mac = raw_.mac();
    config.clock = SystemClock();
    signer_ = internal::CheckpointSigner::Create(
                  test::StoreSigningSeed(dir, provider))
                  .value();
    audit_ = std::make_unique<internal::AuditLogs>(config, raw_.db(),
                                                   raw_.audit(), signer_);
    std::unique_ptr<rocksdb::Iterator> it(
        raw_.db()->NewIterator(rocksdb::ReadOptions(), raw_.audit()));
    for (it->Seek(Begin()); it->Valid() && it->key().compare(End()) < 0;
         it->Next()) {
      original_.emplace_back(it->key().ToString(), it->value().ToString());
      const std::string entry_prefix = internal::AuditLogKey(log_, 'e');
      if (it->key().starts_with(entry_prefix)) {
        records_.push_back(it->value().ToString());
        std::string_view entry;
        internal::AuditNodes nodes;
        EXPECT_TRUE(
            internal::DecodeAuditRecord(records_.back(), &entry, &nodes));
        entries_.emplace_back(entry);
      }
    }
  }

  // The stored records (entry + tree hashes), and the entries alone.
  const std::vector<std::string>& records() const { return records_; }
  const std::vector<std::string>& entries() const { return entries_; }
  rocksdb::DB* db() { return raw_.db(); }
  rocksdb::ColumnFamilyHandle* cf() { return raw_.audit(); }

  // Puts everything back as it was.
  void Restore() {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.DeleteRange(raw_.audit(), Begin(), End()).ok());
    for (const auto& [k, v] : original_) {
      ASSERT_TRUE(batch.Put(raw_.audit(), k, v).ok());
    }
    ASSERT_TRUE(raw_.db()->Write(rocksdb::WriteOptions(), &batch).ok());
  }

  void PutRecord(std::uint64_t seq, const std::string& bytes) {
    ASSERT_TRUE(raw_.db()
                    ->Put(rocksdb::WriteOptions(), raw_.audit(),
                          internal::AuditEntryKey(log_, seq), bytes)
                    .ok());
  }
  void DeleteRecord(std::uint64_t seq) {
    ASSERT_TRUE(raw_.db()
                    ->Delete(rocksdb::WriteOptions(), raw_.audit(),
                             internal::AuditEntryKey(log_, seq))
                    .ok());
  }

  // What an attacker holding the store's files and its signing key does:
  // rewrites the log as `entries`, with every tree node, a re-signed
  // checkpoint for every size, and a consistent state record.
  void Rebuild(const std::vector<std::string>& entries) {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.DeleteRange(raw_.audit(), Begin(), End()).ok());
    internal::merkle::CompactRange range;
    const std::string origin = audit_->Origin(log_);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      internal::AuditNodes nodes;
      range.Append(
          internal::merkle::LeafHash(entries[i]),
          [&](int level, std::uint64_t, const internal::merkle::Hash& h) {
            nodes.emplace_back(level, h);
          });
      batch
          .Put(raw_.audit(), internal::AuditEntryKey(log_, i),
               internal::EncodeAuditRecord(entries[i], nodes))
          .PermitUncheckedError();
      const std::string body = internal::CheckpointBody(
          origin, i + 1, range.Root(), absl::FromUnixSeconds(1000 + i));
      batch
          .Put(raw_.audit(),
               internal::AuditLogKey(log_, 'c') + BigEndian(i + 1),
               internal::SignCheckpoint(body, {signer_}).value())
          .PermitUncheckedError();
    }
    proto::AuditLogMeta meta;
    meta.set_checkpoint_size(entries.size());
    meta.set_checkpoint_time_micros(
        absl::ToUnixMicros(absl::FromUnixSeconds(1000 + entries.size())));
    meta.set_anchored_size(entries.size());
    batch.Put(raw_.audit(), internal::AuditLogKey(log_, 'm'), SealedMeta(meta))
        .PermitUncheckedError();
    ASSERT_TRUE(raw_.db()->Write(rocksdb::WriteOptions(), &batch).ok());
  }

  // The log's state record, read and sealed as the store does (the attacker
  // here holds the master key, so the record key too).
  proto::AuditLogMeta Meta() {
    std::string bytes;
    EXPECT_TRUE(raw_.db()
                    ->Get(rocksdb::ReadOptions(), raw_.audit(),
                          internal::AuditLogKey(log_, 'm'), &bytes)
                    .ok());
    auto payload = raw_.mac()->Open("audit", internal::AuditLogKey(log_, 'm'),
                                    bytes, "state");
    EXPECT_THAT(payload, IsOk());
    proto::AuditLogMeta meta;
    EXPECT_TRUE(payload.ok() &&
                meta.ParseFromArray(payload->data(),
                                    static_cast<int>(payload->size())));
    return meta;
  }
  std::string SealedMeta(const proto::AuditLogMeta& meta) const {
    return raw_.mac()->Seal("audit", internal::AuditLogKey(log_, 'm'),
                            meta.SerializeAsString());
  }

  AuditVerification Verify(const std::vector<std::string>& trusted) {
    AuditVerifyOptions options;
    options.trusted_checkpoints = trusted;
    options.public_keys = {signer_->public_key()};
    auto v = audit_->Verify(log_, options);
    EXPECT_THAT(v, IsOk());
    return v.ok() ? *v : AuditVerification{};
  }

 private:
  static std::string BigEndian(std::uint64_t v) {
    std::string out;
    internal::AppendBigEndian64(v, &out);
    return out;
  }
  std::string Begin() const { return internal::AuditLogKey(log_, '\0'); }
  std::string End() const { return internal::AuditLogKey(log_ + 1, '\0'); }

  test::RawDataDb raw_;
  const std::uint64_t log_;
  std::shared_ptr<const internal::CheckpointSigner> signer_;
  std::unique_ptr<internal::AuditLogs> audit_;
  std::vector<std::pair<std::string, std::string>> original_;
  std::vector<std::string> records_;
  std::vector<std::string> entries_;
};

// Test 2: the tamper matrix, 50 random instances of each kind, each detected
// and naming the first bad entry (truncation, a forged tail and a rollback
// against the anchored checkpoints).
TEST_F(AuditTest, TamperMatrixIsAlwaysDetectedAtTheFirstBadEntry) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  constexpr int kInstances = 50;
  options_.audit_checkpoint_entries = 1;  // Every entry anchored.
  options_.backup_dir.clear();
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_NE(AuditedTenant(*store, "t", 100), nullptr);
  }
  const std::vector<std::string> anchored =
      ReadAuditCheckpointFiles({anchors()}).value().notes;
  // The tenant's log is number 1.
  RawAuditLog log(options_.data_dir, *provider_, 1);
  const std::vector<std::string> original = log.records();
  const std::vector<std::string> entries = log.entries();
  const std::uint64_t n = original.size();
  ASSERT_EQ(n, 102u);
  ASSERT_TRUE(log.Verify(anchored).intact);
  auto pick = [&](std::uint64_t below) { return rng() % below; };
  auto expect_bad = [&](const char* kind, std::uint64_t want,
                        const std::vector<std::string>& trusted) {
    AuditVerification v = log.Verify(trusted);
    EXPECT_FALSE(v.intact) << kind << " (seed " << seed << ")";
    EXPECT_EQ(v.first_bad_seq, want)
        << kind << ": " << v.problem << " (seed " << seed << ")";
    log.Restore();
  };
  {
    // Reordered by someone holding the signing key (re-hashed, re-signed):
    // without anchors only the entries' own sequence numbers show it.
    std::vector<std::string> reordered = entries;
    std::swap(reordered[5], reordered[6]);
    log.Rebuild(reordered);
    expect_bad("reordered and re-signed", 5, {});
  }
  for (int round = 0; round < kInstances; ++round) {
    {  // A flipped bit in entry i (its record: the entry and its hashes).
      const std::uint64_t i = pick(n);
      std::string bytes = original[i];
      bytes[pick(bytes.size())] ^= static_cast<char>(1 << pick(8));
      log.PutRecord(i, bytes);
      expect_bad("flipped bit", i, {});
    }
    {  // Entry i deleted.
      const std::uint64_t i = pick(n);
      log.DeleteRecord(i);
      expect_bad("deleted entry", i, {});
    }
    {  // Entries i and i+1 swapped.
      const std::uint64_t i = pick(n - 1);
      log.PutRecord(i, original[i + 1]);
      log.PutRecord(i + 1, original[i]);
      expect_bad("swapped entries", i, {});
    }
    {  // Entry i duplicated (the rest shifted up by one).
      const std::uint64_t i = pick(n);
      for (std::uint64_t j = n - 1; j > i; --j)
        log.PutRecord(j + 1, original[j]);
      log.PutRecord(i + 1, original[i]);
      expect_bad("duplicated entry", i + 1, {});
    }
    {  // The last k entries cut off, the rest re-hashed and re-signed: only
       // the anchored checkpoints show it.
      const std::uint64_t k = 1 + pick(n - 1);
      log.Rebuild(std::vector<std::string>(entries.begin(), entries.end() - k));
      AuditVerification local = log.Verify({});
      EXPECT_TRUE(local.intact) << local.problem;
      expect_bad("cut-off tail", n - k, anchored);
    }
    {  // A forged tail from entry i, re-hashed and re-signed with the key.
      const std::uint64_t i = pick(n);
      std::vector<std::string> forged = entries;
      for (std::uint64_t j = i; j < n; ++j) {
        proto::AuditEntry e;
        ASSERT_TRUE(e.ParseFromString(forged[j]));
        e.set_actor("forger");
        forged[j] = e.SerializeAsString();
      }
      log.Rebuild(forged);
      expect_bad("forged tail", i, anchored);
    }
  }
}

// Someone with the store's files but not its key deletes young entries and
// appends a RETENTION entry for them, with genuine kept hashes and a genuine
// newest pruned entry, dated far enough ahead: it is not covered by a signed
// checkpoint, and once the store signs over it, it is dated after that
// checkpoint.
TEST_F(AuditTest, ForgedRetentionIsCaught) {
  options_.backup_dir.clear();
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_NE(AuditedTenant(*store, "t", 30), nullptr);
  }
  const std::vector<std::string> anchored =
      ReadAuditCheckpointFiles({anchors()}).value().notes;
  constexpr std::uint64_t k = 10;
  std::uint64_t n = 0;
  {
    RawAuditLog log(options_.data_dir, *provider_, 1);
    const std::vector<std::string>& entries = log.entries();
    n = entries.size();
    std::map<std::pair<int, std::uint64_t>, internal::merkle::Hash> nodes;
    internal::merkle::CompactRange all;
    for (const std::string& e : entries) {
      all.Append(
          internal::merkle::LeafHash(e),
          [&](int level, std::uint64_t index, const internal::merkle::Hash& h) {
            nodes[{level, index}] = h;
          });
    }
    internal::merkle::NodeReader reader =
        [&](int level,
            std::uint64_t index) -> absl::StatusOr<internal::merkle::Hash> {
      auto it = nodes.find({level, index});
      if (it == nodes.end()) return absl::NotFoundError("node");
      return it->second;
    };
    auto kept = internal::merkle::ReadCompactRange(k, reader);
    auto proof = internal::merkle::InclusionProof(k - 1, k, reader);
    ASSERT_THAT(kept, IsOk());
    ASSERT_THAT(proof, IsOk());
    proto::AuditEntry last;
    ASSERT_TRUE(last.ParseFromString(entries[k - 1]));
    auto hex = [](const std::vector<internal::merkle::Hash>& hashes) {
      std::vector<std::string> out;
      for (const auto& h : hashes) {
        out.push_back(absl::BytesToHexString(std::string(h.begin(), h.end())));
      }
      return absl::StrJoin(out, ",");
    };
    std::string anchored_note;
    for (const std::string& note : anchored) {
      auto cp = ParseAuditCheckpoint(note);
      if (cp.ok() && cp->size == n && absl::EndsWith(cp->origin, "/1")) {
        anchored_note = note;
      }
    }
    ASSERT_FALSE(anchored_note.empty());
    unsigned char digest[internal::kSha256Bytes];
    internal::Sha256({anchored_note}, digest);
    proto::AuditEntry forged = internal::NewAuditEntry(
        1, proto::AUDIT_EVENT_RETENTION, "maintenance", "tenant/1");
    forged.set_seq(n);
    forged.set_time_micros(last.time_micros() +
                           absl::ToInt64Microseconds(kDay * 200));
    forged.set_library_version(last.library_version());
    auto& d = *forged.mutable_details();
    d["first_retained"] = absl::StrCat(k);
    d["frontier"] = hex(kept->hashes());
    d["anchored_size"] = absl::StrCat(n);
    d["anchored_checkpoint_sha256"] = absl::BytesToHexString(
        std::string(reinterpret_cast<const char*>(digest), sizeof(digest)));
    d["retention_seconds"] = absl::StrCat(184 * 24 * 3600);
    d["last_pruned_entry"] = absl::Base64Escape(entries[k - 1]);
    d["last_pruned_proof"] = hex(*proof);
    const std::string bytes = forged.SerializeAsString();
    internal::AuditNodes completed;
    all.Append(internal::merkle::LeafHash(bytes),
               [&](int level, std::uint64_t, const internal::merkle::Hash& h) {
                 completed.emplace_back(level, h);
               });
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch
                    .DeleteRange(log.cf(), internal::AuditEntryKey(1, 0),
                                 internal::AuditEntryKey(1, k))
                    .ok());
    std::uint64_t start = 0;
    std::size_t h = 0;
    for (int level = 63; level >= 0; --level) {
      if ((k >> level & 1) == 0) continue;
      const auto& hash = kept->hashes()[h++];
      ASSERT_TRUE(batch
                      .Put(log.cf(),
                           internal::AuditNodeKey(1, level, start >> level),
                           std::string(hash.begin(), hash.end()))
                      .ok());
      start += std::uint64_t{1} << level;
    }
    ASSERT_TRUE(batch
                    .Put(log.cf(), internal::AuditEntryKey(1, n),
                         internal::EncodeAuditRecord(bytes, completed))
                    .ok());
    proto::AuditLogMeta meta = log.Meta();
    meta.set_first_retained(k);
    ASSERT_TRUE(
        batch.Put(log.cf(), internal::AuditLogKey(1, 'm'), log.SealedMeta(meta))
            .ok());
    ASSERT_TRUE(log.db()->Write(rocksdb::WriteOptions(), &batch).ok());
    AuditVerification v = log.Verify(anchored);
    EXPECT_FALSE(v.intact);
    EXPECT_EQ(v.first_bad_seq, n) << v.problem;
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->GetAuditLogInfo("t"), IsOk());  // Loads the log...
  ASSERT_THAT(store->AnchorAuditLogs(),
              IsOk());  // ...and signs over the forged entry.
  auto v = store->VerifyAuditLog("t", Trusted(*store));
  ASSERT_THAT(v, IsOk());
  EXPECT_FALSE(v->intact);
  EXPECT_EQ(v->first_bad_seq, n) << v->problem;
  EXPECT_NE(v->problem.find("dated after"), std::string::npos) << v->problem;
}

TEST_F(AuditTest, RollbackToAnOlderCopyIsDetectedAgainstTheAnchors) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  options_.audit_checkpoint_entries = 1;
  options_.backup_dir.clear();
  std::vector<std::pair<std::string, std::uint64_t>> copies;  // dir, size
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
    ASSERT_THAT(store->SetAccessAudit("t", AccessAudit::kWrites), IsOk());
  }
  int key = 0;
  for (int round = 0; round < 50; ++round) {
    const std::string copy = tmp_.Sub(absl::StrCat("copy-", round));
    std::filesystem::copy(options_.data_dir, copy,
                          std::filesystem::copy_options::recursive);
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    copies.emplace_back(copy, store->GetAuditLogInfo("t")->size);
    auto t = store->OpenTenant("t");
    const int writes = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < writes; ++i) {
      ASSERT_THAT((*t)->Put(absl::StrCat("k", key++), "v"), IsOk());
    }
  }
  for (std::size_t c = 0; c < copies.size(); ++c) {
    const auto& [dir, size] = copies[c];
    Options o = options_;
    o.data_dir = dir;
    o.audit_sink = nullptr;
    auto store = OpenStore(o);
    ASSERT_NE(store, nullptr);
    if (c % 2 == 1) {
      // The rolled-back copy goes on being used: its log forks from the
      // anchored one.
      auto t = store->OpenTenant("t");
      for (int i = 0; i < 3; ++i) {
        ASSERT_THAT((*t)->Put(absl::StrCat("fork", i), "v"), IsOk());
      }
    }
    auto local = store->VerifyAuditLog("t", {});
    ASSERT_THAT(local, IsOk());
    EXPECT_TRUE(local->intact);  // Consistent in itself...
    auto v = store->VerifyAuditLog("t", Trusted(*store));
    ASSERT_THAT(v, IsOk());
    EXPECT_FALSE(v->intact) << "seed " << seed;  // ...but behind the anchors.
    EXPECT_EQ(v->first_bad_seq, size) << v->problem;
  }
}

// Test 3: a writer killed at random points during 2,000 audited changes
// (access-audited puts, legal holds, tenant creations): after each reopen every
// committed change has its entry and no entry lacks its change.
TEST_F(AuditTest, KilledWritersLeaveEveryChangeWithItsEntryAndNoOther) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  Options o = options_;
  o.audit_sink = nullptr;
  o.backup_dir.clear();
  o.clock = SystemClock();
  const std::string key_file = tmp_.Sub("master.key");
  std::set<std::string> acked_puts, acked_creates;
  long next = 0;
  int total = 0;
  int rounds = 0;
  while (total < 2000) {
    ++rounds;
    test::Child child({test::CrashChildPath(), "audit", o.data_dir, key_file,
                       absl::StrCat(next)});
    std::string line;
    ASSERT_TRUE(child.ReadLine(&line)) << "seed " << seed;
    ASSERT_EQ(line, "READY");
    const int stop_after = 1 + static_cast<int>(rng() % 400);
    long last = next - 1;
    auto ack = [&](const std::string& l) {
      std::vector<std::string> parts = absl::StrSplit(l, ' ');
      ASSERT_GE(parts.size(), 2u) << l;
      long op = 0;
      ASSERT_TRUE(absl::SimpleAtoi(parts[1], &op));
      if (parts[0] == "P") acked_puts.insert(absl::StrCat("k", op));
      if (parts[0] == "C") acked_creates.insert(absl::StrCat("c", op));
      last = op;
      ++total;
    };
    for (int i = 0; i < stop_after && child.ReadLine(&line); ++i) ack(line);
    child.Kill();
    // Acknowledgements written before the kill are still in the pipe.
    while (child.ReadLine(&line, absl::Seconds(5))) ack(line);
    next = last + 2;  // The op after the last ack may or may not have landed.

    auto store = OpenStore(o);
    ASSERT_NE(store, nullptr);
    // What the killed run left uncovered is checkpointed now (before anything
    // here touches the logs).
    ASSERT_THAT(store->AnchorAuditLogs(), IsOk());
    for (const char* log : {"a", "b", "@system"}) {
      auto info = store->GetAuditLogInfo(log);
      ASSERT_THAT(info, IsOk());
      EXPECT_EQ(info->checkpoint_size, info->size) << log;
    }
    // Tenant a: the keys present are exactly those with a DATA_PUT entry.
    auto a = store->OpenTenant("a");
    ASSERT_THAT(a, IsOk());
    std::set<std::string> present, hashed, logged;
    auto it = (*a)->NewIterator();
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      present.insert(std::string(it->key()));
      hashed.insert((*a)->AuditKeyHash(it->key()));
    }
    ASSERT_THAT(it->status(), IsOk());
    for (const AuditEntry& e : Entries(*store, "a")) {
      if (e.event == AuditEvent::kDataPut) {
        ASSERT_EQ(e.key_hashes.size(), 1u);
        EXPECT_TRUE(logged.insert(e.key_hashes[0]).second);
      }
    }
    EXPECT_EQ(hashed, logged) << "round " << rounds << ", seed " << seed;
    for (const std::string& k : acked_puts) EXPECT_TRUE(present.count(k)) << k;
    // Tenant b: holds alternate, and the last entry is the state.
    bool hold = false;
    for (const AuditEntry& e : Entries(*store, "b")) {
      if (e.event == AuditEvent::kLegalHoldSet) {
        EXPECT_FALSE(hold);
        hold = true;
      } else if (e.event == AuditEvent::kLegalHoldReleased) {
        EXPECT_TRUE(hold);
        hold = false;
      }
    }
    EXPECT_EQ(store->GetTenantInfo("b")->legal_hold, hold);
    // Created tenants: each has exactly its one creation entry.
    auto tenants = store->ListTenants();
    ASSERT_THAT(tenants, IsOk());
    std::set<std::string> created;
    for (const TenantInfo& info : *tenants) {
      if (info.id[0] != 'c') continue;
      created.insert(info.id);
      Counts counts = Count(*store, info.id);
      EXPECT_EQ(counts[AuditEvent::kTenantCreated], 1) << info.id;
    }
    for (const std::string& c : acked_creates) EXPECT_TRUE(created.count(c));
    for (std::string_view log :
         {std::string_view("a"), std::string_view("b"), kSystemAuditLog}) {
      auto v = store->VerifyAuditLog(log, {});
      ASSERT_THAT(v, IsOk());
      EXPECT_TRUE(v->intact) << log << ": " << v->problem;
    }
    if (HasFatalFailure() || HasFailure()) break;
  }
  std::cout << "audited changes acknowledged: " << total << " in " << rounds
            << " runs\n";
}

}  // namespace
}  // namespace leyser
