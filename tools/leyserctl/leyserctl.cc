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
//   leyserctl verify-certificate CERT_JSON_FILE PUBLIC_KEY_HEX[,...]
//   leyserctl --data_dir=DIR --key_file=FILE [--audit_sink=FILE] audit-info
//             LOG | audit-log LOG [FROM [COUNT]] | audit-verify LOG |
//             audit-export LOG [FROM [TO]] | access-audit TENANT MODE
//   leyserctl audit-verify-export EXPORT_FILE PUBLIC_KEY_HEX[,...] [ANCHORS]
//   leyserctl audit-sink-rotate FILE
//
// Exit status: 0 on success; 1 on an error (printed with its status code),
// also when the audit sink refused checkpoints at the end (Store::Close); 2
// on bad usage; 3 when audit-verify found the log intact but no external
// checkpoint applied to it.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
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
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tools/leyserctl/commands.h"
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
ABSL_FLAG(
    std::string, audit_sink, "",
    "File that receives every signed audit checkpoint (JSON lines); "
    "audit-verify trusts the checkpoints in it unless --anchors is given");
ABSL_FLAG(std::string, anchors, "",
          "Files of trusted checkpoints for audit-verify, comma-separated; "
          "glob patterns allowed (e.g. 'anchors.jsonl*' for a sink file and "
          "the files rotated from it). Default: the --audit_sink file");
ABSL_FLAG(bool, json, false,
          "public-keys: one JSON object per line (what verify-certificate and "
          "audit-verify-export read)");
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
    "  leyserctl --data_dir=D --key_file=K rotate-data-keys [TENANT]\n"
    "                                               new data keys, values "
    "re-sealed, old keys destroyed\n"
    "  with --backup_dir=B:\n"
    "    backup                   take a verified backup generation now (then "
    "prune)\n"
    "    backups                  list the generations\n"
    "    verify-backup ID         re-read every file of a generation against "
    "its checksums\n"
    "    remove-damaged-backup ID remove a generation that fails verification "
    "(audited)\n"
    "    restore-tenant TENANT ID replace one tenant's data with its data in "
    "generation ID\n"
    "    maintenance              run what is due now (the daily backup, "
    "clean-up)\n"
    "    restore-store ID         restore generation ID as a new store in "
    "--data_dir\n"
    "                             (it needs a --backup_dir of its own "
    "afterwards)\n"
    "  lifecycle:\n"
    "    end-contract TENANT [TIME]  end the contract now or at TIME (RFC "
    "3339, UTC)\n"
    "    reinstate TENANT         undo a contract end before the purge\n"
    "    hold TENANT | release TENANT  set or release a legal hold\n"
    "    certificate TENANT       print the signed deletion certificate "
    "(JSON)\n"
    "    public-key               print the current signing key (hex)\n"
    "    [--json] public-keys     every signing key with its validity window\n"
    "    rotate-signing-key       replace the signing key (the old one's "
    "window ends)\n"
    "  audit log (LOG: @system or a tenant id; --audit_sink=FILE keeps the "
    "checkpoints):\n"
    "    audit-info LOG           size, retained range, checkpoints\n"
    "    audit-log LOG [FROM [COUNT]]  print entries as JSON lines\n"
    "    audit-verify LOG         verify the log (against the checkpoints in "
    "--audit_sink)\n"
    "    audit-export LOG [FROM [TO]]  print an export with its proof (JSON "
    "lines)\n"
    "    access-audit TENANT off|writes|reads  switch access auditing\n"
    "    (audit-verify: --anchors=FILES also reads rotated files, e.g. "
    "'anchors.jsonl*'; exit 3 if no external checkpoint applied)\n"
    "  leyserctl verify-certificate CERT_JSON_FILE KEYS\n"
    "                             verify a deletion certificate offline (with "
    "the key it names, if given)\n"
    "  leyserctl audit-verify-export EXPORT_FILE KEYS [ANCHORS]\n"
    "                             verify an export offline\n"
    "    KEYS: a file of 'public-keys --json' lines (each key only inside its "
    "window; best), or PUBLIC_KEY_HEX[,...] (at any time)\n"
    "  leyserctl audit-sink-rotate FILE  start a sink file again, keeping the "
    "newest checkpoint of each log (the old one stays as FILE.<UTC time>)\n"
    "exit status: 0 ok, 1 error (also a sink that refused checkpoints), 2 "
    "usage, 3 audit-verify intact but unvouched";

}  // namespace

int Usage(const char* message) {
  std::fprintf(stderr, "leyserctl: %s\nusage: leyserctl %s\n", message, kUsage);
  return kExitUsage;
}

namespace {

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

// The files of trusted checkpoints audit-verify reads: --anchors, else the
// sink's file.
std::vector<std::string> AnchorPatterns() {
  if (const std::string anchors = absl::GetFlag(FLAGS_anchors);
      !anchors.empty()) {
    return absl::StrSplit(anchors, ',', absl::SkipEmpty());
  }
  if (const std::string sink = absl::GetFlag(FLAGS_audit_sink); !sink.empty()) {
    return {sink};
  }
  return {};
}

// Ed25519 public keys given as hex, comma-separated (a store's keys before
// and after a master-key rotation). InvalidArgument naming a bad one.
absl::StatusOr<std::vector<std::string>> PublicKeys(absl::string_view arg) {
  std::vector<std::string> out;
  for (absl::string_view hex : absl::StrSplit(arg, ',', absl::SkipEmpty())) {
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return std::isxdigit(c) != 0;
        })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", absl::CHexEscape(hex),
          "' is not a public key: 64 hex characters (leyserctl public-key)"));
    }
    out.push_back(absl::HexStringToBytes(hex));
  }
  if (out.empty()) return absl::InvalidArgumentError("no public key given");
  return out;
}

absl::StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Signing keys: a file of `leyserctl public-keys --json` lines (each key with
// its validity window), or PUBLIC_KEY_HEX[,...] (accepted at any time).
absl::StatusOr<std::vector<leyser::SigningKeyInfo>> SigningKeys(
    const char* arg) {
  std::vector<leyser::SigningKeyInfo> out;
  if (!std::filesystem::is_regular_file(arg)) {
    absl::StatusOr<std::vector<std::string>> keys = PublicKeys(arg);
    if (!keys.ok()) return keys.status();
    for (std::string& key : *keys) {
      leyser::SigningKeyInfo info;
      info.public_key = std::move(key);
      out.push_back(std::move(info));
    }
    return out;
  }
  absl::StatusOr<std::string> text = ReadFile(arg);
  if (!text.ok()) return text.status();
  for (absl::string_view line :
       absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct fields;
    auto bad = [&](const char* why) {
      return absl::InvalidArgumentError(absl::StrCat(
          arg, ": not a line of leyserctl public-keys --json (", why, ")"));
    };
    if (!google::protobuf::util::JsonStringToMessage(std::string(line), &fields)
             .ok()) {
      return bad("not JSON");
    }
    const auto& f = fields.fields();
    auto key = f.find("publicKey");
    if (key == f.end()) return bad("no publicKey");
    absl::StatusOr<std::vector<std::string>> keys =
        PublicKeys(key->second.string_value());
    if (!keys.ok()) return keys.status();
    leyser::SigningKeyInfo info;
    info.public_key = (*keys)[0];
    std::string error;
    for (const auto& [name, when] :
         {std::pair<const char*, absl::Time*>{"validFrom", &info.valid_from},
          {"validUntil", &info.valid_until}}) {
      auto it = f.find(name);
      if (it == f.end()) continue;
      if (!absl::ParseTime(absl::RFC3339_full, it->second.string_value(), when,
                           &error)) {
        return bad(name);
      }
    }
    out.push_back(std::move(info));
  }
  if (out.empty()) return absl::InvalidArgumentError("no public key given");
  return out;
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
          "verify-certificate takes a CERT_JSON_FILE and KEYS (a public-keys "
          "--json file or PUBLIC_KEY_HEX[,...])");
    }
    absl::StatusOr<std::vector<leyser::SigningKeyInfo>> keys =
        SigningKeys(args[3]);
    if (!keys.ok()) return Usage(std::string(keys.status().message()).c_str());
    std::ifstream in(args[2]);
    std::stringstream json;
    json << in.rdbuf();
    absl::StatusOr<leyser::DeletionCertificate> c =
        leyser::DeletionCertificateFromJson(json.str());
    if (!c.ok()) {
      return Fail(c.status());
    }
    // Signed by the key the certificate names, one of those given, and
    // issued inside its window.
    if (absl::Status s = leyser::VerifyDeletionCertificate(*c, *keys);
        !s.ok()) {
      return Fail(absl::Status(
          s.code(),
          absl::StrCat(s.message(), " (signer ",
                       absl::BytesToHexString(c->signer_public_key), ")")));
    }
    absl::PrintF("valid: tenant %s (number %d) shredded %s, signed by %s\n",
                 c->tenant_id, c->tenant_number, UtcTime(c->shredded),
                 absl::BytesToHexString(c->signer_public_key));
    return 0;
  }
  if (command == "audit-verify-export") {
    if (args.size() != 4 && args.size() != 5) {
      return Usage(
          "audit-verify-export takes an EXPORT_FILE, KEYS (a public-keys "
          "--json file or PUBLIC_KEY_HEX[,...]) and "
          "optionally ANCHORS (files or patterns, comma-separated)");
    }
    absl::StatusOr<std::vector<leyser::SigningKeyInfo>> keys =
        SigningKeys(args[3]);
    if (!keys.ok()) return Usage(std::string(keys.status().message()).c_str());
    absl::StatusOr<std::string> exported = ReadFile(args[2]);
    if (!exported.ok()) return Fail(exported.status());
    leyser::AuditVerifyOptions options;
    options.signing_keys = *std::move(keys);
    std::vector<std::string> files;
    if (args.size() == 5 &&
        !ReadAnchors(absl::StrSplit(args[4], ',', absl::SkipEmpty()),
                     &options.trusted_checkpoints, &files)) {
      return kExitError;
    }
    absl::StatusOr<leyser::AuditVerification> v =
        leyser::VerifyAuditExport(*exported, options);
    if (!v.ok()) return Fail(v.status());
    const int reported = Report(*v, "the export", files);
    // An export may leave out the proofs that tie it to an anchor (a forger
    // can strip them from the unsigned header): every anchor must apply.
    if (reported == kExitOk &&
        v->trusted_checkpoints_applied < v->trusted_checkpoints_given) {
      std::fprintf(
          stderr,
          "leyserctl: warning: %llu of %llu checkpoints of this log in "
          "the anchors were not checked against the export (no proof "
          "from their size in it, or newer than its checkpoint)\n",
          static_cast<unsigned long long>(v->trusted_checkpoints_given -
                                          v->trusted_checkpoints_applied),
          static_cast<unsigned long long>(v->trusted_checkpoints_given));
      return kExitUnvouched;
    }
    return reported;
  }
  if (command == "audit-sink-rotate") {
    if (args.size() != 3) return Usage("audit-sink-rotate takes one FILE");
    absl::StatusOr<std::string> rotated =
        leyser::RotateAuditCheckpointFile(args[2], absl::Now());
    if (!rotated.ok()) return Fail(rotated.status());
    absl::PrintF(
        "rotated: %s keeps the history (keep it); %s starts again with the "
        "newest checkpoint of each log\n",
        *rotated, args[2]);
    return kExitOk;
  }
  if (command == "restore-store") {
    leyser::BackupId id = 0;
    if (args.size() != 3 || !absl::SimpleAtoi(args[2], &id)) {
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
  static const char* const kStoreCommands[] = {"create-tenant",
                                               "tenants",
                                               "tenant",
                                               "rotate-master-key",
                                               "rotate-data-keys",
                                               "backup",
                                               "backups",
                                               "verify-backup",
                                               "remove-damaged-backup",
                                               "restore-tenant",
                                               "maintenance",
                                               "end-contract",
                                               "reinstate",
                                               "hold",
                                               "release",
                                               "certificate",
                                               "public-key",
                                               "public-keys",
                                               "rotate-signing-key",
                                               "audit-info",
                                               "audit-log",
                                               "audit-verify",
                                               "audit-export",
                                               "access-audit"};
  bool known = false;
  for (const char* c : kStoreCommands) known = known || command == c;
  if (!known) {
    return Usage("unknown command");
  }
  absl::StatusOr<std::unique_ptr<leyser::Store>> store = OpenStore();
  if (!store.ok()) {
    return Fail(store.status());
  }
  if (absl::StatusOr<leyser::AnchorStatus> anchors =
          (*store)->GetAnchorStatus();
      anchors.ok() && anchors->sink_held_none_at_open) {
    std::fprintf(stderr,
                 "leyserctl: warning: %s holds no checkpoint of this store, "
                 "although it took some before: the open could not check for "
                 "a rollback (recorded as ANCHOR_FAILURE). Check the logs "
                 "against the sink's history (audit-verify --anchors='FILE*')"
                 "\n",
                 absl::GetFlag(FLAGS_audit_sink).c_str());
  }
  StoreCommandFlags flags;
  flags.anchors = AnchorPatterns();
  int status = RunStoreCommand(**store, args, flags);
  // Close hands the last checkpoints to the sink: a refusal is an error too,
  // after whatever the command printed (the command's work is done).
  if (absl::Status closed = (*store)->Close(); !closed.ok()) {
    Fail(closed);
    if (status == kExitOk || status == kExitUnvouched) status = kExitError;
  }
  return status;
}
