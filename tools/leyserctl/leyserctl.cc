// leyserctl: administer a leyser store from the command line. Uses the public API only.
//
//   leyserctl keygen KEY_FILE
//   leyserctl --data_dir=DIR --key_file=FILE [--create] create-tenant ID...
//   leyserctl --data_dir=DIR --key_file=FILE tenants
//   leyserctl --data_dir=DIR --key_file=FILE tenant ID
//   leyserctl --data_dir=DIR --key_file=FILE rotate-master-key NEW_KEY_FILE
//
// Exit status: 0 on success, 1 on an error (printed with its status code), 2 on bad usage.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "leyser/leyser.h"

ABSL_FLAG(std::string, data_dir, "", "Directory of the store");
ABSL_FLAG(std::string, key_file, "", "Master key file (32 raw bytes or 64 hex characters, mode 0600)");
ABSL_FLAG(bool, create, false, "Create the store if it does not exist");

namespace {

constexpr char kUsage[] =
    "administers a leyser store.\n"
    "  leyserctl keygen KEY_FILE                     create a new master key file (mode 0600)\n"
    "  leyserctl --data_dir=D --key_file=K [--create] create-tenant ID...\n"
    "  leyserctl --data_dir=D --key_file=K tenants    list tenants\n"
    "  leyserctl --data_dir=D --key_file=K tenant ID  show one tenant\n"
    "  leyserctl --data_dir=D --key_file=K rotate-master-key NEW_KEY_FILE\n"
    "                                               re-wrap every key under a new master key";

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
  return leyser::Store::Open(options);
}

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
  if (command != "create-tenant" && command != "tenants" && command != "tenant" &&
      command != "rotate-master-key") {
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
