// The export format (JSON Lines): a header line (proto::AuditExportHeader as
// JSON: format, origin, log, range, the signed checkpoint, the range proof
// and RFC 9162 consistency proofs from the store's earlier checkpoints to it),
// then one line per entry:
//   {"seq":N,"stored":"<base64 of the stored bytes>",
//    "inclusion":["<base64 hash>",...],"entry":<rendered entry>}
// (one line). "inclusion" is the RFC 9162 inclusion proof of the entry (leaf
// hash SHA-256(0x00 || stored bytes)) in the checkpoint's tree, so any RFC
// 6962 verifier checks each entry alone. The rendering is fixed
// (RenderAuditEntryJson), so a verifier re-renders each entry from its stored
// bytes and compares byte for byte. Format 1 exports (no "inclusion", no
// consistency proofs) still verify.

#ifndef LEYSER_LIB_AUDIT_EXPORT_H_
#define LEYSER_LIB_AUDIT_EXPORT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/message.h"

#include "lib/proto/audit.pb.h"

namespace leyser::internal {

inline constexpr char kExportFormat[] = "leyser-audit-export/2";
inline constexpr char kExportFormatV1[] = "leyser-audit-export/1";

// `message` as one line of JSON with the proto field names.
std::string ToJsonLine(const google::protobuf::Message& message);

// One exported entry line (without the newline); `inclusion` holds the raw
// 32-byte hashes of the entry's inclusion proof (none: format 1, no field).
std::string ExportLine(std::uint64_t seq, std::string_view stored,
                       const std::vector<std::string>& inclusion,
                       const proto::AuditEntry& entry,
                       std::string_view log_name);

// Reads the sequence number, stored bytes and inclusion proof (raw hashes;
// empty if the line has none) of an export line. False if the line does not
// have the shape ExportLine writes.
bool ParseExportLine(std::string_view line, std::uint64_t* seq,
                     std::string* stored, std::vector<std::string>* inclusion);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_AUDIT_EXPORT_H_
