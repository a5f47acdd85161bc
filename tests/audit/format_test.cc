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
  // Body, blank line, one signature line: em dash, key name, base64 of the
  // 4-byte key hint and the 64-byte signature.
  ASSERT_EQ(note->rfind(body + "\n\xe2\x80\x94 leyser-audit ", 0), 0u);
  const std::string line = note->substr(body.size() + 1);
  ASSERT_EQ(line.back(), '\n');
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(
      line.substr(line.rfind(' ') + 1, line.size() - line.rfind(' ') - 2),
      &decoded));
  ASSERT_EQ(decoded.size(), 4u + 64u);
  // The key hint: SHA-256("leyser-audit\n" || 0x01 || public key)[0..4).
  unsigned char digest[kSha256Bytes];
  const char alg = 0x01;
  Sha256({"leyser-audit\n", std::string_view(&alg, 1), (*signer)->public_key()},
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
  const std::string line = ExportLine(7, stored, e, "acme");
  EXPECT_EQ(line, "{\"seq\":7,\"stored\":\"" + absl::Base64Escape(stored) +
                      "\",\"entry\":" + json + "}");
  std::uint64_t seq = 0;
  std::string back;
  ASSERT_TRUE(ParseExportLine(line, &seq, &back));
  EXPECT_EQ(seq, 7u);
  EXPECT_EQ(back, stored);
  EXPECT_FALSE(ParseExportLine("{\"seq\":x,\"stored\":\"\"", &seq, &back));
  EXPECT_FALSE(ParseExportLine("{\"stored\":\"AA==\"}", &seq, &back));
}

}  // namespace
}  // namespace leyser::internal
