// The tenant lifecycle on a manual clock and real RocksDB: contract end, purge,
// shred, deletion certificates, legal holds, crashes, a clock stepping back,
// and physical removal.

#include "lib/lifecycle/lifecycle.h"

#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/env.h"
#include "rocksdb/sst_file_reader.h"
#include <signal.h>
#include <sys/wait.h>

#include "leyser/store.h"

#include "lib/crypto/file_cipher.h"
#include "lib/db/key_layout.h"
#include "lib/keys/key_store.h"
#include "lib/proto/registry.pb.h"
#include "tests/test/parts.h"
#include "tests/test/raw_db.h"
#include "tests/test/spawn.h"
#include "tests/test/store_fixture.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

using test::IsOk;
using test::IsOkAndHolds;
using test::StatusIs;

constexpr absl::Duration kDay = absl::Hours(24);

class LifecycleTest : public test::StoreFixture {
 protected:
  void Fill(Store& store, const std::string& id, int keys) {
    auto t = store.OpenTenant(id);
    ASSERT_THAT(t, IsOk());
    for (int i = 0; i < keys; ++i) {
      ASSERT_THAT(
          (*t)->Put(absl::StrCat("key-", i), absl::StrCat(id, "-value-", i)),
          IsOk());
    }
  }

  TenantState State(Store& store, const std::string& id) {
    auto info = store.GetTenantInfo(id);
    EXPECT_THAT(info, IsOk());
    return info.ok() ? info->state : TenantState::kActive;
  }
};

// Issue 5, test 1: the boundaries of purge and shred, checked in the backups
// too.
TEST_F(LifecycleTest, PurgeAndShredHappenExactlyAtTheirBoundaries) {
  // Ten generations, so pre-purge generations outlive the shred deadline unless
  // the shred itself removes them (with seven daily ones, the last would age
  // out on the same day).
  options_.backup_generations = 10;
  auto store = OpenStore();
  for (const char* id : {"gone", "stay"}) {
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    Fill(*store, id, 50);
  }
  ASSERT_THAT(store->RunMaintenance(),
              IsOk());  // A first backup, both tenants active.
  const absl::Time end = clock_->Now() + absl::Hours(5);
  ASSERT_THAT(store->EndContract("gone", end), IsOk());
  auto info = store->GetTenantInfo("gone");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, TenantState::kActive);  // Scheduled, not yet ended.
  EXPECT_EQ(info->contract_end, end);
  EXPECT_EQ(info->purge_due, end + 30 * kDay);
  auto handle = store->OpenTenant("gone");
  ASSERT_THAT(handle, IsOk());
  EXPECT_THAT((*handle)->Get("key-1"), IsOk());

  // The contract end passes: reads and writes stop at once, even before
  // maintenance runs.
  clock_->Set(end);
  EXPECT_THAT((*handle)->Get("key-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*handle)->Put("k", "v"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->OpenTenant("gone"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->ended, std::vector<std::string>{"gone"});
  EXPECT_EQ(State(*store, "gone"), TenantState::kEnded);

  // Daily maintenance (with backups) up to one minute before the purge.
  const absl::Time purge_due = end + 30 * kDay;
  while (clock_->Now() + kDay < purge_due) {
    clock_->Advance(kDay);
    ASSERT_THAT(store->RunMaintenance(), IsOk());
  }
  clock_->Set(purge_due - absl::Minutes(1));
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->purged.empty());
  EXPECT_EQ(State(*store, "gone"), TenantState::kEnded);

  clock_->Set(purge_due);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->purged, std::vector<std::string>{"gone"});
  info = store->GetTenantInfo("gone");
  EXPECT_EQ(info->state, TenantState::kPurged);
  EXPECT_EQ(info->purged, purge_due);
  EXPECT_EQ(info->shred_due, purge_due + 7 * kDay);
  EXPECT_THAT(store->Reinstate("gone"),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // Up to one minute before the shred, a generation taken before the purge
  // still restores it.
  const absl::Time shred_due = purge_due + 7 * kDay;
  while (clock_->Now() + kDay < shred_due) {
    clock_->Advance(kDay);
    ASSERT_THAT(store->RunMaintenance(), IsOk());
  }
  clock_->Set(shred_due - absl::Minutes(1));
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->shredded.empty());
  auto backups = store->ListBackups();
  ASSERT_THAT(backups, IsOk());
  int restorable = 0;
  for (const BackupInfo& b : *backups) {
    if (b.created >= purge_due) continue;
    Options target = options_;
    target.data_dir = tmp_.Sub(absl::StrCat("before-shred-", b.id));
    ASSERT_THAT(Store::RestoreStore(target, b.id), IsOk());
    auto restored = Store::Open(target);
    ASSERT_THAT(restored, IsOk());
    ASSERT_THAT((*restored)->Reinstate("gone"),
                IsOk());  // It was ENDED in that generation.
    auto t = (*restored)->OpenTenant("gone");
    ASSERT_THAT(t, IsOk());
    EXPECT_THAT((*t)->Get("key-7"), IsOkAndHolds(std::string("gone-value-7")));
    ++restorable;
  }
  EXPECT_GE(restorable, 1);

  // At the shred, no remaining generation yields any of its data.
  clock_->Set(shred_due);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->shredded, std::vector<std::string>{"gone"});
  EXPECT_EQ(State(*store, "gone"), TenantState::kShredded);
  const std::uint64_t number = store->GetTenantInfo("gone")->number;
  backups = store->ListBackups();
  ASSERT_THAT(backups, IsOk());
  ASSERT_FALSE(backups->empty());
  for (const BackupInfo& b : *backups) {
    SCOPED_TRACE(absl::StrCat("generation ", b.id));
    EXPECT_GE(b.created, purge_due);
    Options target = options_;
    target.data_dir = tmp_.Sub(absl::StrCat("after-shred-", b.id));
    ASSERT_THAT(Store::RestoreStore(target, b.id), IsOk());
    {
      auto restored = Store::Open(target);
      ASSERT_THAT(restored, IsOk());
      EXPECT_THAT((*restored)->OpenTenant("gone"),
                  StatusIs(absl::StatusCode::kFailedPrecondition));
      EXPECT_THAT((*restored)->Reinstate("gone"),
                  StatusIs(absl::StatusCode::kFailedPrecondition));
      auto stay = (*restored)->OpenTenant("stay");
      ASSERT_THAT(stay, IsOk());
      EXPECT_THAT((*stay)->Get("key-7"),
                  IsOkAndHolds(std::string("stay-value-7")));
    }
    // Below the API: not one record in its key range, and no key for it.
    test::RawDataDb raw(target.data_dir, *provider_);
    std::unique_ptr<rocksdb::Iterator> it(
        raw.db()->NewIterator(rocksdb::ReadOptions(), raw.data()));
    const std::string prefix = internal::TenantPrefix(number);
    it->Seek(prefix);
    EXPECT_TRUE(!it->Valid() || !it->key().starts_with(prefix));
  }
  auto certificate = store->GetDeletionCertificate("gone");
  ASSERT_THAT(certificate, IsOk());
  auto public_key = store->GetSigningPublicKey();
  ASSERT_THAT(public_key, IsOk());
  EXPECT_THAT(VerifyDeletionCertificate(*certificate, *public_key), IsOk());
  EXPECT_EQ(certificate->tenant_id, "gone");
  EXPECT_EQ(certificate->tenant_number, number);
  EXPECT_EQ(certificate->contract_end, end);
  EXPECT_EQ(certificate->purged, purge_due);
  EXPECT_EQ(certificate->shredded, shred_due);
  EXPECT_EQ(certificate->keys_removed, 50u);
  EXPECT_GT(certificate->bytes_removed, 50u * 45);
  EXPECT_FALSE(certificate->generations_deleted.empty());
  EXPECT_FALSE(certificate->generations_checked.empty());
  EXPECT_EQ(certificate->format_version, 2u);
  EXPECT_EQ(certificate->backup_dir_id.size(), 16u);
  // The method says what was done and what it does not cover, and claims no
  // standard.
  EXPECT_NE(certificate->method.find("compacted out of every live SST"),
            std::string::npos);
  EXPECT_NE(certificate->method.find("Not covered"), std::string::npos);
  EXPECT_EQ(certificate->method.find("NIST"), std::string::npos);
  EXPECT_NE(
      DeletionCertificateToJson(*certificate).find("\"tenant_id\": \"gone\""),
      std::string::npos);
  // Exactly once: later runs change nothing.
  clock_->Advance(kDay);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->shredded.empty());
  EXPECT_EQ(store->GetDeletionCertificate("gone")->signature,
            certificate->signature);
  EXPECT_THAT(store->OpenTenant("stay").value()->Get("key-49"),
              IsOkAndHolds(std::string("stay-value-49")));
}

// Issue 5, test 2: reinstate, and legal holds.
TEST_F(LifecycleTest, ReinstateAndLegalHold) {
  auto store = OpenStore();
  for (const char* id : {"back", "held"}) {
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    Fill(*store, id, 20);
  }
  EXPECT_THAT(store->Reinstate("back"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  clock_->Advance(absl::Hours(2));
  ASSERT_THAT(store->EndContract("back", clock_->Now() - absl::Hours(1)),
              IsOk());  // In the past (after the creation).
  EXPECT_EQ(State(*store, "back"), TenantState::kEnded);
  EXPECT_THAT(store->OpenTenant("back"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store->EndContract("back", clock_->Now()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  clock_->Advance(10 * kDay);
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  ASSERT_THAT(store->Reinstate("back"), IsOk());
  auto info = store->GetTenantInfo("back");
  EXPECT_EQ(info->state, TenantState::kActive);
  EXPECT_FALSE(info->contract_end.has_value());
  EXPECT_FALSE(info->purge_due.has_value());
  auto back = store->OpenTenant("back");
  ASSERT_THAT(back, IsOk());
  for (int i = 0; i < 20; ++i) {
    EXPECT_THAT((*back)->Get(absl::StrCat("key-", i)),
                IsOkAndHolds(absl::StrCat("back-value-", i)));
  }
  // A scheduled end can be cancelled before it passes.
  ASSERT_THAT(store->EndContract("back", clock_->Now() + kDay), IsOk());
  ASSERT_THAT(store->Reinstate("back"), IsOk());
  clock_->Advance(2 * kDay);
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  EXPECT_EQ(State(*store, "back"), TenantState::kActive);
  EXPECT_THAT((*back)->Get("key-1"), IsOk());

  // Legal hold: the purge waits, and runs at the first maintenance after the
  // release.
  ASSERT_THAT(store->EndContract("held", clock_->Now()), IsOk());
  ASSERT_THAT(store->SetLegalHold("held", true), IsOk());
  EXPECT_TRUE(store->GetTenantInfo("held")->legal_hold);
  clock_->Advance(31 * kDay);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->held, std::vector<std::string>{"held"});
  EXPECT_EQ(State(*store, "held"), TenantState::kEnded);
  ASSERT_THAT(store->SetLegalHold("held", false), IsOk());
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->purged, std::vector<std::string>{"held"});
  EXPECT_THAT(store->Reinstate("held"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The hold also stops the shred.
  ASSERT_THAT(store->SetLegalHold("held", true), IsOk());
  clock_->Advance(8 * kDay);
  report = store->RunMaintenance();
  EXPECT_EQ(report->held, std::vector<std::string>{"held"});
  EXPECT_EQ(State(*store, "held"), TenantState::kPurged);
  ASSERT_THAT(store->SetLegalHold("held", false), IsOk());
  report = store->RunMaintenance();
  EXPECT_EQ(report->shredded, std::vector<std::string>{"held"});
  EXPECT_THAT(store->SetLegalHold("held", true),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // Bad input.
  EXPECT_THAT(store->EndContract("nobody", clock_->Now()),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->Reinstate("bad id"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->SetLegalHold("nobody", true),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->GetDeletionCertificate("back"),
              StatusIs(absl::StatusCode::kNotFound));
  Options bad = options_;
  bad.purge_after = -absl::Seconds(1);
  store.reset();
  back->reset();
  EXPECT_THAT(Store::Open(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LifecycleTest, ZeroDelaysPurgeAndShredAtOnce) {
  options_.purge_after = absl::ZeroDuration();
  options_.backup_purge_after = absl::ZeroDuration();
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("now"), IsOk());
  Fill(*store, "now", 10);
  ASSERT_THAT(store->CreateBackup(), IsOk());
  ASSERT_THAT(store->EndContract("now", clock_->Now()), IsOk());
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->purged, std::vector<std::string>{"now"});
  EXPECT_EQ(report->shredded, std::vector<std::string>{"now"});
  auto certificate = store->GetDeletionCertificate("now");
  ASSERT_THAT(certificate, IsOk());
  EXPECT_EQ(certificate->generations_deleted.size(), 1u);
  EXPECT_THAT(
      VerifyDeletionCertificate(*certificate, *store->GetSigningPublicKey()),
      IsOk());
}

// Issue 5, test 6: any changed field, or another key, fails verification.
TEST_F(LifecycleTest, TamperedCertificatesFailVerification) {
  options_.purge_after = absl::ZeroDuration();
  options_.backup_purge_after = absl::ZeroDuration();
  auto store = OpenStore();
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  Fill(*store, "t", 3);
  ASSERT_THAT(store->CreateBackup(), IsOk());
  ASSERT_THAT(store->EndContract("t", clock_->Now()), IsOk());
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  const DeletionCertificate good = store->GetDeletionCertificate("t").value();
  const std::string key = store->GetSigningPublicKey().value();
  ASSERT_THAT(VerifyDeletionCertificate(good, key), IsOk());
  std::vector<std::pair<const char*, std::function<void(DeletionCertificate&)>>>
      edits = {
          {"tenant_id", [](DeletionCertificate& c) { c.tenant_id += "x"; }},
          {"tenant_number", [](DeletionCertificate& c) { ++c.tenant_number; }},
          {"contract_end",
           [](DeletionCertificate& c) { c.contract_end += absl::Seconds(1); }},
          {"purged",
           [](DeletionCertificate& c) { c.purged -= absl::Nanoseconds(1); }},
          {"shredded", [](DeletionCertificate& c) { c.shredded += kDay; }},
          {"issued", [](DeletionCertificate& c) { c.issued += kDay; }},
          {"method",
           [](DeletionCertificate& c) { c.method = "overwritten with zeros"; }},
          {"keys_removed", [](DeletionCertificate& c) { c.keys_removed = 0; }},
          {"bytes_removed",
           [](DeletionCertificate& c) { c.bytes_removed += 1; }},
          {"generations_deleted",
           [](DeletionCertificate& c) { c.generations_deleted.clear(); }},
          {"generations_checked",
           [](DeletionCertificate& c) { c.generations_checked.push_back(99); }},
          {"generations_key_removed",
           [](DeletionCertificate& c) {
             c.generations_key_removed.push_back(99);
           }},
          {"backup_dir_id",
           [](DeletionCertificate& c) { c.backup_dir_id = "elsewhere"; }},
          // Claiming format 1 drops the domain prefix: it does not verify.
          {"format_version",
           [](DeletionCertificate& c) { c.format_version = 1; }},
          {"format_version 3",
           [](DeletionCertificate& c) { c.format_version = 3; }},
          {"audit_chain_head",
           [](DeletionCertificate& c) { c.audit_chain_head = "x"; }},
          {"signature", [](DeletionCertificate& c) { c.signature[10] ^= 1; }},
      };
  for (auto& [name, edit] : edits) {
    DeletionCertificate bad = good;
    edit(bad);
    EXPECT_THAT(VerifyDeletionCertificate(bad, key),
                StatusIs(absl::StatusCode::kDataLoss))
        << name;
  }
  // Another key: a different signer, or a key pretending to be the signer.
  std::string other = key;
  other[0] ^= 1;
  EXPECT_THAT(VerifyDeletionCertificate(good, other),
              StatusIs(absl::StatusCode::kDataLoss));
  DeletionCertificate claimed = good;
  claimed.signer_public_key = other;
  EXPECT_THAT(VerifyDeletionCertificate(claimed, other),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(VerifyDeletionCertificate(good, "short"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Issued no earlier than the audit checkpoint it embeds.
  const AuditCheckpoint head =
      ParseAuditCheckpoint(good.audit_chain_head).value();
  EXPECT_GE(good.issued, head.time);
}

// Issue 5, test 7: the clock steps back an hour, then a day: nothing early,
// nothing twice.
TEST_F(LifecycleTest, ClockSteppingBackNeverCausesEarlyOrRepeatedSteps) {
  auto store = OpenStore();
  for (const char* id : {"a", "b"}) {
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    Fill(*store, id, 5);
  }
  const absl::Time start = clock_->Now();
  ASSERT_THAT(store->EndContract("a", start), IsOk());
  ASSERT_THAT(store->EndContract("b", start + 2 * kDay), IsOk());
  clock_->Set(start + 30 * kDay);  // a is due, b is not.
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->purged, std::vector<std::string>{"a"});
  const auto purged_at = store->GetTenantInfo("a")->purged;
  for (absl::Duration back : {absl::Hours(1), kDay}) {
    clock_->Set(start + 30 * kDay - back);
    report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->clock_behind);
    EXPECT_TRUE(report->purged.empty() && report->shredded.empty() &&
                report->ended.empty());
    EXPECT_EQ(store->GetTenantInfo("a")->purged, purged_at);
  }
  // Back at (and past) the high-water mark, b is still not early: its purge is
  // due at day 32.
  clock_->Set(start + 32 * kDay - absl::Minutes(1));
  report = store->RunMaintenance();
  EXPECT_FALSE(report->clock_behind);
  EXPECT_TRUE(report->purged.empty());
  EXPECT_EQ(State(*store, "b"), TenantState::kEnded);
  clock_->Set(start + 32 * kDay);
  report = store->RunMaintenance();
  EXPECT_EQ(report->purged, std::vector<std::string>{"b"});
  // a's shred is due at day 37; a step back from day 37 + 1 h does not repeat
  // it.
  clock_->Set(start + 37 * kDay + absl::Hours(1));
  report = store->RunMaintenance();
  EXPECT_EQ(report->shredded, std::vector<std::string>{"a"});
  const std::string signature = store->GetDeletionCertificate("a")->signature;
  clock_->Set(start + 37 * kDay);
  report = store->RunMaintenance();
  EXPECT_TRUE(report->clock_behind);
  clock_->Set(start + 38 * kDay);
  report = store->RunMaintenance();
  EXPECT_TRUE(report->shredded.empty());
  EXPECT_EQ(store->GetDeletionCertificate("a")->signature, signature);
}

// Decrypted contents of a database file, read through the store's file layer.
std::string DecryptedFile(rocksdb::Env* env, const std::string& path) {
  std::unique_ptr<rocksdb::SequentialFile> file;
  EXPECT_TRUE(env->NewSequentialFile(path, &file, rocksdb::EnvOptions()).ok())
      << path;
  std::string out;
  std::string scratch(1 << 16, '\0');
  while (true) {
    rocksdb::Slice chunk;
    EXPECT_TRUE(file->Read(scratch.size(), &chunk, scratch.data()).ok());
    if (chunk.empty()) break;
    out.append(chunk.data(), chunk.size());
  }
  return out;
}

// Decoded scan of every SST, WAL and MANIFEST of a closed store: records of
// `prefix`, and occurrences of any of `keys` (full RocksDB keys) in WAL and
// MANIFEST bytes.
struct Found {
  int sst_records = 0;
  int wal_hits = 0;
  int manifest_hits = 0;
};

// The store's file layer, built from its key store (which must not be open).
internal::EncryptedEnv FileLayer(const Options& options,
                                 const KeyProvider& provider) {
  auto keystore = internal::KeyStore::Open(options.data_dir + "/keys",
                                           provider.GetMasterKey().value(),
                                           false, absl::UnixEpoch());
  EXPECT_THAT(keystore, IsOk());
  auto file_keys = (*keystore)->GetFileKeys();
  EXPECT_THAT(file_keys, IsOk());
  return internal::NewEncryptedEnv(
             internal::ToFileKey(std::move(file_keys->current)),
             internal::ToFileKeys(std::move(file_keys->retired)))
      .value();
}

// Works while the store is open (it only reads the files).
Found DecodedScan(const Options& options, const internal::EncryptedEnv& env,
                  const std::string& prefix,
                  const std::vector<std::string>& keys) {
  Found found;
  for (const auto& entry :
       std::filesystem::directory_iterator(options.data_dir + "/db")) {
    const std::string name = entry.path().filename().string();
    const std::string path = entry.path().string();
    if (absl::EndsWith(name, ".sst")) {
      rocksdb::Options o;
      o.env = env.env.get();
      rocksdb::SstFileReader reader(o);
      EXPECT_TRUE(reader.Open(path).ok()) << path;
      std::unique_ptr<rocksdb::Iterator> it(
          reader.NewIterator(rocksdb::ReadOptions()));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (it->key().starts_with(prefix)) ++found.sst_records;
      }
    } else if (absl::EndsWith(name, ".log") ||
               absl::StartsWith(name, "MANIFEST")) {
      const std::string bytes = DecryptedFile(env.env.get(), path);
      for (const std::string& k : keys) {
        if (bytes.find(k) != std::string::npos) {
          (absl::EndsWith(name, ".log") ? found.wal_hits
                                        : found.manifest_hits)++;
        }
      }
    }
  }
  return found;
}

// Issue 5, test 4: after the purge no live SST, WAL or MANIFEST holds any of
// the tenant's records.
TEST_F(LifecycleTest, PurgeLeavesNoRecordInAnyLiveFile) {
  options_.backup_dir = "";  // No backup flushes anything for the purge.
  std::vector<std::string> keys;
  std::uint64_t number = 0;
  {
    auto store = OpenStore();
    // "gone" first: its keys bound the shared SST files, so they appear in the
    // MANIFEST.
    for (const char* id : {"gone", "a", "z"})
      ASSERT_THAT(store->CreateTenant(id), IsOk());
    number = store->GetTenantInfo("gone")->number;
    auto gone = store->OpenTenant("gone").value();
    auto a = store->OpenTenant("a").value();
    auto z = store->OpenTenant("z").value();
    for (int i = 0; i < 3000; ++i) {
      const std::string k = absl::StrCat("user-", i);
      ASSERT_THAT(gone->Put(k, std::string(100, 'g')), IsOk());
      ASSERT_THAT(a->Put(k, "a"), IsOk());
      ASSERT_THAT(z->Put(k, "z"), IsOk());
      if (i % 100 == 0) keys.push_back(internal::DataKey(number, k));
    }
  }  // Reopening flushes the WAL into SST files.
  const internal::EncryptedEnv env = FileLayer(options_, *provider_);
  {
    auto store = OpenStore();
    auto gone = store->OpenTenant("gone").value();
    auto a = store->OpenTenant("a").value();
    // Recent writes that live in the WAL and the memtable when the purge comes.
    for (int i = 0; i < 3000; i += 7)
      ASSERT_THAT(gone->Put(absl::StrCat("user-", i), "again"), IsOk());
    keys.push_back(internal::DataKey(number, "user-7"));
    // Test the test: before the purge, the scan finds the tenant in SSTs and in
    // the WAL.
    Found before =
        DecodedScan(options_, env, internal::TenantPrefix(number), keys);
    EXPECT_GT(before.sst_records, 0);
    EXPECT_GT(before.wal_hits, 0);
    EXPECT_GT(before.manifest_hits, 0);
    // An iterator of another tenant, and one of the purged tenant, are open
    // during the purge.
    auto a_it = a->NewIterator();
    a_it->SeekToFirst();
    ASSERT_TRUE(a_it->Valid());
    auto gone_it = gone->NewIterator();
    gone_it->SeekToFirst();
    ASSERT_TRUE(gone_it->Valid());
    const std::string_view held_key =
        gone_it->key();  // A view held across the purge.
    ASSERT_THAT(store->EndContract("gone", clock_->Now()), IsOk());
    EXPECT_THAT(gone->Get("user-1"),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    clock_->Advance(30 * kDay);
    auto report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    ASSERT_EQ(report->purged, std::vector<std::string>{"gone"});
    // Open iterators were stopped (they pinned files holding the purged
    // records); views they handed out stay readable.
    EXPECT_FALSE(a_it->Valid());
    EXPECT_THAT(a_it->status(), StatusIs(absl::StatusCode::kAborted));
    EXPECT_FALSE(gone_it->Valid());
    EXPECT_EQ(held_key, "user-0");
    // Everyone else is intact.
    EXPECT_THAT(a->Get("user-2999"), IsOkAndHolds(std::string("a")));
    EXPECT_THAT(store->OpenTenant("z").value()->Get("user-0"),
                IsOkAndHolds(std::string("z")));
    // The purged tenant's handle stays refused.
    EXPECT_THAT(gone->Put("k", "v"),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    // The decoded scan, with the store still open: every live SST, WAL and
    // MANIFEST.
    Found after =
        DecodedScan(options_, env, internal::TenantPrefix(number), keys);
    EXPECT_EQ(after.sst_records, 0);
    EXPECT_EQ(after.wal_hits, 0);
    EXPECT_EQ(after.manifest_hits, 0);
    store.reset();
    gone.reset();
    a.reset();
    a_it.reset();
    gone_it.reset();
  }
  Found closed =
      DecodedScan(options_, env, internal::TenantPrefix(number), keys);
  EXPECT_EQ(closed.sst_records + closed.wal_hits + closed.manifest_hits, 0);
  // The data key is gone from the key store, and its files.
  auto keystore = internal::KeyStore::Open(options_.data_dir + "/keys",
                                           provider_->GetMasterKey().value(),
                                           false, absl::UnixEpoch());
  ASSERT_THAT(keystore, IsOk());
  EXPECT_THAT((*keystore)->GetTenantKey(number),
              StatusIs(absl::StatusCode::kNotFound));
}

// Issue 15: contracts that end together are purged and shredded as a batch
// (one compaction per span of files, one pass over the generations), with
// every guarantee of a purge on its own: each purged tenant leaves every live
// file, its neighbours (interleaved with it in the same files) keep their
// data, each gets its own certificate listing the pre-purge backup.
TEST_F(LifecycleTest, TenantsEndingTogetherArePurgedAndShreddedAsABatch) {
  constexpr int kTenants = 60;
  std::vector<std::uint64_t> gone;
  std::vector<std::string> gone_ids;
  {
    auto store = OpenStore();
    for (int i = 0; i < kTenants; ++i) {
      const std::string id = absl::StrCat("t", i);
      ASSERT_THAT(store->CreateTenant(id), IsOk());
      Fill(*store, id, 50);
      if (i % 3 == 1) {
        gone.push_back(store->GetTenantInfo(id)->number);
        gone_ids.push_back(id);
      }
    }
  }  // Reopening flushes the WAL into shared SST files.
  const internal::EncryptedEnv env = FileLayer(options_, *provider_);
  auto store = OpenStore();
  ASSERT_THAT(store->RunMaintenance(), IsOk());  // A backup holding them all.
  for (const std::string& id : gone_ids) {
    ASSERT_THAT(store->EndContract(id, clock_->Now()), IsOk());
  }
  // Test the test: the files hold the tenants before the purge.
  EXPECT_GT(DecodedScan(options_, env, internal::TenantPrefix(gone[0]), {})
                .sst_records,
            0);
  clock_->Advance(30 * kDay);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(std::set<std::string>(report->purged.begin(), report->purged.end()),
            std::set<std::string>(gone_ids.begin(), gone_ids.end()));
  for (std::uint64_t number : gone) {
    EXPECT_EQ(DecodedScan(options_, env, internal::TenantPrefix(number), {})
                  .sst_records,
              0)
        << "tenant number " << number;
  }
  for (int i = 0; i < kTenants; ++i) {
    if (i % 3 == 1) continue;
    const std::string id = absl::StrCat("t", i);
    auto t = store->OpenTenant(id).value();
    EXPECT_THAT(t->Get("key-49"), IsOkAndHolds(absl::StrCat(id, "-value-49")));
  }
  clock_->Advance(7 * kDay);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->shredded.size(), gone_ids.size());
  const std::string key = store->GetSigningPublicKey().value();
  std::set<std::string> heads;
  for (const std::string& id : gone_ids) {
    auto certificate = store->GetDeletionCertificate(id);
    ASSERT_THAT(certificate, IsOk());
    EXPECT_THAT(VerifyDeletionCertificate(*certificate, key), IsOk());
    EXPECT_EQ(certificate->tenant_id, id);
    EXPECT_EQ(certificate->keys_removed, 50u);
    EXPECT_FALSE(certificate->generations_deleted.empty()) << id;
    // Generations taken after the purge were checked, each tenant's key gone.
    EXPECT_FALSE(certificate->generations_checked.empty()) << id;
    heads.insert(certificate->audit_chain_head);
  }
  // Each certificate embeds its own tenant's log.
  EXPECT_EQ(heads.size(), gone_ids.size());
}

// A batch of purges waits, destroying nothing, while the audit sink refuses
// checkpoints: a rollback of the disk could otherwise undo the purges unseen.
// Once the sink takes checkpoints again, the next run purges them all.
TEST_F(LifecycleTest, PurgesWaitWhileTheAuditSinkRefuses) {
  class Sink final : public AuditSink {
   public:
    absl::Status Publish(const AuditCheckpoint&) override {
      return failing ? absl::UnavailableError("sink down") : absl::OkStatus();
    }
    std::atomic<bool> failing{false};
  };
  auto sink = std::make_shared<Sink>();
  options_.audit_sink = sink;
  options_.backup_dir = "";
  auto store = OpenStore();
  for (const char* id : {"a", "b", "stay"}) {
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    Fill(*store, id, 20);
  }
  ASSERT_THAT(store->EndContract("a", clock_->Now()), IsOk());
  ASSERT_THAT(store->EndContract("b", clock_->Now()), IsOk());
  clock_->Advance(30 * kDay);
  sink->failing = true;
  auto report = store->RunMaintenance();
  EXPECT_TRUE(report.ok() || absl::IsUnavailable(report.status()))
      << report.status();
  if (report.ok()) {
    EXPECT_TRUE(report->purged.empty());
    EXPECT_EQ(report->waiting.size(), 2u);
  }
  EXPECT_EQ(State(*store, "a"), TenantState::kEnded);
  EXPECT_EQ(State(*store, "b"), TenantState::kEnded);
  const std::uint64_t a = store->GetTenantInfo("a")->number;
  store.reset();
  const Found kept =
      DecodedScan(options_, FileLayer(options_, *provider_),
                  internal::TenantPrefix(a), {internal::DataKey(a, "key-0")});
  EXPECT_GT(kept.sst_records + kept.wal_hits, 0) << "nothing destroyed";
  sink->failing = false;
  store = OpenStore();
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->purged.size(), 2u);
  EXPECT_EQ(State(*store, "a"), TenantState::kPurged);
  EXPECT_THAT(store->OpenTenant("stay").value()->Get("key-19"),
              IsOkAndHolds(std::string("stay-value-19")));
}

// Issue 5, test 3: 1,000 tenants with staggered contract ends over 60 simulated
// days.
TEST_F(LifecycleTest,
       ThousandStaggeredTenantsAreEachPurgedAndShreddedOnceOnTime) {
  const std::uint64_t seed = test::TestSeed();
  std::mt19937_64 rng(seed);
  constexpr int kEnding = 1000, kStaying = 20;
  auto store = OpenStore();
  std::map<std::string, absl::Time> ends;
  for (int i = 0; i < kEnding + kStaying; ++i) {
    const std::string id = absl::StrCat(i < kEnding ? "end-" : "stay-", i);
    ASSERT_THAT(store->CreateTenant(id), IsOk());
    auto t = store->OpenTenant(id).value();
    ASSERT_THAT(t->Put("k", id), IsOk());
    if (i < kEnding) {
      // Contract ends spread over the first 22 days, at random times of day.
      const absl::Time end =
          clock_->Now() +
          absl::Seconds(static_cast<int64_t>(rng() % (22 * 86400)));
      ASSERT_THAT(store->EndContract(id, end), IsOk());
      ends[id] = end;
    }
  }
  std::map<std::string, int> purges, shreds;
  for (int day = 0; day < 60; ++day) {
    auto report = store->RunMaintenance();
    ASSERT_THAT(report, IsOk());
    ASSERT_TRUE(report->backup.has_value()) << "day " << day;
    for (const std::string& id : report->purged) {
      ++purges[id];
      const absl::Time due = ends[id] + 30 * kDay;
      EXPECT_LE(due, clock_->Now()) << id;
      EXPECT_LT(clock_->Now() - due, kDay) << id << " purged late";
    }
    for (const std::string& id : report->shredded) {
      ++shreds[id];
      const absl::Time due = *store->GetTenantInfo(id)->purged + 7 * kDay;
      EXPECT_LE(due, clock_->Now()) << id;
      EXPECT_LT(clock_->Now() - due, kDay) << id << " shredded late";
    }
    clock_->Advance(kDay);
  }
  const std::string key = store->GetSigningPublicKey().value();
  int verified = 0;
  for (const auto& [id, end] : ends) {
    EXPECT_EQ(purges[id], 1) << id;
    EXPECT_EQ(shreds[id], 1) << id;
    auto certificate = store->GetDeletionCertificate(id);
    ASSERT_THAT(certificate, IsOk());
    if (VerifyDeletionCertificate(*certificate, key).ok()) ++verified;
    EXPECT_EQ(certificate->contract_end, end);
  }
  EXPECT_EQ(verified, kEnding);
  for (int i = kEnding; i < kEnding + kStaying; ++i) {
    const std::string id = absl::StrCat("stay-", i);
    EXPECT_THAT(store->OpenTenant(id).value()->Get("k"), IsOkAndHolds(id));
  }
}

// Issue 5, test 5: a child killed at each step of purge and shred; the next run
// finishes the step.
TEST_F(LifecycleTest, CrashAtEachStepOfPurgeAndShredResumes) {
  const std::string key_path = tmp_.Sub("crash.key");
  ASSERT_THAT(CreateKeyFile(key_path), IsOk());
  const char* purge_points[] = {"purge.after_mark",       "purge.after_compact",
                                "purge.after_key_delete", "purge.after_record",
                                "purge.after_flush",      "scrub.before"};
  const char* shred_points[] = {"shred.after_unlist", "shred.after_backups",
                                "shred.after_record"};
  int case_number = 0;
  for (bool shred : {false, true}) {
    for (const char* point :
         shred ? std::vector<const char*>(std::begin(shred_points),
                                          std::end(shred_points))
               : std::vector<const char*>(std::begin(purge_points),
                                          std::end(purge_points))) {
      SCOPED_TRACE(point);
      Options o = options_;
      o.data_dir = tmp_.Sub(absl::StrCat("store-", case_number));
      o.backup_dir = tmp_.Sub(absl::StrCat("backups-", case_number++));
      o.key_provider = NewFileKeyProvider(key_path).value();
      auto clock =
          std::make_shared<ManualClock>(absl::FromUnixSeconds(1'800'000'000));
      o.clock = clock;
      std::uint64_t number = 0;
      std::uint64_t also_number = 0;
      {
        auto store = Store::Open(o);
        ASSERT_THAT(store, IsOk());
        for (const char* id : {"gone", "also-gone", "stay"}) {
          ASSERT_THAT((*store)->CreateTenant(id), IsOk());
          auto t = (*store)->OpenTenant(id).value();
          for (int i = 0; i < 200; ++i)
            ASSERT_THAT(t->Put(absl::StrCat("k", i), id), IsOk());
        }
        number = (*store)->GetTenantInfo("gone")->number;
        also_number = (*store)->GetTenantInfo("also-gone")->number;
        ASSERT_THAT((*store)->RunMaintenance(),
                    IsOk());  // A backup with the tenant.
        // Two contracts end together: purged and shredded as one batch.
        ASSERT_THAT((*store)->EndContract("gone", clock->Now()), IsOk());
        ASSERT_THAT((*store)->EndContract("also-gone", clock->Now()), IsOk());
        clock->Advance(30 * kDay);
        if (shred) {
          auto report = (*store)->RunMaintenance();  // Purges (and backs up).
          ASSERT_THAT(report, IsOk());
          ASSERT_EQ(report->purged.size(), 2u);
          clock->Advance(7 * kDay);
        }
      }
      test::Child child({test::CrashChildPath(), "maintain", o.data_dir,
                         key_path, o.backup_dir,
                         absl::StrCat(absl::ToUnixSeconds(clock->Now())),
                         point});
      const int status = child.Wait();
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << "status " << status;
      auto store = Store::Open(o);
      ASSERT_THAT(store, IsOk());
      ASSERT_THAT((*store)->RunMaintenance(), IsOk());
      ASSERT_THAT((*store)->RunMaintenance(), IsOk());  // Idempotent.
      for (const char* id : {"gone", "also-gone"}) {
        EXPECT_EQ((*store)->GetTenantInfo(id)->state,
                  shred ? TenantState::kShredded : TenantState::kPurged)
            << id;
      }
      EXPECT_THAT((*store)->OpenTenant("stay").value()->Get("k199"),
                  IsOkAndHolds(std::string("stay")));
      if (shred) {
        auto certificate = (*store)->GetDeletionCertificate("gone");
        ASSERT_THAT(certificate, IsOk());
        EXPECT_THAT(VerifyDeletionCertificate(*certificate,
                                              *(*store)->GetSigningPublicKey()),
                    IsOk());
        EXPECT_EQ(certificate->keys_removed, 200u);
        EXPECT_FALSE(certificate->generations_deleted.empty())
            << "the pre-purge backup";
      }
      store->reset();
      for (std::uint64_t n : {number, also_number}) {
        Found found = DecodedScan(o, FileLayer(o, *o.key_provider),
                                  internal::TenantPrefix(n), {});
        EXPECT_EQ(found.sst_records, 0) << "tenant number " << n;
      }
    }
  }
}

// The state machine alone, on real parts (no Store): transitions, refusals,
// what it tells the tenant cache, and the steps a maintenance run finds due.
class RecordingListener final : public internal::ServingListener {
 public:
  void Apply(const proto::TenantRecord& record) override {
    applied.push_back(record);
  }
  void Forget(std::uint64_t number) override { forgotten.push_back(number); }
  std::vector<proto::TenantRecord> applied;
  std::vector<std::uint64_t> forgotten;
};

TEST(LifecycleUnitTest, TransitionsRefusalsAndDueSteps) {
  test::TempDir tmp;
  test::Parts parts(tmp);
  const std::uint64_t a = parts.AddTenants({"a", "b"})[0].number();
  Options no_backups;  // backup_dir empty: the manager is off.
  internal::BackupManager backups(no_backups, parts.db, parts.keys.get());
  RecordingListener listener;
  internal::LifecycleConfig config;
  config.purge_after = 30 * kDay;
  config.backup_purge_after = 7 * kDay;
  config.actor = "op";
  config.clock = parts.clock;
  config.signing_key = [] { return internal::RandomKey(); };
  internal::Lifecycle lifecycle(config, parts.registry.get(), parts.keys.get(),
                                &backups, parts.db, parts.audit, &listener);
  auto state = [&](const char* id) {
    return parts.registry->Record(id).value().state();
  };

  // Ended now: the cache is told at once; ending again is refused.
  parts.clock->Advance(absl::Hours(1));
  ASSERT_THAT(lifecycle.EndContract("a", parts.clock->Now()), IsOk());
  EXPECT_EQ(state("a"), proto::TENANT_STATE_ENDED);
  ASSERT_EQ(listener.applied.size(), 1u);
  EXPECT_EQ(listener.applied.back().state(), proto::TENANT_STATE_ENDED);
  EXPECT_THAT(lifecycle.EndContract("a", parts.clock->Now()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(lifecycle.Reinstate("b"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(lifecycle.Reinstate("a"), IsOk());
  EXPECT_EQ(state("a"), proto::TENANT_STATE_ACTIVE);
  EXPECT_EQ(listener.applied.back().state(), proto::TENANT_STATE_ACTIVE);

  // Scheduled a day ahead: ends at the first run after it, purged 30 days
  // later (not while held), shredded 7 days after that.
  ASSERT_THAT(lifecycle.EndContract("a", parts.clock->Now() + kDay), IsOk());
  EXPECT_EQ(state("a"), proto::TENANT_STATE_ACTIVE);
  MaintenanceReport report;
  ASSERT_THAT(lifecycle.RunDue(parts.clock->Now(), &report), IsOk());
  EXPECT_TRUE(report.ended.empty());
  parts.clock->Advance(kDay);
  ASSERT_THAT(lifecycle.RunDue(parts.clock->Now(), &report), IsOk());
  EXPECT_EQ(report.ended, std::vector<std::string>{"a"});
  EXPECT_EQ(state("a"), proto::TENANT_STATE_ENDED);
  ASSERT_THAT(lifecycle.SetLegalHold("a", true), IsOk());
  parts.clock->Advance(30 * kDay);
  report = MaintenanceReport();
  ASSERT_THAT(lifecycle.RunDue(parts.clock->Now(), &report), IsOk());
  EXPECT_EQ(report.held, std::vector<std::string>{"a"});
  EXPECT_EQ(state("a"), proto::TENANT_STATE_ENDED);
  ASSERT_THAT(lifecycle.SetLegalHold("a", false), IsOk());
  report = MaintenanceReport();
  ASSERT_THAT(lifecycle.RunDue(parts.clock->Now(), &report), IsOk());
  EXPECT_EQ(report.purged, std::vector<std::string>{"a"});
  EXPECT_EQ(state("a"), proto::TENANT_STATE_PURGED);
  EXPECT_EQ(listener.forgotten, std::vector<std::uint64_t>{a});
  EXPECT_THAT(parts.keys->GetTenantKey(a),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(lifecycle.Reinstate("a"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A clock behind the last run: nothing runs.
  report = MaintenanceReport();
  ASSERT_THAT(lifecycle.RunDue(parts.clock->Now() - kDay, &report), IsOk());
  EXPECT_TRUE(report.clock_behind);
  parts.clock->Advance(7 * kDay);
  report = MaintenanceReport();
  ASSERT_THAT(lifecycle.RunDue(parts.clock->Now(), &report), IsOk());
  EXPECT_EQ(report.shredded, std::vector<std::string>{"a"});
  const proto::TenantRecord shredded = parts.registry->Record("a").value();
  EXPECT_EQ(shredded.state(), proto::TENANT_STATE_SHREDDED);
  EXPECT_FALSE(shredded.certificate().empty());
  EXPECT_EQ(state("b"), proto::TENANT_STATE_ACTIVE);
  // Refused calls were recorded as DENIED entries of the tenant's log.
  auto entries = parts.audit->Read(a, 0, 1000);
  ASSERT_THAT(entries, IsOk());
  int denied = 0;
  for (const auto& [entry, bytes] : *entries) {
    denied += entry.outcome() == proto::AUDIT_OUTCOME_DENIED;
  }
  EXPECT_EQ(denied, 2);
}

}  // namespace
}  // namespace leyser
