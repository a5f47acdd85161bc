#include "lib/lifecycle/certificate.h"

#include <utility>

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

constexpr std::uint32_t kCertificateFormatVersion = 1;

proto::DeletionCertificateBody ToBody(const DeletionCertificate& c) {
  proto::DeletionCertificateBody body;
  body.set_format_version(kCertificateFormatVersion);
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
  for (std::uint32_t id : c.generations_kept) body.add_generations_kept(id);
  body.set_audit_chain_head(c.audit_chain_head);
  body.set_signer_public_key(c.signer_public_key);
  return body;
}

DeletionCertificate FromBody(const proto::DeletionCertificateBody& body) {
  DeletionCertificate c;
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
  c.generations_kept.assign(body.generations_kept().begin(),
                            body.generations_kept().end());
  c.audit_chain_head = body.audit_chain_head();
  c.signer_public_key = body.signer_public_key();
  return c;
}

// The canonical encoding the signature covers: deterministic protobuf
// serialization.
std::string Canonical(const proto::DeletionCertificateBody& body) {
  return SerializeDeterministic(body);
}

}  // namespace

absl::StatusOr<std::string> SignCertificate(DeletionCertificate* certificate,
                                            const SecretBytes& seed) {
  LEYSER_ASSIGN_OR_RETURN(certificate->signer_public_key,
                          SigningPublicKeyFromSeed(seed));
  const std::string body = Canonical(ToBody(*certificate));
  LEYSER_ASSIGN_OR_RETURN(certificate->signature, SignDetached(seed, body));
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
      body.format_version() != kCertificateFormatVersion) {
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
  const std::string body = internal::Canonical(internal::ToBody(certificate));
  if (!internal::VerifyDetached(public_key, body, certificate.signature)) {
    return absl::DataLossError(
        "the deletion certificate's signature does not verify: it was changed "
        "or not signed by "
        "this key");
  }
  return absl::OkStatus();
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
