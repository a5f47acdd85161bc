// leyserctl end to end: the real binary, spawned, on a real store.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/test/spawn.h"
#include "tests/test/test_util.h"

namespace leyser {
namespace {

struct CtlResult {
  int exit_code;
  std::string out;  // Standard output and error, interleaved.
};

CtlResult Ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LEYSERCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  test::Child child(argv, /*with_stderr=*/true);
  CtlResult run;
  std::string line;
  while (child.ReadLine(&line, absl::Seconds(60))) run.out += line + "\n";
  const int status = child.Wait();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(LeyserctlTest, ManagesTenantsAndRotatesTheMasterKey) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("k"), key2 = tmp.Sub("k2");
  const std::string store = "--data_dir=" + tmp.Sub("store");
  ASSERT_EQ(Ctl({"keygen", key}).exit_code, 0);
  ASSERT_EQ(Ctl({"keygen", key2}).exit_code, 0);
  EXPECT_EQ(Ctl({"keygen", key}).exit_code, 1);  // Never overwrites.

  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenants"}).exit_code,
            1);  // No store yet.
  CtlResult created = Ctl({store, "--key_file=" + key, "--create",
                           "create-tenant", "acme", "beta"});
  ASSERT_EQ(created.exit_code, 0);
  EXPECT_NE(created.out.find("acme"), std::string::npos);
  CtlResult list = Ctl({store, "--key_file=" + key, "tenants"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("acme"), std::string::npos);
  EXPECT_NE(list.out.find("beta"), std::string::npos);
  EXPECT_NE(list.out.find("ACTIVE"), std::string::npos);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenant", "acme"}).exit_code, 0);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenant", "nobody"}).exit_code, 1);
  EXPECT_EQ(
      Ctl({store, "--key_file=" + key, "create-tenant", "bad id"}).exit_code,
      1);
  // Several ids: all or none.
  CtlResult partly = Ctl({store, "--key_file=" + key, "create-tenant", "gamma",
                          "delta", "bad/id", "epsilon"});
  EXPECT_EQ(partly.exit_code, 1);
  EXPECT_NE(partly.out.find("bad/id"), std::string::npos) << partly.out;
  CtlResult after = Ctl({store, "--key_file=" + key, "tenants"});
  EXPECT_EQ(after.out.find("gamma"), std::string::npos) << after.out;
  EXPECT_EQ(after.out.find("delta"), std::string::npos) << after.out;
  // A key file readable by others is named with its mode in octal.
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  CtlResult loose = Ctl({store, "--key_file=" + key, "tenants"});
  EXPECT_EQ(loose.exit_code, 1);
  EXPECT_NE(loose.out.find("(mode 644)"), std::string::npos) << loose.out;
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);

  ASSERT_EQ(
      Ctl({store, "--key_file=" + key, "rotate-master-key", key2}).exit_code,
      0);
  EXPECT_EQ(Ctl({store, "--key_file=" + key, "tenants"}).exit_code, 1);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, "tenants"}).exit_code, 0);

  // Backups.
  const std::string backups = "--backup_dir=" + tmp.Sub("backups");
  CtlResult taken = Ctl({store, "--key_file=" + key2, backups, "backup"});
  ASSERT_EQ(taken.exit_code, 0);
  CtlResult listed = Ctl({store, "--key_file=" + key2, backups, "backups"});
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("2 tenants"), std::string::npos) << listed.out;
  const std::string first_id(
      1, listed.out[listed.out.find_first_of("0123456789")]);
  EXPECT_EQ(
      Ctl({store, "--key_file=" + key2, backups, "verify-backup", first_id})
          .exit_code,
      0);
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, backups, "verify-backup", "999"})
                .exit_code,
            1);
  // Only a damaged generation is removed by hand; a whole one is refused.
  CtlResult whole = Ctl({store, "--key_file=" + key2, backups,
                         "remove-damaged-backup", first_id});
  EXPECT_EQ(whole.exit_code, 1);
  EXPECT_NE(whole.out.find("verifies"), std::string::npos) << whole.out;
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, backups, "restore-tenant", "acme",
                 first_id})
                .exit_code,
            0);
  CtlResult maintenance =
      Ctl({store, "--key_file=" + key2, backups, "maintenance"});
  EXPECT_EQ(maintenance.exit_code, 0);
  EXPECT_NE(maintenance.out.find("maintenance at"), std::string::npos);
  const std::string restored = "--data_dir=" + tmp.Sub("restored");
  ASSERT_EQ(
      Ctl({restored, "--key_file=" + key2, backups, "restore-store", first_id})
          .exit_code,
      0);
  CtlResult restored_list = Ctl({restored, "--key_file=" + key2, "tenants"});
  EXPECT_EQ(restored_list.exit_code, 0);
  EXPECT_NE(restored_list.out.find("beta"), std::string::npos);
  // The restored store is a store of its own: not in the original's
  // directory.
  CtlResult shared_dir =
      Ctl({restored, "--key_file=" + key2, backups, "backup"});
  EXPECT_EQ(shared_dir.exit_code, 1);
  EXPECT_NE(shared_dir.out.find("another store"), std::string::npos)
      << shared_dir.out;
  EXPECT_EQ(Ctl({restored, "--key_file=" + key2,
                 "--backup_dir=" + tmp.Sub("restored-backups"), "backup"})
                .exit_code,
            0);
  EXPECT_EQ(
      Ctl({restored, "--key_file=" + key2, backups, "restore-store", first_id})
          .exit_code,
      1);

  // New data keys: the values are re-sealed (progress on stderr, plain lines
  // off a terminal) and still read.
  CtlResult data_keys = Ctl({store, "--key_file=" + key2, "rotate-data-keys"});
  EXPECT_EQ(data_keys.exit_code, 0) << data_keys.out;
  EXPECT_NE(data_keys.out.find("re-sealing: 2 of 2 tenants (100%)"),
            std::string::npos)
      << data_keys.out;
  EXPECT_NE(data_keys.out.find("their retired keys are destroyed"),
            std::string::npos);
  // The store has backups from before: they keep the retired file key.
  EXPECT_NE(data_keys.out.find("file key: the data directory is rewritten"),
            std::string::npos)
      << data_keys.out;
  EXPECT_EQ(Ctl({store, "--key_file=" + key2, "rotate-data-keys", "nobody"})
                .exit_code,
            1);
  CtlResult after_keys = Ctl({store, "--key_file=" + key2, "tenant", "beta"});
  EXPECT_EQ(after_keys.exit_code, 0) << after_keys.out;

  // Lifecycle, with zero delays so one maintenance run purges and shreds.
  const std::vector<std::string> now_policy = {store, "--key_file=" + key2,
                                               backups, "--purge_after=0s",
                                               "--backup_purge_after=0s"};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> all = now_policy;
    all.insert(all.end(), args.begin(), args.end());
    return Ctl(all);
  };
  EXPECT_EQ(with({"end-contract", "beta", "2030-01-01T00:00:00Z"}).exit_code,
            0);
  EXPECT_NE(with({"tenant", "beta"}).out.find("end=2030-01-01T00:00:00Z"),
            std::string::npos);
  EXPECT_EQ(with({"reinstate", "beta"}).exit_code, 0);
  EXPECT_EQ(with({"end-contract", "beta", "yesterday"}).exit_code, 2);
  EXPECT_EQ(with({"end-contract", "beta"}).exit_code, 0);
  EXPECT_EQ(with({"hold", "beta"}).exit_code, 0);
  CtlResult held = with({"maintenance"});
  EXPECT_NE(held.out.find("waiting for a legal hold: beta"), std::string::npos)
      << held.out;
  EXPECT_EQ(with({"release", "beta"}).exit_code, 0);
  // Without --backup_dir the purge cannot account for the backups: it waits,
  // says why, and the run exits 1.
  CtlResult no_backups =
      Ctl({store, "--key_file=" + key2, "--purge_after=0s", "maintenance"});
  EXPECT_EQ(no_backups.exit_code, 1);
  EXPECT_NE(no_backups.out.find("purge of beta waits: backups of this store "
                                "exist"),
            std::string::npos)
      << no_backups.out;
  EXPECT_NE(with({"tenant", "beta"}).out.find("ENDED"), std::string::npos);
  CtlResult run = with({"maintenance"});
  EXPECT_NE(run.out.find("purged: beta"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("shredded (certificate issued): beta"),
            std::string::npos)
      << run.out;
  CtlResult certificate = with({"certificate", "beta"});
  ASSERT_EQ(certificate.exit_code, 0);
  EXPECT_NE(certificate.out.find("\"tenant_id\": \"beta\""), std::string::npos);
  CtlResult public_key = with({"public-key"});
  ASSERT_EQ(public_key.exit_code, 0);
  const std::string key_hex =
      public_key.out.substr(0, public_key.out.find('\n'));
  EXPECT_EQ(key_hex.size(), 64u);
  const std::string cert_file = tmp.Sub("beta.json");
  test::WriteFile(cert_file, certificate.out);
  EXPECT_EQ(Ctl({"verify-certificate", cert_file, key_hex}).exit_code, 0);
  std::string forged = certificate.out;
  forged.replace(forged.find("\"beta\""), 6, "\"bet2\"");
  test::WriteFile(cert_file, forged);
  EXPECT_EQ(Ctl({"verify-certificate", cert_file, key_hex}).exit_code, 1);
  // After another rotation the certificate names the earlier key: the new key
  // alone is refused (saying so), the keys before and after verify it.
  test::WriteFile(cert_file, certificate.out);
  const std::string key3 = tmp.Sub("key3");
  ASSERT_EQ(Ctl({"keygen", key3}).exit_code, 0);
  ASSERT_EQ(
      Ctl({store, "--key_file=" + key2, "rotate-master-key", key3}).exit_code,
      0);
  CtlResult new_key = Ctl({store, "--key_file=" + key3, "public-key"});
  ASSERT_EQ(new_key.exit_code, 0);
  const std::string key3_hex = new_key.out.substr(0, new_key.out.find('\n'));
  ASSERT_NE(key3_hex, key_hex);
  CtlResult only_new = Ctl({"verify-certificate", cert_file, key3_hex});
  EXPECT_EQ(only_new.exit_code, 1);
  EXPECT_NE(only_new.out.find("not among the given keys"), std::string::npos)
      << only_new.out;
  EXPECT_EQ(Ctl({"verify-certificate", cert_file, key3_hex + "," + key_hex})
                .exit_code,
            0);
  EXPECT_EQ(Ctl({"verify-certificate", cert_file, "zz"}).exit_code, 2);
  // The store's keys with their windows: the certificate was issued inside
  // the earlier key's, so it verifies; after a signing-key rotation the list
  // grows and still does.
  ASSERT_EQ(Ctl({store, "--key_file=" + key3, "rotate-signing-key"}).exit_code,
            0);
  CtlResult keys = Ctl({store, "--key_file=" + key3, "--json", "public-keys"});
  ASSERT_EQ(keys.exit_code, 0);
  EXPECT_EQ(std::count(keys.out.begin(), keys.out.end(), '\n'), 4) << keys.out;
  EXPECT_NE(keys.out.find("\"validUntil\""), std::string::npos);
  const std::string keys_file = tmp.Sub("keys.jsonl");
  test::WriteFile(keys_file, keys.out);
  CtlResult windowed = Ctl({"verify-certificate", cert_file, keys_file});
  EXPECT_EQ(windowed.exit_code, 0) << windowed.out;
  CtlResult table = Ctl({store, "--key_file=" + key3, "public-keys"});
  EXPECT_NE(table.out.find("current"), std::string::npos) << table.out;

  EXPECT_EQ(Ctl({}).exit_code, 2);
  EXPECT_EQ(Ctl({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(Ctl({store, "--key_file=" + key3, "tenant"}).exit_code, 2);
}

TEST(LeyserctlTest, ShowsVerifiesAndExportsTheAuditLog) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("k");
  const std::string anchors = tmp.Sub("anchors.jsonl");
  ASSERT_EQ(Ctl({"keygen", key}).exit_code, 0);
  const std::vector<std::string> base = {"--data_dir=" + tmp.Sub("store"),
                                         "--key_file=" + key,
                                         "--audit_sink=" + anchors};
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> all = base;
    all.insert(all.end(), args.begin(), args.end());
    return Ctl(all);
  };
  ASSERT_EQ(ctl({"--create", "create-tenant", "acme"}).exit_code, 0);
  ASSERT_EQ(ctl({"access-audit", "acme", "writes"}).exit_code, 0);
  EXPECT_EQ(ctl({"access-audit", "acme", "sometimes"}).exit_code, 2);
  ASSERT_EQ(ctl({"hold", "acme"}).exit_code, 0);
  CtlResult log = ctl({"audit-log", "acme"});
  ASSERT_EQ(log.exit_code, 0);
  EXPECT_NE(log.out.find("\"event\":\"TENANT_CREATED\""), std::string::npos)
      << log.out;
  EXPECT_NE(log.out.find("\"event\":\"LEGAL_HOLD_SET\""), std::string::npos);
  EXPECT_NE(log.out.find("\"actor\":\"leyserctl\""), std::string::npos);
  CtlResult verified = ctl({"audit-verify", "acme"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out;
  EXPECT_NE(verified.out.find("intact"), std::string::npos);
  EXPECT_EQ(ctl({"audit-info", "@system"}).exit_code, 0);
  EXPECT_EQ(ctl({"audit-log", "nobody"}).exit_code, 1);

  // An export, verified offline with the public key and the anchors.
  CtlResult exported = ctl({"audit-export", "acme"});
  ASSERT_EQ(exported.exit_code, 0);
  test::WriteFile(tmp.Sub("export.jsonl"), exported.out);
  CtlResult key_hex = ctl({"public-key"});
  ASSERT_EQ(key_hex.exit_code, 0);
  std::string hex = key_hex.out.substr(0, key_hex.out.find('\n'));
  hex = hex.substr(hex.find_last_of(' ') + 1);
  CtlResult offline =
      Ctl({"audit-verify-export", tmp.Sub("export.jsonl"), hex, anchors});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << hex;
  // A partial export is tied to the anchors before its range by its
  // consistency proofs; with them cut from the (unsigned) header, those
  // anchors cannot be checked: exit 3, saying how many.
  CtlResult partial = ctl({"audit-export", "acme", "2", "3"});
  ASSERT_EQ(partial.exit_code, 0) << partial.out;
  test::WriteFile(tmp.Sub("partial.jsonl"), partial.out);
  CtlResult partial_ok =
      Ctl({"audit-verify-export", tmp.Sub("partial.jsonl"), hex, anchors});
  EXPECT_EQ(partial_ok.exit_code, 0) << partial_ok.out;
  std::string stripped = partial.out;
  const std::size_t cut = stripped.find(",\"consistency\":[");
  ASSERT_NE(cut, std::string::npos) << stripped.substr(0, 400);
  stripped.replace(cut, stripped.find('\n') - cut, "}");
  test::WriteFile(tmp.Sub("stripped.jsonl"), stripped);
  CtlResult unproven =
      Ctl({"audit-verify-export", tmp.Sub("stripped.jsonl"), hex, anchors});
  EXPECT_EQ(unproven.exit_code, 3) << unproven.out;
  EXPECT_NE(unproven.out.find("were not checked against the export"),
            std::string::npos)
      << unproven.out;
  // The right export, checked with another key: refused.
  CtlResult other_key = Ctl({"audit-verify-export", tmp.Sub("export.jsonl"),
                             std::string(64, 'a'), anchors});
  EXPECT_EQ(other_key.exit_code, 1) << other_key.out;
  // Altered: one readable field changed.
  std::string altered = exported.out;
  altered.replace(altered.find("leyserctl"), 9, "someone!!");
  test::WriteFile(tmp.Sub("altered.jsonl"), altered);
  CtlResult bad = Ctl({"audit-verify-export", tmp.Sub("altered.jsonl"), hex});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("NOT INTACT"), std::string::npos) << bad.out;

  // An older copy put back is refused against the anchors, until accepted.
  std::filesystem::copy(tmp.Sub("store"), tmp.Sub("copy"),
                        std::filesystem::copy_options::recursive);
  ASSERT_EQ(ctl({"release", "acme"}).exit_code, 0);
  std::filesystem::remove_all(tmp.Sub("store"));
  std::filesystem::rename(tmp.Sub("copy"), tmp.Sub("store"));
  EXPECT_EQ(ctl({"tenants"}).exit_code, 1);  // DATA_LOSS on stderr.
  EXPECT_EQ(ctl({"--accept_rollback", "tenants"}).exit_code, 0);
  EXPECT_EQ(ctl({"tenants"}).exit_code, 0);
}

// audit-verify says what it checked against (exit 3 when nothing outside the
// store vouched for the log); damaged sink lines are warnings; rotated files
// are read by pattern; a run without the sink leaves its checkpoints for the
// next one; a failing sink makes every command that could not anchor exit 1.
TEST(LeyserctlTest, SaysWhatTheAnchorsCheckedAndWhenTheSinkFails) {
  test::TempDir tmp;
  const std::string key = tmp.Sub("k");
  const std::string anchors = tmp.Sub("anchors.jsonl");
  ASSERT_EQ(Ctl({"keygen", key}).exit_code, 0);
  const std::vector<std::string> store = {"--data_dir=" + tmp.Sub("store"),
                                          "--key_file=" + key};
  auto ctl = [&](std::vector<std::string> args, std::string sink) {
    std::vector<std::string> all = store;
    if (!sink.empty()) all.push_back("--audit_sink=" + sink);
    all.insert(all.end(), args.begin(), args.end());
    return Ctl(all);
  };
  ASSERT_EQ(ctl({"--create", "create-tenant", "acme"}, anchors).exit_code, 0);
  ASSERT_EQ(ctl({"hold", "acme"}, anchors).exit_code, 0);
  CtlResult verified = ctl({"audit-verify", "acme"}, anchors);
  EXPECT_EQ(verified.exit_code, 0) << verified.out;
  EXPECT_NE(verified.out.find("of the store's own checkpoints reproduced"),
            std::string::npos)
      << verified.out;
  EXPECT_NE(verified.out.find("external checkpoints: 2 of this log in 1 file"),
            std::string::npos)
      << verified.out;

  // Nothing external: a typo, or an empty file.
  CtlResult typo = ctl(
      {"--anchors=" + tmp.Sub("anchros.jsonl"), "audit-verify", "acme"}, "");
  EXPECT_EQ(typo.exit_code, 3) << typo.out;
  EXPECT_NE(typo.out.find("does not exist"), std::string::npos) << typo.out;
  EXPECT_NE(typo.out.find("no external checkpoint applies to acme"),
            std::string::npos)
      << typo.out;
  test::WriteFile(tmp.Sub("empty.jsonl"), "");
  EXPECT_EQ(
      ctl({"--anchors=" + tmp.Sub("empty.jsonl"), "audit-verify", "acme"}, "")
          .exit_code,
      3);

  // A rotation, more checkpoints, a torn line: all files read by pattern.
  CtlResult rotated = Ctl({"audit-sink-rotate", anchors});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out;
  ASSERT_EQ(ctl({"release", "acme"}, anchors).exit_code, 0);
  {
    std::ofstream out(anchors, std::ios::app);
    out << "{\"origin\":\"leyser/torn";
  }
  ASSERT_EQ(ctl({"hold", "acme"}, anchors).exit_code, 0);
  CtlResult all =
      ctl({"--anchors=" + anchors + "*", "audit-verify", "acme"}, anchors);
  EXPECT_EQ(all.exit_code, 0) << all.out;
  EXPECT_NE(all.out.find("in 2 file(s)"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("warning: " + anchors + " line "), std::string::npos)
      << all.out;

  // A run without the sink: its checkpoints reach the sink in the next run.
  ASSERT_EQ(ctl({"release", "acme"}, "").exit_code, 0);
  CtlResult waiting = ctl({"maintenance"}, "");
  EXPECT_NE(waiting.out.find("checkpoints waiting for the next run"),
            std::string::npos)
      << waiting.out;
  ASSERT_EQ(ctl({"tenants"}, anchors).exit_code, 0);
  CtlResult info = ctl({"audit-info", "acme"}, anchors);
  ASSERT_EQ(info.exit_code, 0);
  const std::string size = info.out.substr(info.out.find("(next seq ") + 10);
  const std::string entries = size.substr(0, size.find(')'));
  EXPECT_NE(info.out.find("anchored at the sink: size " + entries),
            std::string::npos)
      << info.out;

  // A sink that cannot be written (its directory is missing).
  const std::string broken = tmp.Sub("missing/anchors.jsonl");
  CtlResult hold = ctl({"hold", "acme"}, broken);
  EXPECT_EQ(hold.exit_code, 1) << hold.out;
  EXPECT_NE(hold.out.find("is done and recorded"), std::string::npos)
      << hold.out;
  CtlResult created = ctl({"create-tenant", "beta"}, broken);
  EXPECT_EQ(created.exit_code, 1) << created.out;
  EXPECT_NE(created.out.find("beta"), std::string::npos);  // It was created.
  EXPECT_NE(created.out.find("did not accept"), std::string::npos)
      << created.out;
  CtlResult maintenance = ctl({"maintenance"}, broken);
  EXPECT_EQ(maintenance.exit_code, 1) << maintenance.out;
  EXPECT_NE(maintenance.out.find("AUDIT SINK FAILING"), std::string::npos)
      << maintenance.out;
  // The working sink takes everything that waited.
  EXPECT_EQ(ctl({"maintenance"}, anchors).exit_code, 0);
  EXPECT_EQ(ctl({"audit-verify", "beta"}, anchors).exit_code, 0);
}

TEST(LeyserctlTest, DemoWalksThroughTheWholeLifecycle) {
  test::TempDir tmp;
  CtlResult demo = Ctl({"demo", tmp.Sub("demo")});
  ASSERT_EQ(demo.exit_code, 0) << demo.out;
  for (const char* step :
       {"SHREDDED (certificate issued)", "VerifyDeletionCertificate",
        "acme2 PURGED", "VerifyAuditLog(acme2) against",
        "checked offline with the signing keys: intact",
        "one actor changed: NOT intact", "Done."}) {
    EXPECT_NE(demo.out.find(step), std::string::npos) << step << "\n"
                                                      << demo.out;
  }
  EXPECT_EQ(demo.out.find("do not reproduce"), std::string::npos) << demo.out;
  EXPECT_EQ(Ctl({"demo", "a", "b"}).exit_code, 2);
}

}  // namespace
}  // namespace leyser
