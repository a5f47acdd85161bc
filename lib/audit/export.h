// The export format (JSON Lines): a header line (proto::AuditExportHeader as
// JSON: format, origin, log, range, the signed checkpoint and the range proof),
// then one line per entry:
//   {"seq":N,"stored":"<base64 of the stored bytes>","entry":<rendered entry>}
// The rendering is fixed (RenderAuditEntryJson), so a verifier re-renders
// each entry from its stored bytes and compares byte for byte.

#ifndef LEYSER_LIB_AUDIT_EXPORT_H_
#define LEYSER_LIB_AUDIT_EXPORT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "google/protobuf/message.h"

#include "lib/proto/audit.pb.h"

namespace leyser::internal {

inline constexpr char kExportFormat[] = "leyser-audit-export/1";

// `message` as one line of JSON with the proto field names.
std::string ToJsonLine(const google::protobuf::Message& message);

// One exported entry line (without the newline).
std::string ExportLine(std::uint64_t seq, std::string_view stored,
                       const proto::AuditEntry& entry,
                       std::string_view log_name);

// Reads the sequence number and stored bytes of an export line. False if the
// line does not have the shape ExportLine writes.
bool ParseExportLine(std::string_view line, std::uint64_t* seq,
                     std::string* stored);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_AUDIT_EXPORT_H_
