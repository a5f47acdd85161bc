// leyserctl: administer a leyser store from the command line. Uses the public
// API only.
//
//   leyserctl demo [DIR]
//   leyserctl keygen KEY_FILE
//   leyserctl --data_dir=DIR --key_file=FILE [--create] create-tenant ID...
//   leyserctl --data_dir=DIR --key_file=FILE tenants
//   leyserctl --data_dir=DIR --key_file=FILE tenant ID
//   leyserctl --data_dir=DIR --key_file=FILE rotate-master-key NEW_KEY_FILE
//   leyserctl --data_dir=DIR --key_file=FILE --backup_dir=B backup | backups |
//   verify-backup ID |
//             restore-tenant TENANT ID | maintenance
//   leyserctl --data_dir=NEW_DIR --key_file=FILE --backup_dir=B restore-store
//   ID leyserctl --data_dir=DIR --key_file=FILE end-contract TENANT [UTC_TIME]
//   | reinstate TENANT |
//             hold TENANT | release TENANT | certificate TENANT | public-key
//   leyserctl verify-certificate CERT_JSON_FILE PUBLIC_KEY_HEX
//   leyserctl --data_dir=DIR --key_file=FILE [--audit_sink=ANCHORS] audit-info
//             LOG | audit-log LOG [FROM [COUNT]] | audit-verify LOG |
//             audit-export LOG [FROM [TO]] | access-audit TENANT MODE
//   leyserctl audit-verify-export EXPORT_FILE PUBLIC_KEY_HEX [ANCHORS]
//
// Exit status: 0 on success, 1 on an error (printed with its status code), 2 on
// bad usage.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tools/leyserctl/demo.h"

#include "leyser/leyser.h"

ABSL_FLAG(std::string, data_dir, "", "Directory of the store");
ABSL_FLAG(std::string, key_file, "",
          "Master key file (32 raw bytes or 64 hex characters, mode 0600)");
ABSL_FLAG(bool, create, false, "Create the store if it does not exist");
ABSL_FLAG(std::string, backup_dir, "", "Directory of the backup generations");
ABSL_FLAG(int, backup_generations, 7, "Backup generations to keep");
ABSL_FLAG(absl::Duration, purge_after, absl::Hours(24 * 30),
          "Time from a contract end to the purge (e.g. 720h, 0s)");
ABSL_FLAG(absl::Duration, backup_purge_after, absl::Hours(24 * 7),
          "Time from the purge to the shred from backups (e.g. 168h, 0s)");
ABSL_FLAG(std::string, audit_sink, "",
          "File that receives every signed audit checkpoint (JSON lines); "
          "audit-verify trusts the checkpoints in it");
ABSL_FLAG(std::string, actor, "leyserctl",
          "Actor recorded in the audit log for this command");
ABSL_FLAG(bool, allow_unlocked_secret_memory, false,
          "Open although keys cannot be locked into RAM (RLIMIT_MEMLOCK too "
          "small; recorded in the audit log)");
ABSL_FLAG(bool, accept_rollback, false,
          "Open a store whose audit logs are behind the checkpoints in "
          "--audit_sink (an older copy put back on purpose); recorded, and a "
          "new anchor series starts");
ABSL_FLAG(bool, authenticate_legacy_records, false,
          "Open a store made by leyser 0.2 or earlier once, tagging its "
          "registry and audit-state records as they are on disk (recorded)");

namespace {

constexpr char kUsage[] =
    "administers a leyser store.\n"
    "  leyserctl demo [DIR]                          walk through the whole "
    "lifecycle in DIR (default ./leyser-demo)\n"
    "  leyserctl keygen KEY_FILE                     create a new master key "
    "file (mode 0600)\n"
    "  leyserctl --data_dir=D --key_file=K [--create] create-tenant ID...\n"
    "  leyserctl --data_dir=D --key_file=K tenants    list tenants\n"
    "  leyserctl --data_dir=D --key_file=K tenant ID  show one tenant\n"
    "  leyserctl --data_dir=D --key_file=K rotate-master-key NEW_KEY_FILE\n"
    "                                               re-wrap every key under a "
    "new master key\n"
    "  with --backup_dir=B:\n"
    "    backup                   take a verified backup generation now (then "
    "prune)\n"
    "    backups                  list the generations\n"
    "    verify-backup ID         re-read every file of a generation against "
    "its checksums\n"
    "    restore-tenant TENANT ID replace one tenant's data with its data in "
    "generation ID\n"
    "    maintenance              run what is due now (the daily backup, "
    "clean-up)\n"
    "    restore-store ID         restore generation ID as a new store in "
    "--data_dir\n"
    "  lifecycle:\n"
    "    end-contract TENANT [TIME]  end the contract now or at TIME (RFC "
    "3339, UTC)\n"
    "    reinstate TENANT         undo a contract end before the purge\n"
    "    hold TENANT | release TENANT  set or release a legal hold\n"
    "    certificate TENANT       print the signed deletion certificate "
    "(JSON)\n"
    "    public-key               print the certificate signing key (hex)\n"
    "  audit log (LOG: @system or a tenant id; --audit_sink=FILE keeps the "
    "checkpoints):\n"
    "    audit-info LOG           size, retained range, checkpoints\n"
    "    audit-log LOG [FROM [COUNT]]  print entries as JSON lines\n"
    "    audit-verify LOG         verify the log (against the checkpoints in "
    "--audit_sink)\n"
    "    audit-export LOG [FROM [TO]]  print an export with its proof (JSON "
    "lines)\n"
    "    access-audit TENANT off|writes|reads  switch access auditing\n"
    "  leyserctl audit-verify-export EXPORT_FILE PUBLIC_KEY_HEX [ANCHORS]\n"
    "                             verify an export offline";

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "leyserctl: %s\n", s.ToString().c_str());
  return 1;
}

int Usage(const char* message) {
  std::fprintf(stderr, "leyserctl: %s\nusage: leyserctl %s\n", message, kUsage);
  return 2;
}

std::string UtcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

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

absl::StatusOr<std::unique_ptr<leyser::Store>> OpenStore() {
  if (absl::GetFlag(FLAGS_data_dir).empty() ||
      absl::GetFlag(FLAGS_key_file).empty()) {
    return absl::InvalidArgumentError("--data_dir and --key_file are required");
  }
  leyser::Options options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  absl::StatusOr<std::shared_ptr<leyser::KeyProvider>> provider =
      leyser::NewFileKeyProvider(absl::GetFlag(FLAGS_key_file));
  if (!provider.ok()) {
    return provider.status();
  }
  options.key_provider = *provider;
  options.create_if_missing = absl::GetFlag(FLAGS_create);
  options.backup_dir = absl::GetFlag(FLAGS_backup_dir);
  // A negative count becomes 0, which Store::Open refuses with the range.
  options.backup_generations = static_cast<std::size_t>(
      std::max(0, absl::GetFlag(FLAGS_backup_generations)));
  options.purge_after = absl::GetFlag(FLAGS_purge_after);
  options.backup_purge_after = absl::GetFlag(FLAGS_backup_purge_after);
  options.audit_actor = absl::GetFlag(FLAGS_actor);
  options.allow_unlocked_secret_memory =
      absl::GetFlag(FLAGS_allow_unlocked_secret_memory);
  options.accept_rollback = absl::GetFlag(FLAGS_accept_rollback);
  options.authenticate_legacy_records =
      absl::GetFlag(FLAGS_authenticate_legacy_records);
  if (const std::string sink = absl::GetFlag(FLAGS_audit_sink); !sink.empty()) {
    absl::StatusOr<std::shared_ptr<leyser::AuditSink>> file =
        leyser::NewFileAuditSink(sink);
    if (!file.ok()) return file.status();
    options.audit_sink = *file;
  }
  return leyser::Store::Open(options);
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
}

bool ParseId(const char* text, leyser::BackupId* id) {
  return absl::SimpleAtoi(text, id);
}

// Prints a verification result; 0 if intact, 1 if not.
int Report(const leyser::AuditVerification& v) {
  if (v.intact) {
    absl::PrintF(
        "intact: entries %d..%d (%d checked), %d checkpoints reproduced\n",
        v.first_retained, v.size, v.entries_checked, v.checkpoints_checked);
    return 0;
  }
  absl::PrintF("NOT INTACT: first bad entry %d: %s\n", v.first_bad_seq,
               v.problem);
  return 1;
}

absl::StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    return Usage("no command given");
  }
  const std::string command = args[1];
  if (command == "demo") {
    if (args.size() > 3) return Usage("demo takes at most one DIR");
    return RunDemo(args.size() == 3 ? args[2] : "./leyser-demo");
  }
  if (command == "keygen") {
    if (args.size() != 3) {
      return Usage("keygen takes one KEY_FILE");
    }
    if (absl::Status s = leyser::CreateKeyFile(args[2]); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF(
        "created master key file %s (mode 0600); keep a copy somewhere safe\n",
        args[2]);
    return 0;
  }
  if (command == "verify-certificate") {
    if (args.size() != 4) {
      return Usage(
          "verify-certificate takes a CERT_JSON_FILE and a PUBLIC_KEY_HEX");
    }
    std::ifstream in(args[2]);
    std::stringstream json;
    json << in.rdbuf();
    absl::StatusOr<leyser::DeletionCertificate> c =
        leyser::DeletionCertificateFromJson(json.str());
    if (!c.ok()) {
      return Fail(c.status());
    }
    if (absl::Status s = leyser::VerifyDeletionCertificate(
            *c, absl::HexStringToBytes(args[3]));
        !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("valid: tenant %s (number %d) shredded %s, signed by %s\n",
                 c->tenant_id, c->tenant_number, UtcTime(c->shredded), args[3]);
    return 0;
  }
  if (command == "audit-verify-export") {
    if (args.size() != 4 && args.size() != 5) {
      return Usage(
          "audit-verify-export takes an EXPORT_FILE, a PUBLIC_KEY_HEX and "
          "optionally an ANCHORS file");
    }
    absl::StatusOr<std::string> exported = ReadFile(args[2]);
    if (!exported.ok()) return Fail(exported.status());
    leyser::AuditVerifyOptions options;
    options.public_keys = {absl::HexStringToBytes(args[3])};
    if (args.size() == 5) {
      absl::StatusOr<std::vector<std::string>> anchors =
          leyser::ReadAuditCheckpointFile(args[4]);
      if (!anchors.ok()) return Fail(anchors.status());
      options.trusted_checkpoints = *anchors;
    }
    absl::StatusOr<leyser::AuditVerification> v =
        leyser::VerifyAuditExport(*exported, options);
    if (!v.ok()) return Fail(v.status());
    return Report(*v);
  }
  if (command == "restore-store") {
    leyser::BackupId id = 0;
    if (args.size() != 3 || !ParseId(args[2], &id)) {
      return Usage("restore-store takes one generation ID");
    }
    leyser::Options options;
    options.data_dir = absl::GetFlag(FLAGS_data_dir);
    options.backup_dir = absl::GetFlag(FLAGS_backup_dir);
    absl::StatusOr<std::shared_ptr<leyser::KeyProvider>> provider =
        leyser::NewFileKeyProvider(absl::GetFlag(FLAGS_key_file));
    if (!provider.ok()) {
      return Fail(provider.status());
    }
    options.key_provider = *provider;
    if (absl::Status s = leyser::Store::RestoreStore(options, id); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("restored generation %d into %s\n", id, options.data_dir);
    return 0;
  }
  static const char* const kStoreCommands[] = {
      "create-tenant", "tenants",      "tenant",        "rotate-master-key",
      "backup",        "backups",      "verify-backup", "restore-tenant",
      "maintenance",   "end-contract", "reinstate",     "hold",
      "release",       "certificate",  "public-key",    "audit-info",
      "audit-log",     "audit-verify", "audit-export",  "access-audit"};
  bool known = false;
  for (const char* c : kStoreCommands) known = known || command == c;
  if (!known) {
    return Usage("unknown command");
  }
  absl::StatusOr<std::unique_ptr<leyser::Store>> store = OpenStore();
  if (!store.ok()) {
    return Fail(store.status());
  }
  if (command == "create-tenant") {
    if (args.size() < 3) {
      return Usage("create-tenant takes one or more IDs");
    }
    for (std::size_t i = 2; i < args.size(); ++i) {
      absl::StatusOr<leyser::TenantInfo> info = (*store)->CreateTenant(args[i]);
      if (!info.ok()) {
        return Fail(info.status());
      }
      PrintTenant(*info);
    }
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
    if (absl::Status s = (*store)->RotateMasterKey(*next); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF(
        "rotated: the store now opens only with %s; the old key no longer "
        "works\n",
        args[2]);
    return 0;
  }
  if (command == "backup") {
    absl::StatusOr<leyser::BackupInfo> b = (*store)->CreateBackup();
    if (!b.ok()) {
      return Fail(b.status());
    }
    PrintBackup(*b);
    return 0;
  }
  if (command == "backups") {
    absl::StatusOr<std::vector<leyser::BackupInfo>> list =
        (*store)->ListBackups();
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
    if (absl::Status s = (*store)->VerifyBackup(id); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("generation %d verified: every file matches its checksum\n",
                 id);
    return 0;
  }
  if (command == "restore-tenant") {
    leyser::BackupId id = 0;
    if (args.size() != 4 || !ParseId(args[3], &id)) {
      return Usage("restore-tenant takes a TENANT and a generation ID");
    }
    if (absl::Status s = (*store)->RestoreTenant(args[2], id); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("tenant %s restored from generation %d\n", args[2], id);
    return 0;
  }
  if (command == "maintenance") {
    absl::StatusOr<leyser::MaintenanceReport> report =
        (*store)->RunMaintenance();
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
    // A refused backup or a waiting step needs the operator: exit 1.
    return report->backup_refused.empty() && report->waiting.empty() ? 0 : 1;
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
    if (absl::Status s = (*store)->EndContract(args[2], end); !s.ok()) {
      return Fail(s);
    }
    PrintTenant((*store)->GetTenantInfo(args[2]).value());
    return 0;
  }
  if (command == "reinstate" || command == "hold" || command == "release") {
    if (args.size() != 3) {
      return Usage("this command takes one TENANT");
    }
    absl::Status s = command == "reinstate"
                         ? (*store)->Reinstate(args[2])
                         : (*store)->SetLegalHold(args[2], command == "hold");
    if (!s.ok()) {
      return Fail(s);
    }
    PrintTenant((*store)->GetTenantInfo(args[2]).value());
    return 0;
  }
  if (command == "certificate") {
    if (args.size() != 3) {
      return Usage("certificate takes one TENANT");
    }
    absl::StatusOr<leyser::DeletionCertificate> c =
        (*store)->GetDeletionCertificate(args[2]);
    if (!c.ok()) {
      return Fail(c.status());
    }
    absl::PrintF("%s\n", leyser::DeletionCertificateToJson(*c));
    return 0;
  }
  if (command == "public-key") {
    absl::StatusOr<std::string> key = (*store)->GetSigningPublicKey();
    if (!key.ok()) {
      return Fail(key.status());
    }
    absl::PrintF("%s\n", absl::BytesToHexString(*key));
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
    if (absl::Status s = (*store)->SetAccessAudit(args[2], *mode); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("access auditing of %s: %s\n", args[2], args[3]);
    return 0;
  }
  if (command == "audit-info") {
    if (args.size() != 3) return Usage("audit-info takes one LOG");
    absl::StatusOr<leyser::AuditLogInfo> info =
        (*store)->GetAuditLogInfo(args[2]);
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
        (*store)->ReadAuditLog(args[2], from, count);
    if (!entries.ok()) return Fail(entries.status());
    for (const leyser::AuditEntry& e : *entries) {
      absl::PrintF("%s\n", leyser::AuditEntryToJson(e));
    }
    return 0;
  }
  if (command == "audit-verify") {
    if (args.size() != 3) return Usage("audit-verify takes one LOG");
    leyser::AuditVerifyOptions options;
    if (const std::string sink = absl::GetFlag(FLAGS_audit_sink);
        !sink.empty()) {
      absl::StatusOr<std::vector<std::string>> anchors =
          leyser::ReadAuditCheckpointFile(sink);
      if (!anchors.ok() && !absl::IsNotFound(anchors.status())) {
        return Fail(anchors.status());
      }
      if (anchors.ok()) options.trusted_checkpoints = *anchors;
    }
    absl::StatusOr<leyser::AuditVerification> v =
        (*store)->VerifyAuditLog(args[2], options);
    if (!v.ok()) return Fail(v.status());
    return Report(*v);
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
        (*store)->ExportAuditLog(args[2], from, to);
    if (!exported.ok()) return Fail(exported.status());
    std::fwrite(exported->data(), 1, exported->size(), stdout);
    return 0;
  }
  if (command == "tenants") {
    absl::StatusOr<std::vector<leyser::TenantInfo>> list =
        (*store)->ListTenants();
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
  absl::StatusOr<leyser::TenantInfo> info = (*store)->GetTenantInfo(args[2]);
  if (!info.ok()) {
    return Fail(info.status());
  }
  PrintTenant(*info);
  return 0;
}
