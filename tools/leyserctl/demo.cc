// `leyserctl demo`: a walk through leyser's whole data lifecycle on a local
// directory, printing each step. Public API only.
//
//   leyserctl demo [DIR]     (default: ./leyser-demo)
//
// Keeps DIR/master.key (created if missing) and starts a fresh store in
// DIR/store with backups in DIR/backups on every run. Time runs on a simulated
// clock that starts at the real time, so the 30-day purge and the 7-day backup
// purge happen within the run: tenants, encrypted reads and writes, isolation,
// a daily backup, a single-tenant restore, a master-key rotation, a contract
// end, the purge, the shred from backups and the signed deletion certificate,
// and the audit log of all of it, verified and exported.

#include "tools/leyserctl/demo.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"

#include "leyser/leyser.h"

namespace {

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

template <typename T>
T Check(absl::StatusOr<T> s, const char* what) {
  Check(s.status(), what);
  return std::move(s).value();
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

void PrintTenants(leyser::Store& store) {
  for (const leyser::TenantInfo& t :
       Check(store.ListTenants(), "list tenants")) {
    std::printf("    %-6s number %llu  %-8s", t.id.c_str(),
                static_cast<unsigned long long>(t.number),
                std::string(leyser::TenantStateName(t.state)).c_str());
    if (t.purge_due && t.state == leyser::TenantState::kEnded) {
      std::printf("  purge due %s", Utc(*t.purge_due).c_str());
    }
    if (t.shred_due && t.state == leyser::TenantState::kPurged) {
      std::printf("  shred due %s", Utc(*t.shred_due).c_str());
    }
    std::printf("\n");
  }
}

void Maintain(leyser::Store& store) {
  leyser::MaintenanceReport r = Check(store.RunMaintenance(), "maintenance");
  std::printf("  RunMaintenance at %s:", Utc(r.now).c_str());
  if (r.backup)
    std::printf(" backup generation %u taken and verified;", r.backup->id);
  for (auto id : r.pruned) std::printf(" generation %u pruned;", id);
  for (auto& t : r.ended) std::printf(" %s ended;", t.c_str());
  for (auto& t : r.purged) std::printf(" %s PURGED;", t.c_str());
  for (auto& t : r.shredded)
    std::printf(" %s SHREDDED (certificate issued);", t.c_str());
  std::printf("\n");
}

}  // namespace

int RunDemo(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string key_path = dir + "/master.key";
  std::filesystem::remove_all(dir + "/store");
  std::filesystem::remove_all(dir + "/backups");
  std::filesystem::remove_all(dir + "/restored");
  std::filesystem::remove(dir + "/restored-anchors.jsonl");
  std::filesystem::remove(dir + "/audit-anchors.jsonl");

  std::printf("1. Master key\n");
  if (!std::filesystem::exists(key_path)) {
    Check(leyser::CreateKeyFile(key_path), "create key file");
    std::printf("  created %s (mode 0600, 32 random bytes as hex)\n",
                key_path.c_str());
  } else {
    std::printf("  using %s\n", key_path.c_str());
  }

  auto clock = std::make_shared<leyser::ManualClock>(absl::Now());
  leyser::Options options;
  options.data_dir = dir + "/store";
  options.backup_dir = dir + "/backups";
  options.key_provider =
      Check(leyser::NewFileKeyProvider(key_path), "key provider");
  options.clock = clock;
  options.create_if_missing = true;
  // Every signed audit checkpoint also goes to a file outside the store.
  const std::string anchors = dir + "/audit-anchors.jsonl";
  options.audit_sink = Check(leyser::NewFileAuditSink(anchors), "audit sink");
  std::printf(
      "2. Open a new store in %s (backups in %s; simulated clock at %s)\n",
      options.data_dir.c_str(), options.backup_dir.c_str(),
      Utc(clock->Now()).c_str());
  auto store = Check(leyser::Store::Open(options), "open store");

  std::printf(
      "3. Tenants: each gets an 8-byte number and its own random data key\n");
  for (const char* id : {"acme", "acme2"})
    Check(store->CreateTenant(id).status(), "create tenant");
  PrintTenants(*store);
  // acme's writes are audited, with the end user as actor.
  Check(store->SetAccessAudit("acme", leyser::AccessAudit::kWrites),
        "access audit");
  auto acme = Check(store->OpenTenantAs("acme", "teacher-mori"), "open tenant");
  auto acme2 = Check(store->OpenTenant("acme2"), "open tenant");

  std::printf(
      "4. Writes: every value sealed with its tenant's key, every file "
      "encrypted\n");
  Check(acme->Put("student/1001", "Aiko Tanaka, grade 4"), "put");
  Check(acme->Put("student/1002", "Ren Sato, grade 5"), "put");
  Check(acme2->Put("student/1001", "a different school's student"), "put");
  leyser::WriteBatch batch;
  batch.Put("class/4A", "teacher: Mori");
  batch.Put("class/5B", "teacher: Ito");
  batch.Delete("student/1002");
  Check(acme->Write(batch), "batch");
  std::printf(
      "  acme: 2 puts, then an atomic batch of 2 puts and 1 delete; acme2: 1 "
      "put\n");

  std::printf("5. Reads and an ordered scan that never leaves the tenant\n");
  std::printf("  acme  student/1001 -> %s\n",
              Check(acme->Get("student/1001"), "get").c_str());
  std::printf("  acme2 student/1001 -> %s\n",
              Check(acme2->Get("student/1001"), "get").c_str());
  std::printf("  acme  student/1002 -> %s\n",
              acme->Get("student/1002").status().ToString().c_str());
  auto it = acme->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::printf("  scan acme: %s = %s\n", std::string(it->key()).c_str(),
                std::string(it->value()).c_str());
  }
  Check(it->status(), "scan");
  it.reset();

  std::printf("6. Bad input gets a clear error\n");
  std::printf("  CreateTenant(\"no spaces\") -> %s\n",
              store->CreateTenant("no spaces").status().ToString().c_str());
  std::printf("  OpenTenant(\"nobody\")      -> %s\n",
              store->OpenTenant("nobody").status().ToString().c_str());
  std::printf("  Put(\"\", ...)               -> %s\n",
              acme->Put("", "x").ToString().c_str());

  std::printf("7. Daily backup (RunMaintenance), then a one-tenant restore\n");
  Maintain(*store);
  Check(acme->Put("class/4A", "teacher: CHANGED BY MISTAKE"), "put");
  Check(acme2->Put("student/1002", "written after the backup"), "put");
  const leyser::BackupId generation =
      Check(store->ListBackups(), "list").back().id;
  Check(store->RestoreTenant("acme", generation), "restore tenant");
  std::printf(
      "  RestoreTenant(acme, %u): acme class/4A -> %s; acme2 keeps its newer "
      "write: %s\n",
      generation, Check(acme->Get("class/4A"), "get").c_str(),
      Check(acme2->Get("student/1002"), "get").c_str());
  Check(leyser::Store::RestoreStore(
            [&] {
              leyser::Options target = options;
              target.data_dir = dir + "/restored";
              // The copy's audit logs fork from the original's at the backup:
              // their checkpoints go to a series of their own.
              target.audit_sink = Check(
                  leyser::NewFileAuditSink(dir + "/restored-anchors.jsonl"),
                  "audit sink");
              return target;
            }(),
            generation),
        "restore store");
  std::printf(
      "  RestoreStore(%u) into %s/restored: a complete copy of that day\n",
      generation, dir.c_str());

  std::printf(
      "8. Master-key rotation: every key re-wrapped at once, no data "
      "rewritten\n");
  const std::string next_key = dir + "/master-next.key";
  std::filesystem::remove(next_key);
  Check(leyser::CreateKeyFile(next_key), "create key");
  auto next_provider =
      Check(leyser::NewFileKeyProvider(next_key), "key provider");
  Check(store->RotateMasterKey(next_provider), "rotate");
  std::printf("  rotated to %s; the old key now gets PERMISSION_DENIED\n",
              next_key.c_str());

  std::printf(
      "9. acme2's contract ends; access stops at once, data kept for %s\n",
      absl::FormatDuration(options.purge_after).c_str());
  Check(store->EndContract("acme2", clock->Now()), "end contract");
  std::printf("  acme2 Get -> %s\n",
              acme2->Get("student/1001").status().ToString().c_str());
  Maintain(*store);
  PrintTenants(*store);

  std::printf("10. Thirty simulated days of daily maintenance: the purge\n");
  for (int day = 1; day <= 30; ++day) {
    clock->Advance(absl::Hours(24));
    if (day == 29 || day == 30) {
      Maintain(*store);
    } else {
      Check(store->RunMaintenance().status(), "maintenance");
    }
  }
  PrintTenants(*store);

  std::printf(
      "11. Seven more days: the shred from every backup, and the "
      "certificate\n");
  for (int day = 1; day <= 7; ++day) {
    clock->Advance(absl::Hours(24));
    if (day == 7) {
      Maintain(*store);
    } else {
      Check(store->RunMaintenance().status(), "maintenance");
    }
  }
  PrintTenants(*store);
  const leyser::DeletionCertificate certificate =
      Check(store->GetDeletionCertificate("acme2"), "certificate");
  // The store's signing keys with their validity windows: a retired key
  // counts only for what is dated inside its window.
  const std::vector<leyser::SigningKeyInfo> signing_keys =
      Check(store->ListSigningKeys(), "signing keys");
  std::printf("  deletion certificate:\n%s\n",
              leyser::DeletionCertificateToJson(certificate).c_str());
  std::printf(
      "  VerifyDeletionCertificate with the store's %zu signing keys "
      "and their windows -> %s\n",
      signing_keys.size(),
      leyser::VerifyDeletionCertificate(certificate, signing_keys)
          .ToString()
          .c_str());
  leyser::DeletionCertificate forged = certificate;
  forged.keys_removed += 1;
  std::printf("  the same certificate with one count changed -> %s\n",
              leyser::VerifyDeletionCertificate(forged, signing_keys)
                  .ToString()
                  .c_str());

  std::printf("12. acme is untouched: class/4A -> %s\n",
              Check(acme->Get("class/4A"), "get").c_str());

  std::printf(
      "13. The audit log: acme2's log outlives its data (it holds no value)\n");
  for (const leyser::AuditEntry& e :
       Check(store->ReadAuditLog("acme2", 0, 100), "audit log")) {
    std::printf("  %4llu %s %-22s actor=%s\n",
                static_cast<unsigned long long>(e.seq), Utc(e.time).c_str(),
                std::string(leyser::AuditEventName(e.event)).c_str(),
                e.actor.c_str());
  }
  const auto acme_log = Check(store->ReadAuditLog("acme", 0, 100), "audit log");
  for (const leyser::AuditEntry& e : acme_log) {
    if (e.event == leyser::AuditEvent::kDataBatch) {
      std::printf("  acme's audited batch: %s\n",
                  leyser::AuditEntryToJson(e).c_str());
    }
  }
  Check(store->AnchorAuditLogs(), "anchor");  // Signs and anchors every log.
  // No public keys given: the store's own (the master-key rotation in step 9
  // changed the signing key; a checkpoint signed by both vouches for it).
  leyser::AuditVerifyOptions trusted;
  trusted.trusted_checkpoints =
      Check(leyser::ReadAuditCheckpointFiles({anchors}), "anchors").notes;
  for (const char* log : {"acme", "acme2", "@system"}) {
    const auto v = Check(store->VerifyAuditLog(log, trusted), "verify");
    std::printf(
        "  VerifyAuditLog(%s) against the sink's file: %s (%llu entries; %llu "
        "of its %llu anchored checkpoints applied)\n",
        log, v.intact ? "intact" : v.problem.c_str(),
        static_cast<unsigned long long>(v.entries_checked),
        static_cast<unsigned long long>(v.trusted_checkpoints_applied),
        static_cast<unsigned long long>(v.trusted_checkpoints_given));
  }
  const std::string exported =
      Check(store->ExportAuditLog("acme2", 0, 1000), "export");
  leyser::AuditVerifyOptions offline;
  offline.signing_keys = signing_keys;
  std::printf(
      "  export of acme2's log, checked offline with the signing keys: %s\n",
      Check(leyser::VerifyAuditExport(exported, offline), "verify").intact
          ? "intact"
          : "NOT intact");
  std::string altered = exported;
  altered.replace(altered.find("maintenance"), 11, "someone-els");
  const auto bad = Check(leyser::VerifyAuditExport(altered, offline), "verify");
  std::printf("  the same export with one actor changed: %s at entry %llu\n",
              bad.intact ? "intact?!" : "NOT intact",
              static_cast<unsigned long long>(bad.first_bad_seq));
  acme.reset();
  acme2.reset();
  Check(store->Close(), "close");  // Also: every checkpoint reached the sink.
  store.reset();
  options.key_provider =
      Check(leyser::NewFileKeyProvider(key_path), "key provider");
  std::printf("14. Reopen with the retired master key -> %s\n",
              leyser::Store::Open(options).status().ToString().c_str());
  std::filesystem::remove(next_key);
  std::printf("Done. Everything above ran on %s.\n", dir.c_str());
  return 0;
}
