// Someone who can write the store's files cannot change a tenant's fate
// unseen (issue 13): flipped control records are DataLoss naming the record,
// a directory put back or a WAL cut short is refused against the anchors, a
// deliberate restore or an accepted rollback starts a new anchor series, and
// lifecycle changes reach the sink before they return.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

#include "leyser/leyser.h"

#include "lib/audit/audit_log.h"
#include "lib/keys/key_records.h"
#include "lib/proto/audit.pb.h"
#include "lib/proto/keystore.pb.h"
#include "lib/proto/registry.pb.h"
#include "lib/registry/records.h"
#include "lib/util/files.h"
#include "lib/util/time.h"
#include "tests/test/raw_db.h"
#include "tests/test/store_fixture.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;

namespace fs = std::filesystem;

// The offset in `payload` (a serialized message) of top-level field
// `field`'s value: the varint itself, or the bytes after a length.
std::size_t FieldOffset(const std::string& payload, int field) {
  auto varint = [&](std::size_t* i) {
    std::uint64_t v = 0;
    for (int shift = 0; *i < payload.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(payload[(*i)++]);
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) break;
    }
    return v;
  };
  std::size_t i = 0;
  while (i < payload.size()) {
    const std::uint64_t tag = varint(&i);
    const bool len = (tag & 7) == 2;
    if (static_cast<int>(tag >> 3) == field) {
      if (len) varint(&i);
      return i;
    }
    if (len) {
      const std::uint64_t n = varint(&i);
      i += n;
    } else {
      varint(&i);
    }
  }
  ADD_FAILURE() << "no field " << field;
  return 0;
}

class TamperTest : public test::StoreFixture {
 protected:
  TamperTest() { options_.audit_sink = NewFileAuditSink(anchors()).value(); }

  std::string anchors() const { return tmp_.Sub("anchors.jsonl"); }

  // The sink's checkpoints, grouped by origin, in file order.
  std::map<std::string, std::vector<AuditCheckpoint>> Anchored() {
    std::map<std::string, std::vector<AuditCheckpoint>> out;
    auto notes = ReadAuditCheckpointFiles({anchors()});
    EXPECT_THAT(notes, IsOk());
    if (!notes.ok()) return out;
    for (const std::string& note : notes->notes) {
      AuditCheckpoint cp = ParseAuditCheckpoint(note).value();
      out[cp.origin].push_back(cp);
    }
    return out;
  }

  // A store with tenant "t" (contract end scheduled in 10 days, legal hold)
  // and tenant "u", closed.
  void MakeStore() {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
    ASSERT_THAT(store->CreateTenant("u"), IsOk());
    ASSERT_THAT((*store->OpenTenant("t"))->Put("k", "v"), IsOk());
    ASSERT_THAT(store->EndContract("t", clock_->Now() + absl::Hours(240)),
                IsOk());
    ASSERT_THAT(store->SetLegalHold("t", true), IsOk());
  }

  // MakeStore, then a legal hold on "u" (anchored before it returned: the
  // sink holds u's whole log), then the store as it was before the hold put
  // back. Sets `origin` to u's log origin.
  void RollBackAHold(std::string* origin) {
    MakeStore();
    const std::string copy = tmp_.Sub("copy");
    fs::copy(options_.data_dir, copy, fs::copy_options::recursive);
    {
      auto store = OpenStore();
      ASSERT_NE(store, nullptr);
      ASSERT_THAT(store->SetLegalHold("u", true), IsOk());
      auto info = store->GetAuditLogInfo("u");
      ASSERT_THAT(info, IsOk());
      *origin = info->origin;
      ASSERT_EQ(Anchored()[info->origin].back().size, info->size);
    }
    PutBack(copy, options_.data_dir);
  }

  // Replaces `dir` with a copy of `from`.
  static void PutBack(const std::string& from, const std::string& dir) {
    fs::remove_all(dir);
    fs::copy(from, dir, fs::copy_options::recursive);
  }
};

// What an attacker with write access to the disk does to the file layer's
// stream cipher: flips chosen bits of a record whose plaintext it knows and
// fixes RocksDB's (unkeyed) checksums. Writing the changed record through the
// file layer gives exactly the files that attack leaves, checksums included.
TEST_F(TamperTest, FlippedRegistryBitsAreDataLossNeverAChangedSchedule) {
  MakeStore();
  const std::string key = internal::RegistryTenantKey("t");
  std::string sealed;
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    ASSERT_TRUE(raw.db()
                    ->Get(rocksdb::ReadOptions(), raw.registry(), key, &sealed)
                    .ok());
  }
  auto record = [&] {
    test::RawDataDb raw(options_.data_dir, *provider_);
    return raw.ReadRegistry<proto::TenantRecord>(key);
  }();
  ASSERT_TRUE(record.legal_hold());
  ASSERT_TRUE(record.has_contract_end());
  // The payload starts after the 2-byte header. Each flip changes chosen bits
  // of one field where the attacker knows them to be: the legal hold's value
  // (1 -> 0), the state (ACTIVE -> ENDED), the low bits of the contract end's
  // and the purge's seconds.
  const std::string payload = record.SerializeAsString();
  struct Flip {
    const char* what;
    int field;
    std::size_t into;  // Bytes into the field's value (past a nested tag).
    char mask;
  };
  const Flip flips[] = {{"legal hold released", 7, 0, 0x01},
                        {"state ENDED", 3, 0, 0x03},
                        {"contract end moved", 5, 1, 0x02},
                        {"purge due moved", 6, 1, 0x04}};
  for (const Flip& flip : flips) {
    SCOPED_TRACE(flip.what);
    const std::size_t at = 2 + FieldOffset(payload, flip.field) + flip.into;
    std::string tampered = sealed;
    tampered[at] = static_cast<char>(tampered[at] ^ flip.mask);
    proto::TenantRecord changed;  // What the flip would make of the record.
    ASSERT_TRUE(
        changed.ParseFromString(tampered.substr(2, tampered.size() - 2 - 32)));
    ASSERT_NE(changed.SerializeAsString(), payload);
    {
      test::RawDataDb raw(options_.data_dir, *provider_);
      ASSERT_TRUE(
          raw.db()
              ->Put(rocksdb::WriteOptions(), raw.registry(), key, tampered)
              .ok());
    }
    auto opened = Store::Open(options_);
    ASSERT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_TRUE(absl::StrContains(opened.status().message(),
                                  "the registry record of tenant 't'"))
        << opened.status();
  }
  // The genuine record opens, with the schedule it had.
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    ASSERT_TRUE(raw.db()
                    ->Put(rocksdb::WriteOptions(), raw.registry(), key, sealed)
                    .ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto info = store->GetTenantInfo("t");
  ASSERT_THAT(info, IsOk());
  EXPECT_TRUE(info->legal_hold);
  EXPECT_EQ(info->state, TenantState::kActive);
  EXPECT_EQ(info->contract_end, internal::FromProtoTime(record.contract_end()));
}

TEST_F(TamperTest, FlippedMetadataAuditStateAndKeyStoreFieldsAreDataLoss) {
  MakeStore();
  auto flip_raw = [&](bool registry, const std::string& key, std::size_t at) {
    test::RawDataDb raw(options_.data_dir, *provider_);
    auto* cf = registry ? raw.registry() : raw.audit();
    std::string bytes;
    ASSERT_TRUE(raw.db()->Get(rocksdb::ReadOptions(), cf, key, &bytes).ok());
    bytes[at] = static_cast<char>(bytes[at] ^ 1);
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), cf, key, bytes).ok());
  };
  // next_tenant_number (field 2 of the metadata, after the header and the
  // format version): a number handed out again would give one tenant
  // another's key.
  flip_raw(true, std::string(internal::kRegistryMetaKey), 5);
  auto opened = Store::Open(options_);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(opened.status().message(),
                                "the tenant registry's metadata record"))
      << opened.status();
  flip_raw(true, std::string(internal::kRegistryMetaKey), 5);
  ASSERT_NE(OpenStore(), nullptr);

  // Tenant t's audit state (its anchored and checkpoint sizes).
  const std::string state = internal::AuditLogKey(1, 'm');
  flip_raw(false, state, 3);
  opened = Store::Open(options_);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(opened.status().message(),
                                "the state record of the audit log of tenant "
                                "number 1"))
      << opened.status();
  flip_raw(false, state, 3);
  ASSERT_NE(OpenStore(), nullptr);

  // The key store's metadata: plain_files (the data files would be read and
  // written unencrypted) and created.
  const std::string keys = options_.data_dir + "/keys";
  auto edit_key_meta =
      [&](const std::function<void(proto::KeyStoreMeta*)>& edit) {
        rocksdb::Options o;
        rocksdb::DB* raw = nullptr;
        ASSERT_TRUE(rocksdb::DB::Open(o, keys, &raw).ok());
        std::unique_ptr<rocksdb::DB> db(raw);
        std::string bytes;
        ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "m/meta", &bytes).ok());
        proto::KeyStoreMeta meta;
        ASSERT_TRUE(meta.ParseFromString(bytes));
        edit(&meta);
        ASSERT_TRUE(
            db->Put(rocksdb::WriteOptions(), "m/meta", meta.SerializeAsString())
                .ok());
      };
  for (const auto& edit :
       std::vector<std::function<void(proto::KeyStoreMeta*)>>{
           [](auto* m) { m->set_plain_files(true); },
           [](auto* m) {
             m->mutable_created()->set_seconds(m->created().seconds() + 1);
           },
           // A downgrade to the format before records were authenticated,
           // keeping the sealed fields: refused as altered, not as old.
           [](auto* m) { m->set_format_version(1); }}) {
    proto::KeyStoreMeta before;
    edit_key_meta([&](auto* m) {
      before = *m;
      edit(m);
    });
    opened = Store::Open(options_);
    EXPECT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_TRUE(
        absl::StrContains(opened.status().message(), "failed authentication"))
        << opened.status();
    edit_key_meta([&](auto* m) { *m = before; });
  }
  ASSERT_NE(OpenStore(), nullptr);
}

TEST_F(TamperTest, APutBackCopyIsRefusedUntilTheRollbackIsAccepted) {
  std::string old_origin;
  ASSERT_NO_FATAL_FAILURE(RollBackAHold(&old_origin));
  auto refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(
      absl::StrContains(refused.status().message(),
                        "tenant 'u': 1 entries, anchored 2 (1 missing)"))
      << refused.status();
  // Nothing was changed: refused again, the same way.
  EXPECT_EQ(Store::Open(options_).status(), refused.status());

  Options accepting = options_;
  accepting.accept_rollback = true;
  auto store = OpenStore(accepting);
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->GetTenantInfo("u")->legal_hold);  // As put back.
  auto system = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
  ASSERT_THAT(system, IsOk());
  const AuditEntry& accepted = system->back();
  EXPECT_EQ(accepted.event, AuditEvent::kRollbackAccepted);
  EXPECT_TRUE(absl::StrContains(accepted.details.at("rolled_back"),
                                "tenant 'u': 1 entries, anchored 2"));
  // A new series: new origins, and later opens need no switch.
  auto info = store->GetAuditLogInfo("u");
  ASSERT_THAT(info, IsOk());
  EXPECT_NE(info->origin, old_origin);
  EXPECT_TRUE(
      absl::StrContains(info->origin, accepted.details.at("anchor_series")));
  ASSERT_THAT(store->SetLegalHold("u", true), IsOk());
  EXPECT_EQ(Anchored()[info->origin].back().size, 2u);
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->GetTenantInfo("u")->legal_hold);
  for (std::string_view log : {std::string_view("u"), kSystemAuditLog}) {
    AuditVerifyOptions verify;
    verify.trusted_checkpoints =
        ReadAuditCheckpointFiles({anchors()}).value().notes;
    auto v = store->VerifyAuditLog(log, verify);
    ASSERT_THAT(v, IsOk());
    EXPECT_TRUE(v->intact) << log << ": " << v->problem;
  }
}

// A line appended to the sink (which append-only storage still allows) that
// claims a newer checkpoint without the store's signature cannot stand in
// front of the genuine newest one and hide a rollback: the open is refused,
// naming that line.
TEST_F(TamperTest, AnUnsignedLineAtTheSinkCannotHideARollback) {
  std::string origin;
  ASSERT_NO_FATAL_FAILURE(RollBackAHold(&origin));
  const AuditCheckpoint genuine = Anchored()[origin].back();
  std::string note = genuine.note;
  const std::string size_line = absl::StrCat("\n", genuine.size, "\n");
  ASSERT_NE(note.find(size_line), std::string::npos);
  note.replace(note.find(size_line), size_line.size(), "\n999999\n");
  proto::AnchoredCheckpoint line;
  line.set_origin(origin);
  line.set_size(999999);
  line.set_note(note);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(line, &json).ok());
  ASSERT_THAT(internal::AppendLineDurably(anchors(), json + "\n"), IsOk());

  auto refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "(size 999999) that carries no valid "
                                "signature of this store"))
      << refused.status();
}

// The WAL cut back to before the legal hold (a crash image with its tail
// removed): the hold, anchored when it returned, is missing, and the open is
// refused the same way.
TEST_F(TamperTest, AWalCutBeforeALegalHoldIsRefused) {
  MakeStore();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string db = options_.data_dir + "/db";
  std::map<std::string, std::uintmax_t> wal_sizes;
  for (const auto& e : fs::directory_iterator(db)) {
    if (e.path().extension() == ".log") {
      wal_sizes[e.path().filename().string()] = fs::file_size(e.path());
    }
  }
  ASSERT_FALSE(wal_sizes.empty());
  ASSERT_THAT(store->SetLegalHold("u", true), IsOk());
  // The image a crash leaves now, with every WAL cut to its size before.
  const std::string image = tmp_.Sub("image");
  fs::copy(options_.data_dir, image, fs::copy_options::recursive);
  bool cut = false;
  for (const auto& e : fs::directory_iterator(image + "/db")) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".log") continue;
    const std::uintmax_t before =
        wal_sizes.count(name) != 0 ? wal_sizes[name] : 0;
    if (fs::file_size(e.path()) > before) {
      fs::resize_file(e.path(), before);
      cut = true;
    }
  }
  ASSERT_TRUE(cut);
  store.reset();
  PutBack(image, options_.data_dir);
  auto refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "tenant 'u'"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "1 missing"))
      << refused.status();
}

TEST_F(TamperTest, ARestoredStoreAnchorsUnderANewOriginWithoutContradiction) {
  MakeStore();
  BackupId id = 0;
  std::string old_origin;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    auto backup = store->CreateBackup();
    ASSERT_THAT(backup, IsOk());
    id = backup->id;
    // Later history, anchored: the restore rolls it back.
    ASSERT_THAT(store->SetLegalHold("u", true), IsOk());
    ASSERT_THAT(store->SetLegalHold("u", false), IsOk());
    ASSERT_THAT((*store->OpenTenant("u"))->Put("k", "later"), IsOk());
    old_origin = store->GetAuditLogInfo(kSystemAuditLog)->origin;
  }
  fs::rename(options_.data_dir, tmp_.Sub("lost"));  // Restores go to a new dir.
  ASSERT_THAT(Store::RestoreStore(options_, id), IsOk());
  auto store = OpenStore();  // No switch needed.
  ASSERT_NE(store, nullptr);
  auto system = store->GetAuditLogInfo(kSystemAuditLog);
  ASSERT_THAT(system, IsOk());
  EXPECT_NE(system->origin, old_origin);
  auto entries = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
  ASSERT_THAT(entries, IsOk());
  bool restored = false;
  for (const AuditEntry& e : *entries) {
    if (e.event != AuditEvent::kStoreRestored) continue;
    restored = true;
    EXPECT_TRUE(
        absl::StrContains(system->origin, e.details.at("anchor_series")));
  }
  EXPECT_TRUE(restored);
  // New history under the new origins, anchored.
  ASSERT_THAT(store->SetLegalHold("u", true), IsOk());
  ASSERT_THAT(store->SetLegalHold("u", false), IsOk());
  ASSERT_THAT(store->RunMaintenance(), IsOk());
  const std::string u_origin = store->GetAuditLogInfo("u")->origin;
  store.reset();
  // In the sink: both series; within each origin sizes only grow and a size
  // never has two roots.
  auto anchored = Anchored();
  ASSERT_GE(anchored[old_origin].size(), 1u);
  ASSERT_GE(anchored[u_origin].size(), 1u);
  for (const auto& [origin, cps] : anchored) {
    std::map<std::uint64_t, std::string> roots;
    std::uint64_t last = 0;
    for (const AuditCheckpoint& cp : cps) {
      EXPECT_GE(cp.size, last) << origin;
      last = cp.size;
      auto [it, inserted] = roots.emplace(cp.size, cp.root);
      EXPECT_EQ(it->second, cp.root)
          << origin << " has two roots for size " << cp.size;
    }
  }
  // And the store keeps opening, checked against the new series.
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  store.reset();
  // The store from before the restore, put back: it matches the old series
  // exactly, but the sink holds a later series it never had.
  fs::rename(options_.data_dir, tmp_.Sub("restored"));
  fs::rename(tmp_.Sub("lost"), options_.data_dir);
  auto refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "which this copy has never had"))
      << refused.status();
  Options accepting = options_;
  accepting.accept_rollback = true;
  ASSERT_NE(OpenStore(accepting), nullptr);
  EXPECT_NE(OpenStore(), nullptr);  // Accepted once, known since.
}

// What a bit flip in the WAL can do (the column-family byte of the record's
// Put, or its type, with the CRC fixed up): the write of a tenant's record is
// lost while its audit entry, in the same batch, stays. The record left is a
// genuine older one (its tag verifies), but older than its log says.
TEST_F(TamperTest, ARegistryWriteRemovedWhileItsEntryStaysIsRefused) {
  for (const bool sink : {true, false}) {
    SCOPED_TRACE(sink ? "with a sink" : "without a sink");
    if (!sink) options_.audit_sink = nullptr;
    options_.data_dir = tmp_.Sub(sink ? "with" : "without");
    MakeStore();
    const std::string key = internal::RegistryTenantKey("u");
    auto raw_record = [&](const std::string* put) {
      test::RawDataDb raw(options_.data_dir, *provider_);
      std::string bytes;
      if (put != nullptr) {
        EXPECT_TRUE(
            raw.db()
                ->Put(rocksdb::WriteOptions(), raw.registry(), key, *put)
                .ok());
      } else {
        EXPECT_TRUE(
            raw.db()
                ->Get(rocksdb::ReadOptions(), raw.registry(), key, &bytes)
                .ok());
      }
      return bytes;
    };
    const std::string before_hold = raw_record(nullptr);
    {
      auto store = OpenStore();
      ASSERT_NE(store, nullptr);
      ASSERT_THAT(store->SetLegalHold("u", true), IsOk());
    }
    raw_record(&before_hold);
    auto refused = Store::Open(options_);
    ASSERT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                  "the registry record of tenant 'u' is "
                                  "revision"))
        << refused.status();
    // Accepted, the record catches up with its log; later opens need nothing.
    Options accepting = options_;
    accepting.accept_rollback = true;
    {
      auto store = OpenStore(accepting);
      ASSERT_NE(store, nullptr);
      EXPECT_FALSE(store->GetTenantInfo("u")->legal_hold);  // As left.
    }
    EXPECT_NE(OpenStore(), nullptr);
  }
}

// EndContract, Reinstate, SetLegalHold, a purge and a shred return only once
// the sink holds a checkpoint covering their entry.
TEST_F(TamperTest, LifecycleChangesAreAnchoredBeforeTheyReturn) {
  options_.audit_checkpoint_entries = 10000;  // Nothing anchors by count.
  options_.audit_checkpoint_interval = absl::Hours(1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  auto covered = [&](const char* what) {
    auto info = store->GetAuditLogInfo("t");
    ASSERT_THAT(info, IsOk());
    auto held = Anchored()[info->origin];
    ASSERT_FALSE(held.empty()) << what;
    EXPECT_EQ(held.back().size, info->size) << what;
  };
  ASSERT_THAT(store->SetLegalHold("t", true), IsOk());
  covered("legal hold");
  ASSERT_THAT(store->SetLegalHold("t", false), IsOk());
  covered("release");
  ASSERT_THAT(store->EndContract("t", clock_->Now() + absl::Hours(1)), IsOk());
  covered("scheduled end");
  ASSERT_THAT(store->Reinstate("t"), IsOk());
  covered("reinstatement");
  ASSERT_THAT(store->EndContract("t", clock_->Now()), IsOk());
  covered("end");
  clock_->Advance(options_.purge_after);
  auto report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->purged, std::vector<std::string>{"t"});
  covered("purge");
  clock_->Advance(options_.backup_purge_after);
  report = store->RunMaintenance();
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->shredded, std::vector<std::string>{"t"});
  covered("shred");
}

// A store made before records were authenticated (key store format 1, plain
// records) opens only with the explicit switch, once; a key-store metadata
// record put back from before that open cannot make leyser accept plain
// records again.
TEST_F(TamperTest, AStoreFromBeforeAuthenticationOpensOnlyWhenAskedTo) {
  MakeStore();
  {
    // What leyser 0.2 left: plain registry and audit-state records...
    test::RawDataDb raw(options_.data_dir, *provider_);
    rocksdb::WriteBatch batch;
    for (auto* cf : {raw.registry(), raw.audit()}) {
      const bool registry = cf == raw.registry();
      std::unique_ptr<rocksdb::Iterator> it(
          raw.db()->NewIterator(rocksdb::ReadOptions(), cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const std::string key = it->key().ToString();
        if (!registry &&
            !(key.size() == 10 && key[0] == '\x80' && key[9] == 'm')) {
          continue;
        }
        const std::string stored = it->value().ToString();
        auto payload =
            raw.mac()->Open(registry ? "registry" : "audit", key, stored, key);
        ASSERT_THAT(payload, IsOk()) << absl::CEscape(key);
        ASSERT_TRUE(batch.Put(cf, key, std::string(*payload)).ok());
      }
    }
    // (0.2 kept no record that a sink accepted a checkpoint.)
    ASSERT_TRUE(batch
                    .Delete(raw.audit(),
                            "\x81"
                            "a")
                    .ok());
    ASSERT_TRUE(raw.db()->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  // ... and a format-1 key store without a record key.
  const std::string keys = options_.data_dir + "/keys";
  auto with_key_store = [&](const std::function<void(rocksdb::DB*)>& f) {
    rocksdb::Options o;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, keys, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    f(db.get());
  };
  std::string legacy_meta;
  with_key_store([&](rocksdb::DB* db) {
    std::string bytes;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "m/meta", &bytes).ok());
    proto::KeyStoreMeta meta;
    ASSERT_TRUE(meta.ParseFromString(bytes));
    meta.set_format_version(1);
    meta.clear_fields_check();
    legacy_meta = meta.SerializeAsString();
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "m/meta", legacy_meta).ok());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), "r/records").ok());
  });
  const auto files = test::SnapshotFiles(options_.data_dir);
  auto refused = Store::Open(options_);
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "authenticate_legacy_records"))
      << refused.status();
  EXPECT_EQ(test::SnapshotFiles(options_.data_dir), files);  // Untouched.

  Options upgrade = options_;
  upgrade.authenticate_legacy_records = true;
  {
    // An upgrade interrupted after its first step (the key store marked,
    // records not yet tagged): the next open finishes it, switch or not.
    auto keys_store = internal::KeyStore::Open(
        keys, provider_->GetMasterKey().value(), false, clock_->Now());
    ASSERT_THAT(keys_store, IsOk());
    ASSERT_THAT((*keys_store)->BeginRecordAuthentication(), IsOk());
  }
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    auto system = store->ReadAuditLog(kSystemAuditLog, 0, 1000);
    ASSERT_THAT(system, IsOk());
    EXPECT_EQ(system->back().event, AuditEvent::kRecordsAuthenticated);
    EXPECT_TRUE(store->GetTenantInfo("t")->legal_hold);
  }
  {
    auto store = OpenStore();  // From now on, no switch.
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->GetTenantInfo("t")->legal_hold);
  }
  // Every record is tagged now: a plain one is refused.
  {
    test::RawDataDb raw(options_.data_dir, *provider_);
    auto record =
        raw.ReadRegistry<proto::TenantRecord>(internal::RegistryTenantKey("t"));
    record.set_legal_hold(false);
    ASSERT_TRUE(raw.db()
                    ->Put(rocksdb::WriteOptions(), raw.registry(),
                          internal::RegistryTenantKey("t"),
                          record.SerializeAsString())
                    .ok());
  }
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
  // Nor does the old metadata record, put back, let plain records in: a
  // format-1 key store with a record key is a downgrade, switch or not.
  with_key_store([&](rocksdb::DB* db) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "m/meta", legacy_meta).ok());
  });
  EXPECT_THAT(Store::Open(options_), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Store::Open(upgrade), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace leyser
