// Byte-exact formats of the audit log: the checkpoint note (C2SP
// tlog-checkpoint with signed-note signature lines), the rendering of an entry
// as JSON (escaping included) and the export line. What an outside verifier
// reads must not drift.

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

#include "lib/audit/audit_log.h"
#include "lib/audit/checkpoint.h"
#include "lib/audit/export.h"
#include "lib/crypto/sodium.h"
#include "tests/test/test_util.h"

namespace leyser::internal {
namespace {

using test::IsOk;

merkle::Hash Root() {
  merkle::Hash h;
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(i);
  return h;
}

TEST(AuditFormatTest, CheckpointNoteIsTheC2spLayout) {
  const absl::Time t = absl::FromUnixMicros(1767225600123456);  // 2026-01-01
  const std::string body = CheckpointBody("leyser/abcd/system", 42, Root(), t);
  EXPECT_EQ(body,
            "leyser/abcd/system\n42\n"
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
            "time 2026-01-01T00:00:00.123456Z\n");
  SecretBytes seed = SecretBytes::Allocate(32).value();
  for (std::size_t i = 0; i < 32; ++i) seed.data()[i] = 7;
  auto signer = CheckpointSigner::Create(std::move(seed));
  ASSERT_THAT(signer, IsOk());
  auto note = SignCheckpoint(body, {*signer});
  ASSERT_THAT(note, IsOk());
  // Body, blank line, one signature line: em dash, key name (the origin),
  // base64 of the 4-byte key ID and the 64-byte signature.
  ASSERT_EQ(note->rfind(body + "\n\xe2\x80\x94 leyser/abcd/system ", 0), 0u);
  const std::string line = note->substr(body.size() + 1);
  ASSERT_EQ(line.back(), '\n');
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(
      line.substr(line.rfind(' ') + 1, line.size() - line.rfind(' ') - 2),
      &decoded));
  ASSERT_EQ(decoded.size(), 4u + 64u);
  // The key ID: SHA-256(origin || "\n" || 0x01 || public key)[0..4).
  unsigned char digest[kSha256Bytes];
  const char alg = 0x01;
  Sha256({"leyser/abcd/system\n", std::string_view(&alg, 1),
          (*signer)->public_key()},
         digest);
  EXPECT_EQ(decoded.substr(0, 4),
            std::string(reinterpret_cast<const char*>(digest), 4));
  EXPECT_TRUE(CheckpointSignedByAny(*note, {(*signer)->public_key()}));
  // Parsed back to what was written.
  auto cp = ParseAuditCheckpoint(*note);
  ASSERT_THAT(cp, IsOk());
  EXPECT_EQ(cp->origin, "leyser/abcd/system");
  EXPECT_EQ(cp->size, 42u);
  EXPECT_EQ(cp->time, t);
  // One byte of the body changed: no key verifies it.
  std::string forged = *note;
  forged[forged.find("\n42\n") + 2] = '3';  // Size 43.
  EXPECT_FALSE(CheckpointSignedByAny(forged, {(*signer)->public_key()}));
}

// C2SP signed-note rules for the lines of other keys, failing lines of a
// known key, and notes written under the earlier key name.
TEST(AuditFormatTest, SignatureLinesFollowSignedNote) {
  const absl::Time t = absl::FromUnixMicros(1767225600123456);
  const std::string body = CheckpointBody("leyser/abcd/system", 42, Root(), t);
  SecretBytes seed = SecretBytes::Allocate(32).value();
  for (std::size_t i = 0; i < 32; ++i) seed.data()[i] = 7;
  auto signer = CheckpointSigner::Create(std::move(seed)).value();
  SecretBytes other_seed = SecretBytes::Allocate(32).value();
  for (std::size_t i = 0; i < 32; ++i) other_seed.data()[i] = 9;
  auto other = CheckpointSigner::Create(std::move(other_seed)).value();
  const std::string note = SignCheckpoint(body, {signer}).value();
  const std::vector<std::string> key = {signer->public_key()};
  ASSERT_TRUE(CheckpointSignedByAny(note, key));

  // A line of an unknown key (a witness's cosignature) is ignored.
  const std::string both = SignCheckpoint(body, {signer, other}).value();
  EXPECT_TRUE(CheckpointSignedByAny(both, key));
  EXPECT_FALSE(CheckpointSignedByAny(both, {std::string(32, 'x')}));

  // A second line of the known key (same name and ID) that does not verify:
  // the whole note is rejected, although the first line verifies.
  const std::string line = note.substr(body.size() + 1);
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(
      line.substr(line.rfind(' ') + 1, line.size() - line.rfind(' ') - 2),
      &raw));
  raw[10] ^= 1;
  const std::string bad_line =
      line.substr(0, line.rfind(' ') + 1) + absl::Base64Escape(raw) + "\n";
  EXPECT_FALSE(CheckpointSignedByAny(note + bad_line, key));
  EXPECT_FALSE(CheckpointSignedByAny(body + "\n" + bad_line + line, key));
  // The same ID under another name is another key: ignored.
  const std::string renamed =
      "\xe2\x80\x94 someone.else/log " + absl::Base64Escape(raw) + "\n";
  EXPECT_TRUE(CheckpointSignedByAny(note + renamed, key));

  // A note signed under the earlier key name "leyser-audit" still verifies.
  unsigned char digest[kSha256Bytes];
  const char alg = 0x01;
  Sha256({"leyser-audit\n", std::string_view(&alg, 1), signer->public_key()},
         digest);
  std::string legacy_raw(reinterpret_cast<const char*>(digest), 4);
  SecretBytes again = SecretBytes::Allocate(32).value();
  for (std::size_t i = 0; i < 32; ++i) again.data()[i] = 7;
  legacy_raw += SignDetached(again, body).value();
  const std::string legacy = body + "\n\xe2\x80\x94 leyser-audit " +
                             absl::Base64Escape(legacy_raw) + "\n";
  EXPECT_TRUE(CheckpointSignedByAny(legacy, key));
  // The legacy name with the ID computed from the origin: another key.
  EXPECT_FALSE(CheckpointSignedByAny(
      body + "\n\xe2\x80\x94 leyser-audit " + absl::Base64Escape(raw) + "\n",
      key));
}

TEST(AuditFormatTest, EntryJsonAndExportLineAreByteExact) {
  proto::AuditEntry e;
  e.set_log(3);
  e.set_seq(7);
  e.set_time_micros(1767225600000001);
  e.set_actor("teach\"er\\\x01");
  e.set_event(proto::AUDIT_EVENT_DATA_PUT);
  e.set_target("acme");
  e.set_outcome(proto::AUDIT_OUTCOME_OK);
  e.add_key_hashes(std::string("\x00\xff", 2));
  e.set_count(1);
  (*e.mutable_details())["z"] = "last";
  (*e.mutable_details())["a"] = "tab\there\x7f";
  e.set_library_version("leyser/0.2.0");
  const std::string json = RenderAuditEntryJson(e, "acme");
  EXPECT_EQ(json,
            "{\"log\":\"acme\",\"seq\":7,"
            "\"time\":\"2026-01-01T00:00:00.000001Z\","
            "\"actor\":\"teach\\\"er\\\\\\u0001\",\"event\":\"DATA_PUT\","
            "\"target\":\"acme\",\"outcome\":\"OK\",\"status_code\":0,"
            "\"message\":\"\",\"key_hashes\":[\"00ff\"],\"count\":1,"
            "\"details\":{\"a\":\"tab\\u0009here\\u007f\",\"z\":\"last\"},"
            "\"library_version\":\"leyser/0.2.0\"}");
  const std::string stored = e.SerializeAsString();
  const std::string line = ExportLine(7, stored, {}, e, "acme");
  EXPECT_EQ(line, "{\"seq\":7,\"stored\":\"" + absl::Base64Escape(stored) +
                      "\",\"entry\":" + json + "}");
  std::uint64_t seq = 0;
  std::string back;
  std::vector<std::string> inclusion;
  ASSERT_TRUE(ParseExportLine(line, &seq, &back, &inclusion));
  EXPECT_EQ(seq, 7u);
  EXPECT_EQ(back, stored);
  EXPECT_TRUE(inclusion.empty());
  // Format 2: the inclusion proof between the stored bytes and the entry.
  const std::vector<std::string> proof = {std::string(32, 'a'),
                                          std::string(32, 'b')};
  const std::string line2 = ExportLine(7, stored, proof, e, "acme");
  EXPECT_EQ(line2, "{\"seq\":7,\"stored\":\"" + absl::Base64Escape(stored) +
                       "\",\"inclusion\":[\"" + absl::Base64Escape(proof[0]) +
                       "\",\"" + absl::Base64Escape(proof[1]) +
                       "\"],\"entry\":" + json + "}");
  ASSERT_TRUE(ParseExportLine(line2, &seq, &back, &inclusion));
  EXPECT_EQ(inclusion, proof);
  EXPECT_FALSE(
      ParseExportLine("{\"seq\":x,\"stored\":\"\"", &seq, &back, &inclusion));
  EXPECT_FALSE(
      ParseExportLine("{\"stored\":\"AA==\"}", &seq, &back, &inclusion));
  EXPECT_FALSE(ParseExportLine(
      "{\"seq\":1,\"stored\":\"AA==\",\"inclusion\":[\"AA==\"],", &seq, &back,
      &inclusion));
}

}  // namespace
}  // namespace leyser::internal
