#include "lib/lifecycle/certificate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

#include "lib/crypto/sodium.h"
#include "lib/proto/certificate.pb.h"
#include "lib/util/proto.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser {
namespace internal {
namespace {

constexpr std::uint32_t kCertificateFormatVersion = 2;
// Format 2 signs this prefix before the body: a certificate signature can
// never pass for a signature over anything else the key signs (audit
// checkpoint notes are text; this prefix holds a NUL byte).
constexpr std::string_view kSignaturePrefix{"leyser-deletion-certificate-v2\0",
                                            31};

proto::DeletionCertificateBody ToBody(const DeletionCertificate& c) {
  proto::DeletionCertificateBody body;
  body.set_format_version(c.format_version);
  body.set_tenant_id(c.tenant_id);
  body.set_tenant_number(c.tenant_number);
  ToProtoTime(c.contract_end, body.mutable_contract_end());
  ToProtoTime(c.purged, body.mutable_purged());
  ToProtoTime(c.shredded, body.mutable_shredded());
  ToProtoTime(c.issued, body.mutable_issued());
  body.set_method(c.method);
  body.set_keys_removed(c.keys_removed);
  body.set_bytes_removed(c.bytes_removed);
  for (std::uint32_t id : c.generations_deleted)
    body.add_generations_deleted(id);
  for (std::uint32_t id : c.generations_checked)
    body.add_generations_checked(id);
  body.set_backup_dir_id(c.backup_dir_id);
  for (std::uint32_t id : c.generations_key_removed)
    body.add_generations_key_removed(id);
  for (const std::string& id : c.restored_from_backup_dir_ids)
    body.add_restored_from_backup_dir_ids(id);
  body.set_audit_chain_head(c.audit_chain_head);
  body.set_signer_public_key(c.signer_public_key);
  return body;
}

DeletionCertificate FromBody(const proto::DeletionCertificateBody& body) {
  DeletionCertificate c;
  c.format_version = body.format_version();
  c.tenant_id = body.tenant_id();
  c.tenant_number = body.tenant_number();
  c.contract_end = FromProtoTime(body.contract_end());
  c.purged = FromProtoTime(body.purged());
  c.shredded = FromProtoTime(body.shredded());
  c.issued = FromProtoTime(body.issued());
  c.method = body.method();
  c.keys_removed = body.keys_removed();
  c.bytes_removed = body.bytes_removed();
  c.generations_deleted.assign(body.generations_deleted().begin(),
                               body.generations_deleted().end());
  c.generations_checked.assign(body.generations_checked().begin(),
                               body.generations_checked().end());
  c.backup_dir_id = body.backup_dir_id();
  c.generations_key_removed.assign(body.generations_key_removed().begin(),
                                   body.generations_key_removed().end());
  c.restored_from_backup_dir_ids.assign(
      body.restored_from_backup_dir_ids().begin(),
      body.restored_from_backup_dir_ids().end());
  c.audit_chain_head = body.audit_chain_head();
  c.signer_public_key = body.signer_public_key();
  return c;
}

// The canonical encoding: deterministic protobuf serialization.
std::string Canonical(const proto::DeletionCertificateBody& body) {
  return SerializeDeterministic(body);
}

// What the signature covers: the prefix (format 2) and the canonical body.
std::string SignedMessage(const std::string& canonical_body,
                          std::uint32_t format_version) {
  if (format_version < 2) return canonical_body;
  return absl::StrCat(ToAbsl(kSignaturePrefix), canonical_body);
}

}  // namespace

std::string DeletionMethod(bool had_backups, bool restored) {
  std::string method =
      "purge: the tenant's records deleted with a range deletion and "
      "compacted out of every live SST file of the database, the WAL flushed "
      "and its obsolete files deleted, the MANIFEST rewritten; the tenant's "
      "wrapped data key deleted from the key store and the key store "
      "compacted, so no live file of the store holds a record of the tenant "
      "or its wrapped key; its unwrapped key zeroed in memory; its scratch "
      "files deleted. ";
  if (had_backups) {
    absl::StrAppend(
        &method,
        "shred: every generation of the backup directory named by "
        "backup_dir_id that could hold the tenant's data deleted whole "
        "(generations_deleted); every other generation opened and "
        "authenticated with the current master key, its manifest found to "
        "list the tenant as purged with no records or not at all, and the "
        "tenant's wrapped key removed from its key-store copy "
        "(generations_checked). ");
  } else {
    absl::StrAppend(&method, restored
                                 ? "shred: the store never took a backup of "
                                   "its own. "
                                 : "shred: the store never took a backup. ");
  }
  absl::StrAppend(
      &method,
      "Not covered: filesystem blocks freed by these deletions are not "
      "overwritten (they are encrypted with the store's file key, which is "
      "not destroyed), nor copies made outside leyser (filesystem snapshots, "
      "copies of the data or backup directory).");
  if (restored) {
    absl::StrAppend(
        &method,
        " Not covered either: the backup directories of the stores this one "
        "was restored from (restored_from_backup_dir_ids), whose generations "
        "from before the restore may hold the tenant's data; they belong to "
        "those stores, whose own lifecycle removes the tenant from them (a "
        "directory whose store no longer runs keeps them until it is "
        "deleted).");
  }
  return method;
}

absl::StatusOr<std::string> SignCertificate(DeletionCertificate* certificate,
                                            const SecretBytes& seed) {
  certificate->format_version = kCertificateFormatVersion;
  LEYSER_ASSIGN_OR_RETURN(certificate->signer_public_key,
                          SigningPublicKeyFromSeed(seed));
  const std::string body = Canonical(ToBody(*certificate));
  LEYSER_ASSIGN_OR_RETURN(
      certificate->signature,
      SignDetached(seed, SignedMessage(body, kCertificateFormatVersion)));
  proto::SignedDeletionCertificate signed_certificate;
  signed_certificate.set_body(body);
  signed_certificate.set_signature(certificate->signature);
  return signed_certificate.SerializeAsString();
}

absl::StatusOr<DeletionCertificate> DecodeCertificate(
    const std::string& stored) {
  proto::SignedDeletionCertificate signed_certificate;
  proto::DeletionCertificateBody body;
  if (!signed_certificate.ParseFromString(stored) ||
      !body.ParseFromString(signed_certificate.body()) ||
      body.format_version() < 1 ||
      body.format_version() > kCertificateFormatVersion) {
    return absl::DataLossError("a stored deletion certificate is damaged");
  }
  DeletionCertificate c = FromBody(body);
  c.signature = signed_certificate.signature();
  return c;
}

}  // namespace internal

absl::Status VerifyDeletionCertificate(const DeletionCertificate& certificate,
                                       std::string_view public_key) {
  if (public_key.size() != internal::kSigningPublicKeyBytes) {
    return absl::InvalidArgumentError(
        "the public key must be 32 bytes (Ed25519)");
  }
  if (certificate.signer_public_key != public_key) {
    return absl::DataLossError(
        "the certificate names another signer than the given public key");
  }
  if (certificate.format_version < 1 ||
      certificate.format_version > internal::kCertificateFormatVersion) {
    return absl::DataLossError(absl::StrCat("the certificate's format_version ",
                                            certificate.format_version,
                                            " is not one leyser signs"));
  }
  const std::string body = internal::Canonical(internal::ToBody(certificate));
  if (!internal::VerifyDetached(
          public_key, internal::SignedMessage(body, certificate.format_version),
          certificate.signature)) {
    return absl::DataLossError(
        "the deletion certificate's signature does not verify: it was changed "
        "or not signed by "
        "this key");
  }
  return absl::OkStatus();
}

absl::Status VerifyDeletionCertificate(
    const DeletionCertificate& certificate,
    const std::vector<SigningKeyInfo>& keys) {
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        "no signing key given to check the certificate with");
  }
  for (const SigningKeyInfo& key : keys) {
    if (key.public_key.size() != internal::kSigningPublicKeyBytes) {
      return absl::InvalidArgumentError(
          "a public key is not 32 bytes (Ed25519)");
    }
  }
  for (const SigningKeyInfo& key : keys) {
    if (key.public_key != certificate.signer_public_key) continue;
    LEYSER_RETURN_IF_ERROR(
        VerifyDeletionCertificate(certificate, key.public_key));
    if (!key.ValidAt(certificate.issued)) {
      return absl::DataLossError(absl::StrCat(
          "the certificate is dated ", internal::Rfc3339(certificate.issued),
          ", outside the validity window of the key that signed it (",
          internal::Rfc3339(key.valid_from), " to ",
          key.valid_until == absl::InfiniteFuture()
              ? std::string("now")
              : internal::Rfc3339(key.valid_until),
          "): that key was retired before, so the certificate is forged"));
    }
    return absl::OkStatus();
  }
  return absl::DataLossError(
      "the certificate names a signer that is not among the given keys");
}

std::string DeletionCertificateToJson(const DeletionCertificate& certificate) {
  proto::ExportedDeletionCertificate exported;
  *exported.mutable_certificate() = internal::ToBody(certificate);
  exported.set_signature(certificate.signature);
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(exported, &json, options)
           .ok()) {
    return "{}";
  }
  return json;
}

absl::StatusOr<DeletionCertificate> DeletionCertificateFromJson(
    std::string_view json) {
  proto::ExportedDeletionCertificate exported;
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &exported)
           .ok()) {
    return absl::InvalidArgumentError(
        "not a leyser deletion certificate in JSON");
  }
  DeletionCertificate c = internal::FromBody(exported.certificate());
  c.signature = exported.signature();
  return c;
}

}  // namespace leyser
