// leyserctl: administer a leyser store from the command line. Uses the public API only.
//
//   leyserctl keygen KEY_FILE
//   leyserctl --data_dir=DIR --key_file=FILE [--create] create-tenant ID...
//   leyserctl --data_dir=DIR --key_file=FILE tenants
//   leyserctl --data_dir=DIR --key_file=FILE tenant ID
//   leyserctl --data_dir=DIR --key_file=FILE rotate-master-key NEW_KEY_FILE
//   leyserctl --data_dir=DIR --key_file=FILE --backup_dir=B backup | backups | verify-backup ID |
//             restore-tenant TENANT ID | maintenance
//   leyserctl --data_dir=NEW_DIR --key_file=FILE --backup_dir=B restore-store ID
//
// Exit status: 0 on success, 1 on an error (printed with its status code), 2 on bad usage.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "leyser/leyser.h"

ABSL_FLAG(std::string, data_dir, "", "Directory of the store");
ABSL_FLAG(std::string, key_file, "", "Master key file (32 raw bytes or 64 hex characters, mode 0600)");
ABSL_FLAG(bool, create, false, "Create the store if it does not exist");
ABSL_FLAG(std::string, backup_dir, "", "Directory of the backup generations");
ABSL_FLAG(int, backup_generations, 7, "Backup generations to keep");

namespace {

constexpr char kUsage[] =
    "administers a leyser store.\n"
    "  leyserctl keygen KEY_FILE                     create a new master key file (mode 0600)\n"
    "  leyserctl --data_dir=D --key_file=K [--create] create-tenant ID...\n"
    "  leyserctl --data_dir=D --key_file=K tenants    list tenants\n"
    "  leyserctl --data_dir=D --key_file=K tenant ID  show one tenant\n"
    "  leyserctl --data_dir=D --key_file=K rotate-master-key NEW_KEY_FILE\n"
    "                                               re-wrap every key under a new master key\n"
    "  with --backup_dir=B:\n"
    "    backup                   take a verified backup generation now (then prune)\n"
    "    backups                  list the generations\n"
    "    verify-backup ID         re-read every file of a generation against its checksums\n"
    "    restore-tenant TENANT ID replace one tenant's data with its data in generation ID\n"
    "    maintenance              run what is due now (the daily backup, clean-up)\n"
    "    restore-store ID         restore generation ID as a new store in --data_dir";

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
  absl::PrintF("%-32s %10d  %-8s  %s\n", t.id, t.number, std::string(leyser::TenantStateName(t.state)),
               UtcTime(t.created));
}

absl::StatusOr<std::unique_ptr<leyser::Store>> OpenStore() {
  if (absl::GetFlag(FLAGS_data_dir).empty() || absl::GetFlag(FLAGS_key_file).empty()) {
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
  options.backup_generations = absl::GetFlag(FLAGS_backup_generations);
  return leyser::Store::Open(options);
}

void PrintBackup(const leyser::BackupInfo& b) {
  if (b.manifest_readable) {
    absl::PrintF("%6d  %s  %3d tenants  %8d keys  %10d bytes  master key gen %d\n", b.id,
                 UtcTime(b.created), b.tenants.size(), b.keys, b.data_bytes,
                 b.master_key_generation);
  } else {
    absl::PrintF("%6d  %s  (sealed under master key generation %d)\n", b.id, UtcTime(b.created),
                 b.master_key_generation);
  }
}

bool ParseId(const char* text, leyser::BackupId* id) { return absl::SimpleAtoi(text, id); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    return Usage("no command given");
  }
  const std::string command = args[1];
  if (command == "keygen") {
    if (args.size() != 3) {
      return Usage("keygen takes one KEY_FILE");
    }
    if (absl::Status s = leyser::CreateKeyFile(args[2]); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("created master key file %s (mode 0600); keep a copy somewhere safe\n", args[2]);
    return 0;
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
      "create-tenant", "tenants", "tenant", "rotate-master-key", "backup",
      "backups",       "verify-backup", "restore-tenant", "maintenance"};
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
    absl::StatusOr<std::shared_ptr<leyser::KeyProvider>> next = leyser::NewFileKeyProvider(args[2]);
    if (!next.ok()) {
      return Fail(next.status());
    }
    if (absl::Status s = (*store)->RotateMasterKey(*next); !s.ok()) {
      return Fail(s);
    }
    absl::PrintF("rotated: the store now opens only with %s; the old key no longer works\n",
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
    absl::StatusOr<std::vector<leyser::BackupInfo>> list = (*store)->ListBackups();
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
    absl::PrintF("generation %d verified: every file matches its checksum\n", id);
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
    absl::StatusOr<leyser::MaintenanceReport> report = (*store)->RunMaintenance();
    if (!report.ok()) {
      return Fail(report.status());
    }
    absl::PrintF("maintenance at %s\n", UtcTime(report->now));
    if (!report->backups_enabled) {
      absl::PrintF("  backups are off (no --backup_dir)\n");
    } else if (report->backup.has_value()) {
      absl::PrintF("  backup taken and verified: ");
      PrintBackup(*report->backup);
    } else {
      absl::PrintF("  no backup due\n");
    }
    for (leyser::BackupId id : report->pruned) absl::PrintF("  pruned generation %d\n", id);
    for (const std::string& r : report->repaired) absl::PrintF("  repaired: %s\n", r);
    return 0;
  }
  if (command == "tenants") {
    absl::StatusOr<std::vector<leyser::TenantInfo>> list = (*store)->ListTenants();
    if (!list.ok()) {
      return Fail(list.status());
    }
    absl::PrintF("%-32s %10s  %-8s  %s\n", "ID", "NUMBER", "STATE", "CREATED (UTC)");
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
