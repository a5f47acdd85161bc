// leyser's checkpoint notes and exports held against an independent verifier
// written from the specifications (tests/test/c2sp_verifier.h): a signed-note
// verifier keyed by origin opens every checkpoint, an RFC 9162 verifier
// checks each exported entry's inclusion proof and the consistency proofs
// from the sink's checkpoints. And the same verifier refuses what an
// attacker changes.

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

#include "leyser/leyser.h"

#include "lib/proto/audit.pb.h"
#include "tests/test/c2sp_verifier.h"
#include "tests/test/store_fixture.h"

namespace leyser {
namespace {

using test::IsOk;
namespace c2sp = test::c2sp;

class InteropTest : public test::StoreFixture {
 protected:
  InteropTest() {
    options_.audit_sink = NewFileAuditSink(anchors()).value();
    options_.audit_checkpoint_entries = 5;
  }
  std::string anchors() const { return tmp_.Sub("anchors.jsonl"); }

  // A store with tenant "t" (writes audited) and 40 writes, every
  // checkpoint anchored.
  std::unique_ptr<Store> Busy() {
    auto store = OpenStore();
    if (store == nullptr) return nullptr;
    EXPECT_THAT(store->CreateTenant("t"), IsOk());
    EXPECT_THAT(store->SetAccessAudit("t", AccessAudit::kWrites), IsOk());
    auto t = store->OpenTenant("t");
    EXPECT_THAT(t, IsOk());
    if (!t.ok()) return nullptr;
    for (int i = 0; i < 40; ++i) {
      EXPECT_THAT((*t)->Put(absl::StrCat("k", i), "v"), IsOk());
    }
    EXPECT_THAT(store->AnchorAuditLogs(), IsOk());
    return store;
  }
};

// One exported entry as a standard verifier reads it.
struct Line {
  std::uint64_t seq = 0;
  std::string stored;
  std::vector<std::string> inclusion;
};

Line ReadLine(const std::string& json) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok())
      << json;
  Line out;
  const auto& f = s.fields();
  out.seq = static_cast<std::uint64_t>(f.at("seq").number_value());
  EXPECT_TRUE(absl::Base64Unescape(f.at("stored").string_value(), &out.stored));
  for (const auto& v : f.at("inclusion").list_value().values()) {
    std::string h;
    EXPECT_TRUE(absl::Base64Unescape(v.string_value(), &h));
    out.inclusion.push_back(h);
  }
  return out;
}

TEST_F(InteropTest, EveryCheckpointOpensWithAVerifierKeyedByItsOrigin) {
  auto store = Busy();
  ASSERT_NE(store, nullptr);
  const std::string key = store->GetSigningPublicKey().value();
  auto files = ReadAuditCheckpointFiles({anchors()});
  ASSERT_THAT(files, IsOk());
  ASSERT_GT(files->notes.size(), 5u);
  for (const std::string& note : files->notes) {
    const std::string origin = note.substr(0, note.find('\n'));
    std::optional<c2sp::Checkpoint> cp =
        c2sp::OpenCheckpoint(note, {{origin, key}});
    ASSERT_TRUE(cp.has_value()) << note;
    EXPECT_EQ(cp->origin, origin);
    // The same key under another name is another key: the note has no
    // signature the verifier knows.
    EXPECT_FALSE(c2sp::OpenCheckpoint(note, {{"leyser-audit", key}}));
    // A changed size: the signature fails.
    std::string forged = note;
    const std::size_t size_at = forged.find('\n') + 1;
    forged.insert(size_at, "1");
    EXPECT_FALSE(c2sp::OpenCheckpoint(forged, {{origin, key}}));
  }
}

TEST_F(InteropTest, ExportProofsCheckWithAStandardRfc9162Verifier) {
  auto store = Busy();
  ASSERT_NE(store, nullptr);
  const std::string key = store->GetSigningPublicKey().value();
  auto exported = store->ExportAuditLog("t", 12, 20);
  ASSERT_THAT(exported, IsOk());
  std::vector<std::string> lines =
      absl::StrSplit(*exported, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + 8u);
  proto::AuditExportHeader header;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[0], &header).ok());
  std::optional<c2sp::Checkpoint> cp =
      c2sp::OpenCheckpoint(header.checkpoint(), {{header.origin(), key}});
  ASSERT_TRUE(cp.has_value());
  ASSERT_GT(cp->size, 20u);

  // Each entry alone, by its inclusion proof.
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const Line line = ReadLine(lines[i]);
    EXPECT_EQ(line.seq, 12u + i - 1);
    EXPECT_TRUE(c2sp::VerifyInclusion(line.seq, cp->size,
                                      c2sp::LeafHash(line.stored),
                                      line.inclusion, cp->root))
        << "entry " << line.seq;
    // Another entry's bytes, or a changed proof hash, do not verify.
    EXPECT_FALSE(c2sp::VerifyInclusion(line.seq, cp->size,
                                       c2sp::LeafHash(line.stored + "x"),
                                       line.inclusion, cp->root));
    ASSERT_FALSE(line.inclusion.empty());
    std::vector<std::string> bent = line.inclusion;
    bent.back()[0] ^= 1;
    EXPECT_FALSE(c2sp::VerifyInclusion(
        line.seq, cp->size, c2sp::LeafHash(line.stored), bent, cp->root));
  }

  // Every checkpoint of this log the sink holds, smaller than the export's,
  // is consistent with it by the export's proof from its size.
  auto files = ReadAuditCheckpointFiles({anchors()});
  ASSERT_THAT(files, IsOk());
  int checked = 0;
  for (const std::string& note : files->notes) {
    std::optional<c2sp::Checkpoint> anchor =
        c2sp::OpenCheckpoint(note, {{header.origin(), key}});
    if (!anchor || anchor->origin != header.origin() ||
        anchor->size >= cp->size) {
      continue;
    }
    const proto::ConsistencyProof* proof = nullptr;
    for (const auto& p : header.consistency()) {
      if (p.size() == anchor->size) proof = &p;
    }
    ASSERT_NE(proof, nullptr) << "no proof from size " << anchor->size;
    const std::vector<std::string> path(proof->hashes().begin(),
                                        proof->hashes().end());
    EXPECT_TRUE(c2sp::VerifyConsistency(anchor->size, cp->size, anchor->root,
                                        cp->root, path))
        << "from size " << anchor->size;
    std::string other_root = anchor->root;
    other_root[0] ^= 1;  // The checkpoint of a fork.
    EXPECT_FALSE(c2sp::VerifyConsistency(anchor->size, cp->size, other_root,
                                         cp->root, path));
    ++checked;
  }
  EXPECT_GE(checked, 4);

  // leyser's own verifier refuses a bent inclusion proof too.
  std::vector<std::string> edited = lines;
  const std::size_t at = edited[3].find("\"inclusion\":[\"") + 14;
  edited[3][at] = edited[3][at] == 'A' ? 'B' : 'A';
  AuditVerifyOptions keys;
  keys.public_keys = {key};
  auto v = VerifyAuditExport(absl::StrJoin(edited, "\n"), keys);
  ASSERT_THAT(v, IsOk());
  EXPECT_FALSE(v->intact);
  EXPECT_EQ(v->first_bad_seq, 14u);
}

}  // namespace
}  // namespace leyser
