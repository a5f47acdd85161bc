// Signing keys of the store's own (lib/store/signing.cc): random, not derived
// from the master key; rotated with a cross-signed checkpoint whose time ends
// the old key's window; and the attack the windows exist for: a retired key
// that leaked signs a checkpoint or a certificate dated after its retirement,
// and a verifier given the windows refuses it (one given the bare key, the
// control, accepts it).

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

#include "leyser/leyser.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/keys/key_store.h"
#include "lib/lifecycle/certificate.h"
#include "lib/proto/audit.pb.h"
#include "lib/proto/registry.pb.h"
#include "tests/test/raw_db.h"
#include "tests/test/store_fixture.h"

namespace leyser {
namespace {

using test::IsOk;
using test::StatusIs;

class SigningTest : public test::StoreFixture {
 protected:
  std::string LegacyPublicKey(const KeyProvider& provider) {
    auto seed = internal::LegacySigningSeed(provider);
    EXPECT_THAT(seed, IsOk());
    return internal::CheckpointSigner::Create(*std::move(seed))
        .value()
        ->public_key();
  }

  std::vector<AuditEntry> Events(Store& store, AuditEvent event) {
    std::vector<AuditEntry> out;
    auto log = store.ReadAuditLog(kSystemAuditLog, 0, 100000);
    EXPECT_THAT(log, IsOk());
    for (const AuditEntry& e : *log) {
      if (e.event == event) out.push_back(e);
    }
    return out;
  }
};

// A new store signs with a random key of its own, valid from its creation;
// a master-key rotation retires it too (its seed was wrapped under the
// retired master key) and the new one is not derived from the new master key.
TEST_F(SigningTest, ANewStoreSignsWithAKeyOfItsOwn) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string first = store->GetSigningPublicKey().value();
  EXPECT_NE(first, LegacyPublicKey(*provider_));
  auto keys = store->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].public_key, first);
  EXPECT_LE((*keys)[0].valid_from, clock_->Now());
  EXPECT_EQ((*keys)[0].valid_until, absl::InfiniteFuture());

  auto next = test::NewTestKeyProvider(tmp_, "next.key");
  clock_->Advance(absl::Minutes(5));
  ASSERT_THAT(store->RotateMasterKey(next), IsOk());
  const std::string second = store->GetSigningPublicKey().value();
  EXPECT_NE(second, first);
  EXPECT_NE(second, LegacyPublicKey(*next));
  keys = store->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].valid_until, (*keys)[1].valid_from);
  EXPECT_EQ((*keys)[1].public_key, second);
  ASSERT_EQ(Events(*store, AuditEvent::kSigningKeyRotated).size(), 1u);
  EXPECT_EQ(
      Events(*store, AuditEvent::kSigningKeyRotated)[0].details.at("reason"),
      "master_key");
  auto v = store->VerifyAuditLog(kSystemAuditLog, {});
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
}

// RotateSigningKey: the windows meet at the rotation checkpoint, which both
// keys sign; the log verifies with the windows; the store reopens signing
// with the new key.
TEST_F(SigningTest, RotationEndsTheOldWindowAtACrossSignedCheckpoint) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->CreateTenant("t"), IsOk());
  const std::string old_key = store->GetSigningPublicKey().value();
  clock_->Advance(absl::Minutes(1));
  ASSERT_THAT(store->RotateSigningKey(), IsOk());
  const std::string new_key = store->GetSigningPublicKey().value();
  ASSERT_NE(new_key, old_key);
  auto keys = store->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  const absl::Time at = (*keys)[0].valid_until;
  EXPECT_EQ((*keys)[1].valid_from, at);
  EXPECT_NE(at, absl::InfiniteFuture());
  auto rotated = Events(*store, AuditEvent::kSigningKeyRotated);
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_EQ(rotated[0].details.at("public_key"),
            absl::BytesToHexString(new_key));
  EXPECT_EQ(rotated[0].details.at("previous"), absl::BytesToHexString(old_key));
  EXPECT_EQ(rotated[0].details.at("cross_signed"), "true");

  // The export's checkpoint, signed at the rotation, carries both keys.
  auto exported = store->ExportAuditLog(kSystemAuditLog, 0, 1 << 20);
  ASSERT_THAT(exported, IsOk());
  std::vector<std::string> lines = absl::StrSplit(*exported, '\n');
  proto::AuditExportHeader header;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[0], &header).ok());
  auto cp = ParseAuditCheckpoint(header.checkpoint());
  ASSERT_THAT(cp, IsOk());
  EXPECT_EQ(cp->time, at);
  EXPECT_TRUE(internal::CheckpointSignedByAny(
      header.checkpoint(), std::vector<std::string>{old_key}));
  EXPECT_TRUE(internal::CheckpointSignedByAny(
      header.checkpoint(), std::vector<std::string>{new_key}));
  AuditVerifyOptions with_windows;
  with_windows.signing_keys = *keys;
  auto v = VerifyAuditExport(*exported, with_windows);
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;

  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetSigningPublicKey().value(), new_key);
  EXPECT_EQ(store->ListSigningKeys()->size(), 2u);
  auto own = store->VerifyAuditLog(kSystemAuditLog, {});
  ASSERT_THAT(own, IsOk());
  EXPECT_TRUE(own->intact) << own->problem;
}

// The attack: the retired key's seed leaked (an old key-store copy opened
// with an old master key). With it the attacker signs a checkpoint and a
// deletion certificate dated after the rotation. A verifier given the bare
// key accepts both (control: the forgeries are well made); given the windows
// it refuses both, and still accepts what is dated inside the old window.
TEST_F(SigningTest, ARetiredKeyCannotVouchForAnythingNewer) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
  }
  SecretBytes stolen = test::StoreSigningSeed(options_.data_dir, *provider_);
  const SecretBytes stolen_seed =
      test::StoreSigningSeed(options_.data_dir, *provider_);
  auto thief = internal::CheckpointSigner::Create(std::move(stolen)).value();
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(thief->public_key(), store->GetSigningPublicKey().value());
  const absl::Time before_rotation = clock_->Now();
  clock_->Advance(absl::Hours(1));
  ASSERT_THAT(store->RotateSigningKey(), IsOk());
  clock_->Advance(absl::Hours(1));
  ASSERT_THAT(store->CreateBackup(), IsOk());  // A system-log entry.
  auto keys = store->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  auto exported = store->ExportAuditLog(kSystemAuditLog, 0, 1 << 20);
  ASSERT_THAT(exported, IsOk());

  // A checkpoint of today's log, dated now, signed by the retired key alone.
  std::vector<std::string> lines = absl::StrSplit(*exported, '\n');
  proto::AuditExportHeader header;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[0], &header).ok());
  auto cp = ParseAuditCheckpoint(header.checkpoint());
  ASSERT_THAT(cp, IsOk());
  ASSERT_GT(cp->time, (*keys)[0].valid_until);
  const std::string body = internal::CheckpointBody(
      cp->origin, cp->size, *internal::HashFromBytes(cp->root), cp->time);
  auto forged_note = internal::SignCheckpoint(body, {thief});
  ASSERT_THAT(forged_note, IsOk());
  header.set_checkpoint(*forged_note);
  std::string header_json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(header, &header_json).ok());
  lines[0] = header_json;
  const std::string forged_export = absl::StrJoin(lines, "\n");

  AuditVerifyOptions bare;
  bare.public_keys = {thief->public_key()};
  auto control = VerifyAuditExport(forged_export, bare);
  ASSERT_THAT(control, IsOk());
  EXPECT_TRUE(control->intact) << control->problem;
  AuditVerifyOptions with_windows;
  with_windows.signing_keys = *keys;
  auto refused = VerifyAuditExport(forged_export, with_windows);
  ASSERT_THAT(refused, IsOk());
  EXPECT_FALSE(refused->intact);
  // The genuine export verifies with the windows.
  auto genuine = VerifyAuditExport(*exported, with_windows);
  ASSERT_THAT(genuine, IsOk());
  EXPECT_TRUE(genuine->intact) << genuine->problem;

  // A deletion certificate dated now, signed by the retired key.
  DeletionCertificate cert;
  cert.tenant_id = "t";
  cert.tenant_number = 1;
  cert.contract_end = before_rotation;
  cert.purged = cert.shredded = cert.issued = clock_->Now();
  cert.method = "forged";
  cert.audit_chain_head = header.checkpoint();
  ASSERT_THAT(internal::SignCertificate(&cert, stolen_seed), IsOk());
  EXPECT_THAT(VerifyDeletionCertificate(cert, thief->public_key()), IsOk());
  EXPECT_THAT(VerifyDeletionCertificate(cert, *keys),
              StatusIs(absl::StatusCode::kDataLoss));
  // Dated inside the old window, the same key's certificate stands.
  cert.purged = cert.shredded = cert.issued = before_rotation;
  ASSERT_THAT(internal::SignCertificate(&cert, stolen_seed), IsOk());
  EXPECT_THAT(VerifyDeletionCertificate(cert, *keys), IsOk());
  // A key that is not the store's at all.
  EXPECT_THAT(
      VerifyDeletionCertificate(cert, std::vector<SigningKeyInfo>{(*keys)[1]}),
      StatusIs(absl::StatusCode::kDataLoss));
}

// What a provider from before signing keys of their own did by default.
class DerivingProvider final : public KeyProvider {
 public:
  explicit DerivingProvider(std::shared_ptr<KeyProvider> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<SecretBytes> GetMasterKey() const override {
    return inner_->GetMasterKey();
  }
  absl::StatusOr<SecretBytes> GetSigningKey() const override {
    return internal::LegacySigningSeed(*inner_);
  }

 private:
  std::shared_ptr<KeyProvider> inner_;
};

// A store from before (signed with the key derived from its master key, no
// seed of its own, no windows) gets a random key of its own at its next open:
// the derived key vouches for it on a cross-signed checkpoint and its window
// ends there; the log verifies, and the next open changes nothing.
TEST_F(SigningTest, AStoreFromBeforeGetsAKeyOfItsOwnAtItsNextOpen) {
  const std::string legacy = LegacyPublicKey(*provider_);
  {
    Options old = options_;
    old.key_provider = std::make_shared<DerivingProvider>(provider_);
    auto store = OpenStore(old);
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(store->GetSigningPublicKey().value(), legacy);
    ASSERT_THAT(store->CreateTenant("t"), IsOk());
    ASSERT_THAT(store->CreateBackup(), IsOk());
  }
  {
    // What such a store holds: no seed of its own, no windows.
    {
      rocksdb::DB* db = nullptr;
      ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(),
                                    options_.data_dir + "/keys", &db)
                      .ok());
      std::unique_ptr<rocksdb::DB> keys(db);
      rocksdb::WriteOptions sync;
      sync.sync = true;
      ASSERT_TRUE(keys->Delete(sync, "s/sign").ok());
    }
    test::RawDataDb raw(options_.data_dir, *provider_);
    auto meta = raw.ReadRegistry<proto::RegistryMeta>("m/meta");
    meta.clear_signing_keys();
    raw.WriteRegistry("m/meta", meta);
  }
  clock_->Advance(absl::Hours(1));
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string own = store->GetSigningPublicKey().value();
  EXPECT_NE(own, legacy);
  auto keys = store->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].public_key, legacy);
  EXPECT_EQ((*keys)[1].public_key, own);
  EXPECT_EQ((*keys)[0].valid_until, (*keys)[1].valid_from);
  auto rotated = Events(*store, AuditEvent::kSigningKeyRotated);
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_EQ(rotated[0].details.at("reason"), "upgrade");
  EXPECT_EQ(rotated[0].details.at("cross_signed"), "true");
  AuditVerifyOptions with_windows;
  with_windows.signing_keys = *keys;
  auto v = store->VerifyAuditLog(kSystemAuditLog, with_windows);
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_GT(v->checkpoints_checked, 0u);
  store.reset();

  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetSigningPublicKey().value(), own);
  EXPECT_EQ(Events(*store, AuditEvent::kSigningKeyRotated).size(), 1u);
  EXPECT_EQ(store->ListSigningKeys()->size(), 2u);
}

// A provider that supplies the signing key (an HSM) keeps it out of the key
// store: RotateSigningKey refuses, and a different key from the provider at
// the next open is recorded as a rotation (not cross-signed).
TEST_F(SigningTest, AProviderSuppliedKeyIsRotatedByTheProvider) {
  Options hsm = options_;
  hsm.key_provider = std::make_shared<DerivingProvider>(provider_);
  {
    auto store = OpenStore(hsm);
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(store->RotateSigningKey(),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_EQ(store->ListSigningKeys()->size(), 1u);
  }
  auto store = OpenStore();  // The provider no longer supplies it.
  ASSERT_NE(store, nullptr);
  auto rotated = Events(*store, AuditEvent::kSigningKeyRotated);
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_EQ(rotated[0].details.at("cross_signed"), "false");
  auto keys = store->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[1].public_key, store->GetSigningPublicKey().value());
  auto v = store->VerifyAuditLog(kSystemAuditLog, {});
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->intact) << v->problem;
}

}  // namespace
}  // namespace leyser
