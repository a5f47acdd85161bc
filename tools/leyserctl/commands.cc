// The leyserctl commands that work on an open store.

#include "tools/leyserctl/commands.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tools/leyserctl/progress.h"

ABSL_DECLARE_FLAG(bool, json);

namespace {

void PrintTenant(const leyser::TenantInfo& t) {
  std::string extra;
  if (t.contract_end) extra += " end=" + UtcTime(*t.contract_end);
  if (t.purge_due && t.state != leyser::TenantState::kPurged &&
      t.state != leyser::TenantState::kShredded) {
    extra += " purge_due=" + UtcTime(*t.purge_due);
  }
  if (t.purged) extra += " purged=" + UtcTime(*t.purged);
  if (t.shred_due && t.state == leyser::TenantState::kPurged) {
    extra += " shred_due=" + UtcTime(*t.shred_due);
  }
  if (t.shredded) extra += " shredded=" + UtcTime(*t.shredded);
  if (t.legal_hold) extra += " LEGAL-HOLD";
  absl::PrintF("%-32s %10d  %-8s  %s%s\n", t.id, t.number,
               std::string(leyser::TenantStateName(t.state)),
               UtcTime(t.created), extra);
}

void PrintBackup(const leyser::BackupInfo& b) {
  if (b.manifest_readable) {
    absl::PrintF(
        "%6d  %s  %3d tenants  %8d keys  %10d bytes  master key gen %d\n", b.id,
        UtcTime(b.created), b.tenants.size(), b.keys, b.data_bytes,
        b.master_key_generation);
  } else {
    absl::PrintF("%6d  %s  (sealed under master key generation %d)\n", b.id,
                 UtcTime(b.created), b.master_key_generation);
  }
  if (!b.damage.empty()) {
    absl::PrintF(
        "        DAMAGED: %s\n        (put the file back, or remove it: "
        "remove-damaged-backup %d)\n",
        b.damage, b.id);
  }
}

bool ParseId(const char* text, leyser::BackupId* id) {
  return absl::SimpleAtoi(text, id);
}

// Prints where the audit checkpoints stand; false if the sink fails.
// The node file key after a rotation pass: rewritten, or kept for backups.
void PrintFileKeyState(const leyser::KeyRotationProgress& p) {
  if (p.retired_file_keys == 0) {
    std::printf("file key: every file is under the current one\n");
  } else if (p.files_pending > 0) {
    absl::PrintF(
        "file key: %d files of the data directory still under a "
        "retired one; run maintenance to finish\n",
        p.files_pending);
  } else {
    absl::PrintF(
        "file key: the data directory is rewritten; %d backup files keep "
        "the retired key until their generations are pruned\n",
        p.backup_files_pending);
  }
}

bool PrintAnchors(const leyser::AnchorStatus& anchors) {
  if (!anchors.sink) {
    if (anchors.logs_pending > 0) {
      absl::PrintF(
          "  no audit sink given: %d logs have checkpoints waiting for the "
          "next run with --audit_sink\n",
          anchors.logs_pending);
    }
    return true;
  }
  if (anchors.last_error.ok()) {
    absl::PrintF("  audit checkpoints anchored (%d logs pending)\n",
                 anchors.logs_pending);
    return true;
  }
  absl::PrintF(
      "  AUDIT SINK FAILING since %s: %s; %d logs have checkpoints pending\n",
      anchors.failing_since ? UtcTime(*anchors.failing_since) : "?",
      anchors.last_error.ToString(), anchors.logs_pending);
  return false;
}

}  // namespace

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "leyserctl: %s\n", s.ToString().c_str());
  return kExitError;
}

std::string UtcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

bool ReadAnchors(const std::vector<std::string>& patterns,
                 std::vector<std::string>* notes,
                 std::vector<std::string>* files) {
  for (const std::string& pattern : patterns) {
    absl::StatusOr<leyser::AuditCheckpointFiles> read =
        leyser::ReadAuditCheckpointFiles({pattern});
    if (absl::IsNotFound(read.status())) {
      // Reported by Report as "nothing applied", with this warning.
      std::fprintf(stderr, "leyserctl: warning: %s\n",
                   std::string(read.status().message()).c_str());
      continue;
    }
    if (!read.ok()) {
      Fail(read.status());
      return false;
    }
    for (const std::string& damaged : read->damaged_lines) {
      std::fprintf(stderr, "leyserctl: warning: %s\n", damaged.c_str());
    }
    notes->insert(notes->end(), read->notes.begin(), read->notes.end());
    files->insert(files->end(), read->files.begin(), read->files.end());
  }
  return true;
}

int Report(const leyser::AuditVerification& v, std::string_view log,
           const std::vector<std::string>& files) {
  if (!v.intact) {
    absl::PrintF("NOT INTACT: first bad entry %d: %s\n", v.first_bad_seq,
                 v.problem);
    return kExitError;
  }
  absl::PrintF(
      "intact: entries %d..%d (%d checked), %d of the store's own checkpoints "
      "reproduced\n",
      v.first_retained, v.size, v.entries_checked, v.checkpoints_checked);
  absl::PrintF(
      "external checkpoints: %d of this log in %d file(s)%s%s, %d applied\n",
      v.trusted_checkpoints_given, files.size(), files.empty() ? "" : ": ",
      absl::StrJoin(files, ", "), v.trusted_checkpoints_applied);
  if (v.trusted_checkpoints_rejected > 0) {
    std::fprintf(
        stderr,
        "leyserctl: warning: %llu checkpoint(s) of %s in the files "
        "carry no valid signature by the store's keys (damaged or "
        "forged lines, or another key): not applied\n",
        static_cast<unsigned long long>(v.trusted_checkpoints_rejected),
        std::string(log).c_str());
  }
  if (v.trusted_checkpoints_applied == 0) {
    std::fprintf(stderr,
                 "leyserctl: warning: no external checkpoint applies to %s: "
                 "nothing kept outside the store vouches for it, so a "
                 "rollback or truncation would not show (give the sink's "
                 "files with --audit_sink or --anchors)\n",
                 std::string(log).c_str());
    return kExitUnvouched;
  }
  return kExitOk;
}

int RunStoreCommand(leyser::Store& store, const std::vector<char*>& args,
                    const StoreCommandFlags& flags) {
  const std::string command = args[1];
  if (command == "create-tenant") {
    if (args.size() < 3) {
      return Usage("create-tenant takes one or more IDs");
    }
    // All or none (Store::CreateTenants).
    const std::vector<std::string_view> ids(args.begin() + 2, args.end());
    absl::StatusOr<std::vector<leyser::TenantInfo>> created =
        store.CreateTenants(ids);
    if (!created.ok()) {
      return Fail(created.status());
    }
    for (const leyser::TenantInfo& info : *created) PrintTenant(info);
    return 0;
  }
  if (command == "rotate-master-key") {
    if (args.size() != 3) {
      return Usage("rotate-master-key takes one NEW_KEY_FILE");
    }
    absl::StatusOr<std::shared_ptr<leyser::KeyProvider>> next =
        leyser::NewFileKeyProvider(args[2]);
    if (!next.ok()) {
      return Fail(next.status());
    }
    if (absl::Status s = store.RotateMasterKey(*next); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF(
        "rotated: the store now opens only with %s; the old key no longer "
        "works\n",
        args[2]);
    return 0;
  }
  if (command == "rotate-data-keys") {
    if (args.size() != 2 && args.size() != 3) {
      return Usage("rotate-data-keys takes an optional TENANT");
    }
    const absl::Status rotated = args.size() == 3
                                     ? store.RotateTenantDataKey(args[2])
                                     : store.RotateDataKeys();
    if (!rotated.ok()) return Fail(rotated);
    absl::PrintF("rotated: %s new data key; new writes use it now\n",
                 args.size() == 3 ? absl::StrCat("tenant ", args[2], " has a")
                                  : std::string("every tenant has a"));
    Progress progress("re-sealing", "tenants");
    absl::StatusOr<leyser::KeyRotationProgress> done =
        store.ResealRetiredKeys([&](const leyser::KeyRotationProgress& p) {
          progress.Update(p.tenants_done, p.tenants_done + p.tenants_pending);
        });
    progress.Finish();
    if (!done.ok()) {
      std::fprintf(stderr,
                   "leyserctl: the new keys are in use, but re-sealing "
                   "stopped; run rotate-data-keys again or maintenance to "
                   "finish\n");
      return Fail(done.status());
    }
    absl::PrintF(
        "re-sealed %d values of %d tenants; their retired keys are "
        "destroyed\n",
        done->values_resealed, done->tenants_done);
    PrintFileKeyState(*done);
    return kExitOk;
  }
  if (command == "backup") {
    absl::StatusOr<leyser::BackupInfo> b = store.CreateBackup();
    if (!b.ok()) {
      return Fail(b.status());
    }
    PrintBackup(*b);
    return 0;
  }
  if (command == "backups") {
    absl::StatusOr<std::vector<leyser::BackupInfo>> list = store.ListBackups();
    if (!list.ok()) {
      return Fail(list.status());
    }
    for (const leyser::BackupInfo& b : *list) {
      PrintBackup(b);
    }
    return 0;
  }
  if (command == "verify-backup") {
    leyser::BackupId id = 0;
    if (args.size() != 3 || !ParseId(args[2], &id)) {
      return Usage("verify-backup takes one generation ID");
    }
    if (absl::Status s = store.VerifyBackup(id); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("generation %d verified: every file matches its checksum\n",
                 id);
    return 0;
  }
  if (command == "remove-damaged-backup") {
    leyser::BackupId id = 0;
    if (args.size() != 3 || !ParseId(args[2], &id)) {
      return Usage("remove-damaged-backup takes one generation ID");
    }
    if (absl::Status s = store.RemoveDamagedBackup(id); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("damaged generation %d removed\n", id);
    return 0;
  }
  if (command == "restore-tenant") {
    leyser::BackupId id = 0;
    if (args.size() != 4 || !ParseId(args[3], &id)) {
      return Usage("restore-tenant takes a TENANT and a generation ID");
    }
    if (absl::Status s = store.RestoreTenant(args[2], id); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("tenant %s restored from generation %d\n", args[2], id);
    return 0;
  }
  if (command == "maintenance") {
    absl::StatusOr<leyser::MaintenanceReport> report = store.RunMaintenance();
    if (!report.ok()) {
      return Fail(report.status());
    }
    absl::PrintF("maintenance at %s\n", UtcTime(report->now));
    if (!report->backups_enabled) {
      absl::PrintF("  backups are off (no --backup_dir)\n");
    } else if (!report->backup_refused.empty()) {
      absl::PrintF("  NO BACKUP: %s\n", report->backup_refused);
    } else if (report->backup.has_value()) {
      absl::PrintF("  backup taken and verified: ");
      PrintBackup(*report->backup);
    } else {
      absl::PrintF("  no backup due\n");
    }
    for (leyser::BackupId id : report->pruned)
      absl::PrintF("  pruned generation %d\n", id);
    for (const std::string& r : report->repaired)
      absl::PrintF("  repaired: %s\n", r);
    for (const leyser::BackupDamage& d : report->backup_damage) {
      const std::string ids = absl::StrJoin(d.generations, ", ");
      if (d.repaired) {
        absl::PrintF("  backup file copied again, generations %s whole: %s\n",
                     ids, d.problem);
      } else {
        absl::PrintF("  DAMAGED generations %s (kept): %s\n", ids, d.problem);
      }
    }
    if (report->clock_behind)
      absl::PrintF("  the clock stepped back: lifecycle steps wait\n");
    for (const std::string& t : report->ended)
      absl::PrintF("  contract ended: %s\n", t);
    for (const std::string& t : report->purged)
      absl::PrintF("  purged: %s\n", t);
    for (const std::string& t : report->shredded)
      absl::PrintF("  shredded (certificate issued): %s\n", t);
    for (const std::string& t : report->held)
      absl::PrintF("  waiting for a legal hold: %s\n", t);
    for (const leyser::MaintenanceReport::WaitingStep& w : report->waiting)
      absl::PrintF("  %s of %s waits: %s\n", w.step, w.tenant_id, w.reason);
    if (!report->key_rotation.error.ok()) {
      absl::PrintF("  DATA-KEY ROTATION STOPPED: %s\n",
                   report->key_rotation.error.ToString());
    }
    if (report->key_rotation.tenants_done > 0 ||
        report->key_rotation.tenants_pending > 0) {
      absl::PrintF(
          "  data-key rotation: %d tenants finished (%d values re-sealed), %d "
          "pending\n",
          report->key_rotation.tenants_done,
          report->key_rotation.values_resealed,
          report->key_rotation.tenants_pending);
    }
    if (report->key_rotation.retired_file_keys > 0) {
      std::printf("  ");
      PrintFileKeyState(report->key_rotation);
    }
    const bool anchored = PrintAnchors(report->anchors);
    // A refused backup, a waiting step or a failing sink needs the operator.
    return report->backup_refused.empty() && report->waiting.empty() &&
                   anchored && report->key_rotation.error.ok()
               ? 0
               : 1;
  }
  if (command == "end-contract") {
    if (args.size() != 3 && args.size() != 4) {
      return Usage("end-contract takes a TENANT and an optional UTC time");
    }
    absl::Time end = absl::Now();
    std::string error;
    if (args.size() == 4 &&
        !absl::ParseTime(absl::RFC3339_full, args[3], &end, &error)) {
      return Usage(
          "the contract end must be an RFC 3339 time, e.g. "
          "2026-12-31T23:59:59Z");
    }
    if (absl::Status s = store.EndContract(args[2], end); !s.ok()) {
      return Fail(s);
    }
    PrintTenant(store.GetTenantInfo(args[2]).value());
    return 0;
  }
  if (command == "reinstate" || command == "hold" || command == "release") {
    if (args.size() != 3) {
      return Usage("this command takes one TENANT");
    }
    absl::Status s = command == "reinstate"
                         ? store.Reinstate(args[2])
                         : store.SetLegalHold(args[2], command == "hold");
    if (!s.ok()) {
      return Fail(s);
    }
    PrintTenant(store.GetTenantInfo(args[2]).value());
    return 0;
  }
  if (command == "certificate") {
    if (args.size() != 3) {
      return Usage("certificate takes one TENANT");
    }
    absl::StatusOr<leyser::DeletionCertificate> c =
        store.GetDeletionCertificate(args[2]);
    if (!c.ok()) {
      return Fail(c.status());
    }
    absl::PrintF("%s\n", leyser::DeletionCertificateToJson(*c));
    return 0;
  }
  if (command == "public-key") {
    absl::StatusOr<std::string> key = store.GetSigningPublicKey();
    if (!key.ok()) {
      return Fail(key.status());
    }
    absl::PrintF("%s\n", absl::BytesToHexString(*key));
    return 0;
  }
  if (command == "public-keys") {
    // Every signing key with its window; --json: one object per line, the
    // form verify-certificate and audit-verify-export read back.
    const bool json = absl::GetFlag(FLAGS_json);
    if (args.size() != 2) return Usage("public-keys takes no argument");
    absl::StatusOr<std::vector<leyser::SigningKeyInfo>> keys =
        store.ListSigningKeys();
    if (!keys.ok()) return Fail(keys.status());
    for (const leyser::SigningKeyInfo& k : *keys) {
      const std::string hex = absl::BytesToHexString(k.public_key);
      const bool from = k.valid_from != absl::InfinitePast();
      const bool until = k.valid_until != absl::InfiniteFuture();
      auto full = [](absl::Time t) {
        return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
      };
      if (json) {
        absl::PrintF(
            "{\"publicKey\":\"%s\"%s%s}\n", hex,
            from ? absl::StrCat(",\"validFrom\":\"", full(k.valid_from), "\"")
                 : "",
            until
                ? absl::StrCat(",\"validUntil\":\"", full(k.valid_until), "\"")
                : "");
      } else {
        absl::PrintF("%s  %-30s  %s\n", hex,
                     from ? UtcTime(k.valid_from) : "(from the start)",
                     until ? UtcTime(k.valid_until) : "current");
      }
    }
    return 0;
  }
  if (command == "rotate-signing-key") {
    if (absl::Status s = store.RotateSigningKey(); !s.ok()) return Fail(s);
    absl::PrintF(
        "rotated: the store signs with %s from now on; the retired key's "
        "window ends at the rotation (leyserctl public-keys)\n",
        absl::BytesToHexString(store.GetSigningPublicKey().value_or("")));
    return 0;
  }
  if (command == "access-audit") {
    static const std::pair<const char*, leyser::AccessAudit> kModes[] = {
        {"off", leyser::AccessAudit::kOff},
        {"writes", leyser::AccessAudit::kWrites},
        {"reads", leyser::AccessAudit::kReadsAndWrites}};
    const leyser::AccessAudit* mode = nullptr;
    for (const auto& [name, m] : kModes) {
      if (args.size() == 4 && std::string(args[3]) == name) mode = &m;
    }
    if (mode == nullptr) {
      return Usage("access-audit takes a TENANT and off, writes or reads");
    }
    if (absl::Status s = store.SetAccessAudit(args[2], *mode); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("access auditing of %s: %s\n", args[2], args[3]);
    return 0;
  }
  if (command == "audit-info") {
    if (args.size() != 3) return Usage("audit-info takes one LOG");
    absl::StatusOr<leyser::AuditLogInfo> info = store.GetAuditLogInfo(args[2]);
    if (!info.ok()) return Fail(info.status());
    absl::PrintF(
        "log %s (%s)\n  entries %d..%d kept (next seq %d)\n  newest "
        "checkpoint: size %d; anchored at the sink: size %d\n",
        info->log, info->origin, info->first_retained, info->size, info->size,
        info->checkpoint_size, info->anchored_size);
    return 0;
  }
  if (command == "audit-log") {
    std::uint64_t from = 0;
    std::uint64_t count = 1000000;
    if (args.size() < 3 || args.size() > 5 ||
        (args.size() >= 4 && !absl::SimpleAtoi(args[3], &from)) ||
        (args.size() == 5 && !absl::SimpleAtoi(args[4], &count))) {
      return Usage("audit-log takes a LOG and optionally FROM and COUNT");
    }
    absl::StatusOr<std::vector<leyser::AuditEntry>> entries =
        store.ReadAuditLog(args[2], from, count);
    if (!entries.ok()) return Fail(entries.status());
    for (const leyser::AuditEntry& e : *entries) {
      absl::PrintF("%s\n", leyser::AuditEntryToJson(e));
    }
    return 0;
  }
  if (command == "audit-verify") {
    if (args.size() != 3) return Usage("audit-verify takes one LOG");
    leyser::AuditVerifyOptions options;
    std::vector<std::string> files;
    if (!ReadAnchors(flags.anchors, &options.trusted_checkpoints, &files)) {
      return 1;
    }
    absl::StatusOr<leyser::AuditVerification> v =
        store.VerifyAuditLog(args[2], options);
    if (!v.ok()) return Fail(v.status());
    return Report(*v, args[2], files);
  }
  if (command == "audit-export") {
    std::uint64_t from = 0;
    std::uint64_t to = UINT64_MAX;
    if (args.size() < 3 || args.size() > 5 ||
        (args.size() >= 4 && !absl::SimpleAtoi(args[3], &from)) ||
        (args.size() == 5 && !absl::SimpleAtoi(args[4], &to))) {
      return Usage("audit-export takes a LOG and optionally FROM and TO");
    }
    absl::StatusOr<std::string> exported =
        store.ExportAuditLog(args[2], from, to);
    if (!exported.ok()) return Fail(exported.status());
    std::fwrite(exported->data(), 1, exported->size(), stdout);
    return 0;
  }
  if (command == "tenants") {
    absl::StatusOr<std::vector<leyser::TenantInfo>> list = store.ListTenants();
    if (!list.ok()) {
      return Fail(list.status());
    }
    absl::PrintF("%-32s %10s  %-8s  %s\n", "ID", "NUMBER", "STATE",
                 "CREATED (UTC)");
    for (const leyser::TenantInfo& t : *list) {
      PrintTenant(t);
    }
    return 0;
  }
  if (args.size() != 3) {
    return Usage("tenant takes one ID");
  }
  absl::StatusOr<leyser::TenantInfo> info = store.GetTenantInfo(args[2]);
  if (!info.ok()) {
    return Fail(info.status());
  }
  PrintTenant(*info);
  return 0;
}
